/* x86 linear-to-physical translation in software: a walk of the guest's
 * own page tables, as the MMU would do it. A debugger uses
 * x86_translate() to see memory as the guest sees it (no permission
 * checks, accessed and dirty bits untouched); instruction completion uses
 * x86_walk(), which checks an access's permissions exactly as the CPU
 * does (CR0.WP, CR4.SMEP/SMAP with RFLAGS.AC, EFER.NXE, user/supervisor),
 * reports the #PF error code, and sets the accessed and dirty bits the
 * CPU would set. Page-table entries are read through the checked
 * guest-memory accessor; a table outside RAM ends the walk. */
#ifndef KVMINI_X86_PAGING_H
#define KVMINI_X86_PAGING_H

#include <stdbool.h>
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

/* One access, as the permission checks see it. */
enum x86_access_kind { X86_ACCESS_READ, X86_ACCESS_WRITE, X86_ACCESS_FETCH };
struct x86_access {
	enum x86_access_kind kind;
	bool user;       /* made at CPL 3 */
	bool implicit;   /* a supervisor access to a system structure (IDT,
			  * GDT, TSS): SMAP applies whatever RFLAGS.AC says */
	bool ac;         /* RFLAGS.AC: suspends SMAP for explicit accesses */
};

/* The #PF error code's bits (Intel SDM vol. 3, 4.7). */
#define X86_PF_PROT  (1u << 0)   /* a present page refused the access */
#define X86_PF_WRITE (1u << 1)
#define X86_PF_USER  (1u << 2)
#define X86_PF_RSVD  (1u << 3)   /* a reserved bit set in an entry */
#define X86_PF_INSTR (1u << 4)   /* an instruction fetch (with NXE or SMEP) */

enum x86_walk_result {
	X86_WALK_OK,
	X86_WALK_FAULT,          /* #PF with *pf_error, CR2 = the address */
	X86_WALK_NONCANONICAL,   /* #GP(0) (or #SS(0) on the stack segment) */
	X86_WALK_NO_TABLE,       /* a table lies outside RAM: cannot go on */
};

/* Translate `linear` for `access`, checking what the CPU checks at every
 * level; on X86_WALK_OK sets *gpa and *span (as x86_translate()) and the
 * accessed bits of every entry used and, for a write, the leaf's dirty
 * bit (atomically: other vCPUs walk the same tables). Protection keys
 * (CR4.PKE) are not checked. */
enum x86_walk_result x86_walk(const struct guest_memory *mem, const struct x86_paging *paging,
			      gva_t linear, const struct x86_access *access,
			      gpa_t *gpa, uint64_t *span, uint32_t *pf_error);

#endif
