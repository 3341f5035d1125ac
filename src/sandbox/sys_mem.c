/* Memory system calls: brk, mmap (anonymous, and private copies of
 * files), munmap, mprotect, mremap, madvise. All of them work inside the
 * window (sandbox.h): a mapping can only ever use the window's pages, so
 * --mem bounds everything the program can allocate. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "sandbox/sandbox.h"

#define PROT_ALL (PROT_READ | PROT_WRITE | PROT_EXEC)
#define MAP_FLAGS_ALLOWED (MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE |  \
			   MAP_POPULATE | MAP_FIXED_NOREPLACE | MAP_STACK | MAP_DENYWRITE | \
			   MAP_EXECUTABLE | MAP_GROWSDOWN | MAP_LOCKED | MAP_NONBLOCK)

static unsigned to_pg(uint64_t prot)
{
	return ((prot & PROT_READ) ? SB_PG_R : 0) | ((prot & PROT_WRITE) ? SB_PG_W : 0) |
	       ((prot & PROT_EXEC) ? SB_PG_X : 0);
}

/* Page-align len; 0 when it is zero or would wrap. */
static uint64_t page_len(uint64_t len)
{
	return len == 0 || len > UINT64_MAX - SB_PAGE ? 0 : SB_PAGE_UP(len);
}

/* Inside the window and no page used (mapped or guard). */
static bool range_free(const struct sb_mm *mm, uint64_t va, uint64_t len)
{
	if (!sb_mm_contains(mm, va, len))
		return false;
	for (uint64_t a = va; a < va + len; a += SB_PAGE)
		if (mm->pg[(a - mm->base) / SB_PAGE])
			return false;
	return true;
}

long sb_sys_brk(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_mm *mm = &sb->mm;
	uint64_t want = a[0];
	if (want < mm->brk_start || want > mm->mmap_top)
		return (long)mm->brk;
	uint64_t old_end = SB_PAGE_UP(mm->brk), new_end = SB_PAGE_UP(want);
	if (new_end > old_end) {
		if (!range_free(mm, old_end, new_end - old_end))
			return (long)mm->brk;
		sb_mm_map(mm, old_end, new_end - old_end, SB_PG_R | SB_PG_W, true);
	} else if (new_end < old_end) {
		sb_mm_unmap(mm, new_end, old_end - new_end);
	}
	mm->brk = want;
	return (long)want;
}

static long pick_address(sandbox_t *sb, uint64_t hint, uint64_t len, uint64_t flags)
{
	struct sb_mm *mm = &sb->mm;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (hint % SB_PAGE)
			return -EINVAL;
		if (!sb_mm_contains(mm, hint, len))
			return -ENOMEM;
		if ((flags & MAP_FIXED_NOREPLACE) && !sb_mm_none_mapped(mm, hint, len))
			return -EEXIST;
		return (long)hint;
	}
	if (hint && hint % SB_PAGE == 0 && hint >= SB_PAGE_UP(mm->brk) &&
	    range_free(mm, hint, len) && hint + len <= mm->mmap_top)
		return (long)hint;
	uint64_t va = sb_mm_find_free(mm, len);
	return va ? (long)va : -ENOMEM;
}

long sb_sys_mmap(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t hint = a[0], len = page_len(a[1]), prot = a[2], flags = a[3], off = a[5];
	int fd = (int)a[4];
	uint64_t type = flags & MAP_TYPE;
	if (!len || off % SB_PAGE || (prot & ~(uint64_t)PROT_ALL) ||
	    (flags & ~(uint64_t)MAP_FLAGS_ALLOWED) ||
	    (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE))
		return -EINVAL;
	struct sb_file *f = NULL;
	if (!(flags & MAP_ANONYMOUS)) {
		f = sb_file_get(sb, (uint32_t)fd);
		if (!f)
			return -EBADF;
		if (f->is_dir)
			return -ENODEV;
		if (!f->readable)
			return -EACCES;
		/* A file mapping is a copy: shared writes could not reach the file. */
		if (type != MAP_PRIVATE && (prot & PROT_WRITE))
			return -ENODEV;
	}
	long va = pick_address(sb, hint, len, flags);
	if (va < 0)
		return va;
	sb_mm_map(&sb->mm, (uint64_t)va, len, to_pg(prot), true);
	if (f) {
		uint8_t *dst = sb_mm_host(&sb->mm, (gva_t)va, len);
		int e = dst ? sb_file_read_into(sb, f->host_fd, off, dst, len) : -ENOMEM;
		if (e < 0) {
			sb_mm_unmap(&sb->mm, (uint64_t)va, len);
			return e;
		}
	}
	return va;
}

