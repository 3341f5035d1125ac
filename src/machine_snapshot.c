/* Snapshots of a paused machine, and machines restored from them
 * (include/kvmini.h, docs/snapshot.md). A snapshot file holds:
 *   MACH  the machine: RAM size, vCPUs, irqchip model, the RSDP, whether
 *         dirty pages are tracked;
 *   VCPU  one per vCPU, KVMS the in-kernel chips and clock (vm_state.c);
 *   DEVS  every board device's state (board_save());
 *   SPLT  with --irqchip split only: kvmini's own 8259s, IOAPIC and PIT
 *         (split_irqchip_save());
 *   VIRT  with virtio devices only: their configuration and state
 *         (machine_snapshot_virtio.c);
 *   DISP  with --display only: its size and video memory (not RAM);
 *   PCIB  with a PCI host only: pci-testdev, the Bochs display and the
 *         host bridge (board_pci_save()).
 * RAM goes to a separate memory file (memory_file.c). Restoring checks
 * the whole snapshot first (machine_snapshot_decode(), pure) and only
 * then opens KVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "machine.h"
#include "machine_impl.h"
#include "vm_state.h"
#include "board/pci.h"
#include "board/split_irqchip.h"
#include "board/virtio.h"
#include "display/framebuffer.h"

#define SNAPSHOT_TAG_MACH SNAPSHOT_TAG('M', 'A', 'C', 'H')
#define SNAPSHOT_TAG_DEVS SNAPSHOT_TAG('D', 'E', 'V', 'S')
#define SNAPSHOT_TAG_SPLT SNAPSHOT_TAG('S', 'P', 'L', 'T')
#define SNAPSHOT_TAG_VIRT SNAPSHOT_TAG('V', 'I', 'R', 'T')
#define SNAPSHOT_TAG_DISP SNAPSHOT_TAG('D', 'I', 'S', 'P')
#define SNAPSHOT_TAG_PCIB SNAPSHOT_TAG('P', 'C', 'I', 'B')
#define DISP_RECORD_VERSION 1
#define PCIB_RECORD_VERSION 1
#define SNAPSHOT_FILE_MAX (64u << 20)
#define MACH_RECORD_VERSION 1
#define PAGE 4096ull

/* ---- saving ---- */

/* Devices a restore's own configuration may not name: they come from
 * the snapshot. (A console's ends, cfg->vconsole, are the caller's.) */
static bool has_virtio(const struct kvmini_config *cfg)
{
	return cfg->ndisks || cfg->nnets || cfg->vsock.enabled || cfg->rng;
}

/* What a snapshot cannot hold yet, or a state it cannot be taken in. */
static int snapshot_check(struct kvmini_vm *m, enum kvmini_snapshot_type type,
			  struct kvmini_error *err)
{
	if (!m->vm_live || !m->loaded)
		return kvmini_fail(err, KVMINI_E_USAGE, "the VM is not running");
	if (!__atomic_load_n(&m->vm.paused, __ATOMIC_ACQUIRE))
		return kvmini_fail(err, KVMINI_E_USAGE, "the VM must be paused for a snapshot");
	if (type == KVMINI_SNAPSHOT_DIFF && !m->cfg.track_dirty_pages)
		return kvmini_fail(err, KVMINI_E_USAGE, "diff snapshots need dirty page tracking "
				   "(track_dirty_pages)");
	return 0;
}

/* The machine record's flags byte (bit 0 was a bool of its own). */
#define MACH_TRACK_DIRTY  1u
#define MACH_SUSPENDED    2u   /* ACPI S3 */
#define MACH_WAKE_PENDING 4u   /* woken, the vCPUs not yet at the vector: a u32 follows */

