/* Differential tests of instruction completion (src/arch/x86/emulate/):
 * each instruction runs natively on the host, in this process at CPL 3,
 * on many operand values, and x86_complete() runs the same bytes against
 * a plain vCPU state at CPL 0; registers, flags and memory must match.
 * Then the faults (#PF with CR2 and error code, #GP, #UD, #NM) and the
 * page walker's permission checks, which need no native run. No KVM. */
#include <criterion/criterion.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <asm/processor-flags.h>
#include "complete_env.h"

static struct complete_env env;

static void setup(void)
{
	struct kvmini_error err;
	cr_assert_eq(env_init(&env, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	env_free(&env);
}

TestSuite(complete, .init = setup, .fini = teardown);

/* ---- the native side ---- */

/* The registers an instruction under test may read or write; rsi points
 * at its memory operand. */
struct gprs {
	uint64_t rax, rbx, rcx, rdx, rsi, rflags;
};

#define ARITH (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF | \
	       X86_EFLAGS_SF | X86_EFLAGS_OF)

/* Run BYTES natively with *g loaded (flags too) and read back. The stack
 * pointer steps over the red zone before pushf/popf touch the stack. */
#define NATIVE(BYTES, g)                                                               \
	__asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[fl]\n\tpopf\n\t" BYTES          \
			 "\n\tpushf\n\tpop %[fl]\n\tlea 128(%%rsp), %%rsp"                 \
			 : "+a"((g)->rax), "+b"((g)->rbx), "+c"((g)->rcx), "+d"((g)->rdx), \
			   "+S"((g)->rsi), [fl] "+r"((g)->rflags)                           \
			 :                                                                 \
			 : "memory", "cc")

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Operand values: the edges, then random ones with few or many bits. */
static uint64_t value(unsigned i)
{
	static const uint64_t edges[] = { 0, 1, ~0ULL, 0x8000000000000000ULL, 0x7fffffffffffffffULL,
					  0xffffffffULL, 0x100000000ULL, 0xffff, 0x8000 };
	if (i < sizeof(edges) / sizeof(edges[0]))
		return edges[i];
	uint64_t v = rnd();
	return i % 3 == 0 ? v & rnd() & rnd() : i % 3 == 1 ? v | rnd() : v;
}

/* Emulate `code` at CPL 0 with the registers of *g (rsi = guest data
 * address), the data page holding mem[0..len). */
static void emulate(const uint8_t *code, size_t n, const struct gprs *g, const void *mem,
		    size_t len, struct gprs *out, void *mem_out)
{
	struct x86_completion done;
	struct kvm_regs *r = &env.cpu.regs;
	env_reset_cpu(&env);
	r->rax = g->rax, r->rbx = g->rbx, r->rcx = g->rcx, r->rdx = g->rdx;
	r->rsi = ENV_DATA, r->rflags = g->rflags;
	cr_assert_eq(guest_write(&env.mem, ENV_DATA, mem, len), 0);
	enum x86_outcome o = env_run(&env, code, n, &done);
	cr_assert_eq(o, X86_COMPLETED, "outcome %d: %s", o, done.text);
	cr_assert(!env.cpu.exception.raised, "exception %u (%s)", env.cpu.exception.vector,
		  done.text);
	cr_assert_eq(r->rip, ENV_CODE + n, "%s: rip 0x%llx", done.text, (unsigned long long)r->rip);
	*out = (struct gprs){ r->rax, r->rbx, r->rcx, r->rdx, g->rsi, r->rflags };
	cr_assert_eq(guest_read(&env.mem, ENV_DATA, mem_out, len), 0);
}

static void assert_same(const char *what, uint64_t v, const struct gprs *n,
			const struct gprs *e, uint64_t flags)
{
	cr_assert_eq(n->rax, e->rax, "%s on 0x%llx: rax native 0x%llx, completed 0x%llx", what,
		     (unsigned long long)v, (unsigned long long)n->rax, (unsigned long long)e->rax);
	cr_assert_eq(n->rbx, e->rbx, "%s on 0x%llx: rbx", what, (unsigned long long)v);
	cr_assert_eq(n->rcx, e->rcx, "%s on 0x%llx: rcx", what, (unsigned long long)v);
	cr_assert_eq(n->rdx, e->rdx, "%s on 0x%llx: rdx native 0x%llx, completed 0x%llx", what,
		     (unsigned long long)v, (unsigned long long)n->rdx, (unsigned long long)e->rdx);
	cr_assert_eq(n->rflags & flags, e->rflags & flags,
		     "%s on 0x%llx: flags native 0x%llx, completed 0x%llx", what,
		     (unsigned long long)v, (unsigned long long)(n->rflags & flags),
		     (unsigned long long)(e->rflags & flags));
}

static bool host_has(unsigned leaf, unsigned sub, char reg, unsigned bit)
{
	unsigned a, b, c, d;
	__cpuid_count(leaf, sub, a, b, c, d);
	unsigned v = reg == 'a' ? a : reg == 'b' ? b : reg == 'c' ? c : d;
	return (v >> bit) & 1;
}

/* ---- popcnt, movbe: register and memory forms, 16, 32, 64 bits ---- */

#define POPCNT_CASE(BYTES_STR, ...)                                                       \
	do {                                                                             \
		static const uint8_t code[] = { __VA_ARGS__ };                            \
		for (unsigned i = 0; i < 300; i++) {                                      \
			uint64_t v = value(i), mem[2] = { v, 0 }, mem_e[2];               \
			struct gprs g = { .rax = rnd(), .rbx = v,                          \
					  .rflags = 0x202 | (rnd() & ARITH) }, n = g, e;  \
			n.rsi = (uint64_t)(uintptr_t)mem;                                  \
			NATIVE(BYTES_STR, &n);                                             \
			emulate(code, sizeof(code), &g, mem, sizeof(mem), &e, mem_e);      \
			assert_same(BYTES_STR, v, &n, &e, ARITH);                          \
		}                                                                        \
	} while (0)

Test(complete, popcnt_matches_the_host)
{
	if (!host_has(1, 0, 'c', 23))
		cr_skip_test("the host has no popcnt");
	POPCNT_CASE("popcnt %%rbx, %%rax", 0xf3, 0x48, 0x0f, 0xb8, 0xc3);
	POPCNT_CASE("popcnt %%ebx, %%eax", 0xf3, 0x0f, 0xb8, 0xc3);
	POPCNT_CASE("popcnt %%bx, %%ax", 0x66, 0xf3, 0x0f, 0xb8, 0xc3);
	POPCNT_CASE("popcntq (%%rsi), %%rax", 0xf3, 0x48, 0x0f, 0xb8, 0x06);
	POPCNT_CASE("popcntl (%%rsi), %%eax", 0xf3, 0x0f, 0xb8, 0x06);
	POPCNT_CASE("popcntw (%%rsi), %%ax", 0x66, 0xf3, 0x0f, 0xb8, 0x06);
}

#define MOVBE_CASE(BYTES_STR, ...)                                                        \
	do {                                                                             \
		static const uint8_t code[] = { __VA_ARGS__ };                            \
		for (unsigned i = 0; i < 100; i++) {                                      \
			uint64_t mem[2] = { value(i), rnd() }, mem_n[2], mem_e[2];         \
			struct gprs g = { .rax = rnd(), .rflags = 0x202 | (rnd() & ARITH) }; \
			struct gprs n = g, e;                                              \
			memcpy(mem_n, mem, sizeof(mem));                                   \
			n.rsi = (uint64_t)(uintptr_t)mem_n;                                \
			NATIVE(BYTES_STR, &n);                                             \
			emulate(code, sizeof(code), &g, mem, sizeof(mem), &e, mem_e);      \
			assert_same(BYTES_STR, mem[0], &n, &e, ARITH);                     \
			cr_assert_arr_eq(mem_n, mem_e, sizeof(mem), BYTES_STR ": memory"); \
		}                                                                        \
	} while (0)

Test(complete, movbe_matches_the_host)
{
	if (!host_has(1, 0, 'c', 22))
		cr_skip_test("the host has no movbe");
	MOVBE_CASE("movbe (%%rsi), %%rax", 0x48, 0x0f, 0x38, 0xf0, 0x06);
	MOVBE_CASE("movbe (%%rsi), %%eax", 0x0f, 0x38, 0xf0, 0x06);
	MOVBE_CASE("movbe (%%rsi), %%ax", 0x66, 0x0f, 0x38, 0xf0, 0x06);
	MOVBE_CASE("movbe %%rax, (%%rsi)", 0x48, 0x0f, 0x38, 0xf1, 0x06);
	MOVBE_CASE("movbe %%eax, (%%rsi)", 0x0f, 0x38, 0xf1, 0x06);
	MOVBE_CASE("movbe %%ax, (%%rsi)", 0x66, 0x0f, 0x38, 0xf1, 0x06);
}

/* ---- lock cmpxchg16b / cmpxchg8b: equal and different, both halves ---- */

static void cmpxchg_case(const char *what, const uint8_t *code, size_t n_code, bool wide,
			 unsigned i)
{
	uint64_t mem[2] __attribute__((aligned(16))) = { value(i), rnd() };
	uint64_t mem_n[2] __attribute__((aligned(16))), mem_e[2];
	struct gprs g = { .rax = rnd(), .rdx = rnd(), .rbx = rnd(), .rcx = rnd(),
			  .rflags = 0x202 | (rnd() & ARITH) };
	if (i % 2) {   /* half the time the comparison succeeds */
		g.rax = wide ? mem[0] : (g.rax & ~0xffffffffULL) | (uint32_t)mem[0];
		g.rdx = wide ? mem[1] : (g.rdx & ~0xffffffffULL) | mem[0] >> 32;
	}
	struct gprs n = g, e;
	memcpy(mem_n, mem, sizeof(mem));
	n.rsi = (uint64_t)(uintptr_t)mem_n;
	if (wide)
		NATIVE("lock cmpxchg16b (%%rsi)", &n);
	else
		NATIVE("lock cmpxchg8b (%%rsi)", &n);
	emulate(code, n_code, &g, mem, sizeof(mem), &e, mem_e);
	assert_same(what, mem[0], &n, &e, X86_EFLAGS_ZF);
	cr_assert_arr_eq(mem_n, mem_e, sizeof(mem), "%s: memory", what);
}

Test(complete, cmpxchg16b_and_8b_match_the_host)
{
	static const uint8_t c16[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0e };
	static const uint8_t c8[] = { 0xf0, 0x0f, 0xc7, 0x0e };
	if (!host_has(1, 0, 'c', 13))
		cr_skip_test("the host has no cmpxchg16b");
	for (unsigned i = 0; i < 400; i++) {
		cmpxchg_case("lock cmpxchg16b", c16, sizeof(c16), true, i);
		cmpxchg_case("lock cmpxchg8b", c8, sizeof(c8), false, i);
	}
}

Test(complete, cmpxchg16b_misaligned_raises_gp)
{
	static const uint8_t code[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0e };
	struct x86_completion done;
	env.cpu.regs.rsi = ENV_DATA + 8;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert(env.cpu.exception.raised);
	cr_assert_eq(env.cpu.exception.vector, 13);
	cr_assert_eq(env.cpu.exception.error, 0);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE, "a fault leaves RIP on the instruction");
}

