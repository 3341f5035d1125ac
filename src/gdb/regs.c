#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "gdb/regs.h"
#include "arch/x86/regs.h"

#define REG(n, b, ar, cv, ofs, fld, t) \
	{ .name = n, .bits = b, .area = ar, .conv = cv, .offset = ofs, .field = fld, .type = t }
#define R64(n, f, t) REG(n, 64, GDB_AREA_REGS, GDB_CONV_COPY, offsetof(struct kvm_regs, f), 8, t)
#define R32(n, f, t) REG(n, 32, GDB_AREA_REGS, GDB_CONV_COPY, offsetof(struct kvm_regs, f), 4, t)
/* A selector alone cannot be loaded: the descriptor behind it would be
 * stale, so gdb may read selectors but not change them. */
#define SEG(n, s) REG(n, 32, GDB_AREA_SREGS, GDB_CONV_READONLY, \
		      offsetof(struct kvm_sregs, s.selector), 2, "int32")
#define FPU(n, b, f, fld, t) \
	REG(n, b, GDB_AREA_FPU, GDB_CONV_COPY, offsetof(struct kvm_fpu, f), fld, t)
#define ST(i) FPU("st" #i, 80, fpr[i], 10, "i387_ext")
#define XMM(i) FPU("xmm" #i, 128, xmm[i], 16, "kvmini_vec128")
#define SYS(n, f) { .name = n, .bits = 64, .area = GDB_AREA_SREGS, .conv = GDB_CONV_COPY, \
		    .offset = offsetof(struct kvm_sregs, f), .field = 8, .type = "int64", \
		    .group = "system" }

/* The x87 registers after the general ones, as gdb's i386 core expects.
 * In 64-bit FXSAVE format the instruction and operand pointers are
 * 64-bit; gdb shows their high halves as fiseg/foseg. */
#define X87_REGS \
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7), \
	FPU("fctrl", 32, fcw, 2, "int"), \
	FPU("fstat", 32, fsw, 2, "int"), \
	REG("ftag", 32, GDB_AREA_FPU, GDB_CONV_FTAG, offsetof(struct kvm_fpu, ftwx), 1, "int"), \
	REG("fiseg", 32, GDB_AREA_FPU, GDB_CONV_COPY, offsetof(struct kvm_fpu, last_ip) + 4, 4, "int"), \
	FPU("fioff", 32, last_ip, 4, "int"), \
	REG("foseg", 32, GDB_AREA_FPU, GDB_CONV_COPY, offsetof(struct kvm_fpu, last_dp) + 4, 4, "int"), \
	FPU("fooff", 32, last_dp, 4, "int"), \
	FPU("fop", 32, last_opcode, 2, "int")

#define SEGMENT_REGS SEG("cs", cs), SEG("ss", ss), SEG("ds", ds), SEG("es", es), \
	SEG("fs", fs), SEG("gs", gs)

static const char eflags_type[] =
	"<flags id=\"kvmini_eflags\" size=\"4\">"
	"<field name=\"CF\" start=\"0\" end=\"0\"/>"
	"<field name=\"PF\" start=\"2\" end=\"2\"/>"
	"<field name=\"AF\" start=\"4\" end=\"4\"/>"
	"<field name=\"ZF\" start=\"6\" end=\"6\"/>"
	"<field name=\"SF\" start=\"7\" end=\"7\"/>"
	"<field name=\"TF\" start=\"8\" end=\"8\"/>"
	"<field name=\"IF\" start=\"9\" end=\"9\"/>"
	"<field name=\"DF\" start=\"10\" end=\"10\"/>"
	"<field name=\"OF\" start=\"11\" end=\"11\"/>"
	"<field name=\"NT\" start=\"14\" end=\"14\"/>"
	"<field name=\"RF\" start=\"16\" end=\"16\"/>"
	"<field name=\"VM\" start=\"17\" end=\"17\"/>"
	"<field name=\"AC\" start=\"18\" end=\"18\"/>"
	"<field name=\"VIF\" start=\"19\" end=\"19\"/>"
	"<field name=\"VIP\" start=\"20\" end=\"20\"/>"
	"<field name=\"ID\" start=\"21\" end=\"21\"/>"
	"</flags>";