static void mach_encode(const struct kvmini_vm *m, struct state_writer *w)
{
	bool suspended = __atomic_load_n(&m->vm.suspended, __ATOMIC_ACQUIRE);
	bool pending = !suspended && vm_wake_pending(&m->vm);
	state_put_u32(w, MACH_RECORD_VERSION);
	state_put_u64(w, m->cfg.mem_size);
	state_put_u32(w, m->vm.ncpus);
	state_put_u32(w, m->vm.irqchip);
	state_put_u64(w, m->acpi_rsdp);
	state_put_u8(w, (m->cfg.track_dirty_pages ? MACH_TRACK_DIRTY : 0) |
			(suspended ? MACH_SUSPENDED : 0) | (pending ? MACH_WAKE_PENDING : 0));
	if (pending)
		state_put_u32(w, m->vm.wake_vector);
}

/* KVM's dirty logs of every RAM region as one bitmap over the memory
 * file's pages (reading a log also clears it). Region 1, when there is
 * one, starts 3 GiB in: a multiple of 64 pages. */
static uint64_t *dirty_bitmap(struct vm *vm, struct kvmini_error *err)
{
	uint64_t pages = vm->mem.ram_size / PAGE;
	uint64_t *bits = calloc((pages + 63) / 64 + 1, sizeof(uint64_t));
	if (!bits) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the dirty log");
		return NULL;
	}
	uint64_t first_page = 0;
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		if (vm->mem.regions[i].device)
			continue;   /* the framebuffer: its log is the display's */
		if (vm_get_dirty_log(vm, i, bits + first_page / 64, err) < 0) {
			free(bits);
			return NULL;
		}
		first_page += vm->mem.regions[i].size / PAGE;
	}
	return bits;
}

static int memory_write(struct kvmini_vm *m, const char *path, enum kvmini_snapshot_type type,
			struct kvmini_error *err)
{
	uint64_t *dirty = NULL;
	if (m->cfg.track_dirty_pages && !(dirty = dirty_bitmap(&m->vm, err)))
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = fd < 0 ? kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot create the "
					    "memory file '%s'", path) : 0;
	/* A full snapshot resets the log too, so the next diff counts from it. */
	if (rc == 0 && guest_memory_save(&m->vm.mem, fd, type == KVMINI_SNAPSHOT_DIFF ? dirty
					 : NULL, err) < 0)
		rc = -1;
	if (rc == 0 && fdatasync(fd) < 0)
		rc = kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot sync the memory file");
	if (fd >= 0)
		close(fd);
	free(dirty);
	return rc;
}

/* Written beside its name and renamed over it, so a snapshot file is
 * never seen half-written. */
static int file_write_atomic(const char *path, const uint8_t *data, size_t len,
			     struct kvmini_error *err)
{
	char tmp[4096 + 8];
	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot path is too long");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot create the snapshot "
					 "file '%s'", path);
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	int e = done == len && fdatasync(fd) == 0 ? 0 : errno ? errno : EIO;
	close(fd);
	if (e || rename(tmp, path) < 0) {
		e = e ? e : errno;
		unlink(tmp);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot write the snapshot '%s'", path);
	}
	return 0;
}

