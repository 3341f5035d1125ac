/* Internal to instruction completion (src/arch/x86/emulate/): one
 * instruction's context, shared by the decoder, the memory access and
 * the instruction files. */
#ifndef KVMINI_X86_EMULATE_CTX_H
#define KVMINI_X86_EMULATE_CTX_H

#include <Zydis/Zydis.h>
#include "arch/x86/emulate/complete.h"
#include "arch/x86/paging.h"

struct x86_ctx {
	struct x86_cpu *cpu;
	const struct x86_guest *guest;
	struct x86_completion *out;
	ZydisMachineMode mode;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	unsigned cpl;
	bool failed;            /* X86_FAILED: why[] says why */
	char why[96];
};

/* ---- exceptions (vectors from the SDM) ---- */
#define X86_VEC_BP 3
#define X86_VEC_UD 6
#define X86_VEC_NM 7
#define X86_VEC_SS 12
#define X86_VEC_GP 13
#define X86_VEC_PF 14
#define X86_VEC_MF 16

void ctx_raise(struct x86_ctx *c, uint8_t vector, bool has_error, uint32_t error);
static inline void ctx_ud(struct x86_ctx *c) { ctx_raise(c, X86_VEC_UD, false, 0); }
static inline void ctx_gp0(struct x86_ctx *c) { ctx_raise(c, X86_VEC_GP, true, 0); }
/* Give up: the instruction cannot be completed (printf-style reason). */
void ctx_fail(struct x86_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether the instruction is over (an exception raised or a failure). */
static inline bool ctx_stopped(const struct x86_ctx *c)
{
	return c->failed || c->cpu->exception.raised;
}

/* ---- registers ---- */
/* The 64-bit register holding Zydis register `reg`, or NULL (not a GPR). */
uint64_t *ctx_gpr(struct x86_ctx *c, ZydisRegister reg);
/* Read or write a general register operand of 16, 32 or 64 bits, as the
 * CPU does: a 32-bit write zero-extends, a 16-bit one merges. */
bool ctx_reg_read(struct x86_ctx *c, ZydisRegister reg, uint64_t *value);
bool ctx_reg_write(struct x86_ctx *c, ZydisRegister reg, uint64_t value);
/* RIP past the instruction (wrapped to the code size). */
void ctx_advance(struct x86_ctx *c);
bool ctx_long_mode(const struct x86_ctx *c);

/* ---- memory ---- */
/* The linear address of memory operand `op` (segment base, limit and
 * canonical checks raise #GP/#SS); false when an exception was raised. */
bool ctx_linear(struct x86_ctx *c, const ZydisDecodedOperand *op, uint64_t len,
		bool write, gva_t *linear);
/* Copy len bytes from or to guest-linear memory for this instruction (CPL
 * and RFLAGS.AC decide the permission checks); every page is checked
 * before a byte is written. RAM through guest_ptr(), else the MMIO bus
 * (pieces of at most 8 bytes). False: an exception or a failure. */
bool ctx_read(struct x86_ctx *c, gva_t linear, void *buf, uint64_t len);
bool ctx_write(struct x86_ctx *c, gva_t linear, const void *buf, uint64_t len);
/* Memory operand `op` read or written whole (op->size bits). */
bool ctx_op_read(struct x86_ctx *c, const ZydisDecodedOperand *op, void *buf);
bool ctx_op_write(struct x86_ctx *c, const ZydisDecodedOperand *op, const void *buf);
/* Check [linear, linear+len) for `kind` without touching it: an
 * instruction that reads what it then overwrites faults as a write. */
bool ctx_probe(struct x86_ctx *c, gva_t linear, uint64_t len, enum x86_access_kind kind);
/* A host pointer to len bytes at `linear` inside one page of RAM, checked
 * for `kind`, for atomic operations; NULL with an exception or failure. */
void *ctx_host(struct x86_ctx *c, gva_t linear, uint64_t len, enum x86_access_kind kind);
/* A supervisor (implicit) read of a system structure, e.g. the IDT. */
bool ctx_read_system(struct x86_ctx *c, gva_t linear, void *buf, uint64_t len);
/* Fetch up to `len` bytes at CS:RIP; returns how many could be fetched,
 * and for the first byte that could not, its address, why (the walk's
 * result; X86_WALK_OK when it is not RAM) and the #PF error code. */
struct x86_fetch_stop {
	gva_t at;
	enum x86_walk_result why;
	uint32_t pf_error;
};
unsigned ctx_fetch(struct x86_ctx *c, uint8_t *buf, unsigned len, struct x86_fetch_stop *stop);

/* ---- the guest's CPUID ---- */
bool ctx_has(const struct x86_ctx *c, const char *feature);
/* Leaf `fn`, subleaf `index` of the guest's CPUID; zeros when absent. */
struct kvm_cpuid_entry2 ctx_cpuid(const struct x86_ctx *c, uint32_t fn, uint32_t index);

/* ---- the instruction families (exec.c, xsave.c) ---- */
void exec_xsave(struct x86_ctx *c);
void exec_xrstor(struct x86_ctx *c);
void exec_xgetbv(struct x86_ctx *c);

#endif