/* ---- xgetbv ---- */

Test(complete, xgetbv_matches_the_host)
{
	static const uint8_t code[] = { 0x0f, 0x01, 0xd0 };
	if (!env_host_osxsave())
		cr_skip_test("the host has no xsave enabled");
	struct gprs g = { .rcx = 0, .rflags = 0x202 }, n = g, e;
	NATIVE("xgetbv", &n);
	emulate(code, sizeof(code), &g, "", 1, &e, (char[1]){ 0 });
	assert_same("xgetbv", 0, &n, &e, ARITH);

	struct x86_completion done;
	env_reset_cpu(&env);
	env.cpu.regs.rcx = 7;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "xgetbv of an unknown XCR raises #GP");
	env_reset_cpu(&env);
	env.cpu.sregs.cr4 &= ~(uint64_t)X86_CR4_OSXSAVE;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 6, "without CR4.OSXSAVE xgetbv raises #UD");
}

/* ---- the xsave family against the host's own xsave/xrstor ---- */

static uint8_t before[4096] __attribute__((aligned(64)));
static uint8_t image[4096] __attribute__((aligned(64)));
static uint8_t native_out[4096] __attribute__((aligned(64)));
static uint8_t after[4096] __attribute__((aligned(64)));

/* A state to load: the host's own, with random XMM (and upper YMM)
 * contents, both marked in use, x87 in use or not. */