static int sections_build(struct kvmini_vm *m, struct snapshot_builder *b,
			  struct kvmini_error *err)
{
	struct state_writer w;
	state_writer_init(&w);
	mach_encode(m, &w);
	snapshot_add(b, SNAPSHOT_TAG_MACH, w.data, w.len);
	state_writer_free(&w);
	if (vm_state_save(&m->vm, b, err) < 0)
		return -1;
	state_writer_init(&w);
	board_save(&m->board, &w);
	snapshot_add(b, SNAPSHOT_TAG_DEVS, w.data, w.len);
	bool failed = w.failed;
	state_writer_free(&w);
	if (m->board.split) {
		state_writer_init(&w);
		split_irqchip_save(m->board.split, &w);
		snapshot_add(b, SNAPSHOT_TAG_SPLT, w.data, w.len);
		failed |= w.failed;
		state_writer_free(&w);
	}
	if (m->fb.pixels) {   /* paused: the guest does not write it now */
		state_writer_init(&w);
		state_put_u32(&w, DISP_RECORD_VERSION);
		state_put_u32(&w, m->fb.width);
		state_put_u32(&w, m->fb.height);
		state_put_u8(&w, m->cfg.display_bochs);
		state_put_u64(&w, m->fb.size);
		state_put_bytes(&w, m->fb.pixels, m->fb.size);
		snapshot_add(b, SNAPSHOT_TAG_DISP, w.data, w.len);
		failed |= w.failed;
		state_writer_free(&w);
	}
	if (m->board.pci) {
		state_writer_init(&w);
		state_put_u32(&w, PCIB_RECORD_VERSION);
		board_pci_save(m->board.pci, &w);
		snapshot_add(b, SNAPSHOT_TAG_PCIB, w.data, w.len);
		failed |= w.failed;
		state_writer_free(&w);
	}
	if (m->board.nvirtio) {
		state_writer_init(&w);
		int rc = machine_snapshot_virtio_encode(m, &w, err);
		snapshot_add(b, SNAPSHOT_TAG_VIRT, w.data, w.len);
		failed |= w.failed;
		state_writer_free(&w);
		if (rc < 0)
			return -1;
	}
	return failed ? kvmini_fail(err, KVMINI_E_HOST, "out of memory") : 0;
}

int kvmini_vm_snapshot(struct kvmini_vm *m, const char *snapshot_path, const char *mem_path,
		       enum kvmini_snapshot_type type, struct kvmini_error *err)
{
	pthread_mutex_lock(&m->lock);
	struct snapshot_builder b;
	struct state_writer file = { 0 };
	snapshot_builder_init(&b);
	int rc = snapshot_check(m, type, err);
	/* The devices' I/O answered and stopped until RAM is written, so
	 * that RAM and their queues' indices agree. */
	bool frozen = rc == 0;
	if (frozen)
		board_virtio_freeze(&m->board);
	if (rc == 0)
		rc = sections_build(m, &b, err);
	if (rc == 0)
		rc = snapshot_finish(&b, &file, err);
	/* RAM first: a snapshot file exists only with its memory complete. */
	if (rc == 0)
		rc = memory_write(m, mem_path, type, err);
	if (frozen)
		board_virtio_thaw(&m->board);
	if (rc == 0)
		rc = file_write_atomic(snapshot_path, file.data, file.len, err);
	state_writer_free(&file);
	snapshot_builder_free(&b);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- decoding (hostile bytes, no KVM) ---- */

static int mach_decode(const struct snapshot_section *s, struct machine_snapshot *out,
		       struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, s->data, s->len);
	uint32_t version = state_get_u32(&r);
	out->mem_size = state_get_u64(&r);
	out->cpus = state_get_u32(&r);
	uint32_t irqchip = state_get_u32(&r);
	out->acpi_rsdp = state_get_u64(&r);
	uint8_t flags = state_get_u8(&r);
	if (flags & MACH_WAKE_PENDING)
		out->wake_vector = state_get_u32(&r);   /* checked at the wake, as the FACS's */
	if (state_reader_finish(&r, "snapshot machine record", err) < 0)
		return -1;
	if (version != MACH_RECORD_VERSION)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot machine record version %u is not "
				   "supported", version);
	if (out->mem_size < GUEST_MEM_MIN || out->mem_size > GUEST_MEM_MAX ||
	    out->mem_size % PAGE)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot RAM size %llu is not valid",
				   (unsigned long long)out->mem_size);
	if (out->cpus < 1 || out->cpus > MACHINE_SNAPSHOT_MAX_CPUS)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vCPU count %u is not valid",
				   out->cpus);
	if (irqchip != KVMINI_IRQCHIP_NONE && irqchip != KVMINI_IRQCHIP_KERNEL &&
	    irqchip != KVMINI_IRQCHIP_SPLIT)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot irqchip model %u is not valid",
				   irqchip);
	if (out->cpus > 1 && irqchip == KVMINI_IRQCHIP_NONE)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot has %u vCPUs and no irqchip",
				   out->cpus);
	if ((flags & ~(MACH_TRACK_DIRTY | MACH_SUSPENDED | MACH_WAKE_PENDING)) ||
	    (flags & MACH_SUSPENDED && flags & MACH_WAKE_PENDING))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot machine record is malformed");
	out->irqchip = irqchip;
	out->track_dirty_pages = flags & MACH_TRACK_DIRTY;
	out->suspended = flags & MACH_SUSPENDED;
	out->wake_pending = flags & MACH_WAKE_PENDING;
	return 0;
}

