/* Board: virtio devices as PCI functions (--transport pci). Per boot,
 * a PCI host bridge at the PC's places (arch/x86/firmware.h: ECAM, the
 * BAR window, INTx on IOAPIC pins 16-23) and one virtio-pci transport
 * per device of the machine's set, at slots 1, 2, ... in the set's
 * order. This is where the transport's handles meet KVM: an MSI-X
 * vector becomes a GSI of the VM's routing table with an MSI route and
 * an irqfd (allocated when the guest first unmasks it), a queue's
 * notification address an ioeventfd (bound while BAR 0 is decoded),
 * INTA vm_irq_line() on its IOAPIC pin. */
#ifndef KVMINI_BOARD_PCI_H
#define KVMINI_BOARD_PCI_H

#include "arch/x86/firmware.h"
#include "board/virtio.h"
#include "error.h"
#include "virtio/devices.h"
#include "vm.h"

struct board_pci;
struct event_loop;

/* After the board's own devices are on the buses (0xcf9 is taken over):
 * the host bridge, then each device at the next slot (1, 2, ...). */
struct board_pci *board_pci_create(struct vm *vm, struct event_loop *loop,
				   struct kvmini_error *err);
int board_pci_add(struct board_pci *p, struct virtio_device *vdev, struct kvmini_error *err);
/* Before vm_destroy(): transports, irqfds, GSIs, ioeventfds, the host.
 * NULL is fine. */
void board_pci_destroy(struct board_pci *p);
/* --transport pci for the board's virtio wiring (board/virtio.h): the
 * host bridge with the first device, each device at the next slot. */
extern const struct board_virtio_transport board_virtio_pci;

/* Snapshots: pci-testdev's and the Bochs display's state, then the
 * host bridge's (the virtio-pci functions are saved with their devices,
 * board/virtio.h). The restore comes after the virtio devices' and
 * before any vCPU runs; the host's, last, maps every function's BARs
 * where the guest put them. */
void board_pci_save(struct board_pci *p, struct state_writer *w);
int board_pci_restore(struct board_pci *p, const uint8_t *data, size_t len,
		      struct kvmini_error *err);

/* --testdev: QEMU's pci-testdev (pci/testdev.h) at slot 31, with the
 * host bridge if no virtio-pci function brought it; its doorbells are
 * KVM_IOEVENTFD on the VM. Detach before the virtio devices. */
#define BOARD_PCI_TESTDEV_SLOT 31u
struct board;
int board_pci_testdev_attach(struct board *b, struct kvmini_error *err);
void board_pci_testdev_detach(struct board *b);

/* --display WxH,bochs-display: the Bochs display (pci/bochs_display.h)
 * at slot 30, fb its video memory (framebuffer_init_vram()), width x
 * height its first mode; with the host bridge if nothing else brought
 * it. Detach before the virtio devices. board_pci_display_address():
 * where its video memory is (BAR 0), 0 without it. */
#define BOARD_PCI_BOCHS_SLOT 30u
struct framebuffer;
int board_pci_bochs_attach(struct board *b, struct framebuffer *fb, unsigned width,
			   unsigned height, struct kvmini_error *err);
void board_pci_bochs_detach(struct board *b);
uint64_t board_pci_display_address(const struct board *b);

/* What the firmware tables say about it. */
const struct x86_pci_desc *board_pci_firmware(const struct board_pci *p);

#endif