static void random_image(uint8_t *img, unsigned i)
{
	unsigned a, b, c, d;
	memcpy(img, env.cpu.xsave.region, 4096);
	for (unsigned k = 160; k < 416; k++)
		img[k] = (uint8_t)rnd();
	uint64_t bv = 2 | (i % 2);
	__cpuid_count(0xd, 2, a, b, c, d);
	if ((env.cpu.xcr0 & 4) && a && b + a <= 4096) {
		for (unsigned k = b; k < b + a; k++)
			img[k] = (uint8_t)rnd();
		bv |= 4;
	}
	memcpy(img + 512, &bv, 8);
	memset(img + 520, 0, 56);
}

/* Natively: save the state (before), load the image, run the form
 * under test (0 xsave, 1 xsaveopt, 2 xsavec) on native_out with mask m,
 * save the state again (after: what KVM would report), then restore
 * what the process had. */
static void xsave_native(int form, uint64_t m)
{
	switch (form) {
	case 0:
		__asm__ volatile("xsave64 %[bf]\n\txrstor64 %[img]\n\tmov %%ebx, %%eax\n\t"
				 "xsave64 %[out]\n\tmov $-1, %%eax\n\txsave64 %[af]\n\t"
				 "xrstor64 %[bf]"
				 : [bf] "+m"(before), [out] "+m"(native_out), [af] "+m"(after)
				 : [img] "m"(image), "a"(-1), "d"(-1), "b"((uint32_t)m)
				 : "memory");
		break;
	case 1:
		__asm__ volatile("xsave64 %[bf]\n\txrstor64 %[img]\n\tmov %%ebx, %%eax\n\t"
				 "xsaveopt64 %[out]\n\tmov $-1, %%eax\n\txsave64 %[af]\n\t"
				 "xrstor64 %[bf]"
				 : [bf] "+m"(before), [out] "+m"(native_out), [af] "+m"(after)
				 : [img] "m"(image), "a"(-1), "d"(-1), "b"((uint32_t)m)
				 : "memory");
		break;
	default:
		__asm__ volatile("xsave64 %[bf]\n\txrstor64 %[img]\n\tmov %%ebx, %%eax\n\t"
				 "xsavec64 %[out]\n\tmov $-1, %%eax\n\txsave64 %[af]\n\t"
				 "xrstor64 %[bf]"
				 : [bf] "+m"(before), [out] "+m"(native_out), [af] "+m"(after)
				 : [img] "m"(image), "a"(-1), "d"(-1), "b"((uint32_t)m)
				 : "memory");
		break;
	}
}

/* A standard-form area with every component of xcr0 that its XSTATE_BV
 * marks unused written in its initial state, and all marked used: two
 * areas hold the same state when these match. (A CPU may report a
 * component it loaded with initial values as unused.) */
static void normalize(uint8_t *a, uint64_t xcr0)
{
	unsigned ea, eb, ec, ed;
	uint64_t bv;
	memcpy(&bv, a + 512, 8);
	if (!(bv & 1)) {
		memset(a, 0, 24);
		memset(a + 32, 0, 128);
		a[0] = 0x7f, a[1] = 0x03;   /* FCW 0x37f */
	}
	if (!(bv & 2))
		memset(a + 160, 0, 256);
	for (unsigned k = 2; k < 19; k++) {
		__cpuid_count(0xd, k, ea, eb, ec, ed);
		if ((xcr0 & (1ULL << k)) && !(bv & (1ULL << k)) && ea && eb + ea <= 4096)
			memset(a + eb, 0, ea);
	}
	bv = xcr0;
	memcpy(a + 512, &bv, 8);
}

/* The bytes of a standard-form area that hold state (the legacy region
 * without its reserved tail, each component of XCR0 from 2 on). */
static void assert_areas_equal(const char *what, const uint8_t *native, const uint8_t *done,
			       uint64_t xcr0, unsigned i)
{
	static uint8_t n[4096], e[4096];
	unsigned a, b, c, d;
	memcpy(n, native, sizeof(n));
	memcpy(e, done, sizeof(e));
	normalize(n, xcr0);
	normalize(e, xcr0);
	cr_assert_arr_eq(n, e, 416, "%s (case %u): legacy region differs", what, i);
	for (unsigned k = 2; k < 19; k++) {
		if (!(xcr0 & (1ULL << k)))
			continue;
		__cpuid_count(0xd, k, a, b, c, d);
		if (a && b + a <= 4096)
			cr_assert_arr_eq(n + b, e + b, a, "%s (case %u): component %u differs", what, i, k);
	}
}

