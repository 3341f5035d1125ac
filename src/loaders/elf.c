/* ELF executables. The file is hostile input: elf_reader.c checks the
 * format (headers, program headers, segments inside the file), this file
 * what the loader makes of it (type, --mode, placement in guest RAM,
 * overlaps, entry), all before the first byte reaches guest memory, so a
 * rejected file leaves the guest untouched. */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "loader.h"
#include "loaders/elf_reader.h"
#include "arch/x86/cpu_mode.h"

/* A PT_LOAD segment as this loader places it: at its physical address. */
struct elf_load {
	unsigned index;
	uint64_t offset, filesz, memsz;
	gpa_t paddr;
};

static const struct elf_rules image_rules = { .classes = ELF_ACCEPT_32 | ELF_ACCEPT_64 };

int image_is_elf(const uint8_t *data, uint64_t size)
{
	return elf_has_magic(data, size);
}

static const char *class_name(unsigned char elf_class)
{
	return elf_class == ELFCLASS64 ? "ELF64" : "ELF32";
}

/* The mode an ELF class runs in. */
static enum kvmini_mode class_mode(const struct elf_file *f)
{
	return f->elf_class == ELFCLASS64 ? KVMINI_MODE_LONG : KVMINI_MODE_PROTECTED;
}

static int check_type(const char *name, uint16_t type, struct kvmini_error *err)
{
	switch (type) {
	case ET_EXEC:
		return 0;
	case ET_DYN:
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: position-independent ELF (ET_DYN) is not supported;"
				   " link the guest at a fixed address (-no-pie, -static)", name);
	case ET_REL:
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: relocatable object (ET_REL), not an executable;"
				   " link it first", name);
	default:
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: ELF type %u is not an executable (need ET_EXEC)", name, type);
	}
}

static int check_mode(const struct kvmini_image *img, const struct elf_file *f,
		      struct kvmini_error *err)
{
	if (!img->mode_set || img->mode == class_mode(f))
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s image needs --mode %s (got --mode %s)",
			   f->label, class_name(f->elf_class),
			   x86_mode_name(class_mode(f)), x86_mode_name(img->mode));
}

int elf_image_read(const struct kvmini_image *img, struct elf_file *f,
		   struct kvmini_error *err)
{
	const char *name = loader_image_name(img);

	if (elf_read(f, img->data, img->size, name, &image_rules, err) ||
	    check_type(name, f->type, err) || check_mode(img, f, err))
		return -1;
	if (img->load_addr_set)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: a load address applies only to raw images;"
				   " ELF segments load at their own addresses", name);
	return 0;
}

/* Check every segment's placement and collect them into *segs (caller
 * frees); elf_read() checked the rest and that there is one. */
static int collect_segments(const struct guest_memory *mem, const struct kvmini_image *img,
			    const struct elf_file *f, struct elf_load **segs,
			    unsigned *nsegs, struct kvmini_error *err)
{
	struct elf_load *list = calloc(f->phnum, sizeof(*list));
	struct elf_segment seg;
	unsigned count = 0;

	if (!list) {
		kvmini_fail(err, KVMINI_E_HOST, "%s: out of memory reading %u program headers",
			    f->label, f->phnum);
		return -1;   /* explicit, so the compiler sees *segs is set on success */
	}
	for (unsigned i = 0; elf_next_load(f, &i, &seg);) {
		char what[32];

		snprintf(what, sizeof(what), "segment %u", seg.index);
		if (loader_check_placement(mem, img, class_mode(f), what, seg.paddr, seg.memsz,
					   err)) {
			free(list);
			return -1;
		}
		list[count++] = (struct elf_load){ seg.index, seg.offset, seg.filesz, seg.memsz,
						   seg.paddr };
	}
	*segs = list;
	*nsegs = count;
	return 0;
}

