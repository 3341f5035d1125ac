/* libFuzzer target: instruction completion (src/arch/x86/emulate/) on
 * hostile instruction bytes and a hostile vCPU state. The input's first
 * byte picks the mode and control bits, the next 48 the registers, the
 * next 64 the data page; the rest is the code at RIP. Whatever it does,
 * nothing may be read or written outside guest RAM, and an exception
 * leaves RIP where it was. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <asm/processor-flags.h>
#include "complete_env.h"

static struct complete_env *env_once(void)
{
	static struct complete_env env;
	static int made;
	if (!made) {
		struct kvmini_error err;
		if (env_init(&env, &err) < 0)
			abort();
		made = 1;
	}
	return &env;
}

static void apply_mode(struct complete_env *e, uint8_t bits)
{
	struct kvm_sregs *s = &e->cpu.sregs;
	if (bits & 1)
		env_user_mode(e);
	if (bits & 2)
		s->cr4 |= X86_CR4_SMAP;
	if (bits & 4)
		s->cr4 |= X86_CR4_SMEP;
	if (bits & 8)
		s->cr0 &= ~(uint64_t)X86_CR0_WP;
	if (bits & 16)
		e->cpu.regs.rflags |= X86_EFLAGS_AC;
	if (bits & 32)
		s->cr0 |= X86_CR0_TS;
	if (bits & 64)
		s->cr4 &= ~(uint64_t)X86_CR4_OSXSAVE;
	if (bits & 128) {   /* 32-bit compatibility mode */
		s->cs.l = 0;
		s->cs.db = 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct complete_env *e = env_once();
	struct x86_completion done;
	uint64_t regs[6] = { 0 };
	if (size < 1)
		return 0;
	env_map(e);   /* an earlier input may have written over the tables */
	env_reset_cpu(e);
	apply_mode(e, data[0]);
	data++, size--;
	size_t n = size < sizeof(regs) ? size : sizeof(regs);
	memcpy(regs, data, n);
	data += n, size -= n;
	e->cpu.regs.rax = regs[0], e->cpu.regs.rbx = regs[1], e->cpu.regs.rcx = regs[2];
	e->cpu.regs.rdx = regs[3], e->cpu.regs.rsi = regs[4], e->cpu.regs.rdi = regs[5];
	n = size < 64 ? size : 64;
	if (guest_write(&e->mem, ENV_DATA, data, n) < 0)
		abort();
	data += n, size -= n;
	uint8_t code[15] = { 0 };
	memcpy(code, data, size < sizeof(code) ? size : sizeof(code));
	uint64_t rip = e->cpu.regs.rip;
	enum x86_outcome o = env_run(e, code, sizeof(code), &done);
	if (o == X86_COMPLETED && e->cpu.exception.raised && !e->cpu.exception.soft &&
	    e->cpu.exception.vector != 3 && e->cpu.regs.rip != rip)
		abort();   /* a fault must leave RIP on the instruction */
	return 0;
}
