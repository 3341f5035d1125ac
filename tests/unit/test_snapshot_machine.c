/* The machine snapshot decoder (src/machine_snapshot.c, vm_state.c):
 * a snapshot is checked whole, with no KVM call, and each malformed
 * part refused with its own reason; the CPUID a snapshot asks for must
 * be one the host's KVM can give. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "machine.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"

#define MACH SNAPSHOT_TAG('M', 'A', 'C', 'H')
#define DEVS SNAPSHOT_TAG('D', 'E', 'V', 'S')
#define SPLT SNAPSHOT_TAG('S', 'P', 'L', 'T')
/* The split irqchip's record: version, then the 8259s', the IOAPIC's
 * and the 8254's records, then the pending ExtINT (flag, vector). */
#define SPLT_PIT 242
#define SPLT_PENDING 361
#define SPLT_LEN 363

struct spec {
	uint32_t mach_version;
	uint8_t mach_flags;        /* 0: the good ones (dirty tracking) */
	uint64_t mem;
	uint32_t cpus, irqchip, vcpu_sections;
	bool lapic_records;        /* VCPU sections carry a local APIC */
	bool kvms_irqchip;
	bool skip_devs;
	uint32_t extra_tag;
	int drop_record;           /* record kind left out of vCPU 0; 0: none */
	unsigned splt;             /* SPLT sections */
	int splt_at;               /* a byte of SPLT set to splt_value; -1: none */
	uint8_t splt_value;
	bool splt_extra;           /* a byte too many */
	const struct state_writer *virt;   /* VIRT sections' bytes; NULL: none */
	unsigned virt_count;
	const struct state_writer *disp;   /* DISP sections' bytes; NULL: none */
	unsigned disp_count;
	const struct state_writer *pcib;   /* a PCIB section's bytes; NULL: none */
};

static struct state_writer file;

static void vcpu_section(struct snapshot_builder *b, const struct spec *s, unsigned i)
{
	struct vcpu_state *v = calloc(1, sizeof(*v));
	v->has_lapic = s->lapic_records;
	v->regs.rip = 0x100000 + i;
	v->nmsrs = 2;
	v->msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 12345 };
	v->ncpuid = 1;
	v->cpuid[0] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 1u << 23 };
	struct state_writer w;
	state_writer_init(&w);
	vcpu_state_encode(v, &w);
	if (i == 0 && s->drop_record) {
		/* Rebuild without the record of that kind. */
		struct state_writer keep;
		state_writer_init(&keep);
		struct state_reader r;
		state_reader_init(&r, w.data, w.len);
		while (r.pos < r.len) {
			uint32_t kind = state_get_u32(&r), len = state_get_u32(&r);
			if ((int)kind != s->drop_record) {
				state_put_u32(&keep, kind);
				state_put_u32(&keep, len);
				state_put_bytes(&keep, r.data + r.pos, len);
			}
			r.pos += len;
		}
		state_writer_free(&w);
		w = keep;
	}
	snapshot_add(b, SNAPSHOT_TAG_VCPU, w.data, w.len);
	state_writer_free(&w);
	free(v);
}

/* A split irqchip's state as a fresh one saves it, with one byte set
 * as the spec says. */
static void splt_section(struct snapshot_builder *b, const struct spec *s)
{
	struct i8259 *pic = i8259_create(NULL);
	struct ioapic *ioapic = ioapic_create(2, NULL);
	struct i8254 *pit = i8254_create(NULL, NULL, NULL);
	struct state_writer w;
	state_writer_init(&w);
	state_put_u32(&w, 1);
	i8259_save(pic, &w);
	ioapic_save(ioapic, &w);
	i8254_save(pit, &w);
	state_put_u8(&w, 1);      /* an ExtINT KVM had not delivered */
	state_put_u8(&w, 0x20);
	if (s->splt_extra)
		state_put_u8(&w, 0);
	cr_assert_eq(w.len, SPLT_LEN + s->splt_extra);
	if (s->splt_at >= 0)
		w.data[s->splt_at] = s->splt_value;
	for (unsigned i = 0; i < s->splt; i++)
		snapshot_add(b, SPLT, w.data, w.len);
	state_writer_free(&w);
	i8254_destroy(pit);
	ioapic_destroy(ioapic);
	i8259_destroy(pic);
}

