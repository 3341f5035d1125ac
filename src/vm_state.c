/* A paused VM's KVM-held state to snapshot sections and back
 * (vm_state.h). Saving and restoring are ioctl sequences; decoding is
 * a pure function of the bytes, so it is unit-tested and fuzzed. */
#include <stdlib.h>
#include <string.h>
#include "arch/x86/msr.h"
#include "vcpu.h"
#include "vm_state.h"

enum record_kind {
	REC_REGS = 1, REC_SREGS, REC_XSAVE, REC_XCRS, REC_MSRS, REC_LAPIC, REC_EVENTS,
	REC_MP_STATE, REC_DEBUGREGS, REC_CPUID,
	REC_KINDS
};

static const char *const record_names[REC_KINDS] = {
	[REC_REGS] = "registers", [REC_SREGS] = "special registers", [REC_XSAVE] = "XSAVE area",
	[REC_XCRS] = "XCRs", [REC_MSRS] = "MSRs", [REC_LAPIC] = "local APIC",
	[REC_EVENTS] = "events", [REC_MP_STATE] = "MP state", [REC_DEBUGREGS] = "debug registers",
	[REC_CPUID] = "CPUID",
};

static void record_put(struct state_writer *w, enum record_kind kind, const void *data,
		       size_t len)
{
	state_put_u32(w, kind);
	state_put_u32(w, (uint32_t)len);
	state_put_bytes(w, data, len);
}

/* ---- saving ---- */

/* Every MSR KVM lists that reads back, in batches: KVM_GET_MSRS stops
 * at the first one it cannot read, which is then skipped. */
static int msrs_read(const struct vcpu *vcpu, const struct kvm_msr_list *list,
		     struct vcpu_state *s, struct kvmini_error *err)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[64];
	} m;
	s->nmsrs = 0;
	for (unsigned i = 0; i < list->nmsrs && s->nmsrs < VM_STATE_MAX_MSRS;) {
		unsigned n = list->nmsrs - i < 64 ? list->nmsrs - i : 64;
		memset(&m, 0, sizeof(m));
		m.h.nmsrs = n;
		for (unsigned k = 0; k < n; k++)
			m.e[k].index = list->indices[i + k];
		int got = KVM_IOCTL(vcpu->fd, KVM_GET_MSRS, &m, err);
		if (got < 0)
			return -1;
		for (int k = 0; k < got && s->nmsrs < VM_STATE_MAX_MSRS; k++)
			s->msrs[s->nmsrs++] = m.e[k];
		i += (unsigned)got + ((unsigned)got < n);   /* skip the one it refused */
	}
	return 0;
}

static int cpuid_read(const struct vcpu *vcpu, struct vcpu_state *s, struct kvmini_error *err)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[VM_STATE_MAX_CPUID];
	} c = { .h.nent = VM_STATE_MAX_CPUID };
	if (KVM_IOCTL(vcpu->fd, KVM_GET_CPUID2, &c, err) < 0)
		return -1;
	s->ncpuid = c.h.nent;
	memcpy(s->cpuid, c.e, s->ncpuid * sizeof(c.e[0]));
	return 0;
}

static int vcpu_state_read(const struct vcpu *vcpu, const struct kvm_msr_list *msrs,
			   bool lapic, struct vcpu_state *s, struct kvmini_error *err)
{
	memset(s, 0, sizeof(*s));
	s->has_lapic = lapic;
	int fd = vcpu->fd;
	if (KVM_IOCTL(fd, KVM_GET_MP_STATE, &s->mp_state, err) < 0 ||
	    KVM_IOCTL(fd, KVM_GET_REGS, &s->regs, err) < 0 ||
	    KVM_IOCTL(fd, KVM_GET_SREGS, &s->sregs, err) < 0 ||
	    KVM_IOCTL(fd, KVM_GET_XSAVE, &s->xsave, err) < 0 ||
	    KVM_IOCTL(fd, KVM_GET_XCRS, &s->xcrs, err) < 0 ||
	    (lapic && KVM_IOCTL(fd, KVM_GET_LAPIC, &s->lapic, err) < 0) ||
	    KVM_IOCTL(fd, KVM_GET_VCPU_EVENTS, &s->events, err) < 0 ||
	    KVM_IOCTL(fd, KVM_GET_DEBUGREGS, &s->debugregs, err) < 0)
		return -1;
	return msrs_read(vcpu, msrs, s, err) < 0 || cpuid_read(vcpu, s, err) < 0 ? -1 : 0;
}

