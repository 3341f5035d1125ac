/* The conformance kernel entered through PVH: check the 32-bit CPU
 * state the PVH ABI prescribes and every hvm_start_info field kvmini
 * filled in (src/loaders/pvh_abi.h). Runs in 32-bit protected mode. */
#include "pvh_abi.h"
#include "bootconf.h"
#include "guest.h"

#define CR0_PE 0x1u
#define CR0_ET 0x10u
#define EFLAGS_IF (1u << 9)
#define LOW_RAM_TOP 0xc0000000ULL   /* kvmini's device hole starts at 3 GiB */
#define MODULE_ALIGN 0x1000u

extern const char _end[];

static void check_entry_state(void)
{
	uint16_t cs = (uint16_t)entry_state[ENTRY_CS];

	check_eq("start info address in ebx", entry_state[ENTRY_ARG], BOOTCONF_PARAMS_ADDR);
	check_eq("cr0: PE only (ET is fixed)", entry_state[ENTRY_CR0] & ~(uint64_t)CR0_ET, CR0_PE);
	check_eq("cr4: 0", entry_state[ENTRY_CR4], 0);
	check_eq("efer: 0 (no long mode)", entry_state[ENTRY_EFER], 0);
	check_true("interrupts disabled", !(entry_state[ENTRY_FLAGS] & EFLAGS_IF),
		   entry_state[ENTRY_FLAGS]);
	check_segment("cs: flat 32-bit code, readable", cs, SEG_CODE32);
	check_segment("ds: flat data, writable", (uint16_t)entry_state[ENTRY_DS], SEG_DATA);
	check_segment("es: flat data, writable", (uint16_t)entry_state[ENTRY_ES], SEG_DATA);
	check_segment("ss: flat data, writable", (uint16_t)entry_state[ENTRY_SS], SEG_DATA);
}

static void check_start_info(const struct hvm_start_info *si)
{
	check_eq("magic", si->magic, XEN_HVM_START_MAGIC_VALUE);
	check_eq("version", si->version, 1);
	check_eq("flags", si->flags, 0);
	check_eq("reserved", si->reserved, 0);
	check_eq("cmdline_paddr", si->cmdline_paddr, BOOTCONF_CMDLINE_ADDR);
}

static void check_memory(uint64_t mem, const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *table =
		(const struct hvm_memmap_table_entry *)(uintptr_t)si->memmap_paddr;
	struct map_entry map[MAP_MAX], want[MAP_MAX];
	unsigned n = si->memmap_entries < MAP_MAX ? si->memmap_entries : MAP_MAX;
	int reserved_zero = 1;

	check_eq("memmap_entries", si->memmap_entries, expected_map(mem, want));
	check_true("memmap_paddr below 1 MiB", si->memmap_paddr && si->memmap_paddr < 0x100000,
		   si->memmap_paddr);
	if (!si->memmap_paddr || si->memmap_paddr >= 0x100000)
		return;
	for (unsigned i = 0; i < n; i++) {
		map[i] = (struct map_entry){ table[i].addr, table[i].size, table[i].type };
		reserved_zero = reserved_zero && table[i].reserved == 0;
	}
	check_map(map, n, mem);
	check_true("memory map entries' reserved fields are 0", reserved_zero, 0);
}

/* The initrd is module 0, placed like the bzImage's (without an
 * initrd_addr_max): at the top of the RAM below 3 GiB. */
static void check_modules(const char *cmdline, uint64_t mem, const struct hvm_start_info *si)
{
	const struct hvm_modlist_entry *mod =
		(const struct hvm_modlist_entry *)(uintptr_t)si->modlist_paddr;
	uint64_t size;
	uint64_t low_end = mem < LOW_RAM_TOP ? mem : LOW_RAM_TOP;
	uint64_t kernel_end = (uint64_t)(uintptr_t)_end;

	if (!cmdline_value(cmdline, "bootconf.initrd_size", &size)) {
		check_eq("no initrd: nr_modules", si->nr_modules, 0);
		check_eq("no initrd: modlist_paddr", si->modlist_paddr, 0);
		return;
	}
	check_eq("nr_modules", si->nr_modules, 1);
	check_true("modlist_paddr below 1 MiB", si->modlist_paddr && si->modlist_paddr < 0x100000,
		   si->modlist_paddr);
	if (si->nr_modules != 1 || !si->modlist_paddr || si->modlist_paddr >= 0x100000)
		return;
	check_eq("module 0: no command line", mod->cmdline_paddr, 0);
	check_eq("module 0: reserved", mod->reserved, 0);
	check_true("module 0: page aligned", !(mod->paddr & (MODULE_ALIGN - 1)), mod->paddr);
	check_initrd(cmdline, mod->paddr, mod->size, kernel_end, low_end);
}

int pvh_main(uint32_t start_info);
int pvh_main(uint32_t start_info)
{
	const struct hvm_start_info *si = (const struct hvm_start_info *)(uintptr_t)start_info;
	const char *cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
	uint64_t mem;

	serial_puts("bootconf: PVH, 32-bit entry\n");
	check_entry_state();
	check_start_info(si);
	check_cmdline(cmdline, BOOTCONF_CMDLINE_MAX);
	if (!cmdline_value(cmdline, "bootconf.mem", &mem)) {
		check_true("bootconf.mem given", 0, 0);
		return check_summary();
	}
	check_memory(mem, si);
	check_modules(cmdline, mem, si);
	check_rsdp(cmdline, si->rsdp_paddr);
	return check_summary();
}
