/* virtio-pci on the PC (board/pci.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "board/board.h"
#include "board/pci.h"
#include "kvm_doorbell.h"
#include "pci/bochs_display.h"
#include "pci/pci.h"
#include "pci/testdev.h"
#include "virtio/pci.h"

_Static_assert(X86_PCI_INTX_LINES == PCI_INTX_LINES, "one IOAPIC pin per INTx line");
_Static_assert(X86_PCI_ECAM_SIZE == PCI_ECAM_BUS_SIZE, "ECAM for bus 0");
_Static_assert(BOARD_PCI_TESTDEV_SLOT > VIRTIO_MAX_DEVICES && BOARD_PCI_TESTDEV_SLOT < PCI_SLOTS,
	       "pci-testdev's slot is clear of virtio-pci's 1, 2, ...");
_Static_assert(BOARD_PCI_BOCHS_SLOT > VIRTIO_MAX_DEVICES && BOARD_PCI_BOCHS_SLOT < PCI_SLOTS &&
		       BOARD_PCI_BOCHS_SLOT != BOARD_PCI_TESTDEV_SLOT,
	       "bochs-display's slot is clear of the others");

/* One MSI-X vector in KVM: its GSI (with an MSI route) and the irqfd
 * that raises it. The eventfd exists from set-up on: a vector comes to
 * life when the guest programs it, on a vCPU thread, whose seccomp role
 * creates no file descriptors. */
struct msi_vector {
	bool live;
	unsigned gsi;
	int efd;
};

struct pci_slot {
	struct board_pci *owner;
	struct virtio_pci *transport;
	struct msi_vector vec[VIRTIO_PCI_MAX_VECTORS];
	bool route_failed;            /* logged once */
};

struct board_pci {
	struct vm *vm;
	struct event_loop *loop;
	struct pci_host host;
	struct x86_pci_desc desc;
	struct pci_slot slots[VIRTIO_MAX_DEVICES];
	unsigned n;
	struct pci_testdev *testdev;   /* --testdev */
	struct bochs_display *bochs;   /* --display WxH,bochs-display */
};

static void bochs_remove(struct board_pci *p);

/* The host bridge stays while any function is on it. */
static bool host_in_use(const struct board_pci *p)
{
	return p->n || p->testdev || p->bochs;
}

/* ---- MSI-X vectors through KVM ---- */

static int vector_create(struct pci_slot *s, struct msi_vector *v, uint64_t address,
			 uint32_t data, struct kvmini_error *err)
{
	struct vm *vm = s->owner->vm;
	if (kvm_gsi_alloc(&vm->routes, &v->gsi, err) < 0)
		return -1;
	if (kvm_gsi_route_msi(&vm->routes, v->gsi, address, data, err) < 0 ||
	    kvm_irqfd_assign(vm->fd, v->efd, v->gsi, -1, err) < 0) {
		kvm_gsi_release(&vm->routes, v->gsi, NULL);
		return -1;
	}
	v->live = true;
	return 0;
}

static int msi_route(void *ctx, unsigned vector, uint64_t address, uint32_t data)
{
	struct pci_slot *s = ctx;
	struct msi_vector *v = &s->vec[vector];
	struct kvmini_error err = { 0 };
	int rc = v->live ? kvm_gsi_route_msi(&s->owner->vm->routes, v->gsi, address, data, &err)
			 : vector_create(s, v, address, data, &err);
	if (rc < 0 && !s->route_failed) {
		s->route_failed = true;
		vm_log(s->owner->vm, "kvmini: virtio-pci: MSI-X vector %u: %s\n", vector, err.msg);
	}
	return rc;
}