static void xsave_case(int form, const uint8_t *code, size_t n_code, unsigned i)
{
	struct x86_completion done;
	uint64_t m = i % 3 == 0 ? ~0ULL : (rnd() | 1);
	random_image(image, i);
	memset(native_out, 0x5a, sizeof(native_out));
	xsave_native(form, m);
	env_reset_cpu(&env);
	memcpy(env.cpu.xsave.region, after, sizeof(after));   /* KVM's view of that state */
	uint8_t fill[4096];
	memset(fill, 0x5a, sizeof(fill));
	cr_assert_eq(guest_write(&env.mem, 0x100000, fill, sizeof(fill)), 0);
	env.cpu.regs.rsi = 0x100000;
	env.cpu.regs.rax = (uint32_t)m;
	env.cpu.regs.rdx = 0xffffffff;
	cr_assert_eq(env_run(&env, code, n_code, &done), X86_COMPLETED, "%s", done.text);
	cr_assert(!env.cpu.exception.raised, "%s: exception %u", done.text,
		  env.cpu.exception.vector);
	uint8_t got[4096];
	cr_assert_eq(guest_read(&env.mem, 0x100000, got, sizeof(got)), 0);
	unsigned at = 0;
	while (at < sizeof(got) && got[at] == native_out[at])
		at++;
	cr_assert_eq(at, sizeof(got), "%s (case %u, mask 0x%llx) differs from byte %u: "
		     "native %02x, completed %02x", done.text, i, (unsigned long long)m, at,
		     native_out[at % sizeof(got)], got[at % sizeof(got)]);
}

Test(complete, xsave_xsaveopt_xsavec_match_the_host)
{
	static const uint8_t xsave[] = { 0x48, 0x0f, 0xae, 0x26 };      /* xsave64 (%rsi) */
	static const uint8_t xsaveopt[] = { 0x48, 0x0f, 0xae, 0x36 };   /* xsaveopt64 (%rsi) */
	static const uint8_t xsavec[] = { 0x48, 0x0f, 0xc7, 0x26 };     /* xsavec64 (%rsi) */
	if (!env_host_osxsave())
		cr_skip_test("the host has no xsave enabled");
	for (unsigned i = 0; i < 40; i++) {
		xsave_case(0, xsave, sizeof(xsave), i);
		if (host_has(0xd, 1, 'a', 0))
			xsave_case(1, xsaveopt, sizeof(xsaveopt), i);
		if (host_has(0xd, 1, 'a', 1))
			xsave_case(2, xsavec, sizeof(xsavec), i);
	}
}

/* xrstor: the state the host has after loading an image, against KVM's
 * area after completing the same xrstor on the state before. */
Test(complete, xrstor_matches_the_host)
{
	static const uint8_t code[] = { 0x48, 0x0f, 0xae, 0x2e };   /* xrstor64 (%rsi) */
	if (!env_host_osxsave())
		cr_skip_test("the host has no xsave enabled");
	for (unsigned i = 0; i < 60; i++) {
		struct x86_completion done;
		uint64_t m = i % 3 == 0 ? ~0ULL : (rnd() | 1);
		random_image(image, i);
		__asm__ volatile("xsave64 %[bf]\n\tmov %%ebx, %%eax\n\txrstor64 %[img]\n\t"
				 "mov $-1, %%eax\n\txsave64 %[af]\n\txrstor64 %[bf]"
				 : [bf] "+m"(before), [af] "+m"(after)
				 : [img] "m"(image), "a"(-1), "d"(-1), "b"((uint32_t)m)
				 : "memory");
		env_reset_cpu(&env);
		memcpy(env.cpu.xsave.region, before, sizeof(before));
		cr_assert_eq(guest_write(&env.mem, 0x100000, image, sizeof(image)), 0);
		env.cpu.regs.rsi = 0x100000;
		env.cpu.regs.rax = (uint32_t)m;
		env.cpu.regs.rdx = 0xffffffff;
		cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED, "%s", done.text);
		cr_assert(!env.cpu.exception.raised, "exception %u", env.cpu.exception.vector);
		cr_assert(env.cpu.xsave_changed);
		assert_areas_equal("xrstor", after, (const uint8_t *)env.cpu.xsave.region,
				   env.cpu.xcr0, i);
	}
}