void vcpu_state_encode(const struct vcpu_state *s, struct state_writer *w)
{
	record_put(w, REC_CPUID, s->cpuid, s->ncpuid * sizeof(s->cpuid[0]));
	record_put(w, REC_MP_STATE, &s->mp_state, sizeof(s->mp_state));
	record_put(w, REC_REGS, &s->regs, sizeof(s->regs));
	record_put(w, REC_SREGS, &s->sregs, sizeof(s->sregs));
	record_put(w, REC_XSAVE, &s->xsave, sizeof(s->xsave));
	record_put(w, REC_XCRS, &s->xcrs, sizeof(s->xcrs));
	if (s->has_lapic)
		record_put(w, REC_LAPIC, &s->lapic, sizeof(s->lapic));
	record_put(w, REC_MSRS, s->msrs, s->nmsrs * sizeof(s->msrs[0]));
	record_put(w, REC_EVENTS, &s->events, sizeof(s->events));
	record_put(w, REC_DEBUGREGS, &s->debugregs, sizeof(s->debugregs));
}

static int kvm_state_read(struct vm *vm, struct vm_kvm_state *k, struct kvmini_error *err)
{
	memset(k, 0, sizeof(*k));
	k->has_irqchip = vm->irqchip == KVMINI_IRQCHIP_KERNEL;
	for (unsigned i = 0; k->has_irqchip && i < 3; i++) {
		k->chips[i].chip_id = i;
		if (KVM_IOCTL(vm->fd, KVM_GET_IRQCHIP, &k->chips[i], err) < 0)
			return -1;
	}
	if (k->has_irqchip && KVM_IOCTL(vm->fd, KVM_GET_PIT2, &k->pit, err) < 0)
		return -1;
	return KVM_IOCTL(vm->fd, KVM_GET_CLOCK, &k->clock, err) < 0 ? -1 : 0;
}

void vm_kvm_state_encode(const struct vm_kvm_state *k, struct state_writer *w)
{
	state_put_u8(w, k->has_irqchip);
	if (k->has_irqchip) {
		state_put_bytes(w, k->chips, sizeof(k->chips));
		state_put_bytes(w, &k->pit, sizeof(k->pit));
	}
	state_put_bytes(w, &k->clock, sizeof(k->clock));
}

int vm_state_save(struct vm *vm, struct snapshot_builder *b, struct kvmini_error *err)
{
	struct kvm_msr_list *msrs = x86_msr_index_list(vm->kvm.fd, err);
	struct vcpu_state *s = malloc(sizeof(*s));
	int rc = msrs && s ? 0 : -1;
	if (msrs && !s)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	for (unsigned i = 0; rc == 0 && i < vm->ncpus; i++) {
		rc = vcpu_state_read(&vm->vcpus[i], msrs, vm->irqchip != KVMINI_IRQCHIP_NONE, s, err);
		if (rc == 0) {
			struct state_writer w;
			state_writer_init(&w);
			vcpu_state_encode(s, &w);
			snapshot_add(b, SNAPSHOT_TAG_VCPU, w.data, w.len);
			rc = w.failed ? kvmini_fail(err, KVMINI_E_HOST, "out of memory") : 0;
			state_writer_free(&w);
		}
	}
	struct vm_kvm_state k;
	if (rc == 0 && (rc = kvm_state_read(vm, &k, err)) == 0) {
		struct state_writer w;
		state_writer_init(&w);
		vm_kvm_state_encode(&k, &w);
		snapshot_add(b, SNAPSHOT_TAG_KVMS, w.data, w.len);
		rc = w.failed ? kvmini_fail(err, KVMINI_E_HOST, "out of memory") : 0;
		state_writer_free(&w);
	}
	free(s);
	free(msrs);
	return rc;
}

/* ---- decoding (hostile bytes) ---- */

static int record_fixed(struct state_reader *r, uint32_t len, void *out, size_t size,
			enum record_kind kind, struct kvmini_error *err)
{
	if (len != size)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU %s record is %u bytes, "
				   "expected %zu (a snapshot from another kvmini?)",
				   record_names[kind], len, size);
	state_get_bytes(r, out, size);
	return 0;
}

static int record_array(struct state_reader *r, uint32_t len, void *out, size_t elem,
			unsigned max, unsigned *n, enum record_kind kind, struct kvmini_error *err)
{
	if (len % elem || len / elem > max)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU %s record of %u bytes is "
				   "malformed", record_names[kind], len);
	*n = len / (unsigned)elem;
	state_get_bytes(r, out, len);
	return 0;
}

