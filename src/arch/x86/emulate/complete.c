/* x86_complete(): fetch, decode (Zydis), dispatch to the instruction's
 * code; and the instructions short enough to live here. */
#include <stdio.h>
#include <string.h>
#include <asm/processor-flags.h>
#include "arch/x86/emulate/ctx.h"
#include "arch/x86/regs.h"

static const char *const kind_names[X86_KIND_COUNT] = {
	[X86_KIND_INT3] = "int3", [X86_KIND_INT] = "int n", [X86_KIND_FWAIT] = "fwait",
	[X86_KIND_POPCNT] = "popcnt", [X86_KIND_CMPXCHG] = "cmpxchg8b/16b",
	[X86_KIND_XGETBV] = "xgetbv", [X86_KIND_XSAVE] = "xsave family",
	[X86_KIND_XRSTOR] = "xrstor family", [X86_KIND_INVPCID] = "invpcid",
	[X86_KIND_CACHE_LINE] = "clwb/clflush(opt)", [X86_KIND_SMAP] = "clac/stac",
	[X86_KIND_MOVBE] = "movbe", [X86_KIND_RDTSCP] = "rdtscp",
};

const char *x86_kind_name(enum x86_kind kind)
{
	return kind < X86_KIND_COUNT && kind_names[kind] ? kind_names[kind] : "?";
}

/* ---- software interrupts ---- */

#define X86_VEC_NP 11

/* int3 and int n: the gate must be inside the IDT, present, and allow the
 * current privilege level (a software interrupt's check); then RIP moves
 * past the instruction and the vector is delivered through the IDT. */
static void exec_int(struct x86_ctx *c, uint8_t vector)
{
	const struct kvm_sregs *s = &c->cpu->sregs;
	if (s->cr0 & X86_CR0_PE) {
		unsigned size = (s->efer & EFER_LMA) ? 16 : 8;
		uint32_t error = vector * 8u + 2;   /* IDT bit */
		uint8_t gate[16];
		if ((uint64_t)vector * size + size - 1 > s->idt.limit) {
			ctx_raise(c, X86_VEC_GP, true, error);
			return;
		}
		if (!ctx_read_system(c, s->idt.base + (uint64_t)vector * size, gate, size))
			return;
		if (c->cpl > ((gate[5] >> 5) & 3u)) {
			ctx_raise(c, X86_VEC_GP, true, error);
			return;
		}
		if (!(gate[5] & 0x80)) {
			ctx_raise(c, X86_VEC_NP, true, error);
			return;
		}
	}
	ctx_advance(c);
	ctx_raise(c, vector, false, 0);
	c->cpu->exception.soft = vector != X86_VEC_BP;
}

/* ---- small instructions ---- */

/* fwait: #NM when CR0.MP and CR0.TS, #MF when an unmasked x87 exception
 * is pending (FSW.ES in the saved x87 state), else nothing. */
static void exec_fwait(struct x86_ctx *c)
{
	uint16_t fsw;
	memcpy(&fsw, (const uint8_t *)c->cpu->xsave.region + 2, sizeof(fsw));
	if ((c->cpu->sregs.cr0 & (X86_CR0_MP | X86_CR0_TS)) == (X86_CR0_MP | X86_CR0_TS))
		ctx_raise(c, X86_VEC_NM, false, 0);
	else if (fsw & 0x80)
		ctx_raise(c, X86_VEC_MF, false, 0);
	else
		ctx_advance(c);
}

#define ARITH_FLAGS (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF | \
		     X86_EFLAGS_SF | X86_EFLAGS_OF)

/* A register, or a memory operand, as an integer of the operand's size. */
static bool read_int(struct x86_ctx *c, const ZydisDecodedOperand *op, uint64_t *value)
{
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		if (ctx_reg_read(c, op->reg.value, value))
			return true;
		ctx_fail(c, "unexpected register operand");
		return false;
	}
	*value = 0;
	return ctx_op_read(c, op, value);
}

static void exec_popcnt(struct x86_ctx *c)
{
	uint64_t src;
	if (!ctx_has(c, "popcnt")) {
		ctx_ud(c);
		return;
	}
	if (!read_int(c, &c->ops[1], &src))
		return;
	c->cpu->regs.rflags &= ~(uint64_t)ARITH_FLAGS;
	if (src == 0)
		c->cpu->regs.rflags |= X86_EFLAGS_ZF;
	if (!ctx_reg_write(c, c->ops[0].reg.value, (uint64_t)__builtin_popcountll(src))) {
		ctx_fail(c, "unexpected destination");
		return;
	}
	ctx_advance(c);
}

static uint64_t byte_swap(uint64_t v, unsigned bits)
{
	if (bits == 16)
		return __builtin_bswap16((uint16_t)v);
	if (bits == 32)
		return __builtin_bswap32((uint32_t)v);
	return __builtin_bswap64(v);
}