static const char sse_types[] =
	"<vector id=\"kvmini_v4f\" type=\"ieee_single\" count=\"4\"/>"
	"<vector id=\"kvmini_v2d\" type=\"ieee_double\" count=\"2\"/>"
	"<vector id=\"kvmini_v16i8\" type=\"int8\" count=\"16\"/>"
	"<vector id=\"kvmini_v8i16\" type=\"int16\" count=\"8\"/>"
	"<vector id=\"kvmini_v4i32\" type=\"int32\" count=\"4\"/>"
	"<vector id=\"kvmini_v2i64\" type=\"int64\" count=\"2\"/>"
	"<union id=\"kvmini_vec128\">"
	"<field name=\"v4_float\" type=\"kvmini_v4f\"/>"
	"<field name=\"v2_double\" type=\"kvmini_v2d\"/>"
	"<field name=\"v16_int8\" type=\"kvmini_v16i8\"/>"
	"<field name=\"v8_int16\" type=\"kvmini_v8i16\"/>"
	"<field name=\"v4_int32\" type=\"kvmini_v4i32\"/>"
	"<field name=\"v2_int64\" type=\"kvmini_v2i64\"/>"
	"<field name=\"uint128\" type=\"uint128\"/>"
	"</union>"
	"<flags id=\"kvmini_mxcsr\" size=\"4\">"
	"<field name=\"IE\" start=\"0\" end=\"0\"/>"
	"<field name=\"DE\" start=\"1\" end=\"1\"/>"
	"<field name=\"ZE\" start=\"2\" end=\"2\"/>"
	"<field name=\"OE\" start=\"3\" end=\"3\"/>"
	"<field name=\"UE\" start=\"4\" end=\"4\"/>"
	"<field name=\"PE\" start=\"5\" end=\"5\"/>"
	"<field name=\"DAZ\" start=\"6\" end=\"6\"/>"
	"<field name=\"IM\" start=\"7\" end=\"7\"/>"
	"<field name=\"DM\" start=\"8\" end=\"8\"/>"
	"<field name=\"ZM\" start=\"9\" end=\"9\"/>"
	"<field name=\"OM\" start=\"10\" end=\"10\"/>"
	"<field name=\"UM\" start=\"11\" end=\"11\"/>"
	"<field name=\"PM\" start=\"12\" end=\"12\"/>"
	"<field name=\"FZ\" start=\"15\" end=\"15\"/>"
	"</flags>";

/* ---- x86-64 ---- */

static const struct gdb_reg amd64_core[] = {
	R64("rax", rax, "int64"), R64("rbx", rbx, "int64"), R64("rcx", rcx, "int64"),
	R64("rdx", rdx, "int64"), R64("rsi", rsi, "int64"), R64("rdi", rdi, "int64"),
	R64("rbp", rbp, "data_ptr"), R64("rsp", rsp, "data_ptr"),
	R64("r8", r8, "int64"), R64("r9", r9, "int64"), R64("r10", r10, "int64"),
	R64("r11", r11, "int64"), R64("r12", r12, "int64"), R64("r13", r13, "int64"),
	R64("r14", r14, "int64"), R64("r15", r15, "int64"),
	R64("rip", rip, "code_ptr"), R32("eflags", rflags, "kvmini_eflags"),
	SEGMENT_REGS,
	X87_REGS,
};

static const struct gdb_reg amd64_sse[] = {
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	FPU("mxcsr", 32, mxcsr, 4, "kvmini_mxcsr"),
};

static const struct gdb_reg amd64_segments[] = {
	REG("fs_base", 64, GDB_AREA_SREGS, GDB_CONV_COPY, offsetof(struct kvm_sregs, fs.base), 8, "int"),
	REG("gs_base", 64, GDB_AREA_SREGS, GDB_CONV_COPY, offsetof(struct kvm_sregs, gs.base), 8, "int"),
};

/* Control registers: not in gdb's own x86 features, but useful to anyone
 * debugging a kernel (page tables live at cr3). */
