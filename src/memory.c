#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "memory.h"

#define HUGE_PAGE_SIZE (2ULL << 20)

/* Lay RAM out below the MMIO hole and continue above 4 GiB. */
static void layout_regions(struct guest_memory *mem, uint64_t ram_size)
{
	uint64_t low = ram_size < GUEST_MMIO_HOLE_START ? ram_size : GUEST_MMIO_HOLE_START;
	mem->regions[0] = (struct guest_region){ .gpa = 0, .size = low, .host = mem->base };
	mem->nregions = 1;
	if (ram_size > low) {
		mem->regions[1] = (struct guest_region){
			.gpa = GUEST_MMIO_HOLE_END, .size = ram_size - low,
			.host = mem->base + low };
		mem->nregions = 2;
	}
}

/* Reserve size + 2 MiB of address space and keep a 2 MiB-aligned window,
 * so transparent huge pages can back the guest from its first byte. */
static uint8_t *map_aligned(size_t size, int fd, bool shared)
{
	size_t reserve = size + HUGE_PAGE_SIZE;
	uint8_t *raw = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uintptr_t aligned = ((uintptr_t)raw + HUGE_PAGE_SIZE - 1) & ~(uintptr_t)(HUGE_PAGE_SIZE - 1);
	size_t head = aligned - (uintptr_t)raw;
	if (head)
		munmap(raw, head);
	munmap((uint8_t *)aligned + size, reserve - head - size);
	int flags = MAP_FIXED | MAP_NORESERVE |
		    (fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : shared ? MAP_SHARED : MAP_PRIVATE);
	void *p = mmap((void *)aligned, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		munmap((void *)aligned, size);
		errno = e;
		return NULL;
	}
	return p;
}

int guest_memory_init(struct guest_memory *mem, uint64_t ram_size,
		      unsigned flags, struct kvmini_error *err)
{
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (ram_size < GUEST_MEM_MIN || ram_size > GUEST_MEM_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "memory size %llu bytes is out of range (%llu KiB to %llu GiB)",
				   (unsigned long long)ram_size,
				   GUEST_MEM_MIN >> 10, GUEST_MEM_MAX >> 30);
	if (ram_size % 4096)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "memory size %llu bytes is not a multiple of 4 KiB",
				   (unsigned long long)ram_size);
	if (flags & GUEST_MEM_SHARED) {
		mem->memfd = memfd_create("kvmini-ram", MFD_CLOEXEC);
		if (mem->memfd < 0)
			return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "memfd_create");
		if (ftruncate(mem->memfd, (off_t)ram_size) < 0) {
			int e = errno;
			close(mem->memfd);
			mem->memfd = -1;
			return kvmini_fail_errno(err, KVMINI_E_HOST, e,
						 "cannot size guest memory file to %llu bytes",
						 (unsigned long long)ram_size);
		}
	}
	mem->base = map_aligned(ram_size, mem->memfd, true);
	if (!mem->base) {
		int e = errno;
		guest_memory_free(mem);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e,
					 "cannot map %llu bytes of guest memory",
					 (unsigned long long)ram_size);
	}
	mem->map_size = ram_size;
	mem->ram_size = ram_size;
	/* A hint: shmem honours it only where shmem_enabled is "advise". */
	madvise(mem->base, ram_size, MADV_HUGEPAGE);
	if ((flags & GUEST_MEM_PREFAULT) &&
	    madvise(mem->base, ram_size, MADV_POPULATE_WRITE) < 0) {
		int e = errno;
		guest_memory_free(mem);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e,
					 "cannot pre-fault %llu bytes of guest memory",
					 (unsigned long long)ram_size);
	}
	layout_regions(mem, ram_size);
	return 0;
}

int guest_memory_init_file(struct guest_memory *mem, uint64_t ram_size, int fd,
			   struct kvmini_error *err)
{
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot stat the memory file");
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != ram_size)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the memory file is %llu bytes, the snapshot's RAM %llu",
				   (unsigned long long)st.st_size, (unsigned long long)ram_size);
	if (ram_size < GUEST_MEM_MIN || ram_size > GUEST_MEM_MAX || ram_size % 4096)
		return kvmini_fail(err, KVMINI_E_USAGE, "memory size %llu bytes is not one kvmini "
				   "can map", (unsigned long long)ram_size);
	/* Private: the guest's writes stay in this process, so any number
	 * of VMs restored from one file share every page none of them wrote. */
	mem->base = map_aligned(ram_size, fd, false);
	if (!mem->base)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot map the memory file");
	mem->map_size = ram_size;
	mem->ram_size = ram_size;
	layout_regions(mem, ram_size);
	return 0;
}

void guest_memory_free(struct guest_memory *mem)
{
	if (mem->base)
		munmap(mem->base, mem->map_size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
}

void *guest_ptr(const struct guest_memory *mem, gpa_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa < r->gpa)
			continue;
		uint64_t offset = gpa - r->gpa;
		/* offset <= size and len <= size - offset: no addition can wrap. */
		if (offset < r->size && len <= r->size - offset)
			return r->host + offset;
		if (offset == r->size && len == 0)
			return r->host + offset;
	}
	return NULL;
}

int guest_read(const struct guest_memory *mem, gpa_t gpa, void *dst, uint64_t len)
{
	const void *src = guest_ptr(mem, gpa, len);
	if (!src)
		return -1;
	if (len)
		memcpy(dst, src, len);
	return 0;
}

int guest_write(const struct guest_memory *mem, gpa_t gpa, const void *src, uint64_t len)
{
	void *dst = guest_ptr(mem, gpa, len);
	if (!dst)
		return -1;
	if (len)
		memcpy(dst, src, len);
	return 0;
}

gpa_t guest_ram_end(const struct guest_memory *mem)
{
	gpa_t end = 0;
	for (unsigned i = 0; i < mem->nregions; i++)
		if (!mem->regions[i].device && mem->regions[i].gpa + mem->regions[i].size > end)
			end = mem->regions[i].gpa + mem->regions[i].size;
	return end;
}

int guest_memory_add_device(struct guest_memory *mem, gpa_t gpa, uint8_t *host, uint64_t size,
			    struct kvmini_error *err)
{
	if (!size || (gpa | size) % 4096 || gpa + size < gpa)
		return kvmini_fail(err, KVMINI_E_HOST, "device memory at 0x%llx: not whole pages",
				   (unsigned long long)gpa);
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "device memory at 0x%llx overlaps guest memory at 0x%llx",
					   (unsigned long long)gpa, (unsigned long long)r->gpa);
	}
	if (mem->nregions == GUEST_MEM_MAX_REGIONS)
		return kvmini_fail(err, KVMINI_E_HOST, "no room for another memory region");
	mem->regions[mem->nregions] = (struct guest_region){
		.gpa = gpa, .size = size, .host = host, .device = true,
	};
	return (int)mem->nregions++;
}

int guest_memory_reserve(struct guest_memory *mem, gpa_t start, gpa_t end, const char *what)
{
	if (end <= start || mem->nreserved >= GUEST_MEM_MAX_RESERVED)
		return -1;
	mem->reserved[mem->nreserved++] = (struct guest_reserved){
		.start = start, .end = end, .what = what,
	};
	return 0;
}

const struct guest_reserved *guest_memory_reserved_at(const struct guest_memory *mem,
						      gpa_t start, gpa_t end)
{
	for (unsigned i = 0; i < mem->nreserved; i++)
		if (start < mem->reserved[i].end && mem->reserved[i].start < end)
			return &mem->reserved[i];
	return NULL;
}