static int sections_known(const struct snapshot_view *v, struct kvmini_error *err)
{
	for (unsigned i = 0; i < v->count; i++) {
		uint32_t t = v->sections[i].tag;
		if (t != SNAPSHOT_TAG_MACH && t != SNAPSHOT_TAG_VCPU && t != SNAPSHOT_TAG_KVMS &&
		    t != SNAPSHOT_TAG_DEVS && t != SNAPSHOT_TAG_SPLT && t != SNAPSHOT_TAG_VIRT &&
		    t != SNAPSHOT_TAG_DISP && t != SNAPSHOT_TAG_PCIB)
			return kvmini_fail(err, KVMINI_E_USAGE, "snapshot section %.4s is unknown "
					   "(a newer kvmini's?)", (const char *)&t);
	}
	if (snapshot_count(v, SNAPSHOT_TAG_MACH) != 1 || snapshot_count(v, SNAPSHOT_TAG_KVMS) != 1 ||
	    snapshot_count(v, SNAPSHOT_TAG_DEVS) != 1)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot needs one MACH, KVMS and DEVS "
				   "section each");
	static const uint32_t at_most_one[] = { SNAPSHOT_TAG_VIRT, SNAPSHOT_TAG_DISP,
						 SNAPSHOT_TAG_PCIB };
	for (unsigned i = 0; i < sizeof(at_most_one) / sizeof(at_most_one[0]); i++) {
		uint32_t tag = at_most_one[i];
		if (snapshot_count(v, tag) > 1)
			return kvmini_fail(err, KVMINI_E_USAGE, "snapshot has more than one %.4s "
					   "section", (const char *)&tag);
	}
	return 0;
}

/* The display's size as --display takes it, and exactly the whole
 * pages of video memory that size maps. */
static int disp_decode(const struct snapshot_section *s, struct machine_snapshot *out,
		       struct kvmini_error *err)
{
	if (!s)
		return 0;
	struct state_reader r;
	state_reader_init(&r, s->data, s->len);
	uint32_t version = state_get_u32(&r), width = state_get_u32(&r);
	uint32_t height = state_get_u32(&r);
	uint8_t bochs = state_get_u8(&r);
	uint64_t size = state_get_u64(&r);
	uint64_t bytes = (uint64_t)width * height * FB_BYTES_PER_PIXEL;
	/* A fixed display maps the pages its size needs; the Bochs display
	 * all of its video memory. */
	uint64_t want = bochs ? FB_MAX_BYTES : framebuffer_bytes_mapped(width, height);
	bool ok = !r.failed && version == DISP_RECORD_VERSION && width >= FB_MIN_SIDE &&
		  width <= FB_MAX_SIDE && height >= FB_MIN_SIDE && height <= FB_MAX_SIDE &&
		  bytes <= FB_MAX_BYTES && bochs <= 1 && size == want;
	const uint8_t *pixels = ok ? state_get_span(&r, size) : NULL;
	if (!pixels)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot display record is malformed");
	if (state_reader_finish(&r, "snapshot display record", err) < 0)
		return -1;
	out->display_width = width;
	out->display_height = height;
	out->display_bochs = bochs;
	out->pixels = pixels;
	out->pixels_len = size;
	return 0;
}