static const struct gdb_reg x86_system[] = {
	SYS("cr0", cr0), SYS("cr2", cr2), SYS("cr3", cr3), SYS("cr4", cr4),
	SYS("cr8", cr8), SYS("efer", efer),
};

#define FEATURE(n, t, r) { n, t, r, sizeof(r) / sizeof(r[0]) }

static const struct gdb_feature amd64_features[] = {
	FEATURE("org.gnu.gdb.i386.core", eflags_type, amd64_core),
	FEATURE("org.gnu.gdb.i386.sse", sse_types, amd64_sse),
	FEATURE("org.gnu.gdb.i386.segments", "", amd64_segments),
	FEATURE("org.kvmini.x86.system", "", x86_system),
};

const struct gdb_arch gdb_arch_amd64 = {
	"i386:x86-64", amd64_features, sizeof(amd64_features) / sizeof(amd64_features[0]),
};

/* ---- i386: protected (and real) mode, in hardware register order ---- */

static const struct gdb_reg i386_core[] = {
	R32("eax", rax, "int32"), R32("ecx", rcx, "int32"), R32("edx", rdx, "int32"),
	R32("ebx", rbx, "int32"), R32("esp", rsp, "data_ptr"), R32("ebp", rbp, "data_ptr"),
	R32("esi", rsi, "int32"), R32("edi", rdi, "int32"),
	R32("eip", rip, "code_ptr"), R32("eflags", rflags, "kvmini_eflags"),
	SEGMENT_REGS,
	X87_REGS,
};

static const struct gdb_reg i386_sse[] = {
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	FPU("mxcsr", 32, mxcsr, 4, "kvmini_mxcsr"),
};

static const struct gdb_feature i386_features[] = {
	FEATURE("org.gnu.gdb.i386.core", eflags_type, i386_core),
	FEATURE("org.gnu.gdb.i386.sse", sse_types, i386_sse),
	FEATURE("org.kvmini.x86.system", "", x86_system),
};

const struct gdb_arch gdb_arch_i386 = {
	"i386", i386_features, sizeof(i386_features) / sizeof(i386_features[0]),
};

const struct gdb_arch *gdb_arch_for(const struct kvm_sregs *sregs)
{
	return (sregs->efer & EFER_LMA) ? &gdb_arch_amd64 : &gdb_arch_i386;
}

/* ---- access ---- */

unsigned gdb_arch_nregs(const struct gdb_arch *arch)
{
	unsigned n = 0;
	for (unsigned f = 0; f < arch->nfeatures; f++)
		n += arch->features[f].count;
	return n;
}

const struct gdb_reg *gdb_arch_reg(const struct gdb_arch *arch, unsigned n)
{
	for (unsigned f = 0; f < arch->nfeatures; f++) {
		if (n < arch->features[f].count)
			return &arch->features[f].regs[n];
		n -= arch->features[f].count;
	}
	return NULL;
}

size_t gdb_arch_regs_size(const struct gdb_arch *arch)
{
	size_t size = 0;
	for (unsigned n = 0; n < gdb_arch_nregs(arch); n++)
		size += gdb_arch_reg(arch, n)->bits / 8;
	return size;
}

static uint8_t *area_of(struct gdb_x86_state *st, uint8_t area)
{
	switch (area) {
	case GDB_AREA_REGS: return (uint8_t *)&st->regs;
	case GDB_AREA_SREGS: return (uint8_t *)&st->sregs;
	default: return (uint8_t *)&st->fpu;
	}
}

/* The x87 tag of one register's contents (Intel SDM vol. 1, 8.1.7):
 * 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unnormal). */
static unsigned classify_x87(const uint8_t *v)
{
	unsigned exponent = (unsigned)(v[8] | (v[9] << 8)) & 0x7fff;
	bool integer_bit = v[7] & 0x80;
	bool mantissa_zero = true;
	for (int i = 0; i < 8; i++)
		mantissa_zero = mantissa_zero && v[i] == 0;
	if (exponent == 0x7fff)
		return 2;
	if (exponent == 0)
		return mantissa_zero ? 1 : 2;
	return integer_bit ? 0 : 2;
}