Test(complete, xsave_family_checks)
{
	static const uint8_t xsave[] = { 0x48, 0x0f, 0xae, 0x26 };
	static const uint8_t xrstor[] = { 0x48, 0x0f, 0xae, 0x2e };
	static const uint8_t xsaves[] = { 0x48, 0x0f, 0xc7, 0x2e };
	struct x86_completion done;
	if (!env_host_osxsave())
		cr_skip_test("the host has no xsave enabled");
	env.cpu.regs.rsi = 0x100020;   /* not 64-byte aligned */
	cr_assert_eq(env_run(&env, xsave, sizeof(xsave), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "misaligned xsave: #GP");

	env_reset_cpu(&env);
	env.cpu.sregs.cr0 |= X86_CR0_TS;
	env.cpu.regs.rsi = 0x100000;
	cr_assert_eq(env_run(&env, xsave, sizeof(xsave), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 7, "CR0.TS: #NM");

	/* A header with XCOMP_BV set but no compacted form asked: #GP. */
	env_reset_cpu(&env);
	uint64_t header[8] = { 1, 5 };
	cr_assert_eq(guest_write(&env.mem, 0x100000 + 512, header, sizeof(header)), 0);
	env.cpu.regs.rsi = 0x100000;
	env.cpu.regs.rax = env.cpu.regs.rdx = ~0u;
	cr_assert_eq(env_run(&env, xrstor, sizeof(xrstor), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "bad xrstor header: #GP");

	if (host_has(0xd, 1, 'a', 3)) {
		env_reset_cpu(&env);
		env_user_mode(&env);
		env.cpu.regs.rsi = 0x100000;
		cr_assert_eq(env_run(&env, xsaves, sizeof(xsaves), &done), X86_COMPLETED);
		cr_assert_eq(env.cpu.exception.vector, 13, "xsaves at CPL 3: #GP");
	}
}

/* ---- int3 and int n: the gate's privilege check, then a trap ---- */

static volatile uint64_t trap_rip;

static void on_trap(int sig, siginfo_t *info, void *uc)
{
	(void)sig, (void)info;
	trap_rip = (uint64_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
}

extern const char int3_at[], int3_after[];

Test(complete, int3_traps_after_the_instruction_like_the_host)
{
	struct sigaction sa = { .sa_sigaction = on_trap, .sa_flags = SA_SIGINFO }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, &old);
	__asm__ volatile(".globl int3_at, int3_after\nint3_at: int3\nint3_after:");
	sigaction(SIGTRAP, &old, NULL);
	cr_assert_eq(trap_rip, (uint64_t)(uintptr_t)int3_after, "native int3 reports the next RIP");

	static const uint8_t code[] = { 0xcc };
	struct x86_completion done;
	env_user_mode(&env);
	cr_assert_eq(env_run(&env, code, 1, &done), X86_COMPLETED);
	cr_assert_eq(done.kind, X86_KIND_INT3);
	cr_assert(env.cpu.exception.raised && !env.cpu.exception.soft);
	cr_assert_eq(env.cpu.exception.vector, 3);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE + (uint64_t)(int3_after - int3_at));
}

Test(complete, int_n_checks_the_gate)
{
	static const uint8_t int80[] = { 0xcd, 0x80 }, int40[] = { 0xcd, 0x40 };
	struct x86_completion done;
	env_user_mode(&env);
	cr_assert_eq(env_run(&env, int80, 2, &done), X86_COMPLETED);
	cr_assert(env.cpu.exception.soft);
	cr_assert_eq(env.cpu.exception.vector, 0x80);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE + 2);

	env_reset_cpu(&env);
	env_user_mode(&env);
	cr_assert_eq(env_run(&env, int40, 2, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "a DPL 0 gate from CPL 3: #GP");
	cr_assert_eq(env.cpu.exception.error, 0x40 * 8 + 2);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE);

	env_reset_cpu(&env);
	env_gate(&env, 0x40, 0, false);
	cr_assert_eq(env_run(&env, int40, 2, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 11, "a gate not present: #NP");

	env_reset_cpu(&env);
	env.cpu.sregs.idt.limit = 0x40 * 16 - 1;
	cr_assert_eq(env_run(&env, int40, 2, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "a gate past the IDT's limit: #GP");
}

/* ---- fwait, clac/stac, invpcid, clwb ---- */

Test(complete, fwait)
{
	static const uint8_t code[] = { 0x9b };
	struct x86_completion done;
	cr_assert_eq(env_run(&env, code, 1, &done), X86_COMPLETED);
	cr_assert(!env.cpu.exception.raised);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE + 1);

	env_reset_cpu(&env);
	env.cpu.sregs.cr0 |= X86_CR0_TS;
	cr_assert_eq(env_run(&env, code, 1, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 7, "CR0.MP and TS: #NM");

	env_reset_cpu(&env);
	uint16_t fsw = 0x80 | 0x4;   /* ES, ZE */
	memcpy((uint8_t *)env.cpu.xsave.region + 2, &fsw, 2);
	cr_assert_eq(env_run(&env, code, 1, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 16, "a pending x87 exception: #MF");
}

static volatile int caught;
static sigjmp_buf caught_at;

static void on_ill(int sig)
{
	caught = sig;
	siglongjmp(caught_at, 1);
}

/* clac at CPL 3 is #UD on the host (SIGILL) and in the completion. */
Test(complete, clac_stac)
{
	static const uint8_t clac[] = { 0x0f, 0x01, 0xca }, stac[] = { 0x0f, 0x01, 0xcb };
	struct x86_completion done;
	if (!host_has(7, 0, 'b', 20))
		cr_skip_test("the host has no SMAP");
	signal(SIGILL, on_ill);
	caught = 0;
	if (!sigsetjmp(caught_at, 1))
		__asm__ volatile("clac");
	signal(SIGILL, SIG_DFL);
	cr_assert_eq(caught, SIGILL, "clac at CPL 3 on the host");

	env_user_mode(&env);
	cr_assert_eq(env_run(&env, clac, 3, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 6, "clac at CPL 3: #UD");

	env_reset_cpu(&env);
	cr_assert_eq(env_run(&env, stac, 3, &done), X86_COMPLETED);
	cr_assert(env.cpu.regs.rflags & X86_EFLAGS_AC);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE + 3);
	cr_assert_eq(env_run(&env, clac, 3, &done), X86_COMPLETED);
	cr_assert(!(env.cpu.regs.rflags & X86_EFLAGS_AC));
}

Test(complete, invpcid)
{
	/* invpcid (%rsi), %rax */
	static const uint8_t code[] = { 0x66, 0x0f, 0x38, 0x82, 0x06 };
	struct x86_completion done;
	uint64_t desc[2] = { 0, 0x1000 };
	if (!host_has(7, 0, 'b', 10))
		cr_skip_test("the host has no invpcid");
	cr_assert_eq(guest_write(&env.mem, ENV_DATA, desc, sizeof(desc)), 0);
	env.cpu.regs.rsi = ENV_DATA;
	env.cpu.regs.rax = 0;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED, "%s", done.text);
	cr_assert(!env.cpu.exception.raised);
	cr_assert(env.cpu.flush_tlb);

	env_reset_cpu(&env);
	env.cpu.regs.rsi = ENV_DATA;
	env.cpu.regs.rax = 4;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "type 4: #GP");

	env_reset_cpu(&env);
	env_user_mode(&env);
	env.cpu.regs.rsi = ENV_DATA;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "CPL 3: #GP");
}

Test(complete, clwb_checks_the_address)
{
	static const uint8_t code[] = { 0x66, 0x0f, 0xae, 0x36 };   /* clwb (%rsi) */
	struct x86_completion done;
	if (!host_has(7, 0, 'b', 24))
		cr_skip_test("the host has no clwb");
	env.cpu.regs.rsi = ENV_DATA;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED, "%s", done.text);
	cr_assert(!env.cpu.exception.raised);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE + sizeof(code));

	env_reset_cpu(&env);
	env.cpu.regs.rsi = ENV_ABSENT + 8;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 14);
	cr_assert_eq(env.cpu.sregs.cr2, ENV_ABSENT + 8);
}

/* ---- exceptions: #PF with CR2 and error code, #UD, the unknown ---- */

