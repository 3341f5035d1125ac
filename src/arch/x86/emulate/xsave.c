/* xgetbv and the xsave family against KVM's own view of the extended
 * state: the standard-format area of KVM_GET_XSAVE (legacy region of 512
 * bytes, the 64-byte header with XSTATE_BV, then each component at the
 * offset CPUID leaf 0xD gives). That area's XSTATE_BV is the vCPU's
 * XINUSE: a clear bit means the component is in its initial state.
 * Supervisor components (IA32_XSS) are not in that area: an xsaves or
 * xrstors that names one cannot be completed. */
#include <string.h>
#include <asm/processor-flags.h>
#include "arch/x86/emulate/ctx.h"

#define LEGACY_SIZE 512
#define HEADER_SIZE 64
#define AREA_SIZE 4096           /* struct kvm_xsave's region */
#define COMPONENTS 19            /* up to AMX's tile data */
#define XCOMP_COMPACTED (1ULL << 63)
#define MXCSR_OFFSET 24
#define X87_FIXED (1ULL << 0)
#define SSE_BIT (1ULL << 1)
#define AVX_BIT (1ULL << 2)

enum xsave_form { FORM_STANDARD, FORM_OPT, FORM_COMPACTED, FORM_SUPERVISOR };

static uint8_t *area(struct x86_ctx *c)
{
	return (uint8_t *)c->cpu->xsave.region;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void store64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Where component i (>= 2) sits in the standard form, and its size. */
static bool component_place(struct x86_ctx *c, unsigned i, uint32_t *offset, uint32_t *size)
{
	struct kvm_cpuid_entry2 e = ctx_cpuid(c, 0xd, i);
	*offset = e.ebx;
	*size = e.eax;
	return e.eax && e.ebx >= LEGACY_SIZE + HEADER_SIZE && e.ebx <= AREA_SIZE &&
	       e.eax <= AREA_SIZE - e.ebx;
}

/* The compacted form's offsets: components in order, each after the one
 * before, 64-byte aligned when CPUID says so (leaf 0xD, ECX bit 1). */
static bool compacted_offsets(struct x86_ctx *c, uint64_t xcomp, uint32_t *offsets, uint32_t *end)
{
	uint32_t at = LEGACY_SIZE + HEADER_SIZE;
	for (unsigned i = 2; i < COMPONENTS; i++) {
		struct kvm_cpuid_entry2 e = ctx_cpuid(c, 0xd, i);
		if (!(xcomp & (1ULL << i)))
			continue;
		if (e.ecx & 2)
			at = (at + 63) & ~63u;
		offsets[i] = at;
		at += e.eax;
	}
	*end = at;
	return true;
}

/* The bytes of components 0 and 1 in the legacy region (MXCSR apart). */
static void legacy_ranges(unsigned i, uint32_t *from, uint32_t *len, uint32_t *from2,
			  uint32_t *len2)
{
	if (i == 0) {   /* FCW..FDP, then ST0-7 */
		*from = 0, *len = 24, *from2 = 32, *len2 = 128;
	} else {        /* XMM0-15 */
		*from = 160, *len = 256, *from2 = 0, *len2 = 0;
	}
}

/* The initial state of component i written into an image. */
static void init_component(uint8_t *img, unsigned i, uint32_t offset, uint32_t size)
{
	if (i >= 2) {
		memset(img + offset, 0, size);
		return;
	}
	uint32_t a, n, b, m;
	legacy_ranges(i, &a, &n, &b, &m);
	memset(img + a, 0, n);
	memset(img + b, 0, m);
	if (i == 0) {
		uint16_t fcw = 0x37f;
		memcpy(img, &fcw, 2);
	}
}

static void copy_component(uint8_t *dst, uint32_t dst_off, const uint8_t *src, uint32_t src_off,
			   unsigned i, uint32_t size)
{
	if (i >= 2) {
		memcpy(dst + dst_off, src + src_off, size);
		return;
	}
	uint32_t a, n, b, m;
	legacy_ranges(i, &a, &n, &b, &m);
	memcpy(dst + a, src + a, n);
	memcpy(dst + b, src + b, m);
}

/* The checks every member of the family shares (SDM vol. 1, 13.7-13.12):
 * CPUID, CR4.OSXSAVE, CR0.TS, CPL for the supervisor forms, a 64-byte
 * aligned operand. Sets *linear and the requested-feature bitmap. */
static bool xsave_checks(struct x86_ctx *c, bool supervisor, bool write, uint32_t cpuid_bit,
			 gva_t *linear, uint64_t *rfbm)
{
	struct kvm_cpuid_entry2 sub1 = ctx_cpuid(c, 0xd, 1);
	if (!ctx_has(c, "xsave") || !(c->cpu->sregs.cr4 & X86_CR4_OSXSAVE) ||
	    (cpuid_bit && !(sub1.eax & cpuid_bit))) {
		ctx_ud(c);
		return false;
	}
	if (c->cpu->sregs.cr0 & X86_CR0_TS) {
		ctx_raise(c, X86_VEC_NM, false, 0);
		return false;
	}
	if (supervisor && c->cpl > 0) {
		ctx_gp0(c);
		return false;
	}
	if (!ctx_linear(c, &c->ops[0], LEGACY_SIZE + HEADER_SIZE, write, linear))
		return false;
	if (*linear & 63) {
		ctx_gp0(c);
		return false;
	}
	uint64_t mask = (uint32_t)c->cpu->regs.rax | (uint64_t)(uint32_t)c->cpu->regs.rdx << 32;
	*rfbm = (c->cpu->xcr0 | (supervisor ? c->cpu->xss : 0)) & mask;
	if (*rfbm & ~c->cpu->xcr0) {
		ctx_fail(c, "supervisor state components 0x%llx are not in KVM's xsave area",
			 (unsigned long long)(*rfbm & ~c->cpu->xcr0));
		return false;
	}
	return true;
}

/* Build the image xsave writes, over the bytes memory holds (what the
 * instruction leaves alone stays), then write it back in one checked
 * access: every page is checked before a byte is stored. */
static void xsave_store(struct x86_ctx *c, enum xsave_form form, gva_t linear, uint64_t rfbm)
{
	static __thread uint8_t img[AREA_SIZE];
	uint64_t xinuse = load64(area(c) + LEGACY_SIZE);
	uint32_t offsets[COMPONENTS] = { 0 }, end = LEGACY_SIZE + HEADER_SIZE;
	bool compacted = form == FORM_COMPACTED || form == FORM_SUPERVISOR;
	uint64_t save = rfbm & (form == FORM_STANDARD ? ~0ULL : xinuse);
	for (unsigned i = 2; i < COMPONENTS; i++) {
		uint32_t off, size;
		if ((rfbm & (1ULL << i)) && component_place(c, i, &off, &size) && !compacted)
			end = off + size > end ? off + size : end;
	}
	if (compacted)
		compacted_offsets(c, rfbm, offsets, &end);
	if (!ctx_probe(c, linear, end, X86_ACCESS_WRITE) || !ctx_read(c, linear, img, end))
		return;
	for (unsigned i = 0; i < COMPONENTS; i++) {
		uint32_t off = 0, size = 0;
		if (!(save & (1ULL << i)) || (i >= 2 && !component_place(c, i, &off, &size)))
			continue;
		uint32_t dst = compacted && i >= 2 ? offsets[i] : off;
		if (xinuse & (1ULL << i))
			copy_component(img, dst, area(c), off, i, size);
		else
			init_component(img, i, dst, size);
	}
	/* MXCSR and its mask: with SSE or AVX in the standard form, with
	 * saved SSE state in the compacted one. */
	if (compacted ? (save & SSE_BIT) : (rfbm & (SSE_BIT | AVX_BIT)))
		memcpy(img + MXCSR_OFFSET, area(c) + MXCSR_OFFSET, 8);
	uint64_t bv = load64(img + LEGACY_SIZE);
	if (compacted) {
		store64(img + LEGACY_SIZE, xinuse & rfbm);
		store64(img + LEGACY_SIZE + 8, rfbm | XCOMP_COMPACTED);
	} else {
		store64(img + LEGACY_SIZE, (bv & ~rfbm) | (xinuse & rfbm));
	}
	if (ctx_write(c, linear, img, end))
		ctx_advance(c);
}

void exec_xsave(struct x86_ctx *c)
{
	enum xsave_form form;
	uint32_t bit;
	switch (c->insn.mnemonic) {
	case ZYDIS_MNEMONIC_XSAVEOPT: case ZYDIS_MNEMONIC_XSAVEOPT64: form = FORM_OPT; bit = 1; break;
	case ZYDIS_MNEMONIC_XSAVEC: case ZYDIS_MNEMONIC_XSAVEC64: form = FORM_COMPACTED; bit = 2; break;
	case ZYDIS_MNEMONIC_XSAVES: case ZYDIS_MNEMONIC_XSAVES64: form = FORM_SUPERVISOR; bit = 8; break;
	default: form = FORM_STANDARD; bit = 0; break;
	}
	gva_t linear;
	uint64_t rfbm;
	if (xsave_checks(c, form == FORM_SUPERVISOR, true, bit, &linear, &rfbm))
		xsave_store(c, form, linear, rfbm);
}

/* The header's rules (SDM vol. 1, 13.8.1 and 13.12): #GP when broken. */
static bool header_valid(struct x86_ctx *c, const uint8_t *hdr, bool supervisor)
{
	uint64_t bv = load64(hdr), comp = load64(hdr + 8);
	uint64_t allowed = c->cpu->xcr0 | (supervisor ? c->cpu->xss : 0);
	bool compacted = comp & XCOMP_COMPACTED;
	if (supervisor && !compacted)
		return false;
	if (!compacted) {
		for (unsigned i = 8; i < 24; i++)
			if (hdr[i])
				return false;
		return !(bv & ~c->cpu->xcr0);
	}
	if (!(ctx_cpuid(c, 0xd, 1).eax & 2) || (comp & ~XCOMP_COMPACTED & ~allowed) ||
	    (bv & ~comp))
		return false;
	for (unsigned i = 16; i < HEADER_SIZE; i++)
		if (hdr[i])
			return false;
	return true;
}

/* Load the image into KVM's area: a component whose XSTATE_BV bit is
 * clear goes to its initial state. MXCSR's reserved bits raise #GP. */
static void xrstor_load(struct x86_ctx *c, const uint8_t *img, uint64_t rfbm, bool compacted,
			const uint32_t *offsets)
{
	uint8_t *a = area(c);
	uint64_t bv = load64(img + LEGACY_SIZE), xinuse = load64(a + LEGACY_SIZE);
	uint32_t mxcsr, mask;
	memcpy(&mxcsr, img + MXCSR_OFFSET, 4);
	memcpy(&mask, a + MXCSR_OFFSET + 4, 4);
	if ((rfbm & (SSE_BIT | AVX_BIT)) && (!compacted || (bv & (SSE_BIT | AVX_BIT)))) {
		if (mxcsr & ~(mask ? mask : 0xffbfu)) {
			ctx_gp0(c);
			return;
		}
		memcpy(a + MXCSR_OFFSET, &mxcsr, 4);
	}
	for (unsigned i = 0; i < COMPONENTS; i++) {
		uint32_t off = 0, size = 0;
		if (!(rfbm & (1ULL << i)) || (i >= 2 && !component_place(c, i, &off, &size)))
			continue;
		if (bv & (1ULL << i)) {
			copy_component(a, off, img, compacted && i >= 2 ? offsets[i] : off, i, size);
			xinuse |= 1ULL << i;
		} else {
			init_component(a, i, off, size);
			xinuse &= ~(1ULL << i);
		}
	}
	store64(a + LEGACY_SIZE, xinuse);
	c->cpu->xsave_changed = true;
	ctx_advance(c);
}

void exec_xrstor(struct x86_ctx *c)
{
	static __thread uint8_t img[AREA_SIZE];
	bool supervisor = c->insn.mnemonic == ZYDIS_MNEMONIC_XRSTORS ||
			  c->insn.mnemonic == ZYDIS_MNEMONIC_XRSTORS64;
	uint32_t offsets[COMPONENTS] = { 0 }, end = LEGACY_SIZE + HEADER_SIZE;
	gva_t linear;
	uint64_t rfbm;
	if (!xsave_checks(c, supervisor, false, supervisor ? 8 : 0, &linear, &rfbm) ||
	    !ctx_read(c, linear, img, LEGACY_SIZE + HEADER_SIZE))
		return;
	if (!header_valid(c, img + LEGACY_SIZE, supervisor)) {
		ctx_gp0(c);
		return;
	}
	uint64_t comp = load64(img + LEGACY_SIZE + 8);
	bool compacted = comp & XCOMP_COMPACTED;
	if (compacted) {
		compacted_offsets(c, comp, offsets, &end);
	} else {
		for (unsigned i = 2; i < COMPONENTS; i++) {
			uint32_t off, size;
			if ((rfbm & (1ULL << i)) && component_place(c, i, &off, &size))
				end = off + size > end ? off + size : end;
		}
	}
	if (end > AREA_SIZE) {
		ctx_fail(c, "an xsave area of %u bytes", end);
		return;
	}
	if (ctx_read(c, linear, img, end))
		xrstor_load(c, img, rfbm, compacted, offsets);
}

/* xgetbv: XCR0, or with ECX = 1 (when CPUID offers it) XCR0 & XINUSE. */
void exec_xgetbv(struct x86_ctx *c)
{
	struct kvm_regs *r = &c->cpu->regs;
	uint64_t value;
	if (!ctx_has(c, "xsave") || !(c->cpu->sregs.cr4 & X86_CR4_OSXSAVE)) {
		ctx_ud(c);
		return;
	}
	if ((uint32_t)r->rcx == 0)
		value = c->cpu->xcr0;
	else if ((uint32_t)r->rcx == 1 && (ctx_cpuid(c, 0xd, 1).eax & 4))
		value = c->cpu->xcr0 & load64(area(c) + LEGACY_SIZE);
	else {
		ctx_gp0(c);
		return;
	}
	r->rax = (uint32_t)value;
	r->rdx = value >> 32;
	ctx_advance(c);
}
