/* The state an instruction reaches: registers, guest-linear memory (the
 * guest's segments and page tables, then RAM or the MMIO bus) and the
 * guest's CPUID. Every value comes from the guest and is checked. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <asm/processor-flags.h>
#include "arch/x86/emulate/ctx.h"
#include "arch/x86/regs.h"

void ctx_raise(struct x86_ctx *c, uint8_t vector, bool has_error, uint32_t error)
{
	if (c->cpu->exception.raised)
		return;   /* the first exception wins */
	c->cpu->exception = (struct x86_exception){
		.raised = true, .vector = vector, .has_error = has_error, .error = error,
	};
}

void ctx_fail(struct x86_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!c->failed)   /* the first reason is the one that matters */
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	c->failed = true;
}

/* ---- registers ---- */

uint64_t *ctx_gpr(struct x86_ctx *c, ZydisRegister reg)
{
	struct kvm_regs *r = &c->cpu->regs;
	uint64_t *by_encoding[16] = {
		(uint64_t *)&r->rax, (uint64_t *)&r->rcx, (uint64_t *)&r->rdx, (uint64_t *)&r->rbx,
		(uint64_t *)&r->rsp, (uint64_t *)&r->rbp, (uint64_t *)&r->rsi, (uint64_t *)&r->rdi,
		(uint64_t *)&r->r8, (uint64_t *)&r->r9, (uint64_t *)&r->r10, (uint64_t *)&r->r11,
		(uint64_t *)&r->r12, (uint64_t *)&r->r13, (uint64_t *)&r->r14, (uint64_t *)&r->r15,
	};
	ZydisRegister full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg);
	if (full < ZYDIS_REGISTER_RAX || full > ZYDIS_REGISTER_R15)
		return NULL;
	return by_encoding[full - ZYDIS_REGISTER_RAX];
}

bool ctx_reg_read(struct x86_ctx *c, ZydisRegister reg, uint64_t *value)
{
	uint64_t *r = ctx_gpr(c, reg);
	ZydisRegisterWidth width = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, reg);
	if (!r || (width != 16 && width != 32 && width != 64))
		return false;
	*value = width == 64 ? *r : *r & ((1ULL << width) - 1);
	return true;
}

bool ctx_reg_write(struct x86_ctx *c, ZydisRegister reg, uint64_t value)
{
	uint64_t *r = ctx_gpr(c, reg);
	ZydisRegisterWidth width = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, reg);
	if (!r)
		return false;
	if (width == 64)
		*r = value;
	else if (width == 32)
		*r = (uint32_t)value;
	else if (width == 16)
		*r = (*r & ~0xffffULL) | (value & 0xffff);
	else
		return false;
	return true;
}

bool ctx_long_mode(const struct x86_ctx *c)
{
	return c->mode == ZYDIS_MACHINE_MODE_LONG_64;
}

/* RIP past the instruction, wrapping at the code segment's size. */
void ctx_advance(struct x86_ctx *c)
{
	uint64_t rip = c->cpu->regs.rip + c->insn.length;
	switch (c->mode) {
	case ZYDIS_MACHINE_MODE_LONG_64:
		c->cpu->regs.rip = rip;
		break;
	case ZYDIS_MACHINE_MODE_LONG_COMPAT_32:
	case ZYDIS_MACHINE_MODE_LEGACY_32:
		c->cpu->regs.rip = rip & 0xffffffffULL;
		break;
	default:
		c->cpu->regs.rip = rip & 0xffff;
		break;
	}
}

/* ---- segments ---- */

static const struct kvm_segment *segment_of(struct x86_ctx *c, ZydisRegister seg)
{
	struct kvm_sregs *s = &c->cpu->sregs;
	switch (seg) {
	case ZYDIS_REGISTER_ES: return &s->es;
	case ZYDIS_REGISTER_CS: return &s->cs;
	case ZYDIS_REGISTER_SS: return &s->ss;
	case ZYDIS_REGISTER_FS: return &s->fs;
	case ZYDIS_REGISTER_GS: return &s->gs;
	default: return &s->ds;
	}
}

static uint64_t effective_address(struct x86_ctx *c, const ZydisDecodedOperand *op, bool *ok)
{
	uint64_t ea = (uint64_t)op->mem.disp.value, v;
	*ok = true;
	if (op->mem.base == ZYDIS_REGISTER_RIP || op->mem.base == ZYDIS_REGISTER_EIP)
		ea += c->cpu->regs.rip + c->insn.length;
	else if (op->mem.base != ZYDIS_REGISTER_NONE) {
		*ok = ctx_reg_read(c, op->mem.base, &v);
		ea += v;
	}
	if (op->mem.index != ZYDIS_REGISTER_NONE) {
		*ok = *ok && ctx_reg_read(c, op->mem.index, &v);
		ea += v * op->mem.scale;
	}
	if (c->insn.address_width == 32)
		ea &= 0xffffffffULL;
	else if (c->insn.address_width == 16)
		ea &= 0xffff;
	return ea;
}