static void build(const struct spec *s)
{
	struct snapshot_builder b;
	struct kvmini_error err;
	snapshot_builder_init(&b);
	struct state_writer w;
	state_writer_init(&w);
	state_put_u32(&w, s->mach_version);
	state_put_u64(&w, s->mem);
	state_put_u32(&w, s->cpus);
	state_put_u32(&w, s->irqchip);
	state_put_u64(&w, 0xe0000);
	state_put_u8(&w, s->mach_flags ? s->mach_flags : 1);
	if (s->mach_flags & 4)
		state_put_u32(&w, 0x8000);   /* the wake's vector */
	snapshot_add(&b, MACH, w.data, w.len);
	state_writer_free(&w);
	for (unsigned i = 0; i < s->vcpu_sections; i++)
		vcpu_section(&b, s, i);
	struct vm_kvm_state k = { .has_irqchip = s->kvms_irqchip };
	for (unsigned i = 0; i < 3; i++)
		k.chips[i].chip_id = i;
	k.clock.clock = 987654321;
	state_writer_init(&w);
	vm_kvm_state_encode(&k, &w);
	snapshot_add(&b, SNAPSHOT_TAG_KVMS, w.data, w.len);
	state_writer_free(&w);
	if (!s->skip_devs)
		snapshot_add(&b, DEVS, "dev", 3);
	if (s->extra_tag)
		snapshot_add(&b, s->extra_tag, "", 0);
	splt_section(&b, s);
	for (unsigned i = 0; s->virt && i < s->virt_count; i++)
		snapshot_add(&b, SNAPSHOT_TAG('V', 'I', 'R', 'T'), s->virt->data, s->virt->len);
	for (unsigned i = 0; s->disp && i < s->disp_count; i++)
		snapshot_add(&b, SNAPSHOT_TAG('D', 'I', 'S', 'P'), s->disp->data, s->disp->len);
	if (s->pcib)
		snapshot_add(&b, SNAPSHOT_TAG('P', 'C', 'I', 'B'), s->pcib->data, s->pcib->len);
	state_writer_free(&file);
	cr_assert_eq(snapshot_finish(&b, &file, &err), 0);
	snapshot_builder_free(&b);
}

static const struct spec good = {
	.mach_version = 1, .mem = 64 << 20, .cpus = 2, .irqchip = KVMINI_IRQCHIP_KERNEL,
	.vcpu_sections = 2, .lapic_records = true, .kvms_irqchip = true, .splt_at = -1,
};

static const struct spec good_split = {
	.mach_version = 1, .mem = 64 << 20, .cpus = 2, .irqchip = KVMINI_IRQCHIP_SPLIT,
	.vcpu_sections = 2, .lapic_records = true, .splt = 1, .splt_at = -1,
};

static void expect_refused(const struct spec *s, const char *fragment)
{
	build(s);
	struct machine_snapshot ms;
	struct kvmini_error err = { 0 };
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), -1,
		     "accepted, expected '%s'", fragment);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert(strstr(err.msg, fragment), "'%s' lacks '%s'", err.msg, fragment);
	cr_assert_null(ms.vcpus);
}

static void fini(void)
{
	state_writer_free(&file);
}

TestSuite(snapshot_machine, .fini = fini);

Test(snapshot_machine, a_good_snapshot_decodes_whole)
{
	build(&good);
	struct machine_snapshot ms;
	struct kvmini_error err;
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert_eq(ms.mem_size, 64 << 20);
	cr_assert_eq(ms.cpus, 2);
	cr_assert_eq(ms.irqchip, KVMINI_IRQCHIP_KERNEL);
	cr_assert_eq(ms.acpi_rsdp, 0xe0000);
	cr_assert(ms.track_dirty_pages);
	cr_assert_eq(ms.vcpus[1].regs.rip, 0x100001);
	cr_assert_eq(ms.vcpus[0].nmsrs, 2);
	cr_assert_eq(ms.vcpus[0].msrs[0].data, 12345);
	cr_assert(ms.vcpus[0].has_lapic);
	cr_assert_eq(ms.kvm.clock.clock, 987654321);
	cr_assert_eq(ms.devices_len, 3);
	cr_assert_eq(memcmp(ms.devices, "dev", 3), 0);
	machine_snapshot_free(&ms);
}