/* Clip [va, va+len) to the window; false when nothing is left. */
static bool clip(const struct sb_mm *mm, uint64_t *va, uint64_t *len)
{
	uint64_t lo = *va < mm->base ? mm->base : *va;
	uint64_t end = *va + *len < *va ? UINT64_MAX : *va + *len;
	uint64_t hi = end > mm->base + mm->size ? mm->base + mm->size : end;
	if (lo >= hi)
		return false;
	*va = lo;
	*len = hi - lo;
	return true;
}

long sb_sys_munmap(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t va = a[0], len = page_len(a[1]);
	if (va % SB_PAGE || !len)
		return -EINVAL;
	if (clip(&sb->mm, &va, &len))
		sb_mm_unmap(&sb->mm, va, len);
	return 0;
}

long sb_sys_mprotect(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t va = a[0], len = page_len(a[1]), prot = a[2];
	if (va % SB_PAGE || (prot & ~(uint64_t)PROT_ALL))
		return -EINVAL;
	if (a[1] == 0)
		return 0;
	if (!len || !sb_mm_contains(&sb->mm, va, len) || !sb_mm_all_mapped(&sb->mm, va, len))
		return -ENOMEM;
	sb_mm_protect(&sb->mm, va, len, to_pg(prot));
	return 0;
}

static long move_mapping(sandbox_t *sb, uint64_t old, uint64_t old_len, uint64_t new_len,
			 uint64_t flags, uint64_t fixed)
{
	struct sb_mm *mm = &sb->mm;
	long nva;
	if (flags & MREMAP_FIXED) {
		if (fixed % SB_PAGE || !range_free(mm, fixed, new_len))
			return -ENOMEM;
		nva = (long)fixed;
	} else {
		uint64_t va = sb_mm_find_free(mm, new_len);
		if (!va)
			return -ENOMEM;
		nva = (long)va;
	}
	unsigned prot = mm->pg[(old - mm->base) / SB_PAGE] & SB_PG_PROT;
	uint64_t keep = old_len < new_len ? old_len : new_len;
	void *to = sb_mm_host(mm, (gva_t)nva, keep), *from = sb_mm_host(mm, old, keep);
	if (!to || !from)
		return -ENOMEM;   /* not reached: both ranges were checked inside the window */
	sb_mm_map(mm, (gva_t)nva, new_len, prot, true);
	memcpy(to, from, keep);
	for (uint64_t i = 0; i < keep; i += SB_PAGE) {
		unsigned p = mm->pg[(old + i - mm->base) / SB_PAGE] & SB_PG_PROT;
		if (p != prot)
			sb_mm_protect(mm, (uint64_t)nva + i, SB_PAGE, p);
	}
	sb_mm_unmap(mm, old, old_len);
	return nva;
}

long sb_sys_mremap(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_mm *mm = &sb->mm;
	uint64_t old = a[0], old_len = page_len(a[1]), new_len = page_len(a[2]), flags = a[3];
	if (old % SB_PAGE || !new_len || (flags & ~(uint64_t)(MREMAP_MAYMOVE | MREMAP_FIXED)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)))
		return -EINVAL;
	if (!old_len || !sb_mm_contains(mm, old, old_len) || !sb_mm_all_mapped(mm, old, old_len))
		return -EFAULT;
	if (new_len <= old_len && !(flags & MREMAP_FIXED)) {
		sb_mm_unmap(mm, old + new_len, old_len - new_len);
		return (long)old;
	}
	uint64_t grow = new_len - old_len;
	if (!(flags & MREMAP_FIXED) && range_free(mm, old + old_len, grow)) {
		unsigned prot = mm->pg[(old + old_len - SB_PAGE - mm->base) / SB_PAGE] & SB_PG_PROT;
		sb_mm_map(mm, old + old_len, grow, prot, true);
		return (long)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	return move_mapping(sb, old, old_len, new_len, flags, a[4]);
}

long sb_sys_madvise(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t va = a[0], len = page_len(a[1]);
	if (va % SB_PAGE)
		return -EINVAL;
	if (a[2] != MADV_DONTNEED || !len)
		return 0;   /* advice only */
	if (!sb_mm_contains(&sb->mm, va, len) || !sb_mm_all_mapped(&sb->mm, va, len))
		return -ENOMEM;
	sb_mm_zero(&sb->mm, va, len);   /* private anonymous pages read back as zeros */
	return 0;
}