/* One SPLT section with --irqchip split, none without; checked whole. */
static int split_decode(const struct snapshot_view *v, struct machine_snapshot *out,
			struct kvmini_error *err)
{
	unsigned want = out->irqchip == KVMINI_IRQCHIP_SPLIT;
	if (snapshot_count(v, SNAPSHOT_TAG_SPLT) != want)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot needs %s SPLT section for its "
				   "irqchip model", want ? "one" : "no");
	if (!want)
		return 0;
	const struct snapshot_section *s = snapshot_find(v, SNAPSHOT_TAG_SPLT, 0);
	if (split_irqchip_check_state(s->data, s->len, err) < 0)
		return -1;
	out->split = s->data;
	out->split_len = s->len;
	return 0;
}

/* Which functions the bus had (the restore makes them again); their
 * state is checked as board_pci_restore() applies it. The Bochs
 * display is there exactly when DISP says so. */
static int pcib_decode(const struct snapshot_section *s, struct machine_snapshot *out,
		       struct kvmini_error *err)
{
	if (!s)
		return out->display_bochs ? kvmini_fail(err, KVMINI_E_USAGE, "snapshot has the "
							"Bochs display but no PCI bus") : 0;
	struct state_reader r;
	state_reader_init(&r, s->data, s->len);
	uint32_t version = state_get_u32(&r);
	size_t at = r.pos;
	uint8_t testdev = state_get_u8(&r), bochs = state_get_u8(&r);
	if (r.failed || version != PCIB_RECORD_VERSION || testdev > 1 ||
	    bochs != out->display_bochs)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot PCI bus record is malformed");
	out->testdev = testdev;
	out->pci = s->data + at;
	out->pci_len = s->len - at;
	return 0;
}

int machine_snapshot_decode(const uint8_t *data, size_t len, struct machine_snapshot *out,
			    struct kvmini_error *err)
{
	memset(out, 0, sizeof(*out));
	struct snapshot_view *v = malloc(sizeof(*v));
	if (!v)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	int rc = snapshot_parse(data, len, v, err) < 0 || sections_known(v, err) < 0 ||
		 mach_decode(snapshot_find(v, SNAPSHOT_TAG_MACH, 0), out, err) < 0 ? -1 : 0;
	if (rc == 0 && snapshot_count(v, SNAPSHOT_TAG_VCPU) != out->cpus)
		rc = kvmini_fail(err, KVMINI_E_USAGE, "snapshot has %u vCPU sections for %u vCPUs",
				 snapshot_count(v, SNAPSHOT_TAG_VCPU), out->cpus);
	if (rc == 0 && !(out->vcpus = calloc(out->cpus, sizeof(*out->vcpus))))
		rc = kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	bool lapic = out->irqchip != KVMINI_IRQCHIP_NONE;
	for (unsigned i = 0; rc == 0 && i < out->cpus; i++) {
		const struct snapshot_section *s = snapshot_find(v, SNAPSHOT_TAG_VCPU, i);
		rc = vcpu_state_decode(s->data, s->len, lapic, &out->vcpus[i], err);
	}
	if (rc == 0) {
		const struct snapshot_section *s = snapshot_find(v, SNAPSHOT_TAG_KVMS, 0);
		rc = vm_kvm_state_decode(s->data, s->len, out->irqchip == KVMINI_IRQCHIP_KERNEL,
					 &out->kvm, err);
	}
	if (rc == 0) {
		const struct snapshot_section *s = snapshot_find(v, SNAPSHOT_TAG_DEVS, 0);
		out->devices = s->data;
		out->devices_len = s->len;
		rc = split_decode(v, out, err);
	}
	const struct snapshot_section *virt = snapshot_find(v, SNAPSHOT_TAG_VIRT, 0);
	if (rc == 0 && virt)
		rc = machine_snapshot_virtio_decode(virt->data, virt->len, &out->virtio, err);
	if (rc == 0)
		rc = disp_decode(snapshot_find(v, SNAPSHOT_TAG_DISP, 0), out, err);
	if (rc == 0)
		rc = pcib_decode(snapshot_find(v, SNAPSHOT_TAG_PCIB, 0), out, err);
	free(v);
	if (rc < 0)
		machine_snapshot_free(out);
	return rc;
}