Test(snapshot_machine, machine_record_refusals)
{
	struct spec s = good;
	s.mach_version = 2;
	expect_refused(&s, "machine record version 2");
	s = good;
	s.mem = (64 << 20) + 1;
	expect_refused(&s, "RAM size");
	s = good;
	s.cpus = 0;
	s.vcpu_sections = 0;
	expect_refused(&s, "vCPU count 0");
	s = good;
	s.irqchip = KVMINI_IRQCHIP_SPLIT + 1;
	expect_refused(&s, "irqchip model 3 is not valid");
	s = good;
	s.irqchip = KVMINI_IRQCHIP_NONE;
	s.kvms_irqchip = false;
	s.lapic_records = false;
	expect_refused(&s, "2 vCPUs and no irqchip");
	s = good;
	s.mach_flags = 8;
	expect_refused(&s, "machine record is malformed");
	s = good;
	s.mach_flags = 2 | 4;   /* asleep and woken at once */
	expect_refused(&s, "machine record is malformed");
}

/* ACPI S3: asleep, or woken while paused with the vector to go to. */
Test(snapshot_machine, the_machine_record_says_whether_the_guest_sleeps)
{
	struct spec s = good;
	s.mach_flags = 1 | 2;
	build(&s);
	struct machine_snapshot ms;
	struct kvmini_error err;
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert(ms.track_dirty_pages && ms.suspended && !ms.wake_pending);
	machine_snapshot_free(&ms);
	s.mach_flags = 4;
	build(&s);
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert(!ms.track_dirty_pages && !ms.suspended && ms.wake_pending);
	cr_assert_eq(ms.wake_vector, 0x8000);
	machine_snapshot_free(&ms);
}

Test(snapshot_machine, section_refusals)
{
	struct spec s = good;
	s.vcpu_sections = 1;
	expect_refused(&s, "1 vCPU sections for 2 vCPUs");
	s = good;
	s.skip_devs = true;
	expect_refused(&s, "one MACH, KVMS and DEVS");
	s = good;
	s.extra_tag = SNAPSHOT_TAG('X', 'T', 'R', 'A');
	expect_refused(&s, "section XTRA is unknown");
	s = good;
	s.kvms_irqchip = false;
	expect_refused(&s, "does not match its irqchip model");
}

Test(snapshot_machine, vcpu_record_refusals)
{
	struct spec s = good;
	s.drop_record = 1;   /* registers */
	expect_refused(&s, "no registers record");
	s = good;
	s.lapic_records = false;
	expect_refused(&s, "no local APIC record");
	s = good;
	s.irqchip = KVMINI_IRQCHIP_NONE;
	s.cpus = s.vcpu_sections = 1;
	s.kvms_irqchip = false;
	expect_refused(&s, "has a local APIC, but the VM has no interrupt controller");
}

Test(snapshot_machine, vcpu_records_are_size_checked)
{
	struct vcpu_state v = { 0 }, out;
	struct state_writer w;
	struct kvmini_error err;
	state_writer_init(&w);
	vcpu_state_encode(&v, &w);
	/* The first record (CPUID, empty) then MP state: make the MP
	 * state's length one byte short. */
	uint32_t len;
	memcpy(&len, w.data + 8 + 4, 4);
	cr_assert_eq(len, sizeof(struct kvm_mp_state));
	len--;
	memcpy(w.data + 8 + 4, &len, 4);
	cr_assert_eq(vcpu_state_decode(w.data, w.len, false, &out, &err), -1);
	cr_assert(strstr(err.msg, "MP state record is 3 bytes, expected 4"), "%s", err.msg);
	/* A length past the section. */
	len = 0xffffffffu;
	memcpy(w.data + 8 + 4, &len, 4);
	cr_assert_eq(vcpu_state_decode(w.data, w.len, false, &out, &err), -1);
	cr_assert(strstr(err.msg, "runs past"), "%s", err.msg);
	/* An unknown kind. */
	uint32_t kind = 99;
	memcpy(w.data, &kind, 4);
	cr_assert_eq(vcpu_state_decode(w.data, w.len, false, &out, &err), -1);
	cr_assert(strstr(err.msg, "kind 99"), "%s", err.msg);
	state_writer_free(&w);
}

