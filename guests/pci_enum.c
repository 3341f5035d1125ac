/* PCI enumeration as an OS does it (run with --transport pci): every
 * slot of bus 0 through configuration mechanism #1 (0xcf8/0xcfc), the
 * same IDs through ECAM at 0xe0000000, and for the first virtio function
 * its BAR 0 sized and decoded, its capabilities walked and its common
 * configuration read through the BAR. Prints one line per finding; any
 * disagreement ends the guest with a status naming it. Long mode, ELF64
 * (the hole below 4 GiB is identity-mapped). */
#include "guest.h"

#define ECAM_BASE 0xe0000000UL


static volatile uint32_t *ecam(unsigned slot, unsigned reg)
{
	return (volatile uint32_t *)(ECAM_BASE + (slot << 15) + reg);
}

static void put_hex(uint32_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = digits - 1; i >= 0; i--)
		serial_putc(hex[(v >> (4 * i)) & 0xf]);
}

/* The first virtio function: size BAR 0, decode it, walk its caps, and
 * read num_queues (offset 18 of the common configuration). */
static void virtio_probe(unsigned slot)
{
	uint32_t bar = cf8_read(slot, 0x10);
	cf8_write(slot, 0x10, 0xffffffffu);
	uint32_t size = ~(cf8_read(slot, 0x10) & ~0xfu) + 1;
	cf8_write(slot, 0x10, bar);
	serial_puts("bar0 size 0x");
	put_hex(size, 4);
	serial_putc('\n');
	unsigned vendor_caps = 0, msix = 0, common = 0, hops = 0;
	for (unsigned pos = cf8_read(slot, 0x34) & 0xff; pos && hops < 48; hops++) {
		uint32_t head = cf8_read(slot, pos);
		if ((head & 0xff) == 0x09) {
			vendor_caps++;
			if (((head >> 24) & 0xff) == 1)   /* VIRTIO_PCI_CAP_COMMON_CFG */
				common = cf8_read(slot, pos + 8);
		}
		msix += (head & 0xff) == 0x11;
		pos = (head >> 8) & 0xff;
	}
	serial_puts("caps ");
	serial_put_dec(vendor_caps);
	serial_puts(msix ? " msix\n" : "\n");
	cf8_write(slot, 0x04, 0x6);   /* memory decode, bus master */
	volatile uint16_t *num_queues = (volatile uint16_t *)((uint64_t)(bar & ~0xfu) + common + 18);
	serial_puts("virtio queues ");
	serial_put_dec(*num_queues);
	serial_putc('\n');
}

int main(void)
{
	int virtio_slot = -1;
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t id = cf8_read(slot, 0);
		if (*ecam(slot, 0) != id)
			guest_exit(3);
		if (id == 0xffffffffu)
			continue;
		serial_puts("pci 00:");
		put_hex(slot, 2);
		serial_puts(".0 ");
		put_hex(id & 0xffff, 4);
		serial_putc(':');
		put_hex(id >> 16, 4);
		serial_puts(" class ");
		put_hex(cf8_read(slot, 0x08) >> 8, 6);
		serial_putc('\n');
		if ((id & 0xffff) == 0x1af4 && virtio_slot < 0)
			virtio_slot = (int)slot;
	}
	if (virtio_slot >= 0)
		virtio_probe((unsigned)virtio_slot);
	serial_puts("pci done\n");
	return 0;
}
