/* Raw images: the file's bytes copied to one guest-physical address.
 * Also home of the placement checks every loader shares. */
#include <inttypes.h>
#include "loader.h"
#include "arch/x86/cpu_mode.h"

#define FLAT_REAL_MODE_ADDR 0x7c00ULL     /* where a BIOS puts a boot sector */
#define FLAT_DEFAULT_ADDR   0x100000ULL   /* 1 MiB: clear of the VMM's tables */
#define REAL_MODE_LIMIT     0x100000ULL   /* what cs:ip can reach */
#define PROTECTED_MODE_LIMIT 0x100000000ULL /* what a 32-bit eip can reach */

const char *loader_image_name(const struct kvmini_image *img)
{
	return img->path ? img->path : "image";
}

static int ranges_overlap(uint64_t a_start, uint64_t a_end,
			  uint64_t b_start, uint64_t b_end)
{
	return a_start < b_end && b_start < a_end;
}

static const char *reserved_name(enum kvmini_mode mode)
{
	return mode == KVMINI_MODE_LONG ? "the VMM's GDT and page tables"
					: "the VMM's GDT";
}

int loader_check_placement(const struct guest_memory *mem,
			   const struct kvmini_image *img, enum kvmini_mode mode,
			   const char *what, gpa_t gpa, uint64_t len,
			   struct kvmini_error *err)
{
	const char *name = loader_image_name(img);
	gpa_t res_start, res_end;

	if (len > UINT64_MAX - gpa)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: %s at 0x%" PRIx64 " with size 0x%" PRIx64
				   " wraps past the end of the address space",
				   name, what, gpa, len);
	if (!guest_ptr(mem, gpa, len))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: %s [0x%" PRIx64 ", 0x%" PRIx64 ") is outside"
				   " guest RAM (RAM ends at 0x%" PRIx64 ")",
				   name, what, gpa, gpa + len, guest_ram_end(mem));
	x86_reserved_range(mode, guest_ram_end(mem), &res_start, &res_end);
	if (ranges_overlap(gpa, gpa + len, res_start, res_end))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: %s [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps %s"
				   " [0x%" PRIx64 ", 0x%" PRIx64 ")",
				   name, what, gpa, gpa + len, reserved_name(mode),
				   res_start, res_end);
	const struct guest_reserved *vmm = guest_memory_reserved_at(mem, gpa, gpa + len);
	if (vmm)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: %s [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps %s"
				   " [0x%" PRIx64 ", 0x%" PRIx64 ")",
				   name, what, gpa, gpa + len, vmm->what, vmm->start, vmm->end);
	return 0;
}

int loader_check_entry(const struct guest_memory *mem,
		       const struct kvmini_image *img, enum kvmini_mode mode,
		       gpa_t entry, struct kvmini_error *err)
{
	const char *name = loader_image_name(img);

	if (mode == KVMINI_MODE_REAL && entry >= REAL_MODE_LIMIT)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: entry point 0x%" PRIx64 " is not below 1 MiB,"
				   " which real mode (cs:ip) cannot reach", name, entry);
	if (mode == KVMINI_MODE_PROTECTED && entry >= PROTECTED_MODE_LIMIT)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: entry point 0x%" PRIx64 " is not below 4 GiB,"
				   " which protected mode cannot reach", name, entry);
	if (!guest_ptr(mem, entry, 1))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: entry point 0x%" PRIx64 " is outside guest RAM"
				   " (RAM ends at 0x%" PRIx64 ")",
				   name, entry, guest_ram_end(mem));
	return 0;
}

static gpa_t flat_load_addr(const struct kvmini_image *img, enum kvmini_mode mode)
{
	if (img->load_addr_set)
		return img->load_addr;
	return mode == KVMINI_MODE_REAL ? FLAT_REAL_MODE_ADDR : FLAT_DEFAULT_ADDR;
}

int load_flat(const struct guest_memory *mem, const struct kvmini_image *img,
	      struct load_result *out, struct kvmini_error *err)
{
	enum kvmini_mode mode = img->mode_set ? img->mode : KVMINI_MODE_REAL;
	gpa_t addr = flat_load_addr(img, mode);
	gpa_t entry = img->entry_set ? img->entry : addr;

	if (img->size == 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: empty image",
				   loader_image_name(img));
	if (loader_check_placement(mem, img, mode, "image", addr, img->size, err) ||
	    loader_check_entry(mem, img, mode, entry, err))
		return -1;
	if (guest_write(mem, addr, img->data, img->size))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: cannot write the image"
				   " to guest RAM", loader_image_name(img));
	*out = (struct load_result){
		.mode = mode, .entry = entry, .low = addr, .high = addr + img->size,
	};
	return 0;
}
