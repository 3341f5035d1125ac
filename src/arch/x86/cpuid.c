#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "kvm.h"
#include "arch/x86/cpuid.h"

static struct kvm_cpuid2 *cpuid_alloc(unsigned nent)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + nent * sizeof(t->entries[0]));
	if (t)
		t->nent = nent;
	return t;
}

int x86_cpuid_init(struct x86_cpuid *cpuid, int kvm_fd, struct kvmini_error *err)
{
	/* KVM says E2BIG, after doing all the work, until the table is large
	 * enough; 256 entries fit every host seen so far in one call. */
	for (unsigned nent = 256; nent <= 4096; nent *= 2) {
		cpuid->table = cpuid_alloc(nent);
		if (!cpuid->table)
			return kvmini_fail(err, KVMINI_E_HOST, "out of memory for CPUID");
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid->table) == 0)
			return 0;
		int e = errno;
		x86_cpuid_free(cpuid);
		if (e != E2BIG)
			return kvmini_fail_errno(err, KVMINI_E_HOST, e, "KVM_GET_SUPPORTED_CPUID failed");
	}
	return kvmini_fail(err, KVMINI_E_HOST, "KVM_GET_SUPPORTED_CPUID: table too large");
}

void x86_cpuid_free(struct x86_cpuid *cpuid)
{
	free(cpuid->table);
	cpuid->table = NULL;
}

/* Bits needed to number `count` things (ceil(log2(count))). */
static unsigned id_bits(unsigned count)
{
	unsigned bits = 0;
	while ((1u << bits) < count)
		bits++;
	return bits;
}

/* One package of `ncpus` cores, one thread each, APIC IDs 0..ncpus-1:
 * leaves 1, 4 and 0xB must all tell the same story, or a kernel's
 * topology code disagrees with the MP/ACPI tables. */
static void set_topology(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned ncpus)
{
	switch (e->function) {
	case 1:
		e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) | ((ncpus & 0xff) << 16);
		if (ncpus > 1)
			e->edx |= 1u << 28;   /* HTT: the count in EBX[23:16] is valid */
		break;
	case 4:
		/* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing this cache - 1 */
		if ((e->eax & 0x1f) != 0)
			e->eax = (e->eax & 0x00003fffu) | ((ncpus - 1) << 26);
		break;
	case 0xb:
	case 0x1f:
		e->edx = apic_id;
		if (e->index == 0) {          /* SMT level: one thread per core */
			e->eax = 0;
			e->ebx = 1;
			e->ecx = 1u << 8;
		} else if (e->index == 1) {   /* core level: ncpus cores */
			e->eax = id_bits(ncpus);
			e->ebx = ncpus;
			e->ecx = 1 | (2u << 8);
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;
		}
		break;
	}
}

/* Some KVMs overrule the table: PVM shows the guest every host feature
 * its user mode can run natively (KVM_GET_SUPPORTED_CPUID lists only the
 * bits it lets a VMM control), and KVM itself keeps the APIC bit in step
 * with the APIC base MSR. Read the result back so a feature the user
 * asked to hide is never silently left visible. */
static int check_hidden(int vcpu_fd, const struct x86_cpuid *cpuid, unsigned nent,
			struct kvmini_error *err)
{
	struct kvm_cpuid2 *got = cpuid_alloc(nent);
	if (!got)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for CPUID");
	int r = KVM_IOCTL(vcpu_fd, KVM_GET_CPUID2, got, err);
	bool named = false;
	const char *kept = r < 0 ? NULL : x86_cpuid_kept_feature(got, &cpuid->hidden, &named);
	free(got);
	if (r < 0)
		return -1;
	if (kept)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "this host's KVM keeps CPUID feature '%s'%s visible to the guest:"
				   " it cannot be hidden here", kept,
				   named ? "" : " (hidden with a feature it needs)");
	return 0;
}

/* The entry for leaf fn (subleaf 0), added at the end when missing;
 * NULL when the table is full. */
static struct kvm_cpuid_entry2 *leaf_entry(struct kvm_cpuid2 *t, unsigned capacity, uint32_t fn)
{
	for (unsigned i = 0; i < t->nent; i++)
		if (t->entries[i].function == fn && t->entries[i].index == 0)
			return &t->entries[i];
	if (t->nent >= capacity)
		return NULL;
	t->entries[t->nent] = (struct kvm_cpuid_entry2){ .function = fn };
	return &t->entries[t->nent++];
}

void x86_cpuid_set_tsc(struct kvm_cpuid2 *t, unsigned capacity, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *max = leaf_entry(t, capacity, 0);
	if (!tsc_khz || !max)
		return;
	struct kvm_cpuid_entry2 *crystal = leaf_entry(t, capacity, 0x15);
	struct kvm_cpuid_entry2 *freq = leaf_entry(t, capacity, 0x16);
	if (!crystal || !freq)
		return;
	/* The TSC runs at ECX * EBX / EAX Hz: a crystal at its own rate,
	 * ratio 1/1, or past 4.29 GHz (ECX's limit) at half, ratio 2/1. */
	uint64_t hz = tsc_khz * 1000ULL;
	unsigned ratio = hz > UINT32_MAX ? 2 : 1;
	crystal->eax = 1;
	crystal->ebx = ratio;
	crystal->ecx = (uint32_t)(hz / ratio);
	crystal->edx = 0;
	/* Base and maximum frequency in MHz; the bus's is the PC's 100 MHz. */
	freq->eax = freq->ebx = (tsc_khz + 500) / 1000;
	freq->ecx = 100;
	freq->edx = 0;
	if (max->eax < 0x16)
		max->eax = 0x16;
}

int x86_cpuid_apply(const struct x86_cpuid *cpuid, int vcpu_fd, unsigned apic_id,
		    unsigned ncpus, struct kvmini_error *err)
{
	size_t bytes = sizeof(*cpuid->table) + cpuid->table->nent * sizeof(cpuid->table->entries[0]);
	unsigned capacity = cpuid->table->nent + 3;   /* room for leaves 0, 0x15, 0x16 */
	struct kvm_cpuid2 *t = calloc(1, bytes + 3 * sizeof(cpuid->table->entries[0]));
	if (!t)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for CPUID");
	memcpy(t, cpuid->table, bytes);
	for (unsigned i = 0; i < t->nent; i++)
		set_topology(&t->entries[i], apic_id, ncpus);
	/* The TSC's rate, so the guest need not measure it against a timer
	 * by emulated loops (slow and wrong on a PVM host); KVM's own is the
	 * rate the guest's TSC runs at. Without the capability, none. */
	int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz > 0)
		x86_cpuid_set_tsc(t, capacity, (uint32_t)khz);
	x86_cpuid_hide(t, &cpuid->hidden);   /* after set_topology: "-ht" wins over HTT */
	int r = KVM_IOCTL(vcpu_fd, KVM_SET_CPUID2, t, err);
	free(t);
	if (r < 0)
		return -1;
	return x86_cpuid_hides_any(&cpuid->hidden)
		? check_hidden(vcpu_fd, cpuid, cpuid->table->nent + 64, err) : 0;
}