static void expect_pf(uint64_t addr, uint32_t code, const char *what)
{
	cr_assert(env.cpu.exception.raised, "%s: no exception", what);
	cr_assert_eq(env.cpu.exception.vector, 14, "%s: vector %u", what, env.cpu.exception.vector);
	cr_assert_eq(env.cpu.exception.error, code, "%s: error code 0x%x, expected 0x%x", what,
		     env.cpu.exception.error, code);
	cr_assert_eq(env.cpu.sregs.cr2, addr, "%s: CR2", what);
	cr_assert(env.cpu.sregs_changed, "%s: CR2 must be written back", what);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE, "%s: a fault leaves RIP", what);
}

/* popcnt (%rsi), %rax reads; movbe %rax, (%rsi) writes. */
static const uint8_t popcnt_mem[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x06 };
static const uint8_t movbe_store[] = { 0x48, 0x0f, 0x38, 0xf1, 0x06 };

static void run_at(const uint8_t *code, size_t n, uint64_t rsi, bool user)
{
	struct x86_completion done;
	env_reset_cpu(&env);
	if (user)
		env_user_mode(&env);
	env.cpu.regs.rsi = rsi;
	cr_assert_eq(env_run(&env, code, n, &done), X86_COMPLETED, "%s", done.text);
}

Test(complete, page_faults_carry_cr2_and_the_error_code)
{
	run_at(popcnt_mem, sizeof(popcnt_mem), ENV_ABSENT + 4, false);
	expect_pf(ENV_ABSENT + 4, 0, "read of a page not present");
	run_at(movbe_store, sizeof(movbe_store), ENV_ABSENT, false);
	expect_pf(ENV_ABSENT, X86_PF_WRITE, "write to a page not present");
	run_at(movbe_store, sizeof(movbe_store), ENV_RO + 16, false);
	expect_pf(ENV_RO + 16, X86_PF_PROT | X86_PF_WRITE, "kernel write to read-only, CR0.WP");
	/* A write that straddles into a page not present faults on the second
	 * page, with nothing written to the first. */
	run_at(movbe_store, sizeof(movbe_store), ENV_ABSENT - 4, false);
	expect_pf(ENV_ABSENT, X86_PF_WRITE, "straddling write");
}

Test(complete, kernel_write_to_read_only_without_wp_succeeds)
{
	struct x86_completion done;
	env.cpu.sregs.cr0 &= ~(uint64_t)X86_CR0_WP;
	env.cpu.regs.rsi = ENV_RO;
	env.cpu.regs.rax = 0x1122334455667788ULL;
	cr_assert_eq(env_run(&env, movbe_store, sizeof(movbe_store), &done), X86_COMPLETED);
	cr_assert(!env.cpu.exception.raised);
	uint64_t v;
	cr_assert_eq(guest_read(&env.mem, ENV_RO, &v, 8), 0);
	cr_assert_eq(v, 0x8877665544332211ULL);
}

Test(complete, user_mode_and_smap)
{
	/* The user page from CPL 3: fine; a supervisor page: #PF U|P. */
	run_at(popcnt_mem, sizeof(popcnt_mem), ENV_USER, true);
	cr_assert(!env.cpu.exception.raised);
	run_at(popcnt_mem, sizeof(popcnt_mem), ENV_DATA, true);
	expect_pf(ENV_DATA, X86_PF_USER | X86_PF_PROT, "user read of a supervisor page");
	run_at(movbe_store, sizeof(movbe_store), ENV_RO, true);
	expect_pf(ENV_RO, X86_PF_USER | X86_PF_PROT | X86_PF_WRITE, "user write to read-only");

	/* SMAP: the kernel reading a user page faults unless RFLAGS.AC. */
	env_reset_cpu(&env);
	env.cpu.sregs.cr4 |= X86_CR4_SMAP;
	env.cpu.regs.rsi = ENV_USER;
	struct x86_completion done;
	cr_assert_eq(env_run(&env, popcnt_mem, sizeof(popcnt_mem), &done), X86_COMPLETED);
	expect_pf(ENV_USER, X86_PF_PROT, "SMAP, AC clear");
	env_reset_cpu(&env);
	env.cpu.sregs.cr4 |= X86_CR4_SMAP;
	env.cpu.regs.rsi = ENV_USER;
	env.cpu.regs.rflags |= X86_EFLAGS_AC;
	cr_assert_eq(env_run(&env, popcnt_mem, sizeof(popcnt_mem), &done), X86_COMPLETED);
	cr_assert(!env.cpu.exception.raised, "SMAP, AC set: allowed");
}

