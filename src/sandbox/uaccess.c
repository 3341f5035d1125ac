/* The program's pointers. Every address and length a system call gets is
 * checked here against the window and the pages' protection before the
 * host touches a byte, and the host then reaches the bytes only through
 * sb_mm_host(), that is guest_ptr(). */
#include <errno.h>
#include <string.h>
#include "sandbox/sandbox.h"

void *sb_uptr(sandbox_t *sb, gva_t va, uint64_t len, unsigned access)
{
	struct sb_mm *mm = &sb->mm;
	if (len == 0)
		return sb_mm_host(mm, mm->base, 0);   /* valid; the caller will not dereference it */
	if (!sb_mm_contains(mm, va, len))
		return NULL;
	for (gva_t a = SB_PAGE_DOWN(va); a < va + len; a += SB_PAGE) {
		unsigned flags = mm->pg[(a - mm->base) / SB_PAGE];
		if (!(flags & SB_PG_MAPPED) || (flags & access) != access)
			return NULL;
	}
	if (access & SB_ACCESS_WRITE)
		sb_mm_mark_dirty(mm, sb_mm_gpa(mm, va), len);
	return sb_mm_host(mm, va, len);
}

int sb_copy_in(sandbox_t *sb, void *dst, gva_t va, uint64_t len)
{
	const void *src = sb_uptr(sb, va, len, SB_ACCESS_READ);
	if (!src)
		return -EFAULT;
	if (len)
		memcpy(dst, src, len);
	return 0;
}

int sb_copy_out(sandbox_t *sb, gva_t va, const void *src, uint64_t len)
{
	void *dst = sb_uptr(sb, va, len, SB_ACCESS_WRITE);
	if (!dst)
		return -EFAULT;
	if (len)
		memcpy(dst, src, len);
	return 0;
}

long sb_copy_string(sandbox_t *sb, char *dst, gva_t va, size_t cap)
{
	/* Page by page, so a string that ends just before an unmapped page
	 * is fine and one that runs into it is -EFAULT. */
	size_t n = 0;
	while (n < cap) {
		gva_t a = va + n;
		if (a < va)
			return -EFAULT;
		uint64_t chunk = SB_PAGE - a % SB_PAGE;
		if (chunk > cap - n)
			chunk = cap - n;
		const char *src = sb_uptr(sb, a, chunk, SB_ACCESS_READ);
		if (!src)
			return -EFAULT;
		const char *nul = memchr(src, 0, chunk);
		size_t take = nul ? (size_t)(nul - src) : chunk;
		memcpy(dst + n, src, take);
		n += take;
		if (nul) {
			dst[n] = 0;
			return (long)n;
		}
	}
	return -ENAMETOOLONG;
}