static int record_decode(struct state_reader *r, enum record_kind kind, uint32_t len,
			 struct vcpu_state *s, struct kvmini_error *err)
{
	switch (kind) {
	case REC_REGS: return record_fixed(r, len, &s->regs, sizeof(s->regs), kind, err);
	case REC_SREGS: return record_fixed(r, len, &s->sregs, sizeof(s->sregs), kind, err);
	case REC_XSAVE: return record_fixed(r, len, &s->xsave, sizeof(s->xsave), kind, err);
	case REC_XCRS: return record_fixed(r, len, &s->xcrs, sizeof(s->xcrs), kind, err);
	case REC_LAPIC: return record_fixed(r, len, &s->lapic, sizeof(s->lapic), kind, err);
	case REC_EVENTS: return record_fixed(r, len, &s->events, sizeof(s->events), kind, err);
	case REC_MP_STATE:
		return record_fixed(r, len, &s->mp_state, sizeof(s->mp_state), kind, err);
	case REC_DEBUGREGS:
		return record_fixed(r, len, &s->debugregs, sizeof(s->debugregs), kind, err);
	case REC_MSRS:
		return record_array(r, len, s->msrs, sizeof(s->msrs[0]), VM_STATE_MAX_MSRS,
				    &s->nmsrs, kind, err);
	case REC_CPUID:
		return record_array(r, len, s->cpuid, sizeof(s->cpuid[0]), VM_STATE_MAX_CPUID,
				    &s->ncpuid, kind, err);
	default:
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU record of unknown kind %u",
				   kind);
	}
}

static int vcpu_records_check(const struct vcpu_state *s, unsigned seen, bool with_lapic,
			      struct kvmini_error *err)
{
	for (unsigned k = 1; k < REC_KINDS; k++) {
		bool needed = k != REC_LAPIC || with_lapic;
		if (needed && !(seen & (1u << k)))
			return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU has no %s record",
					   record_names[k]);
	}
	if (!with_lapic && (seen & (1u << REC_LAPIC)))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU has a local APIC, but the "
				   "VM has no interrupt controller");
	if (s->mp_state.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU MP state %u is unknown",
				   s->mp_state.mp_state);
	return 0;
}

int vcpu_state_decode(const uint8_t *data, uint64_t len, bool with_lapic,
		      struct vcpu_state *out, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	memset(out, 0, sizeof(*out));
	out->has_lapic = with_lapic;
	unsigned seen = 0;
	while (r.pos < r.len) {
		uint32_t kind = state_get_u32(&r), rlen = state_get_u32(&r);
		if (r.failed || rlen > r.len - r.pos)
			return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU record runs past "
					   "its section");
		if (kind >= REC_KINDS || kind == 0 || (seen & (1u << kind)))
			return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU record of kind %u is "
					   "unknown or repeated", kind);
		seen |= 1u << kind;
		if (record_decode(&r, kind, rlen, out, err))
			return -1;
	}
	return vcpu_records_check(out, seen, with_lapic, err);
}

int vm_kvm_state_decode(const uint8_t *data, uint64_t len, bool with_irqchip,
			struct vm_kvm_state *out, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	memset(out, 0, sizeof(*out));
	out->has_irqchip = state_get_u8(&r);
	if (out->has_irqchip != with_irqchip)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot's in-kernel interrupt controller "
				   "state does not match its irqchip model");
	if (out->has_irqchip) {
		state_get_bytes(&r, out->chips, sizeof(out->chips));
		state_get_bytes(&r, &out->pit, sizeof(out->pit));
		for (unsigned i = 0; i < 3; i++)
			if (out->chips[i].chip_id != i)
				return kvmini_fail(err, KVMINI_E_USAGE, "snapshot's interrupt "
						   "controller %u is malformed", i);
	}
	state_get_bytes(&r, &out->clock, sizeof(out->clock));
	return state_reader_finish(&r, "snapshot's KVM state", err);
}

/* ---- CPUID compatibility ---- */

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid_entry2 *e, unsigned n,
						 uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].function == function && e[i].index == index)
			return &e[i];
	return NULL;
}

/* Bits that are no feature KVM gives: set by kvmini (leaf 1 EDX HTT
 * with more than one vCPU: src/arch/x86/cpuid.c) or by the CPU from
 * the guest's own control registers (leaf 1 ECX OSXSAVE, leaf 7 ECX
 * OSPKE). A snapshot may hold them on any host. */
static uint32_t cpuid_not_features(uint32_t function, int reg)
{
	if (function == 1 && reg == 2)
		return 1u << 27;   /* OSXSAVE */
	if (function == 1 && reg == 3)
		return 1u << 28;   /* HTT */
	if (function == 7 && reg == 2)
		return 1u << 4;    /* OSPKE */
	return 0;
}

