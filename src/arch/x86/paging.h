/* x86 linear-to-physical translation in software: a walk of the guest's
 * own page tables, as the MMU would do it for a supervisor access. A
 * debugger uses it to see memory as the guest sees it. Page-table
 * entries are read through the checked guest-memory accessor; a table
 * outside RAM ends the walk. Accessed and dirty bits are never set. */
#ifndef KVMINI_X86_PAGING_H
#define KVMINI_X86_PAGING_H

#include <stdint.h>
#include "memory.h"

/* The control registers that decide how linear addresses translate. */
struct x86_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/* Translate `linear`. On success returns 0, sets *gpa and *span, the
 * number of bytes from `linear` to the end of its page (so a caller can
 * walk a range page by page). -1 when the address is not mapped, not
 * canonical, or a table lies outside RAM. Without paging (CR0.PG = 0)
 * the address is physical, truncated to 32 bits. */
int x86_translate(const struct guest_memory *mem, const struct x86_paging *paging,
		  gva_t linear, gpa_t *gpa, uint64_t *span);

#endif