Test(snapshot_machine, cpuid_must_be_a_subset_of_the_hosts)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[2];
	} host = { .h.nent = 2, .e = {
		{ .function = 1, .ecx = 0x00800001, .edx = 0x1, .ebx = 0 },
		{ .function = 7, .index = 0, .eax = 2, .ebx = 0x8 },
	} };
	struct kvm_cpuid_entry2 saved[2] = {
		{ .function = 1, .ecx = 0x00800000, .ebx = 0xff000800 },   /* EBX: APIC ID, not features */
		{ .function = 7, .index = 0, .eax = 1, .ebx = 0x8 },
	};
	struct kvmini_error err;
	cr_assert_eq(vcpu_cpuid_check(saved, 2, &host.h, &err), 0, "%s", err.msg);
	/* HTT (kvmini's, with 2 vCPUs) and OSXSAVE (the guest's CR4) are
	 * no features KVM lists: found in the nested KVM VM. */
	saved[0].edx |= 1u << 28;
	saved[0].ecx |= 1u << 27;
	cr_assert_eq(vcpu_cpuid_check(saved, 2, &host.h, &err), 0, "%s", err.msg);
	saved[1].ebx |= 0x20;
	cr_assert_eq(vcpu_cpuid_check(saved, 2, &host.h, &err), -1);
	cr_assert_str_eq(err.msg, "the snapshot's CPU has features this host's KVM cannot give: "
			 "CPUID leaf 0x7.0 ebx bits 0x20");
	cr_assert_eq(err.code, KVMINI_E_USAGE);
}

Test(snapshot_machine, a_split_irqchip_snapshot_decodes_with_its_own_chips)
{
	build(&good_split);
	struct machine_snapshot ms;
	struct kvmini_error err;
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert_eq(ms.irqchip, KVMINI_IRQCHIP_SPLIT);
	cr_assert(ms.vcpus[0].has_lapic, "KVM keeps the local APICs");
	cr_assert_not(ms.kvm.has_irqchip);
	cr_assert_eq(ms.split_len, SPLT_LEN);
	cr_assert_not_null(ms.split);
	machine_snapshot_free(&ms);
	/* The other models have none. */
	build(&good);
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert_null(ms.split);
	machine_snapshot_free(&ms);
}

Test(snapshot_machine, split_irqchip_refusals)
{
	struct spec s = good_split;
	s.splt = 0;
	expect_refused(&s, "snapshot needs one SPLT section for its irqchip model");
	s.splt = 2;
	expect_refused(&s, "snapshot needs one SPLT section for its irqchip model");
	s = good;
	s.splt = 1;
	expect_refused(&s, "snapshot needs no SPLT section for its irqchip model");
	s = good_split;
	s.kvms_irqchip = true;
	expect_refused(&s, "does not match its irqchip model");
	s = good_split;
	s.splt_at = 0;
	s.splt_value = 9;
	expect_refused(&s, "split irqchip: saved state version 9 is not supported");
	s.splt_at = 4 + 4 + 7;   /* past both versions: the master 8259's ICW step */
	s.splt_value = 5;
	expect_refused(&s, "8259 PIC: saved master state is impossible");
	s.splt_at = SPLT_PIT + 4;   /* channel 0's mode */
	s.splt_value = 7;
	expect_refused(&s, "8254 PIT: saved channel 0 is impossible");
	s.splt_at = SPLT_PENDING;
	s.splt_value = 2;
	expect_refused(&s, "split irqchip: saved pending ExtINT is malformed");
	s.splt_at = -1;
	s.splt_extra = true;
	expect_refused(&s, "split irqchip state");
}

/* ---- the VIRT section (src/machine_snapshot_virtio.c) ---- */

struct virt_spec {
	uint32_t version;
	uint8_t transport;         /* KVMINI_TRANSPORT_* */
	uint8_t rng, ndisks;
	const char *path;          /* disk 1's; disk 0 is "/a.img" */
	size_t path_len;           /* its length (0: strlen) */
	uint8_t flags;             /* disk 1's */
	const char *serial;        /* disk 1's, with flags & 2 */
	uint8_t nnets;             /* card 0: tap "tap0"; card 1: user with hostfwd */
	uint8_t net_backend;       /* card 0's */
	uint8_t net_flags;         /* card 0's: 1 MAC set, 2 hostfwd */
	const char *tap_name;      /* card 0's */
	uint8_t vconsole;
	uint8_t vsock;             /* CID 7 on uds */
	const char *uds;
	uint32_t state_len;        /* claimed; 3 bytes follow */
	bool extra;
};

static const struct virt_spec good_virt = {
	.version = 2, .transport = KVMINI_TRANSPORT_PCI, .rng = 1, .ndisks = 2, .path = "/b.img", .flags = 1 | 2, .serial = "ID1",
	.nnets = 2, .net_backend = KVMINI_NET_TAP, .net_flags = 1, .tap_name = "tap0",
	.vconsole = 1, .vsock = 1, .uds = "/v.sock", .state_len = 3,
};

