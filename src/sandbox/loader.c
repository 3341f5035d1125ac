/* The program: a static x86-64 ELF executable (ET_EXEC, or ET_DYN
 * without an interpreter: static-pie), checked whole before a byte is
 * loaded, then its segments, the stack with its guard page, and the
 * Linux initial stack (argc, argv, envp, auxv). */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "sandbox/sandbox.h"

/* Where a static-pie program's lowest page goes. */
#define PIE_BASE 0x400000ULL
#define STACK_MAX (8ULL << 20)
#define MAX_PHNUM 64
/* The heap gets at least this much room between the image and mmap. */
#define MIN_HEAP (1ULL << 20)

struct program {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHNUM];
	uint64_t bias;             /* added to every vaddr (static-pie) */
	uint64_t lo, hi;           /* page-aligned extent of the PT_LOADs, biased */
	bool exec_stack;
};

static int bad(struct kvmini_error *err, const char *path, const char *what)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", path, what);
}

static int check_header(const uint8_t *elf, size_t size, const char *path,
			Elf64_Ehdr *eh, struct kvmini_error *err)
{
	if (size < sizeof(*eh) || memcmp(elf, ELFMAG, SELFMAG) != 0)
		return bad(err, path, "not an ELF executable");
	memcpy(eh, elf, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return bad(err, path, "not an x86-64 ELF executable (sandbox mode runs 64-bit Linux programs)");
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return bad(err, path, "not an executable (ELF type is neither EXEC nor DYN)");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHNUM)
		return bad(err, path, "malformed program header table");
	uint64_t table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > size || table > size - eh->e_phoff)
		return bad(err, path, "program header table lies outside the file");
	return 0;
}

static int check_segment(const Elf64_Phdr *p, size_t size, const char *path,
			 struct kvmini_error *err)
{
	if (p->p_filesz > p->p_memsz || p->p_offset > size || p->p_filesz > size - p->p_offset)
		return bad(err, path, "a loadable segment lies outside the file");
	if (p->p_vaddr + p->p_memsz < p->p_vaddr || p->p_vaddr + p->p_memsz > (1ULL << 47))
		return bad(err, path, "a loadable segment lies outside the user address range");
	return 0;
}

static int parse_program(const uint8_t *elf, size_t size, const char *path,
			 struct program *prog, struct kvmini_error *err)
{
	memset(prog, 0, sizeof(*prog));
	if (check_header(elf, size, path, &prog->eh, err) < 0)
		return -1;
	memcpy(prog->ph, elf + prog->eh.e_phoff, prog->eh.e_phnum * sizeof(Elf64_Phdr));
	uint64_t lo = UINT64_MAX, hi = 0;
	for (unsigned i = 0; i < prog->eh.e_phnum; i++) {
		const Elf64_Phdr *p = &prog->ph[i];
		if (p->p_type == PT_INTERP)
			return bad(err, path, "dynamically linked (it needs an interpreter): build it with -static");
		if (p->p_type == PT_GNU_STACK)
			prog->exec_stack = (p->p_flags & PF_X) != 0;
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (check_segment(p, size, path, err) < 0)
			return -1;
		lo = p->p_vaddr < lo ? p->p_vaddr : lo;
		hi = p->p_vaddr + p->p_memsz > hi ? p->p_vaddr + p->p_memsz : hi;
	}
	if (hi == 0)
		return bad(err, path, "no loadable segment");
	lo = SB_PAGE_DOWN(lo);
	hi = SB_PAGE_UP(hi);
	prog->bias = prog->eh.e_type == ET_DYN ? PIE_BASE - lo : 0;
	prog->lo = lo + prog->bias;
	prog->hi = hi + prog->bias;
	if (prog->lo < 0x10000)
		return bad(err, path, "loads below 64 KiB (the null-pointer guard area)");
	return 0;
}

int sb_program_base(const uint8_t *elf, size_t size, const char *path, uint64_t *base,
		    struct kvmini_error *err)
{
	struct program prog;
	if (parse_program(elf, size, path, &prog, err) < 0)
		return -1;
	*base = prog.lo;
	return 0;
}

static unsigned segment_prot(uint32_t flags)
{
	return ((flags & PF_R) ? SB_PG_R : 0) | ((flags & PF_W) ? SB_PG_W : 0) |
	       ((flags & PF_X) ? SB_PG_X : 0);
}

static void load_segments(sandbox_t *sb, const uint8_t *elf, const struct program *prog)
{
	struct sb_mm *mm = &sb->mm;
	for (unsigned i = 0; i < prog->eh.e_phnum; i++) {
		const Elf64_Phdr *p = &prog->ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		uint64_t va = p->p_vaddr + prog->bias;
		/* A page two segments share gets the union of their rights. */
		for (uint64_t a = SB_PAGE_DOWN(va); a < va + p->p_memsz; a += SB_PAGE) {
			unsigned old = mm->pg[(a - mm->base) / SB_PAGE] & SB_PG_PROT;
			sb_mm_map(mm, a, SB_PAGE, old | segment_prot(p->p_flags), false);
		}
		memcpy(sb_mm_host(mm, va), elf + p->p_offset, p->p_filesz);
	}
}

static uint64_t phdr_address(const struct program *prog)
{
	for (unsigned i = 0; i < prog->eh.e_phnum; i++)
		if (prog->ph[i].p_type == PT_PHDR)
			return prog->ph[i].p_vaddr + prog->bias;
	for (unsigned i = 0; i < prog->eh.e_phnum; i++) {
		const Elf64_Phdr *p = &prog->ph[i];
		if (p->p_type == PT_LOAD && prog->eh.e_phoff >= p->p_offset &&
		    prog->eh.e_phoff - p->p_offset < p->p_filesz)
			return p->p_vaddr + prog->bias + (prog->eh.e_phoff - p->p_offset);
	}
	return 0;
}

