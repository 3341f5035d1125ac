/* ELF executables. The file is hostile input: every header field is
 * checked (with overflow-safe arithmetic) and every segment validated
 * before the first byte reaches guest memory, so a rejected file leaves
 * the guest untouched. ELF32 and ELF64 headers are read into their
 * <elf.h> structures and normalised to 64-bit values, after which one
 * code path handles both classes. */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "loader.h"
#include "arch/x86/cpu_mode.h"

/* The header fields the loader uses, whatever the class. */
struct elf_header {
	unsigned char elf_class;    /* ELFCLASS32 or ELFCLASS64 */
	enum kvmini_mode mode;      /* the mode the class runs in */
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff;
	uint16_t phentsize, phnum;
};

/* A PT_LOAD program header, with its index for messages. */
struct elf_segment {
	unsigned index;
	uint64_t offset, paddr, filesz, memsz, align;
};

int image_is_elf(const uint8_t *data, uint64_t size)
{
	return data && size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

static const char *class_name(unsigned char elf_class)
{
	return elf_class == ELFCLASS64 ? "ELF64" : "ELF32";
}

static void read_header32(const uint8_t *data, struct elf_header *h)
{
	Elf32_Ehdr e;

	memcpy(&e, data, sizeof(e));   /* the file's bytes may be unaligned */
	*h = (struct elf_header){
		.elf_class = ELFCLASS32, .mode = KVMINI_MODE_PROTECTED,
		.type = e.e_type, .machine = e.e_machine, .version = e.e_version,
		.entry = e.e_entry, .phoff = e.e_phoff,
		.phentsize = e.e_phentsize, .phnum = e.e_phnum,
	};
}

static void read_header64(const uint8_t *data, struct elf_header *h)
{
	Elf64_Ehdr e;

	memcpy(&e, data, sizeof(e));
	*h = (struct elf_header){
		.elf_class = ELFCLASS64, .mode = KVMINI_MODE_LONG,
		.type = e.e_type, .machine = e.e_machine, .version = e.e_version,
		.entry = e.e_entry, .phoff = e.e_phoff,
		.phentsize = e.e_phentsize, .phnum = e.e_phnum,
	};
}

/* Magic, class and size: enough to read the class's header. */
static int read_ident(const struct kvmini_image *img, struct elf_header *h,
		      struct kvmini_error *err)
{
	const char *name = loader_image_name(img);
	uint64_t need = sizeof(Elf32_Ehdr);

	if (!image_is_elf(img->data, img->size))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: not an ELF file (bad magic)", name);
	if (img->size > EI_CLASS) {
		unsigned char elf_class = img->data[EI_CLASS];

		if (elf_class != ELFCLASS32 && elf_class != ELFCLASS64)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: unsupported ELF class %u (need ELFCLASS32 or ELFCLASS64)",
					   name, elf_class);
		if (elf_class == ELFCLASS64)
			need = sizeof(Elf64_Ehdr);
	}
	if (img->size < need)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: truncated ELF header (%" PRIu64 " bytes, need %" PRIu64 ")",
				   name, img->size, need);
	if (img->data[EI_CLASS] == ELFCLASS64)
		read_header64(img->data, h);
	else
		read_header32(img->data, h);
	return 0;
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

static int check_machine(const char *name, const struct elf_header *h,
			 struct kvmini_error *err)
{
	uint16_t want = h->elf_class == ELFCLASS64 ? EM_X86_64 : EM_386;

	if (h->machine == want)
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s image for machine %u, need %s (%u)",
			   name, class_name(h->elf_class), h->machine,
			   want == EM_X86_64 ? "EM_X86_64" : "EM_386", want);
}

static int check_mode(const struct kvmini_image *img, const struct elf_header *h,
		      struct kvmini_error *err)
{
	if (!img->mode_set || img->mode == h->mode)
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s image needs --mode %s (got --mode %s)",
			   loader_image_name(img), class_name(h->elf_class),
			   x86_mode_name(h->mode), x86_mode_name(img->mode));
}

static int check_program_header_table(const struct kvmini_image *img,
				      const struct elf_header *h,
				      struct kvmini_error *err)
{
	const char *name = loader_image_name(img);
	uint64_t want = h->elf_class == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t table_size = (uint64_t)h->phnum * h->phentsize;

	if (h->phnum == 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: no program headers", name);
	if (h->phentsize != want)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: program header size %u, need %" PRIu64 " for %s",
				   name, h->phentsize, want, class_name(h->elf_class));
	if (h->phnum == PN_XNUM)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: extended program header numbering (PN_XNUM) is not supported",
				   name);
	if (h->phoff > img->size || table_size > img->size - h->phoff)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: program header table (%u entries at offset 0x%" PRIx64
				   ") extends past the end of the file (%" PRIu64 " bytes)",
				   name, h->phnum, h->phoff, img->size);
	return 0;
}

static int check_header(const struct kvmini_image *img, struct elf_header *h,
			struct kvmini_error *err)
{
	const char *name = loader_image_name(img);