static const uint8_t card0_mac[6] = { 0x02, 0, 0, 0, 0, 7 };

static void put_string(struct state_writer *w, const char *str, size_t n)
{
	state_put_u16(w, (uint16_t)n);
	state_put_bytes(w, str, n);
}

static void virt_build(const struct virt_spec *v, struct state_writer *w)
{
	state_writer_init(w);
	state_put_u32(w, v->version);
	state_put_u8(w, v->transport);
	state_put_u8(w, v->rng);
	state_put_u64(w, 4096);
	state_put_u8(w, v->ndisks);
	for (unsigned i = 0; i < v->ndisks; i++) {
		if (i == 0) {
			put_string(w, "/a.img", 6);
			state_put_u8(w, 4);   /* cache=none */
			continue;
		}
		put_string(w, v->path, v->path_len ? v->path_len : strlen(v->path));
		state_put_u8(w, v->flags);
		if (v->flags & 2)
			put_string(w, v->serial, strlen(v->serial));
	}
	state_put_u8(w, v->nnets);
	for (unsigned i = 0; i < v->nnets; i++) {
		state_put_u8(w, i == 0 ? v->net_backend : KVMINI_NET_USER);
		state_put_u8(w, i == 0 ? v->net_flags : 2);
		if (i == 0 && v->net_backend == KVMINI_NET_TAP)
			put_string(w, v->tap_name, strlen(v->tap_name));
		if ((i == 0 ? v->net_flags : 2) & 2)
			put_string(w, "tcp::8080-:80", 13);
		state_put_bytes(w, i == 0 ? card0_mac : (const uint8_t[6]){ 0 }, 6);
		state_put_u32(w, i == 0 ? 1400 : 0);
	}
	state_put_u8(w, v->vconsole);
	state_put_u8(w, v->vsock);
	if (v->vsock) {
		state_put_u32(w, 7);
		put_string(w, v->uds, strlen(v->uds));
	}
	state_put_u32(w, v->state_len);
	state_put_bytes(w, "xyz", 3);
	if (v->extra)
		state_put_u8(w, 0);
}

static void expect_virt_refused(const struct virt_spec *v, unsigned count, const char *fragment)
{
	struct state_writer w;
	virt_build(v, &w);
	struct spec s = good;
	s.virt = &w;
	s.virt_count = count;
	expect_refused(&s, fragment);
	state_writer_free(&w);
}

Test(snapshot_machine, a_virt_section_gives_the_devices_configuration_and_state)
{
	struct state_writer w;
	virt_build(&good_virt, &w);
	struct spec s = good;
	s.virt = &w;
	s.virt_count = 1;
	build(&s);
	struct machine_snapshot ms;
	struct kvmini_error err;
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	const struct machine_snapshot_virtio *v = ms.virtio;
	cr_assert_not_null(v);
	cr_assert(v->rng);
	cr_assert_eq(v->rng_bytes_per_sec, 4096);
	cr_assert_eq(v->ndisks, 2);
	cr_assert_str_eq(v->disks[0].path, "/a.img");
	cr_assert(v->disks[0].cache_none && !v->disks[0].read_only && !v->disks[0].serial);
	cr_assert_str_eq(v->disks[1].path, "/b.img");
	cr_assert(v->disks[1].read_only && !v->disks[1].cache_none);
	cr_assert_str_eq(v->disks[1].serial, "ID1");
	cr_assert_eq(v->nnets, 2);
	cr_assert_eq(v->nets[0].backend, KVMINI_NET_TAP);
	cr_assert_str_eq(v->nets[0].tap_name, "tap0");
	cr_assert(v->nets[0].mac_set && !v->nets[0].hostfwd);
	cr_assert_arr_eq(v->nets[0].mac, card0_mac, 6);
	cr_assert_eq(v->nets[0].mtu, 1400);
	cr_assert_eq(v->nets[1].backend, KVMINI_NET_USER);
	cr_assert_str_eq(v->nets[1].hostfwd, "tcp::8080-:80");
	cr_assert(!v->nets[1].mac_set && !v->nets[1].tap_name);
	cr_assert(v->vconsole);
	cr_assert(v->vsock.enabled);
	cr_assert_eq(v->vsock.guest_cid, 7);
	cr_assert_str_eq(v->vsock.uds_path, "/v.sock");
	cr_assert_eq(v->state_len, 3);
	cr_assert_eq(memcmp(v->state, "xyz", 3), 0);
	struct kvmini_config cfg = { 0 };
	machine_snapshot_virtio_configure(v, &cfg);
	cr_assert_eq(cfg.transport, KVMINI_TRANSPORT_PCI);
	cr_assert_eq(cfg.ndisks, 2);
	cr_assert_eq(cfg.disks, v->disks);
	cr_assert_eq(cfg.nnets, 2);
	cr_assert_eq(cfg.nets, v->nets);
	cr_assert(cfg.rng && cfg.vconsole && cfg.vsock.enabled);
	cr_assert_eq(cfg.vsock.uds_path, v->vsock.uds_path);
	machine_snapshot_free(&ms);
	cr_assert_null(ms.virtio);
	state_writer_free(&w);
	/* Without virtio devices there is no section and nothing to free. */
	build(&good);
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert_null(ms.virtio);
	machine_snapshot_free(&ms);
}