void machine_snapshot_free(struct machine_snapshot *s)
{
	free(s->vcpus);
	s->vcpus = NULL;
	free(s->virtio);
	s->virtio = NULL;
}

/* ---- restoring ---- */

static uint8_t *file_read(const char *path, size_t *len, struct kvmini_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open snapshot '%s'", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	uint8_t *data = NULL;
	if (!S_ISREG(st.st_mode) || st.st_size > SNAPSHOT_FILE_MAX)
		kvmini_fail(err, KVMINI_E_USAGE, "snapshot '%s' is not a regular file of at most "
			    "%u MiB", path, SNAPSHOT_FILE_MAX >> 20);
	else if (!(data = malloc((size_t)st.st_size + 1)))
		kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	size_t done = 0;
	while (data && done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kvmini_fail_errno(err, KVMINI_E_USAGE, n < 0 ? errno : EIO,
					  "cannot read snapshot '%s'", path);
			free(data);
			data = NULL;
		} else {
			done += (size_t)n;
		}
	}
	close(fd);
	*len = done;
	return data;
}

static int diffs_apply(struct kvmini_vm *m, const char *const *paths, unsigned n,
		       struct kvmini_error *err)
{
	for (unsigned i = 0; i < n; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open memory "
						 "diff '%s'", paths[i]);
		int rc = guest_memory_apply_diff(&m->vm.mem, fd, err);
		close(fd);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* After the virtio-pci functions: the rest of the bus, the host last. */
static int pci_apply(struct kvmini_vm *m, const struct machine_snapshot *s,
		     struct kvmini_error *err)
{
	if (!m->board.pci != !s->pci)
		return kvmini_fail(err, KVMINI_E_USAGE, "the snapshot %s a PCI bus and the "
				   "machine %s", s->pci ? "has" : "has no",
				   m->board.pci ? "has" : "has none");
	return s->pci ? board_pci_restore(m->board.pci, s->pci, s->pci_len, err) : 0;
}

static int state_apply(struct kvmini_vm *m, struct machine_snapshot *s,
		       struct kvmini_error *err)
{
	for (unsigned i = 0; i < s->cpus; i++)
		if (vcpu_cpuid_check(s->vcpus[i].cpuid, s->vcpus[i].ncpuid, m->vm.cpuid.table,
				     err) < 0)
			return -1;
	/* The split irqchip last: the devices' restored lines reach it as
	 * it is, and then its saved state (their levels among it) wins. */
	if (vm_state_restore(&m->vm, s->vcpus, &s->kvm, err) < 0 ||
	    board_restore(&m->board, s->devices, s->devices_len, err) < 0 ||
	    (m->restored_virtio && board_virtio_restore(&m->board, m->restored_virtio->state,
							 m->restored_virtio->state_len, err) < 0) ||
	    pci_apply(m, s, err) < 0 ||
	    (s->split && split_irqchip_restore(m->board.split, s->split, s->split_len, err) < 0))
		return -1;
	m->acpi_rsdp = s->acpi_rsdp;
	m->loaded = true;
	/* Asleep as it was: the vCPUs park until the wake (the devices'
	 * state has what wakes it); a wake that was due happens at once. */
	if (s->suspended || s->wake_pending)
		vm_request_suspend(&m->vm);
	if (s->wake_pending)
		vm_wake(&m->vm, s->wake_vector);
	return 0;
}

static struct kvmini_vm *restore_from(const struct kvmini_config *cfg,
				      struct machine_snapshot *s, const char *const *mem_paths,
				      unsigned nmem, struct kvmini_error *err)
{
	struct kvmini_config c = *cfg;
	c.mem_size = s->mem_size;
	c.cpus = s->cpus;
	c.irqchip = s->irqchip;
	c.track_dirty_pages = s->track_dirty_pages || cfg->track_dirty_pages;
	c.on_reset = KVMINI_ON_RESET_EXIT;   /* there is no image to boot again */
	c.cpu_features = NULL;               /* the snapshot's CPUID is set as saved */
	if (s->virtio && s->virtio->vconsole != cfg->vconsole) {
		kvmini_fail(err, KVMINI_E_USAGE, cfg->vconsole
			    ? "the snapshot has no virtio console for --vconsole"
			    : "the snapshot has a virtio console: give its ends with --vconsole");
		return NULL;
	}
	if (s->virtio)
		machine_snapshot_virtio_configure(s->virtio, &c);
	/* The display comes from the snapshot; one the caller asked for
	 * (a --display before PUT /snapshot/load) must be the same. */
	if ((cfg->display_width || cfg->display_height || cfg->display_bochs) &&
	    (cfg->display_bochs != s->display_bochs || cfg->display_width != s->display_width ||
	     cfg->display_height != s->display_height)) {
		kvmini_fail(err, KVMINI_E_USAGE, "the snapshot's display is not the one asked for "
			    "(%ux%u%s saved)", s->display_width, s->display_height,
			    s->display_bochs ? ",bochs-display" : "");
		return NULL;
	}
	c.display_width = s->display_width;
	c.display_height = s->display_height;
	c.display_bochs = s->display_bochs;
	c.testdev = s->testdev || cfg->testdev;   /* a --testdev the snapshot lacks: refused below */
	int fd = open(mem_paths[0], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open memory file '%s'",
				  mem_paths[0]);
		return NULL;
	}
	/* Checked here, before KVM is opened, as everything in the files. */
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->mem_size) {
		kvmini_fail(err, KVMINI_E_USAGE, "memory file '%s' is not the snapshot's "
			    "%llu-byte RAM", mem_paths[0], (unsigned long long)s->mem_size);
		close(fd);
		return NULL;
	}
	struct kvmini_vm *m = machine_create(&c, fd, err);
	close(fd);   /* the mapping keeps the file */
	if (m) {     /* its disks' configuration is the snapshot's */
		m->restored_virtio = s->virtio;
		s->virtio = NULL;
		if (s->pixels && s->pixels_len == m->fb.size)   /* the same size: the same pages */
			memcpy(m->fb.pixels, s->pixels, s->pixels_len);
	}
	if (m && (diffs_apply(m, mem_paths + 1, nmem - 1, err) < 0 || state_apply(m, s, err) < 0)) {
		kvmini_vm_destroy(m);
		m = NULL;
	}
	return m;
}

struct kvmini_vm *kvmini_vm_restore(const struct kvmini_config *cfg, const char *snapshot_path,
				    const char *const *mem_paths, unsigned nmem,
				    struct kvmini_error *err)
{
	if (nmem == 0) {
		kvmini_fail(err, KVMINI_E_USAGE, "a restore needs the snapshot's memory file");
		return NULL;
	}
	if (has_virtio(cfg)) {
		kvmini_fail(err, KVMINI_E_USAGE, "a restored VM has its snapshot's virtio devices; "
			    "it takes none of its own");
		return NULL;
	}
	size_t len;
	uint8_t *data = file_read(snapshot_path, &len, err);
	if (!data)
		return NULL;
	struct machine_snapshot s;
	struct kvmini_vm *m = NULL;
	if (machine_snapshot_decode(data, len, &s, err) == 0) {
		m = restore_from(cfg, &s, mem_paths, nmem, err);
		machine_snapshot_free(&s);
	}
	free(data);
	return m;
}
