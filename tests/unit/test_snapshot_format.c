/* The snapshot container (src/snapshot/format.c) and the memory files
 * (src/memory_file.c): round trips, and every corruption refused with
 * its own one-line reason. No KVM needed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "memory.h"
#include "snapshot/format.h"

#define TAG_A SNAPSHOT_TAG('A', 'A', 'A', 'A')
#define TAG_V SNAPSHOT_TAG('V', 'C', 'P', 'U')

static struct state_writer file;

static void build(void)
{
	struct snapshot_builder b;
	struct kvmini_error err;
	snapshot_builder_init(&b);
	snapshot_add(&b, TAG_A, "hello", 5);
	snapshot_add(&b, TAG_V, "cpu0", 4);
	snapshot_add(&b, TAG_V, "", 0);
	cr_assert_eq(snapshot_finish(&b, &file, &err), 0, "%s", err.msg);
	snapshot_builder_free(&b);
}

static void refused(const uint8_t *data, size_t len, const char *fragment)
{
	struct snapshot_view v;
	struct kvmini_error err = { 0 };
	cr_assert_eq(snapshot_parse(data, len, &v, &err), -1, "accepted (%s)", fragment);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert(strstr(err.msg, fragment), "'%s' lacks '%s'", err.msg, fragment);
}

TestSuite(snapshot_format, .init = build);

Test(snapshot_format, round_trip)
{
	struct snapshot_view v;
	struct kvmini_error err;
	cr_assert_eq(snapshot_parse(file.data, file.len, &v, &err), 0, "%s", err.msg);
	cr_assert_eq(v.count, 3);
	cr_assert_eq(snapshot_count(&v, TAG_V), 2);
	const struct snapshot_section *s = snapshot_find(&v, TAG_V, 0);
	cr_assert_eq(s->len, 4);
	cr_assert_eq(memcmp(s->data, "cpu0", 4), 0);
	cr_assert_eq(snapshot_find(&v, TAG_V, 1)->len, 0);
	cr_assert_null(snapshot_find(&v, TAG_V, 2));
	cr_assert_eq(memcmp(snapshot_find(&v, TAG_A, 0)->data, "hello", 5), 0);
	state_writer_free(&file);
}

Test(snapshot_format, crc32_is_zlibs)
{
	cr_assert_eq(snapshot_crc32("123456789", 9), 0xcbf43926u);
	cr_assert_eq(snapshot_crc32("", 0), 0);
	state_writer_free(&file);
}

Test(snapshot_format, every_truncation_is_refused)
{
	for (size_t len = 0; len < file.len; len++) {
		struct snapshot_view v;
		struct kvmini_error err;
		cr_assert_eq(snapshot_parse(file.data, len, &v, &err), -1, "%zu bytes accepted", len);
	}
	refused(file.data, file.len - 1, "truncated");
	refused(file.data, 10, "shorter than the header");
	state_writer_free(&file);
}

Test(snapshot_format, every_flipped_bit_is_refused)
{
	uint8_t *copy = malloc(file.len);
	for (size_t i = 0; i < file.len * 8; i++) {
		memcpy(copy, file.data, file.len);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		struct snapshot_view v;
		struct kvmini_error err;
		cr_assert_eq(snapshot_parse(copy, file.len, &v, &err), -1, "bit %zu flipped, accepted", i);
	}
	free(copy);
	state_writer_free(&file);
}

/* Rewrite a header field and its checksum, so only the field is wrong. */
static void header_set(uint8_t *data, size_t off, uint32_t value)
{
	memcpy(data + off, &value, 4);
	uint32_t crc = snapshot_crc32(data, 28);
	memcpy(data + 28, &crc, 4);
}

