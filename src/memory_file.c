/* Guest RAM to and from memory files, for snapshots (memory.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "memory.h"

#define PAGE 4096ull

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];
	return memcmp(p, zero, PAGE) == 0;
}

static bool page_wanted(const struct guest_memory *mem, const uint64_t *dirty, uint64_t page)
{
	if (dirty)
		return (dirty[page / 64] >> (page % 64)) & 1;
	return !page_is_zero(mem->base + page * PAGE);
}

static int write_run(int fd, const uint8_t *src, uint64_t off, uint64_t len,
		     struct kvmini_error *err)
{
	while (len) {
		ssize_t n = pwrite(fd, src, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kvmini_fail_errno(err, KVMINI_E_HOST, n < 0 ? errno : ENOSPC,
						 "cannot write the memory file");
		src += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int64_t guest_memory_save(const struct guest_memory *mem, int fd, const uint64_t *dirty,
			  struct kvmini_error *err)
{
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)mem->ram_size) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot size the memory file");
	uint64_t pages = mem->ram_size / PAGE, written = 0;
	for (uint64_t p = 0; p < pages;) {
		if (!page_wanted(mem, dirty, p)) {
			p++;
			continue;
		}
		uint64_t first = p;
		while (p < pages && page_wanted(mem, dirty, p))
			p++;
		uint64_t len = (p - first) * PAGE;
		if (write_run(fd, mem->base + first * PAGE, first * PAGE, len, err))
			return -1;
		written += len;
	}
	return (int64_t)written;
}

static int read_extent(struct guest_memory *mem, int fd, uint64_t off, uint64_t len,
		       struct kvmini_error *err)
{
	while (len) {
		ssize_t n = pread(fd, mem->base + off, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kvmini_fail_errno(err, KVMINI_E_HOST, n < 0 ? errno : EIO,
						 "cannot read the memory diff file");
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int guest_memory_apply_diff(struct guest_memory *mem, int fd, struct kvmini_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != mem->ram_size)
		return kvmini_fail(err, KVMINI_E_USAGE, "the memory diff file is not a %llu-byte "
				   "regular file", (unsigned long long)mem->ram_size);
	off_t end = (off_t)mem->ram_size;
	for (off_t data = lseek(fd, 0, SEEK_DATA); data >= 0 && data < end;
	     data = lseek(fd, data, SEEK_DATA)) {
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		if (read_extent(mem, fd, (uint64_t)data, (uint64_t)(hole - data), err))
			return -1;
		data = hole;
	}
	return 0;
}