/* Builds the initial stack downwards from mm->stack_top. */
struct stack_builder {
	struct sb_mm *mm;
	uint64_t sp;
	bool overflow;
};

static uint64_t push_bytes(struct stack_builder *b, const void *data, size_t len)
{
	if (b->sp - b->mm->stack_lo < len + 64) {
		b->overflow = true;
		return 0;
	}
	b->sp -= len;
	memcpy(sb_mm_host(b->mm, b->sp), data, len);
	return b->sp;
}

static uint64_t push_string(struct stack_builder *b, const char *s)
{
	return push_bytes(b, s, strlen(s) + 1);
}

static size_t count(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static uint32_t cpuid_edx_1(const sandbox_t *sb)
{
	for (unsigned i = 0; sb->cpuid.table && i < sb->cpuid.table->nent; i++)
		if (sb->cpuid.table->entries[i].function == 1)
			return sb->cpuid.table->entries[i].edx;
	return 0;
}

static int build_stack(sandbox_t *sb, const struct program *prog, const char *path,
		       const char *const *argv, const char *const *envp, uint64_t *sp,
		       struct kvmini_error *err)
{
	struct stack_builder b = { .mm = &sb->mm, .sp = sb->mm.stack_top };
	size_t argc = count(argv), envc = count(envp);
	uint8_t random[16];
	if (getrandom(random, sizeof(random), 0) != sizeof(random))
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "getrandom");
	uint64_t *strs = calloc(argc + envc + 1, sizeof(*strs));
	if (!strs)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the arguments");
	uint64_t execfn = push_string(&b, path);
	for (size_t i = 0; i < argc; i++)
		strs[i] = push_string(&b, argv[i]);
	for (size_t i = 0; i < envc; i++)
		strs[argc + i] = push_string(&b, envp[i]);
	uint64_t platform = push_string(&b, "x86_64");
	b.sp &= ~15ULL;
	uint64_t rnd = push_bytes(&b, random, sizeof(random));
	const uint64_t aux[][2] = {
		{ AT_PHDR, phdr_address(prog) }, { AT_PHENT, sizeof(Elf64_Phdr) },
		{ AT_PHNUM, prog->eh.e_phnum }, { AT_PAGESZ, SB_PAGE },
		{ AT_BASE, 0 }, { AT_FLAGS, 0 }, { AT_ENTRY, prog->eh.e_entry + prog->bias },
		{ AT_UID, getuid() }, { AT_EUID, geteuid() }, { AT_GID, getgid() },
		{ AT_EGID, getegid() }, { AT_SECURE, 0 }, { AT_CLKTCK, 100 },
		{ AT_HWCAP, cpuid_edx_1(sb) }, { AT_HWCAP2, 0 }, { AT_RANDOM, rnd },
		{ AT_PLATFORM, platform }, { AT_EXECFN, execfn }, { AT_NULL, 0 },
	};
	size_t words = 1 + argc + 1 + envc + 1 + 2 * (sizeof(aux) / sizeof(aux[0]));
	if (b.overflow || b.sp - sb->mm.stack_lo < words * 8 + 64) {
		free(strs);
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the arguments and environment do not fit on the program's stack");
	}
	b.sp = (b.sp - words * 8) & ~15ULL;
	uint64_t *w = (uint64_t *)sb_mm_host(&sb->mm, b.sp);
	*w++ = argc;
	for (size_t i = 0; i < argc; i++)
		*w++ = strs[i];
	*w++ = 0;
	for (size_t i = 0; i < envc; i++)
		*w++ = strs[argc + i];
	*w++ = 0;
	memcpy(w, aux, sizeof(aux));
	free(strs);
	*sp = b.sp;
	return 0;
}

/* Stack at the top of the window, a guard page under it, mmap below. */
static int place_stack(struct sb_mm *mm, const struct program *prog, const char *path,
		       struct kvmini_error *err)
{
	uint64_t stack = SB_PAGE_DOWN(mm->size / 8);
	stack = stack > STACK_MAX ? STACK_MAX : stack;
	mm->stack_top = mm->base + mm->size;
	mm->stack_lo = mm->stack_top - stack;
	mm->mmap_top = mm->stack_lo - SB_PAGE;
	mm->brk_start = mm->brk = prog->hi;
	if (prog->hi > mm->mmap_top || mm->mmap_top - prog->hi < MIN_HEAP)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s needs more memory than the sandbox has (raise --mem)", path);
	mm->pg[(mm->mmap_top - mm->base) / SB_PAGE] = SB_PG_GUARD;
	unsigned prot = SB_PG_R | SB_PG_W | (prog->exec_stack ? SB_PG_X : 0);
	sb_mm_map(mm, mm->stack_lo, stack, prot, false);
	return 0;
}

int sb_load_program(sandbox_t *sb, const uint8_t *elf, size_t size, const char *path,
		    const char *const *argv, const char *const *envp,
		    uint64_t *entry, uint64_t *sp, struct kvmini_error *err)
{
	struct program prog;
	if (parse_program(elf, size, path, &prog, err) < 0 ||
	    place_stack(&sb->mm, &prog, path, err) < 0)
		return -1;
	load_segments(sb, elf, &prog);
	*entry = prog.eh.e_entry + prog.bias;
	return build_stack(sb, &prog, path, argv, envp, sp, err);
}