	if (read_ident(img, h, err))
		return -1;
	if (img->data[EI_DATA] != ELFDATA2LSB)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: ELF data encoding %u is not little-endian (need ELFDATA2LSB)",
				   name, img->data[EI_DATA]);
	if (img->data[EI_VERSION] != EV_CURRENT || h->version != EV_CURRENT)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: unsupported ELF version (need EV_CURRENT)", name);
	if (check_type(name, h->type, err) || check_machine(name, h, err) ||
	    check_mode(img, h, err))
		return -1;
	if (img->load_addr_set)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: a load address applies only to raw images;"
				   " ELF segments load at their own addresses", name);
	return check_program_header_table(img, h, err);
}

static uint32_t read_phdr32(const uint8_t *at, unsigned index, struct elf_segment *seg)
{
	Elf32_Phdr p;

	memcpy(&p, at, sizeof(p));
	*seg = (struct elf_segment){ index, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz,
				     p.p_align };
	return p.p_type;
}

static uint32_t read_phdr64(const uint8_t *at, unsigned index, struct elf_segment *seg)
{
	Elf64_Phdr p;

	memcpy(&p, at, sizeof(p));
	*seg = (struct elf_segment){ index, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz,
				     p.p_align };
	return p.p_type;
}

/* Program header `index` (inside the file: checked) as a segment;
 * returns its p_type. */
static uint32_t read_program_header(const struct kvmini_image *img,
				    const struct elf_header *h, unsigned index,
				    struct elf_segment *seg)
{
	const uint8_t *at = img->data + h->phoff + (uint64_t)index * h->phentsize;

	if (h->elf_class == ELFCLASS64)
		return read_phdr64(at, index, seg);
	return read_phdr32(at, index, seg);
}

static int check_segment(const struct guest_memory *mem, const struct kvmini_image *img,
			 enum kvmini_mode mode, const struct elf_segment *seg,
			 struct kvmini_error *err)
{
	const char *name = loader_image_name(img);
	char what[32];

	if (seg->filesz > seg->memsz)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: segment %u file size 0x%" PRIx64
				   " exceeds its memory size 0x%" PRIx64,
				   name, seg->index, seg->filesz, seg->memsz);
	if (seg->offset > img->size || seg->filesz > img->size - seg->offset)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: segment %u data (0x%" PRIx64 " bytes at offset 0x%" PRIx64
				   ") extends past the end of the file (%" PRIu64 " bytes)",
				   name, seg->index, seg->filesz, seg->offset, img->size);
	snprintf(what, sizeof(what), "segment %u", seg->index);
	return loader_check_placement(mem, img, mode, what, seg->paddr, seg->memsz, err);
}

/* Validate every PT_LOAD and collect the non-empty ones (at least one)
 * into *segs (caller frees). */
static int collect_segments(const struct guest_memory *mem, const struct kvmini_image *img,
			    const struct elf_header *h, struct elf_segment **segs,
			    unsigned *nsegs, struct kvmini_error *err)
{
	struct elf_segment *list = calloc(h->phnum, sizeof(*list));
	unsigned count = 0, loads = 0;

	if (!list) {
		kvmini_fail(err, KVMINI_E_HOST, "%s: out of memory reading %u program headers",
			    loader_image_name(img), h->phnum);
		return -1;   /* explicit, so the compiler sees *segs is set on success */
	}
	for (unsigned i = 0; i < h->phnum; i++) {
		struct elf_segment seg;

		if (read_program_header(img, h, i, &seg) != PT_LOAD)
			continue;
		loads++;
		if (seg.memsz == 0)
			continue;   /* loads nothing; nothing to check or write */
		if (check_segment(mem, img, h->mode, &seg, err)) {
			free(list);
			return -1;
		}
		list[count++] = seg;
	}
	if (count == 0) {
		free(list);
		kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", loader_image_name(img),
			    loads ? "every loadable segment (PT_LOAD) is empty"
				  : "no loadable segment (PT_LOAD)");
		return -1;
	}
	*segs = list;
	*nsegs = count;
	return 0;
}

