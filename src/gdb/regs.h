/* Register layouts gdb sees, and their mapping onto KVM's register
 * structures. One table per architecture drives everything: the order of
 * the 'g' packet, 'p'/'P' numbering, and the XML target description, so
 * the three can never disagree. Pure functions (no ioctls): the stub
 * fetches the structures, this file translates. */
#ifndef KVMINI_GDB_REGS_H
#define KVMINI_GDB_REGS_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A vCPU's registers as KVM hands them out. */
struct gdb_x86_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	bool fpu_valid;        /* KVM_GET_FPU worked; otherwise FPU registers read as 'x' */
	unsigned dirty;        /* GDB_DIRTY_* of the structures a write changed */
};

enum {
	GDB_DIRTY_REGS = 1 << 0,
	GDB_DIRTY_SREGS = 1 << 1,
	GDB_DIRTY_FPU = 1 << 2,
};

enum gdb_reg_area { GDB_AREA_REGS, GDB_AREA_SREGS, GDB_AREA_FPU };
enum gdb_reg_conv {
	GDB_CONV_COPY,       /* the low `field` bytes, zero-extended */
	GDB_CONV_READONLY,   /* like COPY, but writes are ignored */
	GDB_CONV_FTAG,       /* full x87 tag word from FXSAVE's abridged one */
};

struct gdb_reg {
	const char *name;
	uint16_t bits;
	uint8_t area;        /* enum gdb_reg_area */
	uint8_t conv;        /* enum gdb_reg_conv */
	uint16_t offset;     /* of the field in its area's structure */
	uint8_t field;       /* bytes of that field that hold the value */
	const char *type;    /* target-description type */
	const char *group;   /* NULL for the default */
};

struct gdb_feature {
	const char *name;
	const char *types;   /* XML type definitions the registers use */
	const struct gdb_reg *regs;
	unsigned count;
};

struct gdb_arch {
	const char *architecture;   /* BFD name, e.g. "i386:x86-64" */
	const struct gdb_feature *features;
	unsigned nfeatures;
};

extern const struct gdb_arch gdb_arch_amd64;
extern const struct gdb_arch gdb_arch_i386;

/* x86-64 when the vCPU is in long mode (EFER.LMA), i386 otherwise. */
const struct gdb_arch *gdb_arch_for(const struct kvm_sregs *sregs);

unsigned gdb_arch_nregs(const struct gdb_arch *arch);
/* Register n, or NULL past the end. */
const struct gdb_reg *gdb_arch_reg(const struct gdb_arch *arch, unsigned n);
/* Bytes of a full 'g' reply's worth of registers. */
size_t gdb_arch_regs_size(const struct gdb_arch *arch);

/* Register n's value, little-endian, bits/8 bytes into out. Returns the
 * size, 0 when there is no such register, or -1 when it is unavailable
 * (FPU state missing); out is then zero-filled. */
int gdb_reg_get(const struct gdb_arch *arch, unsigned n,
		const struct gdb_x86_state *st, uint8_t *out);
/* Set register n from bits/8 little-endian bytes; marks st->dirty.
 * Returns the size, 0 when there is no such register, -1 when unavailable. */
int gdb_reg_set(const struct gdb_arch *arch, unsigned n,
		struct gdb_x86_state *st, const uint8_t *in);

/* The XML target description; returns its length (excluding the NUL), or
 * 0 if cap is too small. */
size_t gdb_target_xml(const struct gdb_arch *arch, char *out, size_t cap);

/* The x87 tag word conversions (exposed for tests). */
uint16_t gdb_ftag_from_fxsave(const struct kvm_fpu *fpu);
uint8_t gdb_ftag_to_fxsave(uint16_t ftag);

#endif