int vcpu_cpuid_check(const struct kvm_cpuid_entry2 *saved, unsigned nsaved,
		     const struct kvm_cpuid2 *supported, struct kvmini_error *err)
{
	static const struct { uint32_t function, index; } leaves[] = {
		{ 1, 0 }, { 7, 0 }, { 7, 1 }, { 0xd, 1 }, { 0x80000001, 0 },
	};
	static const char regs[4][4] = { "eax", "ebx", "ecx", "edx" };
	for (size_t l = 0; l < sizeof(leaves) / sizeof(leaves[0]); l++) {
		const struct kvm_cpuid_entry2 *s = cpuid_find(saved, nsaved, leaves[l].function,
							      leaves[l].index);
		if (!s)
			continue;
		const struct kvm_cpuid_entry2 *h = cpuid_find(supported->entries, supported->nent,
							      leaves[l].function, leaves[l].index);
		uint32_t want[4] = { s->eax, s->ebx, s->ecx, s->edx };
		uint32_t have[4] = { h ? h->eax : 0, h ? h->ebx : 0, h ? h->ecx : 0, h ? h->edx : 0 };
		/* Leaf 1's EBX holds the APIC ID and counts, not features. */
		for (int r = leaves[l].function == 1 ? 2 : 0; r < 4; r++) {
			if (leaves[l].function == 7 && leaves[l].index == 0 && r == 0)
				continue;   /* EAX: the number of subleaves */
			uint32_t missing = want[r] & ~have[r] & ~cpuid_not_features(leaves[l].function, r);
			if (missing)
				return kvmini_fail(err, KVMINI_E_USAGE, "the snapshot's CPU has features "
						   "this host's KVM cannot give: CPUID leaf %#x.%u %.3s "
						   "bits %#x", leaves[l].function, leaves[l].index,
						   regs[r], missing);
		}
	}
	return 0;
}

/* ---- restoring ---- */

static int vcpu_state_write(const struct vcpu *vcpu, struct vcpu_state *s,
			    struct kvmini_error *err)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[VM_STATE_MAX_CPUID];
	} c = { .h.nent = s->ncpuid };
	memcpy(c.e, s->cpuid, s->ncpuid * sizeof(c.e[0]));
	int fd = vcpu->fd;
	/* CPUID first (it decides which state KVM accepts), events and the
	 * MP state after the registers, as KVM's own documentation orders. */
	if (KVM_IOCTL(fd, KVM_SET_CPUID2, &c, err) < 0 ||
	    KVM_IOCTL(fd, KVM_SET_SREGS, &s->sregs, err) < 0 ||
	    KVM_IOCTL(fd, KVM_SET_REGS, &s->regs, err) < 0 ||
	    KVM_IOCTL(fd, KVM_SET_XSAVE, &s->xsave, err) < 0 ||
	    KVM_IOCTL(fd, KVM_SET_XCRS, &s->xcrs, err) < 0 ||
	    (s->has_lapic && KVM_IOCTL(fd, KVM_SET_LAPIC, &s->lapic, err) < 0))
		return -1;
	for (unsigned i = 0; i < s->nmsrs; i += 64) {
		unsigned n = s->nmsrs - i < 64 ? s->nmsrs - i : 64;
		if (vcpu_set_msrs(vcpu, s->msrs + i, n, err) < 0)
			return -1;
	}
	if (KVM_IOCTL(fd, KVM_SET_VCPU_EVENTS, &s->events, err) < 0 ||
	    KVM_IOCTL(fd, KVM_SET_MP_STATE, &s->mp_state, err) < 0 ||
	    KVM_IOCTL(fd, KVM_SET_DEBUGREGS, &s->debugregs, err) < 0)
		return -1;
	return 0;
}

int vm_state_restore(struct vm *vm, struct vcpu_state *vcpus,
		     struct vm_kvm_state *k, struct kvmini_error *err)
{
	for (unsigned i = 0; k->has_irqchip && i < 3; i++)
		if (KVM_IOCTL(vm->fd, KVM_SET_IRQCHIP, &k->chips[i], err) < 0)
			return -1;
	if (k->has_irqchip && KVM_IOCTL(vm->fd, KVM_SET_PIT2, &k->pit, err) < 0)
		return -1;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vcpu_state_write(&vm->vcpus[i], &vcpus[i], err) < 0)
			return -1;
	/* The clock last: the guest's time resumes from the snapshot's. */
	struct kvm_clock_data clock = { .clock = k->clock.clock };
	return KVM_IOCTL(vm->fd, KVM_SET_CLOCK, &clock, err) < 0 ? -1 : 0;
}