static int compare_by_paddr(const void *a, const void *b)
{
	const struct elf_segment *x = a, *y = b;

	if (x->paddr != y->paddr)
		return x->paddr < y->paddr ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted by address, two segments overlap only if neighbours do. */
static int check_no_overlap(const struct kvmini_image *img, struct elf_segment *segs,
			    unsigned nsegs, struct kvmini_error *err)
{
	qsort(segs, nsegs, sizeof(*segs), compare_by_paddr);
	for (unsigned i = 1; i < nsegs; i++) {
		const struct elf_segment *prev = &segs[i - 1], *cur = &segs[i];

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
		       const struct elf_header *h, const struct elf_segment *segs,
		       unsigned nsegs, struct kvmini_error *err)
{
	if (img->entry_set)
		return loader_check_entry(mem, img, h->mode, img->entry, err);
	for (unsigned i = 0; i < nsegs; i++)
		if (h->entry >= segs[i].paddr && h->entry - segs[i].paddr < segs[i].memsz)
			return 0;
	return kvmini_fail(err, KVMINI_E_USAGE,
			   "%s: entry point 0x%" PRIx64 " is not inside any loaded segment",
			   loader_image_name(img), h->entry);
}

/* Only called once everything is validated, so the writes cannot fail;
 * the checks stay as a guard against a validation bug. */
static int write_segments(const struct guest_memory *mem, const struct kvmini_image *img,
			  const struct elf_segment *segs, unsigned nsegs,
			  struct kvmini_error *err)
{
	for (unsigned i = 0; i < nsegs; i++) {
		const struct elf_segment *s = &segs[i];
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

static void fill_result(const struct elf_header *h, uint64_t entry,
			const struct elf_segment *segs, unsigned nsegs,
			struct load_result *out)
{
	/* segs is sorted by address and non-overlapping. */
	*out = (struct load_result){
		.mode = h->mode, .entry = entry,
		.low = segs[0].paddr,
		.high = segs[nsegs - 1].paddr + segs[nsegs - 1].memsz,
	};
}

/* Validate the whole file; on success *segs (caller frees) holds the
 * sorted, non-overlapping segments and *out the result. */
static int prepare(const struct guest_memory *mem, const struct kvmini_image *img,
		   struct elf_segment **segs, unsigned *nsegs, struct load_result *out,
		   struct kvmini_error *err)
{
	struct elf_header h = { 0 };   /* gcc cannot tell kvmini_fail() never returns 0 */

	*segs = NULL;
	if (check_header(img, &h, err) ||
	    collect_segments(mem, img, &h, segs, nsegs, err))
		return -1;
	if (check_no_overlap(img, *segs, *nsegs, err) ||
	    check_entry(mem, img, &h, *segs, *nsegs, err)) {
		free(*segs);
		*segs = NULL;
		return -1;
	}
	fill_result(&h, img->entry_set ? img->entry : h.entry, *segs, *nsegs, out);
	return 0;
}

int elf_validate(const struct guest_memory *mem, const struct kvmini_image *img,
		 struct load_result *out, struct kvmini_error *err)
{
	struct elf_segment *segs;
	unsigned nsegs = 0;

	if (prepare(mem, img, &segs, &nsegs, out, err))
		return -1;
	free(segs);
	return 0;
}

int load_elf(const struct guest_memory *mem, const struct kvmini_image *img,
	     struct load_result *out, struct kvmini_error *err)
{
	struct elf_segment *segs;
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

/* ---- notes ---- */

#define NOTE_HEADER_SIZE 12   /* namesz, descsz, type: the same in both classes */

static uint64_t align_up(uint64_t value, uint64_t align)
{
	return (value + align - 1) & ~(align - 1);
}

/* Walk the notes of one PT_NOTE segment (inside the file: checked by the
 * caller). Name and descriptor are padded to the segment's alignment:
 * 4 bytes, or 8 for segments aligned so (the gABI's ELF64 rule). */
static int search_note_segment(const struct kvmini_image *img, const struct elf_segment *seg,
			       const char *name, uint32_t type, const uint8_t **desc,
			       uint64_t *descsz, struct kvmini_error *err)
{
	const uint8_t *notes = img->data + seg->offset;
	uint64_t pad = seg->align == 8 ? 8 : 4, size = seg->filesz, at = 0;
	uint64_t name_len = strlen(name) + 1;

	while (size - at >= NOTE_HEADER_SIZE) {
		uint32_t word[3];
		memcpy(word, notes + at, sizeof(word));
		uint64_t name_at = at + NOTE_HEADER_SIZE;
		uint64_t desc_at = name_at + align_up(word[0], pad);
		if (desc_at > size || word[1] > size - desc_at)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: note at offset 0x%" PRIx64 " of segment %u"
					   " extends past the segment (0x%" PRIx64 " bytes)",
					   loader_image_name(img), at, seg->index, size);
		if (word[0] == name_len && word[2] == type &&
		    memcmp(notes + name_at, name, name_len) == 0) {
			*desc = notes + desc_at;
			*descsz = word[1];
			return 1;
		}
		at = desc_at + align_up(word[1], pad);
		if (at > size)
			break;
	}
	return 0;
}

int elf_find_note(const struct kvmini_image *img, const char *name, uint32_t type,
		  const uint8_t **desc, uint64_t *descsz, struct kvmini_error *err)
{
	struct elf_header h = { 0 };

	if (check_header(img, &h, err))
		return -1;
	for (unsigned i = 0; i < h.phnum; i++) {
		struct elf_segment seg;
		int found;

		if (read_program_header(img, &h, i, &seg) != PT_NOTE)
			continue;
		if (seg.offset > img->size || seg.filesz > img->size - seg.offset)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: note segment %u (0x%" PRIx64 " bytes at offset 0x%"
					   PRIx64 ") extends past the end of the file (%" PRIu64
					   " bytes)", loader_image_name(img), i, seg.filesz,
					   seg.offset, img->size);
		found = search_note_segment(img, &seg, name, type, desc, descsz, err);
		if (found)
			return found;
	}
	return 0;
}