Test(snapshot_machine, virt_refusals)
{
	struct virt_spec v = good_virt;
	expect_virt_refused(&v, 2, "more than one VIRT section");
	v.version = 1;
	expect_virt_refused(&v, 1, "virtio record is malformed or of another version");
	v = good_virt;
	v.transport = KVMINI_TRANSPORT_DEFAULT;   /* a saved one is always the board's choice */
	expect_virt_refused(&v, 1, "virtio record is malformed");
	v = good_virt;
	v.transport = 3;
	expect_virt_refused(&v, 1, "virtio record is malformed");
	v = good_virt;
	v.rng = 2;
	expect_virt_refused(&v, 1, "virtio record is malformed");
	v = good_virt;
	v.ndisks = VIRTIO_MAX_DEVICES;   /* and the rng: one too many */
	expect_virt_refused(&v, 1, "virtio record is malformed");
	v = good_virt;
	v.path = "/b\0img";
	v.path_len = 6;
	expect_virt_refused(&v, 1, "disk record is malformed");
	v = good_virt;
	v.path = "";
	expect_virt_refused(&v, 1, "disk record is malformed");
	v = good_virt;
	v.flags = 8;
	expect_virt_refused(&v, 1, "disk record is malformed");
	v = good_virt;
	v.serial = "123456789012345678901";   /* 21 bytes: more than virtio-blk's 20 */
	expect_virt_refused(&v, 1, "disk serial is malformed");
	v = good_virt;
	v.net_backend = 2;
	expect_virt_refused(&v, 1, "network card record is malformed");
	v = good_virt;
	v.net_flags = 1 | 2;   /* hostfwd on a tap */
	expect_virt_refused(&v, 1, "network card record is malformed");
	v = good_virt;
	v.net_flags = 4;
	expect_virt_refused(&v, 1, "network card record is malformed");
	v = good_virt;
	v.tap_name = "a-name-of-16-chr";   /* longer than IFNAMSIZ - 1 */
	expect_virt_refused(&v, 1, "network card record is malformed");
	v = good_virt;
	v.vconsole = 2;
	expect_virt_refused(&v, 1, "virtio record is malformed");
	v = good_virt;
	v.vsock = 2;
	expect_virt_refused(&v, 1, "virtio record is malformed");
	v = good_virt;
	v.uds = "";
	expect_virt_refused(&v, 1, "vsock record is malformed");
	v = good_virt;
	char long_path[109];
	memset(long_path, '/', 108);
	long_path[108] = '\0';
	v.uds = long_path;   /* no room for sun_path's NUL */
	expect_virt_refused(&v, 1, "vsock record is malformed");
	v = good_virt;
	v.nnets = VIRTIO_MAX_DEVICES - 2;   /* with two disks and the rng: one too many */
	expect_virt_refused(&v, 1, "virtio record has too many devices");
	v = good_virt;
	v.state_len = 4;
	expect_virt_refused(&v, 1, "device state is truncated");
	v = good_virt;
	v.extra = true;
	expect_virt_refused(&v, 1, "snapshot virtio record");
}

/* ---- the DISP section: a --display's size and video memory ---- */