bool ctx_linear(struct x86_ctx *c, const ZydisDecodedOperand *op, uint64_t len,
		bool write, gva_t *linear)
{
	bool ok;
	uint64_t ea = effective_address(c, op, &ok);
	const struct kvm_segment *seg = segment_of(c, op->mem.segment);
	uint8_t fault = op->mem.segment == ZYDIS_REGISTER_SS ? X86_VEC_SS : X86_VEC_GP;
	if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || !ok) {
		ctx_fail(c, "unexpected operand");
		return false;
	}
	if (ctx_long_mode(c)) {
		bool based = op->mem.segment == ZYDIS_REGISTER_FS || op->mem.segment == ZYDIS_REGISTER_GS;
		*linear = ea + (based ? seg->base : 0);
		return true;   /* the canonical check is the page walk's */
	}
	/* An access past an expand-up limit faults (in real mode too: big
	 * real mode keeps its hidden limit); in protected mode also an
	 * unusable segment, and a write to one that is not writable data. */
	bool protected_mode = c->cpu->sregs.cr0 & X86_CR0_PE;
	bool writable = (seg->type & 0xa) == 0x2;
	if ((protected_mode && (seg->unusable || (write && !writable))) ||
	    len == 0 || ea + len - 1 > seg->limit) {
		ctx_raise(c, fault, true, 0);
		return false;
	}
	*linear = (seg->base + ea) & 0xffffffffULL;
	return true;
}

/* ---- memory ---- */

struct piece {
	gpa_t gpa;
	uint64_t len;
};

#define ACCESS_PIECES 4
#define ACCESS_MAX (8192)

static struct x86_paging paging_of(const struct x86_ctx *c)
{
	const struct kvm_sregs *s = &c->cpu->sregs;
	return (struct x86_paging){ .cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4, .efer = s->efer };
}

/* Translate [linear, linear+len) page by page; raises #PF or #GP. */
static unsigned translate(struct x86_ctx *c, gva_t linear, uint64_t len,
			  const struct x86_access *a, struct piece *pieces)
{
	struct x86_paging p = paging_of(c);
	unsigned n = 0;
	while (len) {
		uint64_t span;
		uint32_t code;
		gpa_t gpa;
		if (n == ACCESS_PIECES) {
			ctx_fail(c, "access of more than %d pages", ACCESS_PIECES);
			return 0;
		}
		switch (x86_walk(c->guest->mem, &p, linear, a, &gpa, &span, &code)) {
		case X86_WALK_OK:
			break;
		case X86_WALK_FAULT:
			c->cpu->sregs.cr2 = linear;
			c->cpu->sregs_changed = true;
			ctx_raise(c, X86_VEC_PF, true, code);
			return 0;
		case X86_WALK_NONCANONICAL:
			ctx_gp0(c);
			return 0;
		case X86_WALK_NO_TABLE:
			ctx_fail(c, "a page table of 0x%llx lies outside RAM", (unsigned long long)linear);
			return 0;
		}
		pieces[n].gpa = gpa;
		pieces[n].len = span < len ? span : len;
		len -= pieces[n].len;
		linear += pieces[n].len;
		n++;
	}
	return n;
}

static bool copy_piece(struct x86_ctx *c, const struct piece *pc, uint8_t *buf, bool write)
{
	uint8_t *host = guest_ptr(c->guest->mem, pc->gpa, pc->len);
	if (host) {
		if (write)
			memcpy(host, buf, pc->len);
		else
			memcpy(buf, host, pc->len);
		return true;
	}
	if (!c->guest->mmio || pc->len > 8) {
		ctx_fail(c, "%llu bytes at 0x%llx are not RAM", (unsigned long long)pc->len,
			 (unsigned long long)pc->gpa);
		return false;
	}
	if (!bus_access(c->guest->mmio, pc->gpa, buf, (uint32_t)pc->len, write) && !write)
		memset(buf, 0xff, pc->len);   /* unclaimed reads as all-ones */
	return true;
}

static bool access_memory(struct x86_ctx *c, gva_t linear, uint8_t *buf, uint64_t len,
			  const struct x86_access *a)
{
	struct piece pieces[ACCESS_PIECES];
	if (len > ACCESS_MAX) {
		ctx_fail(c, "access of %llu bytes", (unsigned long long)len);
		return false;
	}
	unsigned n = translate(c, linear, len, a, pieces);
	if (n == 0)
		return len == 0;
	for (unsigned i = 0; i < n; buf += pieces[i].len, i++) {
		if (!copy_piece(c, &pieces[i], buf, a->kind == X86_ACCESS_WRITE))
			return false;
	}
	return true;
}

