/* Architectural bits the uapi headers do not name: EFER and 64-bit
 * page-table entries (Intel SDM vol. 3, ch. 2 and 4), named once for
 * every room that builds or reads CPU state: mode entry, the page
 * walker, the sandbox. Control-register bits come from
 * <asm/processor-flags.h> (X86_CR0_PE, X86_CR4_PAE, ...). */
#ifndef KVMINI_X86_REGS_H
#define KVMINI_X86_REGS_H

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
