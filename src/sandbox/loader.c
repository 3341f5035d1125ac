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
#include "loaders/elf_reader.h"

/* Where a static-pie program's lowest page goes. */
#define PIE_BASE 0x400000ULL
#define STACK_MAX (8ULL << 20)
#define MAX_PHNUM 64
/* The heap gets at least this much room between the image and mmap. */
#define MIN_HEAP (1ULL << 20)

static const struct elf_rules program_rules = { .classes = ELF_ACCEPT_64, .max_phnum = MAX_PHNUM };

struct program {
	struct elf_file elf;
	uint64_t bias;             /* added to every vaddr (static-pie) */
	gva_t lo, hi;              /* page-aligned extent of the PT_LOADs, biased */
	bool exec_stack;
};

static int bad(struct kvmini_error *err, const char *path, const char *what)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", path, what);
}

/* What a Linux program needs beyond a sound ELF64 file (elf_read()). */
static int check_program_headers(const char *path, struct program *prog,
				 struct kvmini_error *err)
{
	for (unsigned i = 0; i < prog->elf.phnum; i++) {
		struct elf_segment p;
		elf_segment_at(&prog->elf, i, &p);
		if (p.type == PT_INTERP)
			return bad(err, path, "dynamically linked (it needs an interpreter): build it with -static");
		if (p.type == PT_GNU_STACK)
			prog->exec_stack = (p.flags & PF_X) != 0;
	}
	return 0;
}

static int parse_program(const uint8_t *elf, size_t size, const char *path,
			 struct program *prog, struct kvmini_error *err)
{
	memset(prog, 0, sizeof(*prog));
	if (elf_read(&prog->elf, elf, size, path, &program_rules, err) < 0)
		return -1;
	if (prog->elf.type != ET_EXEC && prog->elf.type != ET_DYN)
		return bad(err, path, "not an executable (ELF type is neither EXEC nor DYN)");
	if (check_program_headers(path, prog, err) < 0)
		return -1;
	gva_t lo = UINT64_MAX, hi = 0;
	struct elf_segment p;
	for (unsigned i = 0; elf_next_load(&prog->elf, &i, &p);) {
		if (p.vaddr + p.memsz < p.vaddr || p.vaddr + p.memsz > (1ULL << 47))
			return bad(err, path, "a loadable segment lies outside the user address range");
		lo = p.vaddr < lo ? p.vaddr : lo;
		hi = p.vaddr + p.memsz > hi ? p.vaddr + p.memsz : hi;
	}
	lo = SB_PAGE_DOWN(lo);
	hi = SB_PAGE_UP(hi);
	prog->bias = prog->elf.type == ET_DYN ? PIE_BASE - lo : 0;
	prog->lo = lo + prog->bias;
	prog->hi = hi + prog->bias;
	if (prog->lo < 0x10000)
		return bad(err, path, "loads below 64 KiB (the null-pointer guard area)");
	return 0;
}

int sb_program_base(const uint8_t *elf, size_t size, const char *path, gva_t *base,
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

static int load_segments(sandbox_t *sb, const struct program *prog, const char *path,
			 struct kvmini_error *err)
{
	struct sb_mm *mm = &sb->mm;
	struct elf_segment p;
	for (unsigned i = 0; elf_next_load(&prog->elf, &i, &p);) {
		gva_t va = p.vaddr + prog->bias;
		/* A page two segments share gets the union of their rights. */
		for (gva_t a = SB_PAGE_DOWN(va); a < va + p.memsz; a += SB_PAGE) {
			unsigned old = mm->pg[(a - mm->base) / SB_PAGE] & SB_PG_PROT;
			sb_mm_map(mm, a, SB_PAGE, old | segment_prot(p.flags), false);
		}
		uint8_t *dst = sb_mm_host(mm, va, p.filesz);
		if (!dst)
			return bad(err, path, "a loadable segment lies outside the sandbox's memory");
		memcpy(dst, prog->elf.data + p.offset, p.filesz);
	}
	return 0;
}

static gva_t phdr_address(const struct program *prog)
{
	const struct elf_file *f = &prog->elf;
	struct elf_segment p;
	for (unsigned i = 0; i < f->phnum; i++) {
		elf_segment_at(f, i, &p);
		if (p.type == PT_PHDR)
			return p.vaddr + prog->bias;
	}
	for (unsigned i = 0; elf_next_load(f, &i, &p);)
		if (f->phoff >= p.offset && f->phoff - p.offset < p.filesz)
			return p.vaddr + prog->bias + (f->phoff - p.offset);
	return 0;
}

/* Builds the initial stack downwards from mm->stack_top. */
struct stack_builder {
	struct sb_mm *mm;
	gva_t sp;
	bool overflow;
};

static gva_t push_bytes(struct stack_builder *b, const void *data, size_t len)
{
	uint8_t *dst = b->sp - b->mm->stack_lo < len + 64 ? NULL :
		       sb_mm_host(b->mm, b->sp - len, len);
	if (!dst) {
		b->overflow = true;
		return 0;
	}
	b->sp -= len;
	memcpy(dst, data, len);
	return b->sp;
}

static gva_t push_string(struct stack_builder *b, const char *s)
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
		       const char *const *argv, const char *const *envp, gva_t *sp,
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
	gva_t execfn = push_string(&b, path);
	for (size_t i = 0; i < argc; i++)
		strs[i] = push_string(&b, argv[i]);
	for (size_t i = 0; i < envc; i++)
		strs[argc + i] = push_string(&b, envp[i]);
	gva_t platform = push_string(&b, "x86_64");
	b.sp &= ~15ULL;
	gva_t rnd = push_bytes(&b, random, sizeof(random));
	const uint64_t aux[][2] = {
		{ AT_PHDR, phdr_address(prog) }, { AT_PHENT, sizeof(Elf64_Phdr) },
		{ AT_PHNUM, prog->elf.phnum }, { AT_PAGESZ, SB_PAGE },
		{ AT_BASE, 0 }, { AT_FLAGS, 0 }, { AT_ENTRY, prog->elf.entry + prog->bias },
		{ AT_UID, getuid() }, { AT_EUID, geteuid() }, { AT_GID, getgid() },
		{ AT_EGID, getegid() }, { AT_SECURE, 0 }, { AT_CLKTCK, 100 },
		{ AT_HWCAP, cpuid_edx_1(sb) }, { AT_HWCAP2, 0 }, { AT_RANDOM, rnd },
		{ AT_PLATFORM, platform }, { AT_EXECFN, execfn }, { AT_NULL, 0 },
	};
	size_t words = 1 + argc + 1 + envc + 1 + 2 * (sizeof(aux) / sizeof(aux[0]));
	uint64_t *w = NULL;
	if (!b.overflow && b.sp - sb->mm.stack_lo >= words * 8 + 64) {
		b.sp = (b.sp - words * 8) & ~15ULL;
		w = sb_mm_host(&sb->mm, b.sp, words * 8);
	}
	if (!w) {
		free(strs);
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the arguments and environment do not fit on the program's stack");
	}
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
		    gva_t *entry, gva_t *sp, struct kvmini_error *err)
{
	struct program prog;
	if (parse_program(elf, size, path, &prog, err) < 0 ||
	    place_stack(&sb->mm, &prog, path, err) < 0 ||
	    load_segments(sb, &prog, path, err) < 0)
		return -1;
	*entry = prog.elf.entry + prog.bias;
	return build_stack(sb, &prog, path, argv, envp, sp, err);
}