Test(snapshot_format, reasons)
{
	uint8_t *copy = malloc(file.len + 4);
	memcpy(copy, file.data, file.len);
	copy[0] = 'X';
	refused(copy, file.len, "bad magic");
	memcpy(copy, file.data, file.len);
	copy[29] ^= 1;
	refused(copy, file.len, "header is corrupted");
	memcpy(copy, file.data, file.len);
	header_set(copy, 8, 2);
	refused(copy, file.len, "snapshot version 2 is not supported");
	memcpy(copy, file.data, file.len);
	header_set(copy, 12, 4);   /* one section more than there is */
	refused(copy, file.len, "runs past the end");
	memcpy(copy, file.data, file.len);
	header_set(copy, 12, 2);   /* one section fewer: bytes left over */
	refused(copy, file.len, "after its last section");
	memcpy(copy, file.data, file.len);
	header_set(copy, 12, 100000);
	refused(copy, file.len, "malformed");
	memcpy(copy, file.data, file.len);
	copy[SNAPSHOT_HEADER_SIZE + SNAPSHOT_SECTION_HEADER_SIZE] ^= 0x20;   /* "hello" -> "Hello" */
	refused(copy, file.len, "section 0 (AAAA) is corrupted");
	memcpy(copy, file.data, file.len);
	memset(copy + file.len, 0, 4);
	refused(copy, file.len + 4, "truncated or extended");
	free(copy);
	state_writer_free(&file);
}

/* ---- memory files ---- */

#define MIB (1ull << 20)

static int temp_fd(void)
{
	char path[] = "/tmp/kvmini-mem-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	return fd;
}

Test(memory_file, full_save_is_sparse_and_restores_privately)
{
	struct guest_memory mem, back;
	struct kvmini_error err;
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0);
	memset(mem.base + 4096 * 3, 0xab, 4096);
	memset(mem.base + 8 * MIB, 0xcd, 8192);
	int fd = temp_fd();
	cr_assert_eq(guest_memory_save(&mem, fd, NULL, &err), 3 * 4096, "%s", err.msg);
	struct stat st;
	fstat(fd, &st);
	cr_assert_eq(st.st_size, 16 * MIB);
	cr_assert_lt(st.st_blocks * 512, 1 * MIB, "not sparse: %lld blocks", (long long)st.st_blocks);

	cr_assert_eq(guest_memory_init_file(&back, 16 * MIB, fd, &err), 0, "%s", err.msg);
	cr_assert_eq(memcmp(back.base, mem.base, 16 * MIB), 0);
	/* The guest's writes stay private: the file is unchanged. */
	back.base[4096 * 3] = 0;
	uint8_t byte;
	cr_assert_eq(pread(fd, &byte, 1, 4096 * 3), 1);
	cr_assert_eq(byte, 0xab);
	struct guest_memory wrong;
	cr_assert_eq(guest_memory_init_file(&wrong, 32 * MIB, fd, &err), -1);
	cr_assert(strstr(err.msg, "the memory file is 16777216 bytes, the snapshot's RAM 33554432"),
		  "%s", err.msg);
	guest_memory_free(&back);
	guest_memory_free(&mem);
	close(fd);
}

Test(memory_file, diff_writes_dirty_pages_and_layers_over_a_base)
{
	struct guest_memory mem, back;
	struct kvmini_error err;
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0);
	memset(mem.base, 0x11, 16 * 4096);
	int base = temp_fd(), diff = temp_fd();
	cr_assert_gt(guest_memory_save(&mem, base, NULL, &err), 0);
	/* Page 2 changes to data, page 5 to zeros: both are dirty. */
	memset(mem.base + 2 * 4096, 0x22, 4096);
	memset(mem.base + 5 * 4096, 0, 4096);
	uint64_t dirty[16 * MIB / 4096 / 64] = { 0 };
	dirty[0] = (1u << 2) | (1u << 5);
	cr_assert_eq(guest_memory_save(&mem, diff, dirty, &err), 2 * 4096, "%s", err.msg);

	cr_assert_eq(guest_memory_init_file(&back, 16 * MIB, base, &err), 0);
	cr_assert_eq(back.base[2 * 4096], 0x11);
	cr_assert_eq(guest_memory_apply_diff(&back, diff, &err), 0, "%s", err.msg);
	cr_assert_eq(memcmp(back.base, mem.base, 16 * MIB), 0, "base + diff differs from RAM");
	guest_memory_free(&back);
	guest_memory_free(&mem);
	close(base);
	close(diff);
}
