/* The snapshot container (format.h). The checksum is CRC-32 written
 * here rather than zlib's: kvmini links no compression library at
 * start-up (src/loaders/decompress.c dlopens them when needed), and
 * a table-driven CRC is a dozen lines. */
#include <string.h>
#include "snapshot/format.h"

uint32_t snapshot_crc32(const void *data, size_t len)
{
	return snapshot_crc32_update(0, data, len);
}

uint32_t snapshot_crc32_update(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	static int ready;   /* benign race: every thread computes the same table */
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			__atomic_store_n(&table[i], c, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	const uint8_t *p = data;
	crc ^= 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		crc = __atomic_load_n(&table[(crc ^ p[i]) & 0xff], __ATOMIC_RELAXED) ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

void snapshot_builder_init(struct snapshot_builder *b)
{
	state_writer_init(&b->body);
	b->count = 0;
}

void snapshot_builder_free(struct snapshot_builder *b)
{
	state_writer_free(&b->body);
}

/* A section's checksum covers its tag and length too, so a flipped bit
 * in either is caught like one in the payload. */
static uint32_t section_crc(uint32_t tag, uint64_t len, const void *data)
{
	uint8_t head[12];
	for (int i = 0; i < 4; i++)
		head[i] = (uint8_t)(tag >> (8 * i));
	for (int i = 0; i < 8; i++)
		head[4 + i] = (uint8_t)(len >> (8 * i));
	return snapshot_crc32_update(snapshot_crc32(head, sizeof(head)), data, len);
}

void snapshot_add(struct snapshot_builder *b, uint32_t tag, const void *data, uint64_t len)
{
	state_put_u32(&b->body, tag);
	state_put_u32(&b->body, section_crc(tag, len, data));
	state_put_u64(&b->body, len);
	state_put_bytes(&b->body, data, len);
	b->count++;
}

int snapshot_finish(struct snapshot_builder *b, struct state_writer *out,
		    struct kvmini_error *err)
{
	state_writer_init(out);
	if (b->count > SNAPSHOT_MAX_SECTIONS)
		return kvmini_fail(err, KVMINI_E_HOST, "a snapshot has at most %d sections",
				   SNAPSHOT_MAX_SECTIONS);
	state_put_bytes(out, SNAPSHOT_MAGIC, 8);
	state_put_u32(out, SNAPSHOT_VERSION);
	state_put_u32(out, b->count);
	state_put_u64(out, SNAPSHOT_HEADER_SIZE + b->body.len);
	state_put_u32(out, 0);
	state_put_u32(out, out->failed ? 0 : snapshot_crc32(out->data, 28));
	state_put_bytes(out, b->body.data, b->body.len);
	if (out->failed || b->body.failed) {
		state_writer_free(out);
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory writing a snapshot");
	}
	return 0;
}

static bool tag_printable(uint32_t tag)
{
	for (int i = 0; i < 4; i++) {
		uint8_t c = (uint8_t)(tag >> (8 * i));
		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return true;
}

static int header_parse(struct state_reader *r, size_t len, uint32_t *count,
			struct kvmini_error *err)
{
	char magic[8];
	if (len < SNAPSHOT_HEADER_SIZE)
		return kvmini_fail(err, KVMINI_E_USAGE, "not a kvmini snapshot: %zu bytes is "
				   "shorter than the header", len);
	state_get_bytes(r, magic, 8);
	if (memcmp(magic, SNAPSHOT_MAGIC, 8) != 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "not a kvmini snapshot (bad magic)");
	uint32_t version = state_get_u32(r);
	*count = state_get_u32(r);
	uint64_t file_len = state_get_u64(r);
	uint32_t reserved = state_get_u32(r);
	uint32_t crc = state_get_u32(r);
	if (crc != snapshot_crc32(r->data, 28))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot header is corrupted "
				   "(checksum mismatch)");
	if (version != SNAPSHOT_VERSION)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot version %u is not supported "
				   "(this kvmini reads version %d)", version, SNAPSHOT_VERSION);
	if (file_len != len)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot is %zu bytes, its header says "
				   "%llu: truncated or extended", len, (unsigned long long)file_len);
	if (reserved || *count > SNAPSHOT_MAX_SECTIONS)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot header is malformed "
				   "(%u sections)", *count);
	return 0;
}

static int section_parse(struct state_reader *r, unsigned i, struct snapshot_section *s,
			 struct kvmini_error *err)
{
	s->tag = state_get_u32(r);
	uint32_t crc = state_get_u32(r);
	s->len = state_get_u64(r);
	if (!(s->data = state_get_span(r, s->len)))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot section %u runs past the end "
				   "of the file", i);
	if (!tag_printable(s->tag))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot section %u has a malformed tag", i);
	if (section_crc(s->tag, s->len, s->data) != crc)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot section %u (%.4s) is corrupted "
				   "(checksum mismatch)", i, (const char *)&s->tag);
	return 0;
}

int snapshot_parse(const uint8_t *data, size_t len, struct snapshot_view *v,
		   struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	memset(v, 0, sizeof(*v));
	uint32_t count = 0;
	if (header_parse(&r, len, &count, err))
		return -1;
	for (unsigned i = 0; i < count; i++)
		if (section_parse(&r, i, &v->sections[i], err))
			return -1;
	if (r.pos != len)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot has %zu bytes after its last "
				   "section", len - r.pos);
	v->version = SNAPSHOT_VERSION;
	v->count = count;
	return 0;
}

const struct snapshot_section *snapshot_find(const struct snapshot_view *v, uint32_t tag,
					     unsigned index)
{
	for (unsigned i = 0; i < v->count; i++)
		if (v->sections[i].tag == tag && index-- == 0)
			return &v->sections[i];
	return NULL;
}

unsigned snapshot_count(const struct snapshot_view *v, uint32_t tag)
{
	unsigned n = 0;
	for (unsigned i = 0; i < v->count; i++)
		n += v->sections[i].tag == tag;
	return n;
}
