/* Layer 6, beside the PCI host: QEMU's pci-testdev (1b36:0005), the
 * function kvm-unit-tests drives to check that port and MMIO writes
 * reach the VMM, with and without KVM's ioeventfd. Only with --testdev.
 *
 * BAR 0 is 4 KiB of memory, BAR 1 256 ports. Each BAR lists three
 * tests, 0 "no-eventfd", 1 "wildcard-eventfd", 2 "datamatch-eventfd";
 * BAR 0's are the MMIO ones (named "mmio-..."), BAR 1's the port ones
 * ("portio-..."). The first bytes of either BAR show the selected
 * test's header (little endian), zeros after it:
 *   0      test     the index; a write here selects the test of that
 *                   BAR (an index >= 3 selects none) and zeroes count
 *   1      width    bytes per write: 1
 *   4-7    offset   where in the BAR the guest writes
 *   8      data     the value a matching write carries
 *   12-15  count    the writes seen
 *   16-    name     NUL-terminated
 * "no-eventfd" counts each write of `width` bytes carrying `data` at
 * `offset` as an exit; "wildcard-eventfd" has KVM signal an eventfd for
 * any write there, "datamatch-eventfd" only for one of `data`, and a
 * read of the header adds what the eventfd counted. Were the doorbell
 * refused, such writes arrive as exits and count the same way.
 *
 * Threads: the BARs' callbacks run on vCPUs and bar_mapped on the PCI
 * mapper; all take the device's lock, under which the doorbell is set. */
#ifndef KVMINI_PCI_TESTDEV_H
#define KVMINI_PCI_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "error.h"
#include "kvm_doorbell.h"
#include "pci/pci.h"

#define PCI_TESTDEV_VENDOR    0x1b36u
#define PCI_TESTDEV_DEVICE    0x0005u
#define PCI_TESTDEV_CLASS     0xff0000u   /* "unassigned class" */
#define PCI_TESTDEV_MEM_SIZE  4096u
#define PCI_TESTDEV_IO_SIZE   256u
#define PCI_TESTDEV_TESTS     3           /* per BAR */
#define PCI_TESTDEV_DATA      0xfau       /* what a matching write carries */
#define PCI_TESTDEV_WILD_DATA 0xceu       /* shown by the wildcard test */
/* The header's fields (byte offsets in either BAR). */
#define PCI_TESTDEV_HDR_TEST   0u
#define PCI_TESTDEV_HDR_WIDTH  1u
#define PCI_TESTDEV_HDR_OFFSET 4u
#define PCI_TESTDEV_HDR_DATA   8u
#define PCI_TESTDEV_HDR_COUNT  12u
#define PCI_TESTDEV_HDR_NAME   16u
#define PCI_TESTDEV_HDR_SIZE   48u        /* the longest name fits */

/* The board's KVM_IOEVENTFD: bind (on) or unbind efd at d. */
typedef int (*pci_testdev_doorbell_fn)(void *ctx, int efd, const struct kvm_doorbell *d,
				       bool on, struct kvmini_error *err);

struct pci_testdev_test {
	uint8_t hdr[PCI_TESTDEV_HDR_SIZE];
	int efd;                      /* -1: no-eventfd */
	bool bound;
	struct kvm_doorbell bell;     /* where it is bound */
};

struct pci_testdev {
	struct pci_function fn;
	pthread_mutex_t lock;
	struct pci_testdev_test tests[2 * PCI_TESTDEV_TESTS];   /* BAR 0's, then BAR 1's */
	int current;                  /* -1: none */
	bool bar_on[2];               /* where the BARs are, as bar_mapped told */
	uint64_t bar_at[2];
	pci_testdev_doorbell_fn doorbell;
	void *doorbell_ctx;
	int log_fd;
	bool doorbell_failed;         /* logged once */
};

/* Set up the function and its eventfds and plug it at `slot`;
 * doorbell may be NULL (every write is then an exit). */
int pci_testdev_init(struct pci_testdev *d, struct pci_host *h, unsigned slot,
		     pci_testdev_doorbell_fn doorbell, void *doorbell_ctx, int log_fd,
		     struct kvmini_error *err);
/* Unplugged, its doorbell unbound, its eventfds closed. */
void pci_testdev_destroy(struct pci_testdev *d);

/* Snapshots: the function's config space, the selected test and every
 * test's count (with what its eventfd counted). A restore refuses a
 * test that does not exist; the selected test's doorbell is bound again
 * when the PCI host's restore maps the BARs. */
void pci_testdev_save(struct pci_testdev *d, struct state_writer *w);
int pci_testdev_restore(struct pci_testdev *d, struct state_reader *r, struct kvmini_error *err);

#endif
