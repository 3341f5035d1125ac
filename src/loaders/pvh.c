/* ELF kernels with a PVH entry: the ELF note XEN_ELFNOTE_PHYS32_ENTRY
 * (name "Xen", type 18) gives a 32-bit physical entry point. The PT_LOAD
 * segments load at their physical addresses (the ELF loader), and the
 * CPU starts in flat 32-bit protected mode, paging off, with EBX holding
 * the address of a struct hvm_start_info (pvh_abi.h) that carries the
 * command line, the memory map and the initrd as module 0. An ELF file
 * without the note is not a PVH kernel; as an IMAGE it stays a plain ELF
 * guest. */
#include <inttypes.h>
#include <string.h>
#include "linux_boot.h"
#include "pvh_abi.h"

#define PVH_START_INFO_ADDR BOOT_PARAMS_ADDR
#define PVH_MODLIST_ADDR    (BOOT_PARAMS_ADDR + 0x40)
#define PVH_MEMMAP_ADDR     (BOOT_PARAMS_ADDR + 0x80)
#define FOUR_GIB            0x100000000ULL

_Static_assert(PVH_MODLIST_ADDR >= PVH_START_INFO_ADDR + sizeof(struct hvm_start_info),
	       "module list after the start info");
_Static_assert(PVH_MEMMAP_ADDR >= PVH_MODLIST_ADDR + sizeof(struct hvm_modlist_entry),
	       "memory map after the module list");
_Static_assert(PVH_MEMMAP_ADDR + BOOT_MAP_MAX * sizeof(struct hvm_memmap_table_entry)
	       <= BOOT_CMDLINE_ADDR, "memory map before the command line");

static int read_entry(const struct kvmini_image *img, uint32_t *entry, struct kvmini_error *err)
{
	const char *name = loader_image_name(img);
	const uint8_t *desc;
	uint64_t descsz, value = 0;
	struct elf_file f;
	int found;

	if (elf_image_read(img, &f, err))
		return -1;
	found = elf_find_note(&f, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz, err);
	if (found < 0)
		return -1;
	if (!found)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: ELF kernel without a PVH entry (no \"Xen\" note of type %d,"
				   " XEN_ELFNOTE_PHYS32_ENTRY); run a plain ELF as IMAGE, not"
				   " --kernel", name, XEN_ELFNOTE_PHYS32_ENTRY);
	if (descsz != 4 && descsz != 8)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: PVH entry note holds %" PRIu64 " bytes, need 4 or 8",
				   name, descsz);
	memcpy(&value, desc, descsz);   /* little-endian, like the host */
	if (value >= FOUR_GIB)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: PVH entry 0x%" PRIx64 " is not a 32-bit address", name, value);
	*entry = (uint32_t)value;
	return 0;
}

bool pvh_has_entry(const struct kvmini_image *img)
{
	struct kvmini_error ignored;
	const uint8_t *desc;
	uint64_t descsz;
	struct elf_file f;

	return elf_image_read(img, &f, &ignored) == 0 &&
	       elf_find_note(&f, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz, &ignored) == 1;
}

/* The segments as the ELF loader would load them, entered at the PVH
 * entry: all of it reachable from 32-bit code, clear of the boot area. */
static int check_segments(const struct guest_memory *mem, const struct kvmini_image *img,
			  struct load_result *plan, struct kvmini_error *err)
{
	const char *name = loader_image_name(img);

	if (elf_validate(mem, img, plan, err))
		return -1;
	if (plan->low < BOOT_KERNEL_MIN)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: a segment starts at 0x%" PRIx64 ", below 1 MiB, where kvmini"
				   " keeps its boot structures", name, plan->low);
	if (plan->high > FOUR_GIB)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: segments reach 0x%" PRIx64 ", beyond the 4 GiB a 32-bit"
				   " PVH entry can reach", name, plan->high);
	if (plan->entry < plan->low || plan->entry >= plan->high)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: PVH entry 0x%" PRIx64 " is outside the loaded segments"
				   " [0x%" PRIx64 ", 0x%" PRIx64 ")", name, plan->entry,
				   plan->low, plan->high);
	return 0;
}

static int write_start_info(const struct guest_memory *mem, const struct kvmini_image *img,
			    gpa_t initrd, gpa_t rsdp, struct kvmini_error *err)
{
	struct x86_e820_entry map[BOOT_MAP_MAX];
	struct hvm_memmap_table_entry table[BOOT_MAP_MAX];
	unsigned n = boot_memory_map(mem, map);
	struct hvm_modlist_entry module = { .paddr = initrd, .size = img->initrd_size };
	struct hvm_start_info info = {
		.magic = XEN_HVM_START_MAGIC_VALUE, .version = XEN_HVM_START_VERSION,
		.nr_modules = img->initrd ? 1 : 0,
		.modlist_paddr = img->initrd ? PVH_MODLIST_ADDR : 0,
		.cmdline_paddr = BOOT_CMDLINE_ADDR, .rsdp_paddr = rsdp,
		.memmap_paddr = PVH_MEMMAP_ADDR, .memmap_entries = n,
	};

	memset(table, 0, sizeof(table));
	for (unsigned i = 0; i < n; i++)
		table[i] = (struct hvm_memmap_table_entry){
			.addr = map[i].addr, .size = map[i].size, .type = map[i].type,
		};
	if (guest_write(mem, PVH_START_INFO_ADDR, &info, sizeof(info)) < 0 ||
	    (img->initrd && guest_write(mem, PVH_MODLIST_ADDR, &module, sizeof(module)) < 0) ||
	    guest_write(mem, PVH_MEMMAP_ADDR, table, n * sizeof(table[0])) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: cannot write the PVH start info"
				   " to guest RAM", loader_image_name(img));
	return 0;
}

int load_pvh(const struct guest_memory *mem, const struct kvmini_image *img,
	     gpa_t rsdp, struct load_result *out, struct kvmini_error *err)
{
	struct kvmini_image elf = *img;   /* entered at the note's entry, not e_entry */
	struct load_result plan = { .mode = KVMINI_MODE_PROTECTED }, loaded;
	uint32_t entry = 0;
	gpa_t initrd = 0;

	if (read_entry(img, &entry, err))
		return -1;
	elf.entry_set = true;
	elf.entry = entry;
	if (check_segments(mem, &elf, &plan, err) ||
	    boot_check_cmdline(img, BOOT_CMDLINE_MAX, "kvmini's command-line buffer", err) ||
	    boot_place_initrd(mem, img, plan.high, FOUR_GIB, "4 GiB", &initrd, err))
		return -1;
	if (load_elf(mem, &elf, &loaded, err) || boot_write_cmdline(mem, img, err) ||
	    boot_write_initrd(mem, img, initrd, err) ||
	    write_start_info(mem, img, initrd, rsdp, err))
		return -1;
	*out = (struct load_result){
		.mode = KVMINI_MODE_PROTECTED, .abi = X86_ABI_PVH, .entry = entry,
		.low = loaded.low, .high = loaded.high,
		.rbx = PVH_START_INFO_ADDR, .stack = BOOT_STACK_TOP, .cmdline = BOOT_CMDLINE_ADDR,
	};
	return 0;
}