static void disp_build(struct state_writer *w, uint32_t width, uint32_t height, uint64_t size,
		       size_t bytes)
{
	state_writer_init(w);
	state_put_u32(w, 1);
	state_put_u32(w, width);
	state_put_u32(w, height);
	state_put_u8(w, 0);   /* not the Bochs display */
	state_put_u64(w, size);
	for (size_t i = 0; i < bytes; i++)
		state_put_u8(w, (uint8_t)i);
}

static int disp_decoded(uint32_t width, uint32_t height, uint64_t size, size_t bytes,
			unsigned count, struct machine_snapshot *ms, struct kvmini_error *err)
{
	struct state_writer w;
	disp_build(&w, width, height, size, bytes);
	struct spec s = good;
	s.disp = &w;
	s.disp_count = count;
	build(&s);
	state_writer_free(&w);
	return machine_snapshot_decode(file.data, file.len, ms, err);
}

Test(snapshot_machine, a_disp_section_gives_the_display_and_its_pixels)
{
	struct machine_snapshot ms;
	struct kvmini_error err;
	/* 40x30: 4800 bytes of pixels, two whole pages mapped. */
	cr_assert_eq(disp_decoded(40, 30, 8192, 8192, 1, &ms, &err), 0, "%s", err.msg);
	cr_assert_eq(ms.display_width, 40);
	cr_assert_eq(ms.display_height, 30);
	cr_assert_eq(ms.pixels_len, 8192);
	cr_assert_eq(ms.pixels[4799], (uint8_t)4799);
	machine_snapshot_free(&ms);
	build(&good);
	cr_assert_eq(machine_snapshot_decode(file.data, file.len, &ms, &err), 0, "%s", err.msg);
	cr_assert_eq(ms.display_width, 0);
	cr_assert_null(ms.pixels);
	machine_snapshot_free(&ms);
}

Test(snapshot_machine, disp_refusals)
{
	struct machine_snapshot ms;
	struct kvmini_error err;
	cr_assert_eq(disp_decoded(40, 30, 4096, 4096, 1, &ms, &err), -1, "fewer pages than the size maps");
	cr_assert(strstr(err.msg, "display record is malformed"), "%s", err.msg);
	cr_assert_eq(disp_decoded(15, 30, 4096, 4096, 1, &ms, &err), -1, "narrower than --display takes");
	cr_assert_eq(disp_decoded(4097, 16, 266240, 266240, 1, &ms, &err), -1, "wider");
	cr_assert_eq(disp_decoded(40, 30, 8192, 8191, 1, &ms, &err), -1, "pixels cut short");
	cr_assert_eq(disp_decoded(40, 30, 8192, 8193, 1, &ms, &err), -1, "a byte too many");
	cr_assert(strstr(err.msg, "snapshot display record"), "%s", err.msg);
	cr_assert_eq(disp_decoded(40, 30, 8192, 8192, 2, &ms, &err), -1);
	cr_assert(strstr(err.msg, "more than one DISP section"), "%s", err.msg);
}

/* ---- the PCIB section: which functions the bus had ---- */

static int pcib_decoded(uint32_t version, uint8_t testdev, uint8_t bochs,
			struct machine_snapshot *ms, struct kvmini_error *err)
{
	struct state_writer w;
	state_writer_init(&w);
	state_put_u32(&w, version);
	state_put_u8(&w, testdev);
	state_put_u8(&w, bochs);
	state_put_bytes(&w, "host", 4);   /* checked as the bus restores it */
	struct spec s = good;
	s.pcib = &w;
	build(&s);
	state_writer_free(&w);
	return machine_snapshot_decode(file.data, file.len, ms, err);
}

Test(snapshot_machine, a_pcib_section_says_which_functions_the_bus_had)
{
	struct machine_snapshot ms;
	struct kvmini_error err;
	cr_assert_eq(pcib_decoded(1, 1, 0, &ms, &err), 0, "%s", err.msg);
	cr_assert(ms.testdev);
	cr_assert_eq(ms.pci_len, 2 + 4);
	cr_assert_eq(ms.pci[0], 1);
	machine_snapshot_free(&ms);
	cr_assert_eq(pcib_decoded(2, 0, 0, &ms, &err), -1);
	cr_assert(strstr(err.msg, "PCI bus record is malformed"), "%s", err.msg);
	cr_assert_eq(pcib_decoded(1, 2, 0, &ms, &err), -1);
	cr_assert_eq(pcib_decoded(1, 0, 1, &ms, &err), -1, "the Bochs display without its DISP");
	cr_assert(strstr(err.msg, "PCI bus record is malformed"), "%s", err.msg);
}