/* movbe: a load or a store with the bytes reversed; no flags. */
static void exec_movbe(struct x86_ctx *c)
{
	const ZydisDecodedOperand *dst = &c->ops[0], *src = &c->ops[1];
	uint64_t v;
	if (!ctx_has(c, "movbe")) {
		ctx_ud(c);
		return;
	}
	if (!read_int(c, src, &v))
		return;
	v = byte_swap(v, dst->size);
	if (dst->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		/* A 16-bit load merges, a 32-bit one zero-extends, as mov does. */
		if (!ctx_reg_write(c, dst->reg.value, v)) {
			ctx_fail(c, "unexpected destination");
			return;
		}
	} else if (!ctx_op_write(c, dst, &v)) {
		return;
	}
	ctx_advance(c);
}

/* lock cmpxchg16b/8b on the host's mapping of guest RAM, with the host's
 * own locked instruction: atomic with respect to the other vCPUs. */
static bool cmpxchg16(void *host, uint64_t *lo, uint64_t *hi, uint64_t new_lo, uint64_t new_hi)
{
	bool equal;
	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(equal), "+m"(*(volatile __int128 *)host), "+a"(*lo), "+d"(*hi)
			 : "b"(new_lo), "c"(new_hi)
			 : "memory");
	return equal;
}

