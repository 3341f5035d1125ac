#include <elf.h>
#include <inttypes.h>
#include <string.h>
#include "loaders/elf_reader.h"

#define NOTE_HEADER_SIZE 12   /* namesz, descsz, type: the same in both classes */

bool elf_has_magic(const uint8_t *data, uint64_t size)
{
	return data && size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

static const char *class_name(unsigned char elf_class)
{
	return elf_class == ELFCLASS64 ? "ELF64" : "ELF32";
}

static const char *accepted_classes(unsigned classes)
{
	switch (classes) {
	case ELF_ACCEPT_32: return "ELFCLASS32";
	case ELF_ACCEPT_64: return "ELFCLASS64";
	default: return "ELFCLASS32 or ELFCLASS64";
	}
}

static void widen_header32(const uint8_t *data, struct elf_file *f)
{
	Elf32_Ehdr e;

	memcpy(&e, data, sizeof(e));   /* the file's bytes may be unaligned */
	f->type = e.e_type;
	f->machine = e.e_machine;
	f->entry = e.e_entry;
	f->phoff = e.e_phoff;
	f->phentsize = e.e_phentsize;
	f->phnum = e.e_phnum;
}

static void widen_header64(const uint8_t *data, struct elf_file *f)
{
	Elf64_Ehdr e;

	memcpy(&e, data, sizeof(e));
	f->type = e.e_type;
	f->machine = e.e_machine;
	f->entry = e.e_entry;
	f->phoff = e.e_phoff;
	f->phentsize = e.e_phentsize;
	f->phnum = e.e_phnum;
}

/* Magic, class and size: enough to read the class's header. */
static int read_ident(struct elf_file *f, const struct elf_rules *rules,
		      struct kvmini_error *err)
{
	uint64_t need = sizeof(Elf32_Ehdr);

	if (!elf_has_magic(f->data, f->size))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: not an ELF file (bad magic)", f->label);
	if (f->size > EI_CLASS) {
		unsigned char c = f->data[EI_CLASS];
		bool known = c == ELFCLASS32 || c == ELFCLASS64;

		if (!known || !(rules->classes & (c == ELFCLASS64 ? ELF_ACCEPT_64 : ELF_ACCEPT_32)))
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: unsupported ELF class %u (need %s)",
					   f->label, c, accepted_classes(rules->classes));
		f->elf_class = c;
		if (c == ELFCLASS64)
			need = sizeof(Elf64_Ehdr);
	}
	if (f->size < need)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: truncated ELF header (%" PRIu64 " bytes, need %" PRIu64 ")",
				   f->label, f->size, need);
	if (f->elf_class == ELFCLASS64)
		widen_header64(f->data, f);
	else
		widen_header32(f->data, f);
	return 0;
}

static int check_encoding(const struct elf_file *f, struct kvmini_error *err)
{
	uint32_t version;

	if (f->data[EI_DATA] != ELFDATA2LSB)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: ELF data encoding %u is not little-endian (need ELFDATA2LSB)",
				   f->label, f->data[EI_DATA]);
	/* e_version sits at offset 20 in both classes. */
	memcpy(&version, f->data + offsetof(Elf64_Ehdr, e_version), sizeof(version));
	if (f->data[EI_VERSION] != EV_CURRENT || version != EV_CURRENT)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: unsupported ELF version (need EV_CURRENT)", f->label);
	return 0;
}

static int check_machine(const struct elf_file *f, struct kvmini_error *err)
{
	uint16_t want = f->elf_class == ELFCLASS64 ? EM_X86_64 : EM_386;

	if (f->machine == want)
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s image for machine %u, need %s (%u)",
			   f->label, class_name(f->elf_class), f->machine,
			   want == EM_X86_64 ? "EM_X86_64" : "EM_386", want);
}

static int check_program_header_table(const struct elf_file *f, const struct elf_rules *rules,
				      struct kvmini_error *err)
{
	uint64_t want = f->elf_class == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t table_size = (uint64_t)f->phnum * f->phentsize;   /* < 2^32: no overflow */

	if (f->phnum == 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: no program headers", f->label);
	if (f->phentsize != want)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: program header size %u, need %" PRIu64 " for %s",
				   f->label, f->phentsize, want, class_name(f->elf_class));
	if (f->phnum == PN_XNUM)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: extended program header numbering (PN_XNUM) is not supported",
				   f->label);
	if (rules->max_phnum && f->phnum > rules->max_phnum)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: %u program headers, more than the %u read here",
				   f->label, f->phnum, rules->max_phnum);
	if (f->phoff > f->size || table_size > f->size - f->phoff)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: program header table (%u entries at offset 0x%" PRIx64
				   ") extends past the end of the file (%" PRIu64 " bytes)",
				   f->label, f->phnum, f->phoff, f->size);
	return 0;
}

