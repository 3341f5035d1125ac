/* Architectural bits of x86 control registers, EFER and 64-bit page-table
 * entries (Intel SDM vol. 3, ch. 2 and 4), named once for every room
 * that builds or reads CPU state: mode entry, the page walker, the
 * sandbox. */
#ifndef KVMINI_X86_REGS_H
#define KVMINI_X86_REGS_H

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)

#define CR4_PSE        (1ULL << 4)
#define CR4_PAE        (1ULL << 5)
#define CR4_OSFXSR     (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_LA57       (1ULL << 12)
#define CR4_OSXSAVE    (1ULL << 18)

#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define PTE_P    (1ULL << 0)    /* present */
#define PTE_W    (1ULL << 1)    /* writable */
#define PTE_U    (1ULL << 2)    /* user */
#define PTE_A    (1ULL << 5)    /* accessed */
#define PTE_D    (1ULL << 6)    /* dirty */
#define PTE_PS   (1ULL << 7)    /* large page */
#define PTE_NX   (1ULL << 63)   /* no execute */
#define PTE_ADDR 0x000ffffffffff000ULL

#endif