Test(complete, instruction_fetch_nx_and_smep)
{
	static const uint8_t code[] = { 0x9b };
	struct x86_completion done;
	cr_assert_eq(guest_write(&env.mem, ENV_NX, code, 1), 0);
	env.cpu.regs.rip = ENV_NX;
	cr_assert_eq(x86_complete(&env.cpu, &env.guest, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 14);
	cr_assert_eq(env.cpu.exception.error, X86_PF_PROT | X86_PF_INSTR, "fetch from NX");
	cr_assert_eq(env.cpu.sregs.cr2, ENV_NX);

	env_reset_cpu(&env);
	env.cpu.sregs.cr4 |= X86_CR4_SMEP;
	cr_assert_eq(guest_write(&env.mem, ENV_USER, code, 1), 0);
	env.cpu.regs.rip = ENV_USER;
	cr_assert_eq(x86_complete(&env.cpu, &env.guest, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 14);
	cr_assert_eq(env.cpu.exception.error, X86_PF_PROT | X86_PF_INSTR, "SMEP fetch");

	/* An instruction whose second byte lies on a page not present. */
	env_reset_cpu(&env);
	static const uint8_t first[] = { 0xf3 };
	cr_assert_eq(guest_write(&env.mem, ENV_ABSENT - 1, first, 1), 0);
	env.cpu.regs.rip = ENV_ABSENT - 1;
	cr_assert_eq(x86_complete(&env.cpu, &env.guest, &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 14);
	cr_assert_eq(env.cpu.sregs.cr2, ENV_ABSENT);
	cr_assert_eq(env.cpu.exception.error, X86_PF_INSTR);
}

Test(complete, non_canonical_address_raises_gp)
{
	run_at(popcnt_mem, sizeof(popcnt_mem), 0x0000800000000000ULL, false);
	cr_assert_eq(env.cpu.exception.vector, 13);
	cr_assert_eq(env.cpu.exception.error, 0);
}

Test(complete, missing_feature_raises_ud)
{
	struct kvmini_error err;
	struct x86_completion done;
	cr_assert_eq(x86_cpu_features_parse("-popcnt,-cx16,-movbe", &env.cpuid.hidden, &err), 0);
	static const uint8_t popcnt[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc3 };
	static const uint8_t c16[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0e };
	cr_assert_eq(env_run(&env, popcnt, sizeof(popcnt), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 6);
	env_reset_cpu(&env);
	env.cpu.regs.rsi = ENV_DATA;
	cr_assert_eq(env_run(&env, c16, sizeof(c16), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 6);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE);
}

Test(complete, unknown_instruction_is_named)
{
	static const uint8_t vmcall[] = { 0x0f, 0x01, 0xc1 };
	struct x86_completion done;
	cr_assert_eq(env_run(&env, vmcall, sizeof(vmcall), &done), X86_UNKNOWN);
	cr_assert_str_eq(done.text, "vmcall");
	cr_assert_eq(done.length, 3);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE, "nothing changed");
}

/* What cannot be completed says so, with the instruction decoded. */
Test(complete, failure_names_the_instruction_and_the_reason)
{
	static const uint8_t c16[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0e };
	struct x86_completion done;
	env.cpu.regs.rsi = ENV_DEVICE;
	cr_assert_eq(env_run(&env, c16, sizeof(c16), &done), X86_FAILED);
	cr_assert_str_eq(done.text, "lock cmpxchg16b (%rsi): atomic access to 0x70000 is not "
				    "within one page of RAM");
	cr_assert_eq(done.kind, X86_KIND_CMPXCHG);
	cr_assert_str_eq(x86_kind_name(done.kind), "cmpxchg8b/16b");
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE);

	static const uint8_t popcnt[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x06 };
	env_reset_cpu(&env);
	env.cpu.regs.rsi = ENV_DEVICE;
	cr_assert_eq(env_run(&env, popcnt, sizeof(popcnt), &done), X86_FAILED, "no bus here");
	cr_assert_str_eq(done.text, "popcnt (%rsi), %rax: 8 bytes at 0xfec00000 are not RAM");
}

/* A memory operand outside RAM goes through the MMIO bus, as an MMIO
 * exit would: movbe's load reads the device, its store writes it. */
static uint8_t device_bytes[16];

static void device_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	memcpy(data, device_bytes + offset, len);
}

static void device_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	memcpy(device_bytes + offset, data, len);
}

Test(complete, mmio_operands_go_through_the_bus)
{
	static const struct bus_device_ops ops = { .read = device_read, .write = device_write };
	static const uint8_t load[] = { 0x48, 0x0f, 0x38, 0xf0, 0x06 };   /* movbe (%rsi), %rax */
	struct x86_completion done;
	struct kvmini_error err;
	struct bus mmio;
	bus_init(&mmio, "MMIO");
	cr_assert_eq(bus_register(&mmio, 0xfec00000, 16, &ops, NULL, "device", &err), 0, "%s",
		     err.msg);
	env.guest.mmio = &mmio;
	uint64_t v = 0x0102030405060708ULL;
	memcpy(device_bytes, &v, 8);
	env.cpu.regs.rsi = ENV_DEVICE;
	cr_assert_eq(env_run(&env, load, sizeof(load), &done), X86_COMPLETED, "%s", done.text);
	cr_assert_eq(env.cpu.regs.rax, 0x0807060504030201ULL);

	env_reset_cpu(&env);
	env.cpu.regs.rsi = ENV_DEVICE + 8;
	env.cpu.regs.rax = 0x1122334455667788ULL;
	cr_assert_eq(env_run(&env, movbe_store, sizeof(movbe_store), &done), X86_COMPLETED);
	memcpy(&v, device_bytes + 8, 8);
	cr_assert_eq(v, 0x8877665544332211ULL);
	env.guest.mmio = NULL;
	bus_free(&mmio);
}

