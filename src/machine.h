/* The machine (src/machine.c) as the layers above it see it: the public
 * API of include/kvmini.h, the one thing a layer that attaches to a
 * machine's VM needs (the gdb stub, src/gdb/api.c), and what the
 * display's VNC server and screenshots need (src/display/api.c). The
 * machine names none of those layers. */
#ifndef KVMINI_MACHINE_H
#define KVMINI_MACHINE_H

#include "kvmini.h"
#include "state.h"
#include "vm.h"
#include "vm_state.h"
#include "virtio/devices.h"

/* The VM of the machine's only boot, for a layer that attaches to it
 * (`who`, as error messages name it; `option`, the command-line option
 * that asks for it). Fails once the machine has run, and when a guest's
 * reset would replace the VM (KVMINI_ON_RESET_RESTART): what attaches
 * must be detached after kvmini_vm_run() returns and before
 * kvmini_vm_destroy(). */
struct vm *machine_vm_for(struct kvmini_vm *m, const char *who, const char *option,
			  struct kvmini_error *err);

/* For the display (src/display/api.c): the framebuffer (NULL without
 * one), its dirty log for this boot (false between boots or when it
 * fails: compare everything), and a viewer's keys and pointer for the
 * board's keyboard controller; the seccomp mode its server's thread
 * confines itself with. Any thread. */
struct framebuffer;
enum kvmini_seccomp machine_seccomp(const struct kvmini_vm *m);
const struct framebuffer *machine_framebuffer(struct kvmini_vm *m);
bool machine_framebuffer_dirty_log(struct kvmini_vm *m, uint64_t *bitmap);
void machine_key_event(struct kvmini_vm *m, uint16_t key, bool down);
void machine_pointer_event(struct kvmini_vm *m, int dx, int dy, unsigned buttons);

/* A snapshot file decoded and checked whole, with no KVM call
 * (src/machine_snapshot.c): what kvmini_vm_restore() applies. The
 * device bytes point into the file's buffer (board_restore() checks
 * them against the devices it restores). */
#define MACHINE_SNAPSHOT_MAX_CPUS 256

/* The VIRT section (src/machine_snapshot_virtio.c): the configuration
 * the devices are made from again (its strings in heap[]: a restored
 * machine keeps this, since its config points into it) and the
 * devices' state, pointing into the file's buffer. */
struct machine_snapshot_virtio {
	enum kvmini_transport transport;   /* MMIO or PCI */
	unsigned ndisks;
	struct kvmini_disk disks[VIRTIO_MAX_DEVICES];
	unsigned nnets;
	struct kvmini_net nets[VIRTIO_MAX_DEVICES];
	bool vconsole;
	struct kvmini_vsock vsock;
	bool rng;
	uint64_t rng_bytes_per_sec;
	const uint8_t *state;
	size_t state_len;
	char heap[];
};

/* With the devices frozen (board_virtio_freeze()). */
int machine_snapshot_virtio_encode(struct kvmini_vm *m, struct state_writer *w,
				   struct kvmini_error *err);
/* Pure; *out is the caller's to free(). */
int machine_snapshot_virtio_decode(const uint8_t *data, size_t len,
				   struct machine_snapshot_virtio **out, struct kvmini_error *err);
/* cfg asks for the snapshot's devices on its transport. */
void machine_snapshot_virtio_configure(const struct machine_snapshot_virtio *v,
				       struct kvmini_config *cfg);

struct machine_snapshot {
	uint64_t mem_size;
	unsigned cpus;
	enum kvmini_irqchip irqchip;
	uint64_t acpi_rsdp;
	bool track_dirty_pages;
	/* ACPI S3: the guest sleeps, or its wake is due (the vCPUs had not
	 * yet gone to wake_vector when it was paused). */
	bool suspended, wake_pending;
	uint32_t wake_vector;
	struct vcpu_state *vcpus;        /* cpus of them */
	struct vm_kvm_state kvm;
	const uint8_t *devices;
	size_t devices_len;
	/* --irqchip split: kvmini's own PIC, IOAPIC and PIT (SPLT, checked
	 * by split_irqchip_check_state()); NULL otherwise. */
	const uint8_t *split;
	size_t split_len;
	/* VIRT: the virtio devices; NULL without any. */
	struct machine_snapshot_virtio *virtio;
	/* DISP: a --display's size and its video memory (pixels_len bytes,
	 * whole pages, into the file's buffer); width 0 without one. */
	unsigned display_width, display_height;
	bool display_bochs;              /* the Bochs display's video memory */
	const uint8_t *pixels;
	size_t pixels_len;
	/* PCIB: the PCI bus beside virtio-pci (board_pci_save()); NULL
	 * without a PCI host. */
	bool testdev;
	const uint8_t *pci;
	size_t pci_len;
};

int machine_snapshot_decode(const uint8_t *data, size_t len, struct machine_snapshot *out,
			    struct kvmini_error *err);
void machine_snapshot_free(struct machine_snapshot *s);

#endif