static int compare_by_paddr(const void *a, const void *b)
{
	const struct elf_load *x = a, *y = b;

	if (x->paddr != y->paddr)
		return x->paddr < y->paddr ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted by address, two segments overlap only if neighbours do. */
static int check_no_overlap(const struct kvmini_image *img, struct elf_load *segs,
			    unsigned nsegs, struct kvmini_error *err)
{
	qsort(segs, nsegs, sizeof(*segs), compare_by_paddr);
	for (unsigned i = 1; i < nsegs; i++) {
		const struct elf_load *prev = &segs[i - 1], *cur = &segs[i];

		if (cur->paddr < prev->paddr + prev->memsz)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: segment %u [0x%" PRIx64 ", 0x%" PRIx64
					   ") overlaps segment %u [0x%" PRIx64 ", 0x%" PRIx64 ")",
					   loader_image_name(img),
					   cur->index, cur->paddr, cur->paddr + cur->memsz,
					   prev->index, prev->paddr, prev->paddr + prev->memsz);
	}
	return 0;
}

static int check_entry(const struct guest_memory *mem, const struct kvmini_image *img,
		       const struct elf_file *f, const struct elf_load *segs,
		       unsigned nsegs, struct kvmini_error *err)
{
	if (img->entry_set)
		return loader_check_entry(mem, img, class_mode(f), img->entry, err);
	for (unsigned i = 0; i < nsegs; i++)
		if (f->entry >= segs[i].paddr && f->entry - segs[i].paddr < segs[i].memsz)
			return 0;
	return kvmini_fail(err, KVMINI_E_USAGE,
			   "%s: entry point 0x%" PRIx64 " is not inside any loaded segment",
			   f->label, f->entry);
}

/* Only called once everything is validated, so the writes cannot fail;
 * the checks stay as a guard against a validation bug. */
static int write_segments(const struct guest_memory *mem, const struct kvmini_image *img,
			  const struct elf_load *segs, unsigned nsegs,
			  struct kvmini_error *err)
{
	for (unsigned i = 0; i < nsegs; i++) {
		const struct elf_load *s = &segs[i];
		uint64_t bss = s->memsz - s->filesz;
		uint8_t *dst = guest_ptr(mem, s->paddr, s->memsz);

		if (!dst)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: cannot write segment %u to guest RAM",
					   loader_image_name(img), s->index);
		memcpy(dst, img->data + s->offset, s->filesz);
		memset(dst + s->filesz, 0, bss);
	}
	return 0;
}

static void fill_result(const struct elf_file *f, gpa_t entry,
			const struct elf_load *segs, unsigned nsegs,
			struct load_result *out)
{
	/* segs is sorted by address and non-overlapping. */
	*out = (struct load_result){
		.mode = class_mode(f), .entry = entry,
		.low = segs[0].paddr,
		.high = segs[nsegs - 1].paddr + segs[nsegs - 1].memsz,
	};
}

/* Validate the whole file; on success *segs (caller frees) holds the
 * sorted, non-overlapping segments and *out the result. */
static int prepare(const struct guest_memory *mem, const struct kvmini_image *img,
		   struct elf_load **segs, unsigned *nsegs, struct load_result *out,
		   struct kvmini_error *err)
{
	struct elf_file f = { 0 };   /* gcc cannot tell kvmini_fail() never returns 0 */

	*segs = NULL;
	if (elf_image_read(img, &f, err) ||
	    collect_segments(mem, img, &f, segs, nsegs, err))
		return -1;
	if (check_no_overlap(img, *segs, *nsegs, err) ||
	    check_entry(mem, img, &f, *segs, *nsegs, err)) {
		free(*segs);
		*segs = NULL;
		return -1;
	}
	fill_result(&f, img->entry_set ? img->entry : f.entry, *segs, *nsegs, out);
	return 0;
}

int elf_validate(const struct guest_memory *mem, const struct kvmini_image *img,
		 struct load_result *out, struct kvmini_error *err)
{
	struct elf_load *segs;
	unsigned nsegs = 0;

	if (prepare(mem, img, &segs, &nsegs, out, err))
		return -1;
	free(segs);
	return 0;
}

int load_elf(const struct guest_memory *mem, const struct kvmini_image *img,
	     struct load_result *out, struct kvmini_error *err)
{
	struct elf_load *segs;
	unsigned nsegs = 0;
	struct load_result res;
	int rc;

	if (prepare(mem, img, &segs, &nsegs, &res, err))
		return -1;
	rc = write_segments(mem, img, segs, nsegs, err);
	if (!rc)
		*out = res;
	free(segs);
	return rc;
}