/* Real mode and 32-bit protected mode: segment bases and limits. */
Test(complete, legacy_modes_use_segments)
{
	static const uint8_t popcnt16[] = { 0x66, 0xf3, 0x0f, 0xb8, 0x04 };   /* popcnt (%si), %eax */
	static const uint8_t popcnt32[] = { 0xf3, 0x0f, 0xb8, 0x06 };         /* popcnt (%esi), %eax */
	struct kvm_sregs *s = &env.cpu.sregs;
	struct x86_completion done;
	uint32_t v = 0xf0f0f0f1;
	cr_assert_eq(guest_write(&env.mem, ENV_DATA + 0x10, &v, 4), 0);

	/* Real mode: CS:IP = 0x1000:0 (0x10000), DS = 0x2000. */
	s->cr0 = 0x10;
	s->efer = 0;
	s->cs = (struct kvm_segment){ .selector = 0x1000, .base = 0x10000, .limit = 0xffff,
				      .type = 0xb, .present = 1, .s = 1 };
	s->ds = (struct kvm_segment){ .selector = 0x2000, .base = 0x20000, .limit = 0xffff,
				      .type = 0x3, .present = 1, .s = 1 };
	env.cpu.regs.rip = 0;
	env.cpu.regs.rsi = 0x10;
	cr_assert_eq(guest_write(&env.mem, 0x10000, popcnt16, sizeof(popcnt16)), 0);
	cr_assert_eq(x86_complete(&env.cpu, &env.guest, &done), X86_COMPLETED, "%s", done.text);
	cr_assert(!env.cpu.exception.raised);
	cr_assert_eq(env.cpu.regs.rax, 17);
	cr_assert_eq(env.cpu.regs.rip, sizeof(popcnt16));

	/* 32-bit protected mode without paging, DS limited to 4 KiB. */
	env_reset_cpu(&env);
	s->cr0 = 0x11;
	s->efer = 0;
	s->cs.l = 0;
	s->cs.db = 1;
	s->ds.limit = 0xfff;
	env.cpu.regs.rsi = ENV_DATA + 0x10;
	cr_assert_eq(env_run(&env, popcnt32, sizeof(popcnt32), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "past DS's limit: #GP");
	s->ds.limit = 0xffffffff;
	cr_assert_eq(env_run(&env, popcnt32, sizeof(popcnt32), &done), X86_COMPLETED);
	cr_assert(!env.cpu.exception.raised);
	cr_assert_eq(env.cpu.regs.rax, 17);
}

/* xsave into a page not present faults as the write it is. */
Test(complete, xsave_to_a_page_not_present_is_a_write_fault)
{
	static const uint8_t xsave[] = { 0x48, 0x0f, 0xae, 0x26 };
	struct x86_completion done;
	if (!env_host_osxsave())
		cr_skip_test("the host has no xsave enabled");
	env.cpu.regs.rsi = ENV_ABSENT;
	env.cpu.regs.rax = env.cpu.regs.rdx = ~0u;
	cr_assert_eq(env_run(&env, xsave, sizeof(xsave), &done), X86_COMPLETED);
	expect_pf(ENV_ABSENT, X86_PF_WRITE, "xsave");
	/* Into a read-only page: a protection fault, nothing written. */
	run_at(xsave, sizeof(xsave), ENV_RO, false);
	expect_pf(ENV_RO, X86_PF_PROT | X86_PF_WRITE, "xsave to read-only");
}

/* lock on popcnt is #UD on the host (SIGILL) and in the completion. */
Test(complete, lock_where_none_is_allowed_raises_ud)
{
	static const uint8_t code[] = { 0xf0, 0xf3, 0x48, 0x0f, 0xb8, 0xc3 };
	struct x86_completion done;
	signal(SIGILL, on_ill);
	caught = 0;
	if (!sigsetjmp(caught_at, 1))
		__asm__ volatile(".byte 0xf0, 0xf3, 0x48, 0x0f, 0xb8, 0xc3" ::: "rax", "cc");
	signal(SIGILL, SIG_DFL);
	cr_assert_eq(caught, SIGILL, "lock popcnt on the host");
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 6);
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE);
}

/* rdtscp: the TSC as KVM reports it, and TSC_AUX in ECX. Against the
 * host: the completion's TSC (read from the host here) lies between two
 * native readings, and ECX is what the host's own rdtscp gives. */
static int host_msr(void *opaque, uint32_t index, uint64_t *value)
{
	uint32_t lo, hi, aux;
	(void)opaque;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	*value = index == 0x10 ? (lo | (uint64_t)hi << 32) : aux;
	return index == 0x10 || index == 0xc0000103u ? 0 : -1;
}

Test(complete, rdtscp_matches_the_host)
{
	static const uint8_t code[] = { 0x0f, 0x01, 0xf9 };
	struct x86_completion done;
	uint32_t lo, hi, aux;
	if (!host_has(0x80000001, 0, 'd', 27))
		cr_skip_test("the host has no rdtscp");
	env.guest.msr_read = host_msr;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	uint64_t before = lo | (uint64_t)hi << 32;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED, "%s", done.text);
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	uint64_t after = lo | (uint64_t)hi << 32;
	uint64_t got = (uint32_t)env.cpu.regs.rax | env.cpu.regs.rdx << 32;
	cr_assert(got >= before && got <= after, "TSC 0x%llx outside [0x%llx, 0x%llx]",
		  (unsigned long long)got, (unsigned long long)before, (unsigned long long)after);
	cr_assert_eq(env.cpu.regs.rcx, aux, "TSC_AUX (the host may have moved this thread)");
	cr_assert_eq(env.cpu.regs.rip, ENV_CODE + 3);
}

static int fixed_msr(void *opaque, uint32_t index, uint64_t *value)
{
	(void)opaque;
	*value = index == 0x10 ? 0x123456789abcdef0ULL : 0xfedcba9876543210ULL;
	return 0;
}

/* The same where the host has no rdtscp (this PVM host hides it): the
 * guest's CPUID offers it, KVM's MSRs are a fake. */
Test(complete, rdtscp_from_kvms_msrs)
{
	static const uint8_t code[] = { 0x0f, 0x01, 0xf9 };
	struct x86_completion done;
	env.cpu.regs.rcx = ~0ULL;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	if (!host_has(0x80000001, 0, 'd', 27))
		cr_assert_eq(env.cpu.exception.vector, 6, "not in the guest's CPUID: #UD");
	for (unsigned i = 0; i < env.cpuid.table->nent; i++)
		if (env.cpuid.table->entries[i].function == 0x80000001)
			env.cpuid.table->entries[i].edx |= 1u << 27;
	env.guest.msr_read = fixed_msr;
	env_reset_cpu(&env);
	env.cpu.regs.rcx = ~0ULL;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED, "%s", done.text);
	cr_assert(!env.cpu.exception.raised);
	cr_assert_eq(env.cpu.regs.rax, 0x9abcdef0);
	cr_assert_eq(env.cpu.regs.rdx, 0x12345678);
	cr_assert_eq(env.cpu.regs.rcx, 0x76543210, "ECX: TSC_AUX's low half, zero-extended");

	env_reset_cpu(&env);
	env_user_mode(&env);
	env.cpu.sregs.cr4 |= X86_CR4_TSD;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_COMPLETED);
	cr_assert_eq(env.cpu.exception.vector, 13, "CR4.TSD at CPL 3: #GP");

	env_reset_cpu(&env);
	env.guest.msr_read = NULL;
	cr_assert_eq(env_run(&env, code, sizeof(code), &done), X86_FAILED);
	cr_assert_str_eq(done.text, "rdtscp: the TSC cannot be read");
}