static struct x86_access access_for(const struct x86_ctx *c, enum x86_access_kind kind)
{
	return (struct x86_access){
		.kind = kind, .user = c->cpl == 3,
		.ac = (c->cpu->regs.rflags & X86_EFLAGS_AC) != 0,
	};
}

bool ctx_read(struct x86_ctx *c, gva_t linear, void *buf, uint64_t len)
{
	struct x86_access a = access_for(c, X86_ACCESS_READ);
	return access_memory(c, linear, buf, len, &a);
}

bool ctx_write(struct x86_ctx *c, gva_t linear, const void *buf, uint64_t len)
{
	struct x86_access a = access_for(c, X86_ACCESS_WRITE);
	return access_memory(c, linear, (uint8_t *)buf, len, &a);
}

bool ctx_read_system(struct x86_ctx *c, gva_t linear, void *buf, uint64_t len)
{
	struct x86_access a = { .kind = X86_ACCESS_READ, .implicit = true };
	return access_memory(c, linear, buf, len, &a);
}

bool ctx_op_read(struct x86_ctx *c, const ZydisDecodedOperand *op, void *buf)
{
	gva_t linear;
	return ctx_linear(c, op, op->size / 8, false, &linear) &&
	       ctx_read(c, linear, buf, op->size / 8);
}

bool ctx_op_write(struct x86_ctx *c, const ZydisDecodedOperand *op, const void *buf)
{
	gva_t linear;
	return ctx_linear(c, op, op->size / 8, true, &linear) &&
	       ctx_write(c, linear, buf, op->size / 8);
}

bool ctx_probe(struct x86_ctx *c, gva_t linear, uint64_t len, enum x86_access_kind kind)
{
	struct piece pieces[ACCESS_PIECES];
	struct x86_access a = access_for(c, kind);
	if (len > ACCESS_MAX) {
		ctx_fail(c, "access of %llu bytes", (unsigned long long)len);
		return false;
	}
	return translate(c, linear, len, &a, pieces) > 0 || len == 0;
}

void *ctx_host(struct x86_ctx *c, gva_t linear, uint64_t len, enum x86_access_kind kind)
{
	struct piece pieces[ACCESS_PIECES];
	struct x86_access a = access_for(c, kind);
	unsigned n = translate(c, linear, len, &a, pieces);
	if (n == 0)
		return NULL;
	void *host = n == 1 ? guest_ptr(c->guest->mem, pieces[0].gpa, len) : NULL;
	if (!host)
		ctx_fail(c, "atomic access to 0x%llx is not within one page of RAM",
			 (unsigned long long)linear);
	return host;
}

unsigned ctx_fetch(struct x86_ctx *c, uint8_t *buf, unsigned len, struct x86_fetch_stop *stop)
{
	struct x86_paging p = paging_of(c);
	struct x86_access a = access_for(c, X86_ACCESS_FETCH);
	gva_t at = c->cpu->sregs.cs.base + c->cpu->regs.rip;
	unsigned got = 0;
	if (!ctx_long_mode(c))
		at &= 0xffffffffULL;
	while (got < len) {
		uint64_t span;
		gpa_t gpa;
		*stop = (struct x86_fetch_stop){ .at = at + got };
		stop->why = x86_walk(c->guest->mem, &p, at + got, &a, &gpa, &span, &stop->pf_error);
		if (stop->why != X86_WALK_OK)
			break;
		uint64_t n = span < len - got ? span : len - got;
		if (guest_read(c->guest->mem, gpa, buf + got, n) < 0)
			break;   /* code outside RAM: decode what there is */
		got += (unsigned)n;
	}
	return got;
}

/* ---- CPUID ---- */

bool ctx_has(const struct x86_ctx *c, const char *feature)
{
	return c->guest->cpuid && x86_cpuid_has(c->guest->cpuid, feature);
}

struct kvm_cpuid_entry2 ctx_cpuid(const struct x86_ctx *c, uint32_t fn, uint32_t index)
{
	const struct kvm_cpuid2 *t = c->guest->cpuid ? c->guest->cpuid->table : NULL;
	for (uint32_t i = 0; t && i < t->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &t->entries[i];
		bool indexed = e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		if (e->function == fn && (!indexed || e->index == index))
			return *e;
	}
	return (struct kvm_cpuid_entry2){ .function = fn, .index = index };
}