static void msi_send(void *ctx, unsigned vector)
{
	struct pci_slot *s = ctx;
	uint64_t one = 1;
	if (s->vec[vector].live && write(s->vec[vector].efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, an interrupt is on its way */
	}
}

static void vectors_close(struct pci_slot *s)
{
	struct vm *vm = s->owner->vm;
	for (unsigned i = 0; i < VIRTIO_PCI_MAX_VECTORS; i++) {
		struct msi_vector *v = &s->vec[i];
		if (v->live) {
			kvm_irqfd_deassign(vm->fd, v->efd, v->gsi, NULL);
			kvm_gsi_release(&vm->routes, v->gsi, NULL);
			v->live = false;
		}
		if (v->efd >= 0)
			close(v->efd);
		v->efd = -1;
	}
}

static int vectors_open(struct pci_slot *s, struct kvmini_error *err)
{
	for (unsigned i = 0; i < VIRTIO_PCI_MAX_VECTORS; i++)
		s->vec[i].efd = -1;
	for (unsigned i = 0; i < VIRTIO_PCI_MAX_VECTORS; i++)
		if ((s->vec[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
			int e = errno;
			vectors_close(s);
			return kvmini_fail(err, KVMINI_E_HOST, "eventfd: %s", strerror(e));
		}
	return 0;
}

/* ---- doorbells ---- */

static int doorbell(void *ctx, int efd, uint64_t addr, bool on)
{
	struct pci_slot *s = ctx;
	struct kvm_doorbell d = { .pio = false, .addr = addr, .len = 2 };
	struct kvmini_error err = { 0 };
	int fd = s->owner->vm->fd;
	/* Without it, the notify write still arrives as an exit. */
	return on ? kvm_ioeventfd_assign(fd, efd, &d, &err) : kvm_ioeventfd_deassign(fd, efd, &d, &err);
}

static const struct virtio_pci_board_ops board_ops = {
	.msi_route = msi_route, .msi_send = msi_send, .doorbell = doorbell,
};

/* ---- the host and its functions ---- */

static int host_create(struct board_pci *p, struct kvmini_error *err)
{
	struct pci_host_config cfg = {
		.pio = &p->vm->pio, .mmio = &p->vm->mmio, .ecam_base = X86_PCI_ECAM_BASE,
		.mmio_base = X86_PCI_MMIO_BASE, .mmio_end = X86_PCI_MMIO_END,
		.io_base = X86_PCI_IO_BASE, .io_end = X86_PCI_IO_END,
	};
	for (unsigned i = 0; i < PCI_INTX_LINES; i++)
		cfg.intx[i] = vm_irq_line(p->vm, X86_PCI_INTX_GSI + i);
	p->desc = (struct x86_pci_desc){
		.ecam_base = X86_PCI_ECAM_BASE, .mmio_base = X86_PCI_MMIO_BASE,
		.mmio_end = X86_PCI_MMIO_END, .intx_gsi = X86_PCI_INTX_GSI,
		.intx_lines = X86_PCI_INTX_LINES,
	};
	return pci_host_init(&p->host, &cfg, err);
}

struct board_pci *board_pci_create(struct vm *vm, struct event_loop *loop,
				   struct kvmini_error *err)
{
	struct board_pci *p = calloc(1, sizeof(*p));
	if (!p) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the PCI host bridge");
		return NULL;
	}
	p->vm = vm;
	p->loop = loop;
	if (host_create(p, err) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

int board_pci_add(struct board_pci *p, struct virtio_device *vdev, struct kvmini_error *err)
{
	if (p->n == VIRTIO_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_USAGE, "more than %d virtio-pci devices",
				   VIRTIO_MAX_DEVICES);
	struct pci_slot *s = &p->slots[p->n];
	*s = (struct pci_slot){ .owner = p };
	if (vectors_open(s, err) < 0)
		return -1;
	struct virtio_pci_env env = {
		.host = &p->host, .slot = p->n + 1, .loop = p->loop, .mem = &p->vm->mem,
		.log_fd = p->vm->log_fd, .board = &board_ops, .board_ctx = s,
	};
	if (!(s->transport = virtio_pci_create(vdev, &env, err))) {
		vectors_close(s);
		return -1;
	}
	p->n++;
	return 0;
}

/* pci-testdev's eventfd bound by KVM_IOEVENTFD on this VM. */
static int testdev_doorbell(void *ctx, int efd, const struct kvm_doorbell *d, bool on,
			    struct kvmini_error *err)
{
	struct board_pci *p = ctx;
	struct kvmini_error ignored = { 0 };
	return on ? kvm_ioeventfd_assign(p->vm->fd, efd, d, err ? err : &ignored)
		  : kvm_ioeventfd_deassign(p->vm->fd, efd, d, err ? err : &ignored);
}

static void testdev_remove(struct board_pci *p)
{
	if (!p->testdev)
		return;
	pci_testdev_destroy(p->testdev);
	free(p->testdev);
	p->testdev = NULL;
}

/* The last device added comes off the bus: no interrupt is sent and no
 * doorbell rings for it after. */
static void remove_last(struct board_pci *p)
{
	struct pci_slot *s = &p->slots[--p->n];
	virtio_pci_destroy(s->transport);
	vectors_close(s);
}

void board_pci_destroy(struct board_pci *p)
{
	if (!p)
		return;
	testdev_remove(p);
	bochs_remove(p);
	while (p->n)
		remove_last(p);
	pci_host_destroy(&p->host);
	free(p);
}

const struct x86_pci_desc *board_pci_firmware(const struct board_pci *p)
{
	return p ? &p->desc : NULL;
}

/* ---- the board's virtio transport (board/virtio.h) ----
 *
 * The host bridge comes with the first device and goes with the last
 * (the board detaches in reverse order). A PCI function needs nothing
 * in the DSDT of its own nor on the kernel command line: PCI0 and its
 * _PRT describe every slot. */

static int pci_attach(struct board *b, struct board_virtio_slot *slot, struct kvmini_error *err)
{
	if (!b->pci && !(b->pci = board_pci_create(b->vm, b->loop, err)))
		return -1;
	if (board_pci_add(b->pci, slot->vdev, err) < 0) {
		if (!host_in_use(b->pci)) {
			board_pci_destroy(b->pci);
			b->pci = NULL;
		}
		return -1;
	}
	slot->transport = &b->pci->slots[b->pci->n - 1];
	return 0;
}

static void pci_detach(struct board *b, struct board_virtio_slot *slot)
{
	if (!slot->transport || !b->pci)
		return;
	remove_last(b->pci);
	slot->transport = NULL;
	if (!host_in_use(b->pci)) {
		board_pci_destroy(b->pci);
		b->pci = NULL;
	}
}

/* ---- pci-testdev (--testdev) ----
 *
 * It brings the host bridge when no virtio-pci function did (as QEMU's
 * PC always has one) and keeps it until it goes, at the last slot:
 * virtio-pci functions keep slots 1, 2, ... with or without it. */

int board_pci_testdev_attach(struct board *b, struct kvmini_error *err)
{
	if (!b->pci && !(b->pci = board_pci_create(b->vm, b->loop, err)))
		return -1;
	struct board_pci *p = b->pci;
	if ((p->testdev = calloc(1, sizeof(*p->testdev))) &&
	    pci_testdev_init(p->testdev, &p->host, BOARD_PCI_TESTDEV_SLOT, testdev_doorbell, p,
			     p->vm->log_fd, err) == 0)
		return 0;
	if (!p->testdev)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for pci-testdev");
	free(p->testdev);
	p->testdev = NULL;
	if (!host_in_use(p)) {
		board_pci_destroy(p);
		b->pci = NULL;
	}
	return -1;
}

void board_pci_testdev_detach(struct board *b)
{
	if (!b->pci)
		return;
	testdev_remove(b->pci);
	if (!host_in_use(b->pci)) {
		board_pci_destroy(b->pci);
		b->pci = NULL;
	}
}

/* ---- bochs-display (--display WxH,bochs-display) ----
 *
 * Like pci-testdev it brings the host bridge if nothing else did. Its
 * video memory is the machine's framebuffer, which KVM gets as the VM's
 * movable slot wherever the guest puts BAR 0. */

static int bochs_vram_map(void *ctx, uint64_t gpa, bool on, struct kvmini_error *err)
{
	struct board_pci *p = ctx;
	struct framebuffer *fb = p->bochs->fb;
	return vm_map_movable(p->vm, gpa, fb->pixels, fb->size, on, err);
}

static void bochs_remove(struct board_pci *p)
{
	if (!p->bochs)
		return;
	bochs_display_destroy(p->bochs);
	free(p->bochs);
	p->bochs = NULL;
}

int board_pci_bochs_attach(struct board *b, struct framebuffer *fb, unsigned width,
			   unsigned height, struct kvmini_error *err)
{
	if (!b->pci && !(b->pci = board_pci_create(b->vm, b->loop, err)))
		return -1;
	struct board_pci *p = b->pci;
	struct bochs_display_env env = {
		.host = &p->host, .slot = BOARD_PCI_BOCHS_SLOT, .fb = fb, .width = width,
		.height = height, .vram_map = bochs_vram_map, .vram_ctx = p,
		.log_fd = p->vm->log_fd,
	};
	/* bochs_vram_map() finds the framebuffer through p->bochs, set
	 * before the function is plugged. */
	if ((p->bochs = calloc(1, sizeof(*p->bochs)))) {
		p->bochs->fb = fb;
		if (bochs_display_init(p->bochs, &env, err) == 0)
			return 0;
	} else {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for bochs-display");
	}
	free(p->bochs);
	p->bochs = NULL;
	if (!host_in_use(p)) {
		board_pci_destroy(p);
		b->pci = NULL;
	}
	return -1;
}

void board_pci_bochs_detach(struct board *b)
{
	if (!b->pci)
		return;
	bochs_remove(b->pci);
	if (!host_in_use(b->pci)) {
		board_pci_destroy(b->pci);
		b->pci = NULL;
	}
}

uint64_t board_pci_display_address(const struct board *b)
{
	return b->pci && b->pci->bochs ? bochs_display_vram_address(b->pci->bochs) : 0;
}

/* Snapshots: each function with its device; the host bridge after them
 * all, since its restore puts every function's BARs back on the bus. */
static void pci_save(const struct board_virtio_slot *slot, struct state_writer *w)
{
	const struct pci_slot *s = slot->transport;
	virtio_pci_save(s->transport, w);
}

static int pci_restore(struct board_virtio_slot *slot, struct state_reader *r,
		       struct kvmini_error *err)
{
	struct pci_slot *s = slot->transport;
	return virtio_pci_restore(s->transport, r, err);
}

const struct board_virtio_transport board_virtio_pci = {
	.name = "pci", .attach = pci_attach, .detach = pci_detach,
	.save = pci_save, .restore = pci_restore,
};

/* ---- the bus in snapshots (board/pci.h) ---- */

void board_pci_save(struct board_pci *p, struct state_writer *w)
{
	state_put_u8(w, p->testdev != NULL);
	state_put_u8(w, p->bochs != NULL);
	if (p->testdev)
		pci_testdev_save(p->testdev, w);
	if (p->bochs)
		bochs_display_save(p->bochs, w);
	pci_host_save(&p->host, w);
}

int board_pci_restore(struct board_pci *p, const uint8_t *data, size_t len,
		      struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	uint8_t testdev = state_get_u8(&r), bochs = state_get_u8(&r);
	if (r.failed || testdev != (p->testdev != NULL) || bochs != (p->bochs != NULL))
		return kvmini_fail(err, KVMINI_E_USAGE, "the snapshot's PCI functions are not the "
				   "machine's");
	if ((p->testdev && pci_testdev_restore(p->testdev, &r, err) < 0) ||
	    (p->bochs && bochs_display_restore(p->bochs, &r, err) < 0) ||
	    pci_host_restore(&p->host, &r, err) < 0)
		return -1;
	return state_reader_finish(&r, "saved PCI bus", err);
}