static bool cmpxchg8(void *host, uint64_t *old, uint64_t new_value)
{
	return __atomic_compare_exchange_n((uint64_t *)host, old, new_value, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void exec_cmpxchg_wide(struct x86_ctx *c, bool wide)
{
	struct kvm_regs *r = &c->cpu->regs;
	unsigned len = wide ? 16 : 8;
	gva_t linear;
	bool equal;
	if (!ctx_has(c, wide ? "cx16" : "cx8")) {
		ctx_ud(c);
		return;
	}
	if (!ctx_linear(c, &c->ops[0], len, true, &linear))
		return;
	if (wide && (linear & 15)) {
		ctx_gp0(c);
		return;
	}
	void *host = ctx_host(c, linear, len, X86_ACCESS_WRITE);   /* a locked RMW writes */
	if (!host)
		return;
	if (wide) {
		uint64_t lo = r->rax, hi = r->rdx;
		equal = cmpxchg16(host, &lo, &hi, r->rbx, r->rcx);
		if (!equal) {
			r->rax = lo;
			r->rdx = hi;
		}
	} else {
		uint64_t old = (uint32_t)r->rax | (uint64_t)r->rdx << 32;
		equal = cmpxchg8(host, &old, (uint32_t)r->rbx | (uint64_t)r->rcx << 32);
		if (!equal) {
			r->rax = (uint32_t)old;
			r->rdx = old >> 32;
		}
	}
	r->rflags = (r->rflags & ~(uint64_t)X86_EFLAGS_ZF) | (equal ? X86_EFLAGS_ZF : 0);
	ctx_advance(c);
}

/* invpcid: the descriptor's checks; the flush itself is the caller's
 * (KVM flushes when the glue reloads the paging state). */
static void exec_invpcid(struct x86_ctx *c)
{
	uint64_t type, desc[2];
	if (!ctx_has(c, "invpcid")) {
		ctx_ud(c);
		return;
	}
	if (c->cpl > 0) {
		ctx_gp0(c);
		return;
	}
	if (!read_int(c, &c->ops[0], &type) || !ctx_op_read(c, &c->ops[1], desc))
		return;
	bool pcide = c->cpu->sregs.cr4 & X86_CR4_PCIDE;
	int64_t high = (int64_t)desc[1] >> 47;
	if (type > 3 || (desc[0] >> 12) != 0 ||
	    (type <= 1 && !pcide && (desc[0] & 0xfff)) ||
	    (type == 0 && high != 0 && high != -1)) {
		ctx_gp0(c);
		return;
	}
	c->cpu->flush_tlb = true;
	ctx_advance(c);
}

/* clwb, clflushopt, clflush: guest RAM is host memory, coherent with
 * every cache the guest could flush to; what is left is the access check
 * (a read of the byte), and its #PF. */
static void exec_cache_line(struct x86_ctx *c, const char *feature)
{
	gva_t linear;
	if (!ctx_has(c, feature)) {
		ctx_ud(c);
		return;
	}
	if (!ctx_linear(c, &c->ops[0], 1, false, &linear) ||
	    !ctx_host(c, linear, 1, X86_ACCESS_READ))
		return;
	ctx_advance(c);
}

/* clac/stac: kernel mode only, with SMAP in the guest's CPUID. */
static void exec_smap(struct x86_ctx *c, bool set)
{
	if (!ctx_has(c, "smap") || c->cpl > 0) {
		ctx_ud(c);
		return;
	}
	if (set)
		c->cpu->regs.rflags |= X86_EFLAGS_AC;
	else
		c->cpu->regs.rflags &= ~(uint64_t)X86_EFLAGS_AC;
	ctx_advance(c);
}

#define MSR_TSC 0x10u
#define MSR_TSC_AUX 0xc0000103u

/* rdtscp: #UD without CPUID RDTSCP, #GP under CR4.TSD outside CPL 0;
 * EDX:EAX the guest's TSC, ECX its TSC_AUX (both from KVM). */
static void exec_rdtscp(struct x86_ctx *c)
{
	struct kvm_regs *r = &c->cpu->regs;
	uint64_t tsc, aux;
	if (!ctx_has(c, "rdtscp")) {
		ctx_ud(c);
		return;
	}
	if ((c->cpu->sregs.cr4 & X86_CR4_TSD) && c->cpl > 0) {
		ctx_gp0(c);
		return;
	}
	const struct x86_guest *g = c->guest;
	if (!g->msr_read || g->msr_read(g->msr_opaque, MSR_TSC, &tsc) < 0 ||
	    g->msr_read(g->msr_opaque, MSR_TSC_AUX, &aux) < 0) {
		ctx_fail(c, "the TSC cannot be read");
		return;
	}
	r->rax = (uint32_t)tsc;
	r->rdx = tsc >> 32;
	r->rcx = (uint32_t)aux;
	ctx_advance(c);
}

/* ---- dispatch ---- */

static bool dispatch(struct x86_ctx *c)
{
	enum x86_kind *kind = &c->out->kind;
	switch (c->insn.mnemonic) {
	case ZYDIS_MNEMONIC_INT3: *kind = X86_KIND_INT3; exec_int(c, X86_VEC_BP); return true;
	case ZYDIS_MNEMONIC_INT:
		*kind = X86_KIND_INT;
		exec_int(c, (uint8_t)c->ops[0].imm.value.u);
		return true;
	case ZYDIS_MNEMONIC_FWAIT: *kind = X86_KIND_FWAIT; exec_fwait(c); return true;
	case ZYDIS_MNEMONIC_POPCNT: *kind = X86_KIND_POPCNT; exec_popcnt(c); return true;
	case ZYDIS_MNEMONIC_MOVBE: *kind = X86_KIND_MOVBE; exec_movbe(c); return true;
	case ZYDIS_MNEMONIC_CMPXCHG16B:
	case ZYDIS_MNEMONIC_CMPXCHG8B:
		*kind = X86_KIND_CMPXCHG;
		exec_cmpxchg_wide(c, c->insn.mnemonic == ZYDIS_MNEMONIC_CMPXCHG16B);
		return true;
	case ZYDIS_MNEMONIC_XGETBV: *kind = X86_KIND_XGETBV; exec_xgetbv(c); return true;
	case ZYDIS_MNEMONIC_XSAVE: case ZYDIS_MNEMONIC_XSAVE64:
	case ZYDIS_MNEMONIC_XSAVEOPT: case ZYDIS_MNEMONIC_XSAVEOPT64:
	case ZYDIS_MNEMONIC_XSAVEC: case ZYDIS_MNEMONIC_XSAVEC64:
	case ZYDIS_MNEMONIC_XSAVES: case ZYDIS_MNEMONIC_XSAVES64:
		*kind = X86_KIND_XSAVE;
		exec_xsave(c);
		return true;
	case ZYDIS_MNEMONIC_XRSTOR: case ZYDIS_MNEMONIC_XRSTOR64:
	case ZYDIS_MNEMONIC_XRSTORS: case ZYDIS_MNEMONIC_XRSTORS64:
		*kind = X86_KIND_XRSTOR;
		exec_xrstor(c);
		return true;
	case ZYDIS_MNEMONIC_INVPCID: *kind = X86_KIND_INVPCID; exec_invpcid(c); return true;
	case ZYDIS_MNEMONIC_CLWB: *kind = X86_KIND_CACHE_LINE; exec_cache_line(c, "clwb"); return true;
	case ZYDIS_MNEMONIC_CLFLUSHOPT:
		*kind = X86_KIND_CACHE_LINE;
		exec_cache_line(c, "clflushopt");
		return true;
	case ZYDIS_MNEMONIC_CLFLUSH:
		*kind = X86_KIND_CACHE_LINE;
		exec_cache_line(c, "clflush");
		return true;
	case ZYDIS_MNEMONIC_RDTSCP: *kind = X86_KIND_RDTSCP; exec_rdtscp(c); return true;
	case ZYDIS_MNEMONIC_CLAC: *kind = X86_KIND_SMAP; exec_smap(c, false); return true;
	case ZYDIS_MNEMONIC_STAC: *kind = X86_KIND_SMAP; exec_smap(c, true); return true;
	default:
		return false;
	}
}

/* ---- fetch and decode ---- */

static ZydisMachineMode mode_of(const struct kvm_sregs *s)
{
	if (!(s->cr0 & X86_CR0_PE))
		return ZYDIS_MACHINE_MODE_REAL_16;
	if (s->efer & EFER_LMA) {
		if (s->cs.l)
			return ZYDIS_MACHINE_MODE_LONG_64;
		return s->cs.db ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 : ZYDIS_MACHINE_MODE_LONG_COMPAT_16;
	}
	return s->cs.db ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_LEGACY_16;
}

static ZydisStackWidth stack_width_of(const struct kvm_sregs *s, ZydisMachineMode mode)
{
	if (mode == ZYDIS_MACHINE_MODE_LONG_64)
		return ZYDIS_STACK_WIDTH_64;
	return s->ss.db ? ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16;
}

/* The instruction, as objdump would print it, and why it failed; only
 * for messages (formatting costs as much as completing). */
static void describe(struct x86_ctx *c, uint64_t rip)
{
	ZydisFormatter f;
	char *text = c->out->text;
	size_t size = sizeof(c->out->text);
	if (!ZYAN_SUCCESS(ZydisFormatterInit(&f, ZYDIS_FORMATTER_STYLE_ATT)) ||
	    !ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&f, &c->insn, c->ops,
							  c->insn.operand_count_visible,
							  text, size, rip, NULL)))
		snprintf(text, size, "(unprintable)");
	size_t used = strnlen(text, size);
	if (c->failed && used + 2 < size)
		snprintf(text + used, size - used, ": %s", c->why);
}