static int check_load(const struct elf_file *f, const struct elf_segment *s,
		      struct kvmini_error *err)
{
	if (s->filesz > s->memsz)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: segment %u file size 0x%" PRIx64
				   " exceeds its memory size 0x%" PRIx64,
				   f->label, s->index, s->filesz, s->memsz);
	if (s->offset > f->size || s->filesz > f->size - s->offset)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: segment %u data (0x%" PRIx64 " bytes at offset 0x%" PRIx64
				   ") extends past the end of the file (%" PRIu64 " bytes)",
				   f->label, s->index, s->filesz, s->offset, f->size);
	if (s->align & (s->align - 1))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: segment %u alignment 0x%" PRIx64 " is not a power of two",
				   f->label, s->index, s->align);
	return 0;
}

/* Every non-empty PT_LOAD is sound, and there is one. */
static int check_loads(const struct elf_file *f, struct kvmini_error *err)
{
	unsigned loads = 0, nonempty = 0;

	for (unsigned i = 0; i < f->phnum; i++) {
		struct elf_segment s;

		elf_segment_at(f, i, &s);
		if (s.type != PT_LOAD)
			continue;
		loads++;
		if (s.memsz == 0)
			continue;   /* loads nothing: nothing to check */
		if (check_load(f, &s, err))
			return -1;
		nonempty++;
	}
	if (nonempty)
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", f->label,
			   loads ? "every loadable segment (PT_LOAD) is empty"
				 : "no loadable segment (PT_LOAD)");
}

int elf_read(struct elf_file *f, const uint8_t *data, uint64_t size, const char *label,
	     const struct elf_rules *rules, struct kvmini_error *err)
{
	*f = (struct elf_file){ .data = data, .size = size, .label = label };
	if (read_ident(f, rules, err) || check_encoding(f, err) || check_machine(f, err) ||
	    check_program_header_table(f, rules, err))
		return -1;
	return check_loads(f, err);
}

void elf_segment_at(const struct elf_file *f, unsigned index, struct elf_segment *seg)
{
	const uint8_t *at = f->data + f->phoff + (uint64_t)index * f->phentsize;

	if (f->elf_class == ELFCLASS64) {
		Elf64_Phdr p;
		memcpy(&p, at, sizeof(p));
		*seg = (struct elf_segment){ index, p.p_type, p.p_flags, p.p_offset, p.p_vaddr,
					     p.p_paddr, p.p_filesz, p.p_memsz, p.p_align };
	} else {
		Elf32_Phdr p;
		memcpy(&p, at, sizeof(p));
		*seg = (struct elf_segment){ index, p.p_type, p.p_flags, p.p_offset, p.p_vaddr,
					     p.p_paddr, p.p_filesz, p.p_memsz, p.p_align };
	}
}

bool elf_next_load(const struct elf_file *f, unsigned *index, struct elf_segment *seg)
{
	while (*index < f->phnum) {
		elf_segment_at(f, (*index)++, seg);
		if (seg->type == PT_LOAD && seg->memsz != 0)
			return true;
	}
	return false;
}

/* ---- notes ---- */

static uint64_t align_up(uint64_t value, uint64_t align)
{
	return (value + align - 1) & ~(align - 1);
}

/* Walk the notes of one PT_NOTE segment (inside the file: checked by the
 * caller). Name and descriptor are padded to the segment's alignment:
 * 4 bytes, or 8 for segments aligned so (the gABI's ELF64 rule). */
static int search_note_segment(const struct elf_file *f, const struct elf_segment *seg,
			       const char *name, uint32_t type, const uint8_t **desc,
			       uint64_t *descsz, struct kvmini_error *err)
{
	const uint8_t *notes = f->data + seg->offset;
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
					   f->label, at, seg->index, size);
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

int elf_find_note(const struct elf_file *f, const char *name, uint32_t type,
		  const uint8_t **desc, uint64_t *descsz, struct kvmini_error *err)
{
	for (unsigned i = 0; i < f->phnum; i++) {
		struct elf_segment seg;
		int found;

		elf_segment_at(f, i, &seg);
		if (seg.type != PT_NOTE)
			continue;
		if (seg.offset > f->size || seg.filesz > f->size - seg.offset)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: note segment %u (0x%" PRIx64 " bytes at offset 0x%"
					   PRIx64 ") extends past the end of the file (%" PRIu64
					   " bytes)", f->label, i, seg.filesz, seg.offset, f->size);
		found = search_note_segment(f, &seg, name, type, desc, descsz, err);
		if (found)
			return found;
	}
	return 0;
}
