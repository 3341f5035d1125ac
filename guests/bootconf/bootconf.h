/* The boot-protocol conformance kernel: one set of checks, entered
 * either as a bzImage (64-bit boot protocol: zeropage.c, entry64.S) or
 * as a PVH kernel (32-bit, hvm_start_info: startinfo.c, entry_pvh.S).
 *
 * It checks what it was given against what the test asked for, which
 * the test writes into the command line itself as bootconf.KEY=VALUE
 * (numbers in hex, 0x-prefixed):
 *   bootconf.mem=SIZE         the --mem size: the memory map must match
 *   bootconf.load=ADDR        where the bzImage kernel must have been loaded
 *   bootconf.initrd_size=N    an initrd of N bytes must be present ...
 *   bootconf.initrd_crc=C     ... with this POSIX cksum(1) CRC
 *                             (without these two: no initrd)
 *   bootconf.rsdp=ADDR        the RSDP address passed (0: none)
 *   bootconf.end              the last token: the line arrived whole
 * Each check prints "bootconf: ok WHAT" or "bootconf: FAIL WHAT: ...";
 * the last line is "bootconf: N checks, F failed", and the kernel ends
 * through debug-exit with F (kvmini's status (F << 1) | 1: 1 = all ok). */
#ifndef BOOTCONF_H
#define BOOTCONF_H

/* kvmini's documented boot area (docs/entry-state.md). */
#define BOOTCONF_PARAMS_ADDR  0x50000u
#define BOOTCONF_CMDLINE_ADDR 0x51000u
#define BOOTCONF_CMDLINE_MAX  (0x60000u - BOOTCONF_CMDLINE_ADDR - 1)   /* PVH: kvmini's buffer */

/* Slots of the entry state the entry code saves before any C runs. */
#define ENTRY_FLAGS 0
#define ENTRY_ARG   1      /* rsi (bzImage) or ebx (PVH) */
#define ENTRY_CS    2
#define ENTRY_DS    3
#define ENTRY_ES    4
#define ENTRY_SS    5
#define ENTRY_CR0   6
#define ENTRY_CR4   7
#define ENTRY_EFER  8
#define ENTRY_LOAD  9      /* where the code runs: the kernel's start */
#define ENTRY_SLOTS 10

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Saved by the entry code; one slot per ENTRY_*, then the GDTR as sgdt
 * stores it (limit, base). */
extern uint64_t entry_state[ENTRY_SLOTS];
extern uint8_t entry_gdtr[16];

/* Reporting. */
void check_eq(const char *what, uint64_t got, uint64_t want);
void check_true(const char *what, int ok, uint64_t detail);
void info(const char *what, uint64_t value);
int check_summary(void);   /* prints the summary, returns the failures */

/* The command line. */
int cmdline_value(const char *cmdline, const char *key, uint64_t *value);
void check_cmdline(const char *cmdline, uint64_t max_len);

/* The memory map kvmini documents for `mem` bytes of RAM. */
struct map_entry {
	uint64_t addr, size;
	uint32_t type;
};
#define MAP_MAX 4
unsigned expected_map(uint64_t mem, struct map_entry map[MAP_MAX]);
void check_map(const struct map_entry *got, unsigned n, uint64_t mem);

/* The initrd: size, placement and POSIX cksum checksum. */
void check_initrd(const char *cmdline, uint64_t addr, uint64_t size, uint64_t lowest,
		  uint64_t highest_end);
/* The RSDP: as asked, and a real one when not 0. */
void check_rsdp(const char *cmdline, uint64_t rsdp);

/* A GDT descriptor: flat 4 GiB, present, and code (readable; 64-bit or
 * 32-bit) or data (writable). */
enum segment_kind { SEG_CODE64, SEG_CODE32, SEG_DATA };
void check_segment(const char *what, uint16_t selector, enum segment_kind kind);

uint64_t align_down(uint64_t value, uint64_t align);
uint64_t align_up(uint64_t value, uint64_t align);
#endif

#endif