/* FXSAVE keeps one "not empty" bit per physical register; the full tag
 * word has two bits each. fpr[] is in stack order: physical register p
 * is ST((p - TOP) mod 8). */
uint16_t gdb_ftag_from_fxsave(const struct kvm_fpu *fpu)
{
	unsigned top = (fpu->fsw >> 11) & 7;
	uint16_t tag = 0;
	for (unsigned p = 0; p < 8; p++) {
		unsigned t = 3;   /* empty */
		if (fpu->ftwx & (1u << p))
			t = classify_x87(fpu->fpr[(p - top) & 7]);
		tag |= (uint16_t)(t << (2 * p));
	}
	return tag;
}

uint8_t gdb_ftag_to_fxsave(uint16_t ftag)
{
	uint8_t abridged = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((ftag >> (2 * p)) & 3) != 3)
			abridged |= (uint8_t)(1u << p);
	return abridged;
}

int gdb_reg_get(const struct gdb_arch *arch, unsigned n,
		const struct gdb_x86_state *st, uint8_t *out)
{
	const struct gdb_reg *r = gdb_arch_reg(arch, n);
	if (!r)
		return 0;
	int size = r->bits / 8;
	memset(out, 0, (size_t)size);
	if (r->area == GDB_AREA_FPU && !st->fpu_valid)
		return -1;
	if (r->conv == GDB_CONV_FTAG) {
		uint16_t tag = gdb_ftag_from_fxsave(&st->fpu);
		memcpy(out, &tag, sizeof(tag));
		return size;
	}
	/* The structures are little-endian like the protocol: copy bytes. */
	memcpy(out, area_of((struct gdb_x86_state *)st, r->area) + r->offset, r->field);
	return size;
}

int gdb_reg_set(const struct gdb_arch *arch, unsigned n,
		struct gdb_x86_state *st, const uint8_t *in)
{
	const struct gdb_reg *r = gdb_arch_reg(arch, n);
	if (!r)
		return 0;
	int size = r->bits / 8;
	if (r->area == GDB_AREA_FPU && !st->fpu_valid)
		return -1;
	if (r->conv == GDB_CONV_READONLY)
		return size;
	if (r->conv == GDB_CONV_FTAG) {
		uint16_t tag;
		memcpy(&tag, in, sizeof(tag));
		st->fpu.ftwx = gdb_ftag_to_fxsave(tag);
	} else {
		memcpy(area_of(st, r->area) + r->offset, in, r->field);
	}
	st->dirty |= r->area == GDB_AREA_REGS ? GDB_DIRTY_REGS
		   : r->area == GDB_AREA_SREGS ? GDB_DIRTY_SREGS : GDB_DIRTY_FPU;
	return size;
}

/* ---- target description ---- */

struct xml_out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void xml_printf(struct xml_out *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void xml_printf(struct xml_out *x, const char *fmt, ...)
{
	if (x->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(x->buf + x->len, x->cap - x->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= x->cap - x->len)
		x->overflow = true;
	else
		x->len += (size_t)n;
}

size_t gdb_target_xml(const struct gdb_arch *arch, char *out, size_t cap)
{
	struct xml_out x = { out, cap, 0, cap == 0 };
	xml_printf(&x, "<?xml version=\"1.0\"?>\n"
		   "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
		   "<target version=\"1.0\">\n<architecture>%s</architecture>\n",
		   arch->architecture);
	for (unsigned f = 0; f < arch->nfeatures; f++) {
		const struct gdb_feature *feat = &arch->features[f];
		xml_printf(&x, "<feature name=\"%s\">\n%s\n", feat->name, feat->types);
		for (unsigned i = 0; i < feat->count; i++) {
			const struct gdb_reg *r = &feat->regs[i];
			xml_printf(&x, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\"", r->name,
				   r->bits, r->type);
			if (r->group)
				xml_printf(&x, " group=\"%s\"", r->group);
			xml_printf(&x, "/>\n");
		}
		xml_printf(&x, "</feature>\n");
	}
	xml_printf(&x, "</target>\n");
	return x.overflow ? 0 : x.len;
}