/* An instruction cut short by a fetch that faulted raises that fault. */
static enum x86_outcome fetch_fault(struct x86_ctx *c, const struct x86_fetch_stop *stop)
{
	switch (stop->why) {
	case X86_WALK_FAULT:
		c->cpu->sregs.cr2 = stop->at;
		c->cpu->sregs_changed = true;
		ctx_raise(c, X86_VEC_PF, true, stop->pf_error);
		return X86_COMPLETED;
	case X86_WALK_NONCANONICAL:
		ctx_gp0(c);
		return X86_COMPLETED;
	default:
		snprintf(c->out->text, sizeof(c->out->text), "(%u undecodable bytes)", c->out->length);
		return X86_UNKNOWN;
	}
}

static enum x86_outcome decode(struct x86_ctx *c)
{
	struct x86_fetch_stop stop = { .why = X86_WALK_OK };
	ZydisDecoder d;
	c->out->length = ctx_fetch(c, c->out->bytes, sizeof(c->out->bytes), &stop);
	if (!ZYAN_SUCCESS(ZydisDecoderInit(&d, c->mode, stack_width_of(&c->cpu->sregs, c->mode))))
		return X86_UNKNOWN;
	ZyanStatus status = ZydisDecoderDecodeFull(&d, c->out->bytes, c->out->length, &c->insn,
						   c->ops);
	if (status == ZYDIS_STATUS_ILLEGAL_LOCK) {
		ctx_ud(c);   /* lock on an instruction that takes none */
		return X86_COMPLETED;
	}
	if (!ZYAN_SUCCESS(status)) {
		if (status == ZYDIS_STATUS_NO_MORE_DATA && c->out->length < sizeof(c->out->bytes))
			return fetch_fault(c, &stop);
		snprintf(c->out->text, sizeof(c->out->text), "(undecodable bytes)");
		return X86_UNKNOWN;
	}
	c->out->length = c->insn.length;
	return X86_COMPLETED;
}

static unsigned cpl_of(const struct kvm_sregs *s, const struct kvm_regs *r)
{
	if (!(s->cr0 & X86_CR0_PE))
		return 0;
	if (r->rflags & X86_EFLAGS_VM)
		return 3;
	return s->ss.dpl;   /* what KVM itself reports as the CPL */
}

enum x86_outcome x86_complete(struct x86_cpu *cpu, const struct x86_guest *guest,
			      struct x86_completion *out)
{
	struct x86_ctx c = { .cpu = cpu, .guest = guest, .out = out };
	memset(out, 0, sizeof(*out));
	cpu->exception = (struct x86_exception){ 0 };
	cpu->sregs_changed = cpu->xsave_changed = cpu->flush_tlb = false;
	c.mode = mode_of(&cpu->sregs);
	c.cpl = cpl_of(&cpu->sregs, &cpu->regs);
	uint64_t rip = cpu->regs.rip;
	enum x86_outcome decoded = decode(&c);
	if (decoded != X86_COMPLETED || cpu->exception.raised)
		return decoded;
	if (!dispatch(&c)) {
		describe(&c, rip);
		return X86_UNKNOWN;
	}
	if (c.failed) {
		describe(&c, rip);
		return X86_FAILED;
	}
	return X86_COMPLETED;
}
