/* The hostile guest (issue 14): attacks kvmini's own devices in
 * phases, each announced on COM1, with values from a fixed-seed
 * xorshift generator (seeds compiled in and printed) so a failure
 * reproduces. Run with --mem 64M (RAM_END below), ideally with a
 * virtio device or two (--rng, --disk) on either transport.
 *
 * It never aims at what ends the VM by design (debug-exit, the reset
 * paths, ACPI sleep) nor at its own code, stack, IDT or the page tables
 * kvmini built (all below 2 MiB): every address it hands a device comes
 * from pick_ring()/pick_buffer(), so what a device writes lands in the
 * buffer area, past RAM, in MMIO holes or nowhere. Descriptor tables
 * live in a separate ring area no device is ever told to write.
 *
 * Ends with "hostile: survived" and debug-exit code SURVIVED_CODE; an
 * exception ends it with code 0x40 + vector. Long mode, ELF64. */
#include "guest.h"
#include "intr.h"

#define RAM_END       (64UL << 20)
#define RING_AREA     (16UL << 20)     /* [16, 20) MiB: tables the guest fills */
#define RING_SIZE     (4UL << 20)
#define BUF_AREA      (32UL << 20)     /* [32, 64) MiB: where devices may write */
#define BUF_SIZE      (RAM_END - BUF_AREA)
#define SURVIVED_CODE 0x2a             /* kvmini's status (0x2a << 1) | 1 = 85 */

#define SEED_PORTS  0x9e3779b97f4a7c15ULL
#define SEED_MMIO   0xd1b54a32d192ed03ULL
#define SEED_STRING 0x8cb92ba72f3d8dd7ULL
#define SEED_VIRTIO 0xa0761d6478bd642fULL
#define SEED_STORM  0xe7037ed1a0b428dbULL

/* The full sweep covers ports [0, SWEEP_FULL); above it, SWEEP_SAMPLES
 * random ports (each access is an exit, slow under nested emulation). */
#ifndef SWEEP_FULL
#define SWEEP_FULL 0x1000
#endif
#ifndef SWEEP_SAMPLES
#define SWEEP_SAMPLES 4096
#endif

#define STORM_INTERRUPTS 2000
#define STORM_SPINS 50000000UL

static uint64_t rng_state;
static volatile unsigned long interrupts;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* Each phase says how long the one before took, in millions of TSC
 * ticks (for tuning the counts: every access is an exit). */
static void phase(const char *name, uint64_t seed)
{
	static uint64_t last;
	uint64_t now = rdtsc();
	if (last) {
		serial_puts("hostile: (");
		serial_put_dec((now - last) >> 20);
		serial_puts(" Mticks)\n");
	}
	last = now;
	rng_state = seed;
	serial_puts("hostile: phase ");
	serial_puts(name);
	serial_puts(", seed ");
	serial_put_hex(seed);
	serial_putc('\n');
}

/* ---- interrupts: every vector caught ---- */

struct interrupt_frame;

__attribute__((interrupt)) static void on_interrupt(struct interrupt_frame *f)
{
	(void)f;
	interrupts++;
	outb(0xa0, 0x20);                  /* non-specific EOI to both 8259s */
	outb(0x20, 0x20);
	lapic_write(LAPIC_EOI, 0);
}

__attribute__((noreturn)) static void on_exception(unsigned vector, struct interrupt_frame *f)
{
	uint64_t cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	serial_puts("hostile: exception ");
	serial_put_dec(vector);
	serial_puts(" at rip ");
	serial_put_hex(*(uint64_t *)f);
	serial_puts(", cr2 ");
	serial_put_hex(cr2);
	serial_putc('\n');
	guest_exit(0x40 + vector);
}

#define EXC(n) __attribute__((interrupt)) static void exc_##n(struct interrupt_frame *f) \
	{ on_exception(n, f); }
#define EXC_ERR(n) __attribute__((interrupt)) static void exc_##n(struct interrupt_frame *f, \
	uint64_t code) { (void)code; on_exception(n, f); }
EXC(0) EXC(1) EXC(3) EXC(4) EXC(5) EXC(6) EXC(7) EXC_ERR(8) EXC(9) EXC_ERR(10) EXC_ERR(11)
EXC_ERR(12) EXC_ERR(13) EXC_ERR(14) EXC(15) EXC(16) EXC_ERR(17) EXC(18) EXC(19) EXC(20)
EXC_ERR(21)

/* An error-code handler in the IDT: the CPU pushes the code, the
 * handler pops it; only the C type differs. */
#define ERR_GATE(h) ((interrupt_handler *)(uintptr_t)(h))

static void idt_fill(void)
{
	interrupt_handler *exc[22] = {
		exc_0, exc_1, on_interrupt /* NMI: counted */, exc_3, exc_4, exc_5, exc_6, exc_7,
		ERR_GATE(exc_8), exc_9, ERR_GATE(exc_10),
		ERR_GATE(exc_11), ERR_GATE(exc_12),
		ERR_GATE(exc_13), ERR_GATE(exc_14), exc_15, exc_16,
		ERR_GATE(exc_17), exc_18, exc_19, exc_20, ERR_GATE(exc_21),
	};
	for (unsigned v = 0; v < 256; v++)
		idt_set((uint8_t)v, v < 22 ? exc[v] : on_interrupt);
}

/* ---- addresses handed to devices ---- */

static const uint64_t holes[] = {
	0xc0000000, 0xd0000000, 0xd0001000, 0xd000f000, 0xe0000000, 0xe00ff000,
	0xfd000000, 0xfec00000, 0xfed00000, 0xfee00000, 0xff000000, 0xfffff000,
};

/* Anywhere a device may be told to write: the buffer area, the end of
 * RAM, past RAM, MMIO holes, past 4 GiB, the top of the address space. */
static uint64_t pick_buffer(void)
{
	uint64_t r = rnd();
	switch ((r >> 56) % 7) {
	case 0: case 1: return BUF_AREA + r % BUF_SIZE;
	case 2: return RAM_END - 1 - r % 8192;
	case 3: return RAM_END + r % (0xc0000000 - RAM_END);
	case 4: return holes[r % (sizeof(holes) / sizeof(holes[0]))] + (r >> 20) % 0x1000;
	case 5: return (r | (1ULL << 32)) & 0x0000ffffffffffffULL;
	default: return ~0ULL - r % 4096;
	}
}

/* Where descriptor tables go: 16-aligned in the ring area, or nowhere
 * a device could be fooled into writing. */
static uint64_t pick_ring(void)
{
	uint64_t r = rnd(), a = pick_buffer();
	if ((r & 1) || (a >= BUF_AREA && a < RAM_END))
		return (RING_AREA + r % (RING_SIZE - 65536)) & ~15ULL;
	return a;
}

static uint32_t pick_len(void)
{
	static const uint32_t lens[] = { 0, 1, 16, 512, 4096, 0xffffffff, 0x80000000, 65536 };
	uint64_t r = rnd();
	return (r & 8) ? (uint32_t)(r >> 32) : lens[r % 8];
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

enum { F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4 };

/* A descriptor whose every address a device might follow is a pick:
 * indirect tables from pick_ring(), buffers from pick_buffer(). Its
 * (flags, next) is never zero, so a table read 8 bytes off still holds
 * addresses past 4 GiB. */
static struct desc garbage_desc(void)
{
	uint64_t r = rnd();
	uint16_t flags = (uint16_t)(r & 7);
	struct desc d = {
		.addr = (flags & F_INDIRECT) ? pick_ring() : pick_buffer(),
		.len = pick_len(), .flags = flags, .next = (uint16_t)(r >> 16),
	};
	if ((r >> 40) & 1)
		d.next = (uint16_t)((r >> 8) % 8);       /* short loops */
	if (!d.flags && !d.next)
		d.next = 1;
	return d;
}

static void ring_area_fill(uint64_t from, unsigned long n)
{
	volatile struct desc *d = (volatile struct desc *)from;
	for (unsigned long i = 0; i < n; i++) {
		struct desc g = garbage_desc();
		d[i].addr = g.addr;
		d[i].len = g.len;
		d[i].flags = g.flags;
		d[i].next = g.next;
	}
}

/* A few fresh descriptors somewhere in the ring area. */
static void ring_area_stir(void)
{
	ring_area_fill((RING_AREA + rnd() % (RING_SIZE - 4096)) & ~15ULL, 64);
}

/* ---- phase 1: every port ---- */

static uint32_t port_in(uint16_t port, unsigned width)
{
	uint32_t v;
	if (width == 1)
		return inb(port);
	if (width == 2) {
		uint16_t w;
		__asm__ volatile("inw %1, %0" : "=a"(w) : "Nd"(port));
		return w;
	}
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void port_out(uint16_t port, unsigned width, uint32_t v)
{
	if (width == 1)
		outb(port, (uint8_t)v);
	else if (width == 2)
		__asm__ volatile("outw %0, %1" : : "a"((uint16_t)v), "Nd"(port));
	else
		outl(port, v);
}

static int overlaps(unsigned port, unsigned width, unsigned lo, unsigned n)
{
	return port < lo + n && lo < port + width;
}

/* Writes that end or reset the VM, scribble on guest memory or garble
 * the console (their documented effect, not a bug), and the i8042's
 * reset commands. Returns the value to write, or -1 to skip. */
static int64_t port_write_value(unsigned port, unsigned width, uint32_t v)
{
	if (overlaps(port, width, DEBUG_EXIT_PORT, 4) || overlaps(port, width, 0xcf9, 1) ||
	    overlaps(port, width, 0x604, 2) || overlaps(port, width, 0x514, 8) ||
	    overlaps(port, width, COM1, 8) || overlaps(port, width, 0xe9, 1) ||
	    overlaps(port, width, 0x402, 1))
		return -1;
	if (overlaps(port, width, 0x92, 1))
		return width == 1 ? (int64_t)(v & ~1u) : -1;
	if (overlaps(port, width, 0x64, 1)) {
		if (width != 1)
			return -1;
		v &= 0xff;
		return (v == 0xd1 || v >= 0xf0) ? (v & 0x7f) : v;
	}
	return v;
}

static void port_hit(unsigned port)
{
	for (unsigned width = 1; width <= 4; width *= 2) {
		port_in((uint16_t)port, width);
		int64_t v = port_write_value(port, width, (uint32_t)rnd());
		if (v >= 0)
			port_out((uint16_t)port, width, (uint32_t)v);
	}
}

static void phase_ports(void)
{
	phase("ports", SEED_PORTS);
	for (unsigned port = 0; port < SWEEP_FULL; port++)
		port_hit(port);
	for (unsigned i = 0; i < SWEEP_SAMPLES; i++)
		port_hit(SWEEP_FULL + (unsigned)(rnd() % (0x10000 - SWEEP_FULL)));
	serial_puts("hostile: ports 0-");
	serial_put_hex(SWEEP_FULL - 1);
	serial_puts(" swept, ");
	serial_put_dec(SWEEP_SAMPLES);
	serial_puts(" sampled above\n");
}

/* ---- phase 2: MMIO ---- */

static uint64_t mmio_read(uint64_t a, unsigned width)
{
	switch (width) {
	case 1: return *(volatile uint8_t *)a;
	case 2: return *(volatile uint16_t *)a;
	case 4: return *(volatile uint32_t *)a;
	default: return *(volatile uint64_t *)a;
	}
}

static void mmio_write(uint64_t a, unsigned width, uint64_t v)
{
	switch (width) {
	case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
	case 4: *(volatile uint32_t *)a = (uint32_t)v; break;
	default: *(volatile uint64_t *)a = v; break;
	}
}

/* Clear `forbidden` (bits of the 8-byte register at `reg`) in a write
 * of `width` bytes at `off`. */
static uint64_t mask_bits(uint64_t off, unsigned width, uint64_t v, uint64_t reg, uint64_t forbidden)
{
	if (off + width <= reg || off >= reg + 8)
		return v;
	unsigned shift = (unsigned)(off - reg) * 8;
	return v & ~(forbidden >> shift);
}

#define IOAPIC 0xfec00000UL
#define HPET   0xfed00000UL

/* A redirection entry is edge-triggered (a held line must not keep
 * the guest in its handler) and never delivers INIT, SMI or NMI (that would reset
 * or wedge the guest's own CPU, which is KVM's business) nor a vector
 * below 0x20 (an exception vector the guest cannot tell apart). */
static uint64_t ioapic_safe(uint64_t off, unsigned width, uint64_t v)
{
	uint32_t sel = *(volatile uint32_t *)IOAPIC & 0xff;
	if (sel < 0x10 || (sel & 1))
		return v;
	if (off == 0x10 && width >= 1)
		v |= 0x20;
	return mask_bits(off, width, v, 0x10, 0x8600);
}

/* HPET timers never deliver through FSB (an MSI of any data). */
static uint64_t hpet_safe(uint64_t off, unsigned width, uint64_t v)
{
	for (uint64_t t = 0x100; t < 0x400; t += 0x20)
		v = mask_bits(off, width, v, t, 1u << 14);
	return v;
}

static void ioapic_route(unsigned gsi, uint32_t low)
{
	*(volatile uint32_t *)IOAPIC = 0x10 + 2 * gsi;
	*(volatile uint32_t *)(IOAPIC + 0x10) = low;
}

static void mmio_hammer(uint64_t base, uint64_t size, unsigned n,
			uint64_t (*safe)(uint64_t, unsigned, uint64_t))
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = rnd();
		unsigned width = 1u << (r % 4);
		uint64_t off = ((r >> 8) % size) & ~(uint64_t)(width - 1);
		if ((r >> 4) & 1) {
			mmio_read(base + off, width);
			continue;
		}
		uint64_t v = rnd();
		if (safe)
			v = safe(off, width, v);
		mmio_write(base + off, width, v);
	}
}

/* virtio-mmio: every register, but queue addresses only from the picks,
 * and no QueueNotify (phase 4 kicks, with rings it filled). */
static uint64_t virtio_mmio_safe(uint64_t off, unsigned width, uint64_t v)
{
	if (off + width > 0x50 && off < 0x54)
		return 0;                           /* a write to 0 leaves it */
	if (off + width > 0xa0 && off < 0xa8)
		return pick_buffer();
	if (off + width > 0x80 && off < 0xa8)
		return pick_ring();
	return v;
}

static void virtio_mmio_hammer(uint64_t base, uint64_t size, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = rnd();
		unsigned width = 1u << (r % 4);
		uint64_t off = ((r >> 8) % size) & ~(uint64_t)(width - 1);
		if ((r >> 4) & 1) {
			mmio_read(base + off, width);
			continue;
		}
		if (off + width > 0x50 && off < 0x54)
			continue;
		mmio_write(base + off, width, virtio_mmio_safe(off, width, rnd()));
	}
	*(volatile uint32_t *)(base + 0x70) = 0;   /* reset */
}

static uint32_t cf8(unsigned dev, unsigned reg)
{
	return 0x80000000u | (dev << 11) | (reg & 0xfc);
}

static const uint64_t bar_targets[] = {
	0x00000000, 0x00100000, BUF_AREA, RAM_END - 0x1000, 0xfee00000, 0xfec00000,
	0xfed00000, 0xd0000000, 0xe0000000, 0xc0000000, 0xfffff000, 0x3f8,
};

/* PCI: BARs programmed over RAM, the APICs, the HPET, ECAM and each
 * other, through both mechanisms; reads of config space everywhere. */
static void pci_hammer(void)
{
	for (unsigned round = 0; round < 64; round++) {
		unsigned dev = (unsigned)(rnd() % 8);
		unsigned bar = 0x10 + 4 * (unsigned)(rnd() % 6);
		uint32_t target = (uint32_t)bar_targets[rnd() % 12];
		if (rnd() & 1) {
			outl(0xcf8, cf8(dev, bar));
			outl(0xcfc, target);
			outl(0xcf8, cf8(dev, 0x04));
			outl(0xcfc, 0x7);              /* I/O, memory, bus master */
		} else {
			*(volatile uint32_t *)(0xe0000000UL + (dev << 15) + bar) = target;
			*(volatile uint16_t *)(0xe0000000UL + (dev << 15) + 4) = 0x7;
		}
		/* Read where the BAR now claims to be, and around it. */
		for (unsigned i = 0; i < 16; i++)
			mmio_read(0xe0000000UL + (dev << 15) + (rnd() % 0x1000 & ~3ULL), 4);
		if (target >= 0xd0000000)
			for (unsigned i = 0; i < 8; i++)
				mmio_read(target + (rnd() % 0x1000 & ~7ULL), 1u << (rnd() % 4));
	}
	/* Back where nothing else is, memory decoding off. */
	for (unsigned dev = 0; dev < 32; dev++) {
		outl(0xcf8, cf8(dev, 0x04));
		outl(0xcfc, 0);
	}
}

static void put_be64(volatile uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be32(volatile uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t bswap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

/* fw_cfg DMA: descriptors in the buffer area (or past RAM, in holes)
 * whose buffers are anywhere a device may write, of any length, with any
 * control word (write included, which kvmini refuses). */
static void fw_cfg_dma_hammer(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t where = (rnd() & 3) ? (BUF_AREA + rnd() % (BUF_SIZE - 16)) : pick_buffer();
		if (where < RAM_END - 16 && where >= BUF_AREA) {
			volatile uint8_t *d = (volatile uint8_t *)where;
			uint32_t control = (uint32_t)rnd();
			if (rnd() & 1)
				control = ((uint32_t)(rnd() % 0x40) << 16) | (2u << (rnd() % 4));
			put_be32(d, control);
			put_be32(d + 4, pick_len());
			put_be64(d + 8, pick_buffer());
		}
		outl(0x514, bswap32((uint32_t)(where >> 32)));
		outl(0x518, bswap32((uint32_t)where));
		if (rnd() & 1) {                         /* the other widths of the door */
			outw(0x518, (uint16_t)rnd());
			outb(0x51b, (uint8_t)rnd());
		}
	}
}

static unsigned virtio_mmio_count(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < 16; i++)
		if (*(volatile uint32_t *)(0xd0000000UL + i * 0x1000UL) == 0x74726976)
			n = i + 1;
	return n;
}

static void phase_mmio(void)
{
	phase("mmio", SEED_MMIO);
	mmio_hammer(IOAPIC, 0x1000, 2000, ioapic_safe);
	for (unsigned gsi = 0; gsi < 24; gsi++)
		ioapic_route(gsi, 1u << 16);             /* masked again */
	mmio_hammer(HPET, 0x400, 2000, hpet_safe);
	*(volatile uint64_t *)(HPET + 0x10) = 0;     /* halted */
	for (unsigned i = 0; i < 16; i++)
		virtio_mmio_hammer(0xd0000000UL + i * 0x1000UL, 0x1000, 300);
	pci_hammer();
	fw_cfg_dma_hammer();
	serial_puts("hostile: mmio done, ");
	serial_put_dec(virtio_mmio_count());
	serial_puts(" virtio-mmio devices\n");
}

/* ---- the local APIC's window ---- */

#define SEED_LAPIC 0x589965cc75374cc3ULL
#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1u << 11)

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t index, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* A vector the guest can tell from an exception. */
static uint32_t vector_safe(uint32_t v)
{
	return (v & 0xff) < 0x20 ? v | 0x20 : v;
}

/* What an ICR write may send: fixed, lowest-priority or NMI to anyone
 * (itself included: self-IPIs and NMI storms); INIT and SIPI only to an
 * APIC ID that does not exist (physical mode, no shorthand, or all
 * excluding self: there is one vCPU); never SMI, nor the reserved and
 * ExtINT modes (as fixed). The guest's own INIT would restart it, which
 * is KVM's business. */
static uint32_t icr_safe(uint32_t v)
{
	unsigned mode = (v >> 8) & 7, shorthand = (v >> 18) & 3;
	if (mode == 2)
		return (v & ~0x700u) | 0x400u;                 /* SMI -> NMI */
	if (mode == 3 || mode == 7)
		mode = 0, v &= ~0x700u;
	if (mode == 5 || mode == 6) {
		v &= ~(1u << 11);                              /* physical */
		if (shorthand == 1 || shorthand == 2)
			v &= ~(3u << 18);
		lapic_write(LAPIC_ICR_HIGH, (uint32_t)(1 + rnd() % 254) << 24);
		return v;
	}
	return vector_safe(v);
}

/* An LVT entry delivers fixed (a safe vector) or NMI, nothing else. */
static uint32_t lvt_safe(uint32_t v)
{
	unsigned mode = (v >> 8) & 7;
	if (mode != 0 && mode != 4)
		v &= ~0x700u;
	return vector_safe(v);
}

/* Writes that reach the APIC (4 bytes at a 16-byte boundary: KVM drops
 * the rest) are made safe; the ID stays (IOAPIC routes name it). */
static uint64_t lapic_safe(uint64_t off, unsigned width, uint64_t v)
{
	if (width != 4 || off % 16)
		return v;
	if (off == LAPIC_ID)
		return lapic_read(LAPIC_ID);
	if (off == LAPIC_ICR_LOW)
		return icr_safe((uint32_t)v);
	if (off >= 0x320 && off <= 0x370)
		return lvt_safe((uint32_t)v);
	return v;
}

static void lapic_quiet(void)
{
	lapic_write(LAPIC_SVR, 0x1ff);
	for (unsigned off = 0x320; off <= 0x370; off += 0x10)
		lapic_write(off, 0x10000 | 0xf0);              /* masked */
	lapic_write(LAPIC_TIMER_INIT, 0);
	lapic_write(0x80, 0);                               /* TPR */
	for (unsigned i = 0; i < 64; i++)
		lapic_write(LAPIC_EOI, 0);
}

/* Random accesses of every width to the LAPIC's page with interrupts
 * on (odd widths and offsets fall through KVM to kvmini's bus), bursts
 * of ICR writes (self-IPIs, NMIs, INIT/SIPI to absent CPUs), then the
 * page again with the APIC globally disabled in IA32_APIC_BASE, when
 * every access is kvmini's. */
static void phase_lapic(void)
{
	phase("lapic", SEED_LAPIC);
	lapic_quiet();
	sti();
	mmio_hammer(LAPIC_BASE, 0x1000, 3000, lapic_safe);
	for (unsigned i = 0; i < 500; i++) {
		uint32_t high = (uint32_t)rnd() & 0xff000000u;
		lapic_write(LAPIC_ICR_HIGH, high);
		lapic_write(LAPIC_ICR_LOW, icr_safe((uint32_t)rnd() & 0x000ccfffu));
	}
	cli();
	lapic_quiet();
	uint64_t base = rdmsr(MSR_APIC_BASE);
	wrmsr(MSR_APIC_BASE, base & ~(uint64_t)APIC_BASE_ENABLE);
	mmio_hammer(LAPIC_BASE, 0x1000, 500, 0);
	wrmsr(MSR_APIC_BASE, base);
	lapic_quiet();
	sti();
	for (unsigned long spin = 0; spin < 100000; spin++)   /* what was pending arrives */
		__asm__ volatile("pause");
	cli();
	serial_puts("hostile: lapic done, ");
	serial_put_dec(interrupts);
	serial_puts(" interrupts so far\n");
}

/* ---- phase 3: string I/O with large counts ---- */

#define STRING_BYTES 16384UL

static void rep_outsb(uint16_t port, uint64_t src, uint64_t n)
{
	__asm__ volatile("cld; rep outsb" : "+S"(src), "+c"(n) : "d"(port) : "memory");
}

static void rep_outsw(uint16_t port, uint64_t src, uint64_t n)
{
	__asm__ volatile("cld; rep outsw" : "+S"(src), "+c"(n) : "d"(port) : "memory");
}

static void rep_insb(uint16_t port, uint64_t dst, uint64_t n)
{
	__asm__ volatile("cld; rep insb" : "+D"(dst), "+c"(n) : "d"(port) : "memory");
}

static void rep_insl(uint16_t port, uint64_t dst, uint64_t n)
{
	__asm__ volatile("cld; rep insl" : "+D"(dst), "+c"(n) : "d"(port) : "memory");
}

static void phase_string(void)
{
	/* The output ports cost a host write() per element (a second or
	 * more per 64 KiB in the nested test VM): 4 KiB each here; endless
	 * floods of them are guests/outs_flood.S's. */
	static const struct { uint16_t port; uint32_t bytes; } ports[] = {
		{ COM1, 4096 }, { 0xe9, 4096 }, { 0x2f0 /* unclaimed */, STRING_BYTES },
		{ 0x511 /* fw_cfg data */, STRING_BYTES },
	};
	phase("string", SEED_STRING);
	volatile uint8_t *src = (volatile uint8_t *)BUF_AREA;
	for (unsigned long i = 0; i < STRING_BYTES * 2; i++)
		src[i] = (uint8_t)rnd();
	uint64_t dst = BUF_AREA + STRING_BYTES * 2;
	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		outw(0x510, (uint16_t)rnd() % 0x40);    /* some fw_cfg item */
		uint16_t port = ports[i].port;
		uint32_t n = ports[i].bytes;
		rep_outsb(port, BUF_AREA, n);
		rep_outsw(port, BUF_AREA, n / 2);
		rep_insb(port, dst, n);
		rep_insl(port, dst, n / 4);
	}
	/* Into the end of RAM: the last elements have nowhere to go. */
	rep_insb(0x511, RAM_END - 4096, 8192);
	serial_puts("\nhostile: string done\n");
}

/* ---- phase 4: garbage in virtqueues ---- */

enum {
	V_FEATURES = 0x010, V_FEATURES_SEL = 0x014, V_DRV_FEATURES = 0x020, V_DRV_FEATURES_SEL = 0x024,
	V_QUEUE_SEL = 0x030, V_QUEUE_NUM_MAX = 0x034, V_QUEUE_NUM = 0x038, V_QUEUE_READY = 0x044,
	V_NOTIFY = 0x050, V_ISR = 0x060, V_ACK = 0x064, V_STATUS = 0x070,
	V_DESC = 0x080, V_AVAIL = 0x090, V_USED = 0x0a0,
};

static void vw(uint64_t base, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(base + off) = v;
}

static uint32_t vr(uint64_t base, unsigned off)
{
	return *(volatile uint32_t *)(base + off);
}

static void vw64(uint64_t base, unsigned off, uint64_t v)
{
	vw(base, off, (uint32_t)v);
	vw(base, off + 4, (uint32_t)(v >> 32));
}

/* [a, a + n) inside [lo, hi), without overflow (a may be near 2^64). */
static int inside(uint64_t a, uint64_t n, uint64_t lo, uint64_t hi)
{
	return a >= lo && a <= hi && n <= hi - a;
}

/* An available ring at `avail` (in the ring area or the buffer area)
 * with heads that may or may not exist. `beside_desc`: it shares memory
 * with a descriptor table, so its entries carry high bits (a table read
 * through it still finds addresses past 4 GiB). */
static void avail_fill(uint64_t avail, unsigned qsize, int beside_desc)
{
	uint64_t n = 6 + 2UL * qsize;
	if (!inside(avail, n, RING_AREA, RING_AREA + RING_SIZE) && !inside(avail, n, BUF_AREA, RAM_END))
		return;
	volatile uint16_t *a = (volatile uint16_t *)avail;
	a[0] = (uint16_t)(rnd() & 1);
	for (unsigned i = 0; i < qsize && i < 4096; i++) {
		uint16_t head = (uint16_t)(rnd() % (qsize ? qsize : 1));
		a[2 + i] = beside_desc ? (uint16_t)(0x8000 | rnd()) : head;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	a[1] = (rnd() & 3) ? (uint16_t)(rnd() % (qsize + 1)) : (uint16_t)rnd();
}

static uint32_t qsize_pick(uint32_t max)
{
	uint64_t r = rnd();
	switch (r % 12) {
	case 0: return 0;
	case 1: return (uint32_t)(r >> 8) & 0xffff;       /* rarely a power of two */
	case 2: return max * 2;
	case 3: case 4: return max;
	default: return 1u << ((r >> 8) % 9 % (max ? 32 - (unsigned)__builtin_clz(max) : 1));
	}
}

static const uint32_t statuses[] = { 1, 3, 11, 15, 7, 4, 0x80, 0x40, 0xff, 15, 15 };

static void virtio_round(uint64_t base)
{
	vw(base, V_STATUS, 0);
	vw(base, V_STATUS, 1);
	vw(base, V_STATUS, 3);
	/* Mostly a subset of what the device offers (else FEATURES_OK is
	 * refused and nothing below reaches its queues). */
	for (unsigned word = 0; word < 2; word++) {
		vw(base, V_FEATURES_SEL, word);
		uint32_t offered = vr(base, V_FEATURES);
		uint32_t want = (uint32_t)rnd() | (word ? 1 : 0);
		vw(base, V_DRV_FEATURES_SEL, word);
		vw(base, V_DRV_FEATURES, (rnd() & 7) ? want & offered : (uint32_t)rnd());
	}
	vw(base, V_STATUS, (rnd() & 7) ? 11 : statuses[rnd() % 11]);
	for (unsigned q = 0; q < 2; q++) {
		vw(base, V_QUEUE_SEL, q);
		uint32_t qsize = qsize_pick(vr(base, V_QUEUE_NUM_MAX));
		uint64_t desc = pick_ring(), avail, used;
		if (rnd() & 1)
			desc = (RING_AREA + rnd() % (RING_SIZE - 65536)) & ~15ULL;
		switch (rnd() % 5) {
		case 0: avail = desc; break;                                 /* overlapping */
		case 1: avail = base + (rnd() % 0x100 & ~1ULL); break;       /* in its own window */
		case 2: avail = BUF_AREA + (rnd() % BUF_SIZE & ~1ULL); break;
		default: avail = pick_ring(); break;
		}
		if (rnd() & 3)                       /* mostly a layout it accepts */
			avail &= ~1ULL;
		used = (rnd() & 3) ? pick_buffer() : (avail >= BUF_AREA ? avail : base);
		if (rnd() & 3)
			used = (rnd() & 1) ? (BUF_AREA + rnd() % (BUF_SIZE - 65536)) & ~3ULL : used & ~3ULL;
		vw(base, V_QUEUE_NUM, qsize);
		vw64(base, V_DESC, desc);
		vw64(base, V_AVAIL, avail);
		vw64(base, V_USED, used);
		avail_fill(avail, qsize, avail == desc);
		vw(base, V_QUEUE_READY, (rnd() & 7) ? 1 : (uint32_t)rnd());
	}
	vw(base, V_STATUS, (rnd() & 3) ? 15 : statuses[rnd() % 11]);
	for (unsigned k = 0; k < 64; k++) {
		vw(base, V_NOTIFY, (uint32_t)(rnd() % 4));
		if (rnd() % 16 == 0)
			ring_area_stir();       /* new tables under the device's feet */
		if (rnd() % 32 == 0)
			vw(base, V_STATUS, 0);  /* reset mid-flight */
		vw(base, V_ACK, vr(base, V_ISR));
	}
	vw(base, V_STATUS, statuses[rnd() % 11]);
	vw(base, V_STATUS, 0);
}

static void phase_virtio(void)
{
	phase("virtio", SEED_VIRTIO);
	unsigned n = virtio_mmio_count();
	for (unsigned round = 0; round < 48; round++)
		for (unsigned i = 0; i < n; i++)
			virtio_round(0xd0000000UL + i * 0x1000UL);
	for (unsigned i = 0; i < n; i++)
		if (vr(0xd0000000UL + i * 0x1000UL, V_STATUS) != 0)
			serial_puts("hostile: a virtio-mmio device kept its status after a reset\n");
	serial_puts("hostile: virtio done, ");
	serial_put_dec(n);
	serial_puts(" devices\n");
}

/* ---- garbage through virtio-pci ---- */

#define SEED_VPCI 0x1d8e4e27c47d124fULL
#define VPCI_BAR_AT(slot) (0xc0000000UL + (uint64_t)(slot) * 0x10000)   /* kvmini's PCI window */
#define VPCI_ROUNDS 32

/* One virtio-pci function as its capabilities describe it (offsets in
 * BAR 0: the structures kvmini puts elsewhere are left alone). */
struct vpci {
	unsigned slot;
	uint64_t bar;
	uint32_t common, notify, notify_mult, isr, device, device_len;
	unsigned caps, cap_pcicfg, cap_msix, nvec, nq;
	unsigned found;                   /* bit N: a capability of cfg_type N in BAR 0 */
	uint32_t msix_table;
};

enum {
	C_DFSEL = 0x00, C_DF = 0x04, C_GFSEL = 0x08, C_GF = 0x0c, C_MSIX_CONFIG = 0x10,
	C_NUM_QUEUES = 0x12, C_STATUS = 0x14, C_QSEL = 0x16, C_QSIZE = 0x18, C_QVECTOR = 0x1a,
	C_QENABLE = 0x1c, C_QDESC = 0x20, C_QAVAIL = 0x28, C_QUSED = 0x30, C_END = 0x38,
};

static void cw(const struct vpci *d, unsigned off, unsigned width, uint32_t v)
{
	mmio_write(d->bar + d->common + off, width, v);
}

static uint32_t cr(const struct vpci *d, unsigned off, unsigned width)
{
	return (uint32_t)mmio_read(d->bar + d->common + off, width);
}

static void cw64(const struct vpci *d, unsigned off, uint64_t v)
{
	cw(d, off, 4, (uint32_t)v);
	cw(d, off + 4, 4, (uint32_t)(v >> 32));
}

/* A pick below 4 GiB: what a lone write of a queue address's low half
 * may hold, since the high half may be 0. */
static uint32_t pick_low(uint64_t (*pick)(void))
{
	uint64_t a;
	do
		a = pick();
	while (a >> 32);
	return (uint32_t)a;
}

/* An MSI message delivers fixed or lowest-priority, at a safe vector. */
static uint32_t msi_data_safe(uint32_t v)
{
	return vector_safe(v & ~0x600u);
}

/* What a write into BAR 0 may carry: queue addresses only from the
 * picks, queues enabled only by the rounds (after their addresses),
 * no notifications (the rounds kick, with rings they filled), MSI-X
 * data safe. Returns 0 with *skip set for a write not to make. */
static uint64_t vpci_bar_safe(const struct vpci *d, uint64_t off, unsigned width, uint64_t v,
			      int *skip)
{
	*skip = 0;
	if (off + width > d->notify && off < d->notify + d->nq * d->notify_mult + 4) {
		*skip = 1;
		return 0;
	}
	if (off + width > d->common + C_QENABLE && off < d->common + C_QENABLE + 2) {
		*skip = 1;
		return 0;
	}
	if (off + width > d->common + C_QDESC && off < d->common + C_END) {
		uint64_t in = off - d->common;
		if (in < C_QDESC || in % 8 || width < 4)
			{ *skip = 1; return 0; }       /* a partial address */
		uint64_t a = in == C_QUSED ? pick_low(pick_buffer) : pick_low(pick_ring);
		return width == 8 ? a | (rnd() & 1 ? 0 : rnd() << 32) : a;
	}
	if (d->cap_msix && off + width > d->msix_table && off < d->msix_table + 16 * d->nvec) {
		uint64_t in = off - d->msix_table;
		if (in % 16 == 8 && width >= 4)
			return (v & ~0xffffffffULL) | msi_data_safe((uint32_t)v);
		if ((in % 16 < 8 && in % 16 + width > 8) || (in % 16 >= 8 && in % 16 < 12))
			{ *skip = 1; return 0; }       /* part of a data word */
	}
	return v;
}

static void vpci_bar_hammer(const struct vpci *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = rnd();
		unsigned width = 1u << (r % 4);
		uint64_t off = ((r >> 8) % 0x8000) & ~(uint64_t)(width - 1);
		if ((r >> 4) & 1) {
			mmio_read(d->bar + off, width);
			continue;
		}
		int skip;
		uint64_t v = vpci_bar_safe(d, off, width, rnd(), &skip);
		if (!skip)
			mmio_write(d->bar + off, width, v);
	}
}

/* The PCI_CFG capability's window into BAR 0: any BAR, offset and
 * length, data the same as a direct write would be allowed. */
static void vpci_window_hammer(const struct vpci *d, unsigned n)
{
	if (!d->cap_pcicfg)
		return;
	unsigned c = d->cap_pcicfg;
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = rnd();
		uint8_t bar = (r & 7) ? 0 : (uint8_t)(r >> 8);
		static const uint32_t lens[] = { 1, 2, 4, 4, 0, 3, 8, 0xffffffff };
		uint32_t len = lens[(r >> 16) % 8];
		uint32_t off = (r & 0x100000) ? (uint32_t)(r >> 32) : (uint32_t)((r >> 24) % 0x8000);
		cf8_write(d->slot, c + 4, (cf8_read(d->slot, c + 4) & ~0xffu) | bar);
		cf8_write(d->slot, c + 8, off);
		cf8_write(d->slot, c + 12, len);
		if ((r >> 40) & 1) {
			cf8_read(d->slot, c + 16);
			continue;
		}
		int skip = 0;
		uint64_t v = rnd();
		if (bar == 0 && off < 0x8000)   /* it may land in BAR 0: the direct rules */
			v = vpci_bar_safe(d, off, len == 1 || len == 2 ? len : 4, v, &skip);
		if (!skip)
			cf8_write(d->slot, c + 16, (uint32_t)v);
	}
}

static void vpci_msix_control(const struct vpci *d, uint16_t flags)
{
	uint32_t w = cf8_read(d->slot, d->cap_msix);
	cf8_write(d->slot, d->cap_msix, (w & 0x3fffffffu) | (uint32_t)flags << 16);
}

/* Program a vector: any address, safe data, masked or not. */
static void vpci_msix_entry(const struct vpci *d)
{
	uint64_t e = d->bar + d->msix_table + 16 * (rnd() % (d->nvec + 1));
	if (e >= d->bar + d->msix_table + 16 * d->nvec)
		e -= 16;
	uint64_t r = rnd();
	static const uint32_t addrs[] = { 0xfee00000u, 0xfee00000u, 0xfee0f00cu, 0xfeeff000u };
	uint32_t addr = (r & 4) ? addrs[(r >> 3) % 4] :                        /* this CPU, broadcast */
			(r & 1) ? 0xfee00000u | ((uint32_t)(r >> 8) & 0xff00cu) : (uint32_t)(r >> 8);
	mmio_write(e, 4, addr);
	mmio_write(e + 4, 4, (r & 2) ? 0 : (uint32_t)(r >> 32));
	mmio_write(e + 8, 4, msi_data_safe((uint32_t)rnd()));
	mmio_write(e + 12, 4, (uint32_t)(rnd() & 1));
}

static void vpci_queue(const struct vpci *d, unsigned q)
{
	cw(d, C_QSEL, 2, q);
	uint32_t qsize = qsize_pick(cr(d, C_QSIZE, 2));
	uint64_t desc = pick_ring(), avail, used;
	if (rnd() & 1)
		desc = (RING_AREA + rnd() % (RING_SIZE - 65536)) & ~15ULL;
	switch (rnd() % 6) {
	case 0: avail = desc; break;                                       /* overlapping */
	case 1: avail = d->bar + (rnd() % 0x8000 & ~1ULL); break;          /* in its own BAR */
	case 2: avail = BUF_AREA + (rnd() % BUF_SIZE & ~1ULL); break;
	case 3: avail = d->bar + d->common + (rnd() % 0x40 & ~1ULL); break; /* its common config */
	default: avail = pick_ring(); break;
	}
	if (rnd() & 3)
		avail &= ~1ULL;
	used = (rnd() & 3) ? pick_buffer() : (avail >= BUF_AREA ? avail : d->bar + d->notify);
	if (rnd() & 3)
		used = (rnd() & 1) ? (BUF_AREA + rnd() % (BUF_SIZE - 65536)) & ~3ULL : used & ~3ULL;
	cw(d, C_QSIZE, 2, qsize);
	cw(d, C_QVECTOR, 2, (rnd() & 3) ? (uint32_t)(rnd() % (d->nvec + 2)) : (uint32_t)rnd());
	cw64(d, C_QDESC, desc);
	cw64(d, C_QAVAIL, avail);
	cw64(d, C_QUSED, used);
	avail_fill(avail, qsize, avail == desc);
	cw(d, C_QENABLE, 2, (rnd() & 7) ? 1 : (uint32_t)rnd());
}

/* A layout the device accepts, with chains of three descriptors into
 * the buffer area (device-readable ones first, then device-writable
 * ones, each of any length up to a page):
 * the round's kicks, resets and MSI-X changes then meet a device at
 * work, completing requests and raising interrupts. */
static void vpci_queue_sane(const struct vpci *d, unsigned q)
{
	cw(d, C_QSEL, 2, q);
	uint32_t qsize = cr(d, C_QSIZE, 2);
	if (!qsize || qsize > 256)
		return;
	uint64_t desc = (RING_AREA + rnd() % (RING_SIZE - 0x10000)) & ~4095ULL;
	uint64_t avail = desc + 16 * 256;
	uint64_t used = (BUF_AREA + rnd() % (BUF_SIZE - 0x10000)) & ~4095ULL;
	volatile struct desc *t = (volatile struct desc *)desc;
	volatile uint16_t *a = (volatile uint16_t *)avail;
	unsigned heads = 0, writable_from = 0;
	for (unsigned i = 0; i < qsize; i++) {
		int last = i % 3 == 2 || i + 1 == qsize;
		if (i % 3 == 0)
			writable_from = (unsigned)(rnd() % 4 ? 1 + rnd() % 2 : rnd() % 4);
		t[i].addr = BUF_AREA + rnd() % (BUF_SIZE - 0x10000);
		t[i].len = 1 + (uint32_t)(rnd() % 4096);
		t[i].flags = (uint16_t)((last ? 0 : F_NEXT) | (i % 3 >= writable_from ? F_WRITE : 0));
		t[i].next = (uint16_t)(last ? 0 : i + 1);
		if (i % 3 == 0)
			a[2 + heads++] = (uint16_t)i;
	}
	a[0] = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	a[1] = (uint16_t)heads;
	cw(d, C_QVECTOR, 2, (uint32_t)(rnd() % (d->nvec ? d->nvec : 1)));
	cw64(d, C_QDESC, desc);
	cw64(d, C_QAVAIL, avail);
	cw64(d, C_QUSED, used);
	cw(d, C_QENABLE, 2, 1);
}

static void vpci_kick(const struct vpci *d)
{
	uint64_t r = rnd();
	uint64_t off = d->notify + (r % (d->nq + 2)) * d->notify_mult;
	if ((r >> 8) % 16 == 0)
		off += (r >> 12) % 4;                            /* off the doorbell */
	mmio_write(d->bar + off, (r >> 16) & 1 ? 2 : 4, (uint32_t)(r >> 20) % 4);
}

/* virtio_round()'s script through the common configuration, with
 * MSI-X turned on and off and its vectors reprogrammed while the
 * device works. */
static void vpci_round(const struct vpci *d)
{
	cw(d, C_STATUS, 1, 0);
	cw(d, C_STATUS, 1, 1);
	cw(d, C_STATUS, 1, 3);
	for (unsigned word = 0; word < 2; word++) {
		cw(d, C_DFSEL, 4, word);
		uint32_t offered = cr(d, C_DF, 4);
		uint32_t want = (uint32_t)rnd() | (word ? 1 : 0);
		cw(d, C_GFSEL, 4, word);
		cw(d, C_GF, 4, (rnd() & 7) ? want & offered : (uint32_t)rnd());
	}
	cw(d, C_STATUS, 1, (rnd() & 7) ? 11 : statuses[rnd() % 11]);
	if (d->cap_msix) {
		cw(d, C_MSIX_CONFIG, 2, (uint32_t)(rnd() % (d->nvec + 2)));
		vpci_msix_control(d, (uint16_t)((rnd() & 3) ? 0x8000 : rnd() & 0xc000));
	}
	for (unsigned q = 0; q <= d->nq && q < 9; q++)
		if (rnd() % 3 == 0)
			vpci_queue_sane(d, q);
		else
			vpci_queue(d, (rnd() % 8) ? q : (unsigned)rnd() & 0xffff);
	cw(d, C_STATUS, 1, (rnd() & 3) ? 15 : statuses[rnd() % 11]);
	for (unsigned k = 0; k < 64; k++) {
		vpci_kick(d);
		if (rnd() % 16 == 0)
			ring_area_stir();
		if (rnd() % 32 == 0)
			cw(d, C_STATUS, 1, 0);                      /* reset mid-flight */
		if (d->cap_msix && rnd() % 8 == 0)
			vpci_msix_entry(d);
		if (d->cap_msix && rnd() % 32 == 0)
			vpci_msix_control(d, (uint16_t)(rnd() & 0xc000));
		mmio_read(d->bar + d->isr, 1);
	}
	cw(d, C_STATUS, 1, statuses[rnd() % 11]);
	cw(d, C_STATUS, 1, 0);
}

/* BAR 0 at a known place, decoding and bus mastering on, then the
 * capability list walked. 0 when SLOT holds no virtio function. */
static int vpci_find(unsigned slot, struct vpci *d)
{
	uint32_t id = cf8_read(slot, 0);
	if ((id & 0xffff) != 0x1af4 || (id >> 16) < 0x1040 || (id >> 16) > 0x107f)
		return 0;
	*d = (struct vpci){ .slot = slot, .bar = VPCI_BAR_AT(slot) };
	cf8_write(slot, 0x10, (uint32_t)d->bar);
	cf8_write(slot, 0x04, 0x6);
	if (!(cf8_read(slot, 0x04) & (0x10u << 16)))
		return 0;
	unsigned at = cf8_read(slot, 0x34) & 0xfc;
	for (unsigned n = 0; at && n < 48; n++, d->caps++) {
		uint32_t w = cf8_read(slot, at);
		if ((w & 0xff) == 0x11) {
			d->cap_msix = at;
			d->nvec = ((w >> 16) & 0x7ff) + 1;
			d->msix_table = cf8_read(slot, at + 4);
		} else if ((w & 0xff) == 0x09 && (cf8_read(slot, at + 4) & 0xff) == 0) {
			uint32_t off = cf8_read(slot, at + 8), len = cf8_read(slot, at + 12);
			unsigned type = (w >> 24) & 0xff;
			d->found |= type < 32 ? 1u << type : 0;
			switch (type) {
			case 1: d->common = off; break;
			case 2: d->notify = off; d->notify_mult = cf8_read(slot, at + 16);
				d->nq = d->notify_mult ? len / d->notify_mult : 0; break;
			case 3: d->isr = off; break;
			case 4: d->device = off; d->device_len = len; break;
			case 5: d->cap_pcicfg = at; break;
			}
		}
		at = (w >> 8) & 0xfc;
	}
	if (d->cap_msix && (d->msix_table & 7))   /* the table in another BAR: left alone */
		d->cap_msix = 0;
	d->msix_table &= ~7u;
	return (d->found & 0xe) == 0xe && d->notify_mult;   /* common, notify, ISR */
}

static void phase_virtio_pci(void)
{
	phase("virtio-pci", SEED_VPCI);
	struct vpci devs[32];
	unsigned n = 0;
	for (unsigned slot = 0; slot < 32; slot++) {
		if (!vpci_find(slot, &devs[n]))
			continue;
		serial_puts("hostile: virtio-pci slot ");
		serial_put_dec(slot);
		serial_puts(", device ");
		serial_put_hex(cf8_read(slot, 0) >> 16);
		serial_puts(", ");
		serial_put_dec(devs[n].caps);
		serial_puts(" capabilities, ");
		serial_put_dec(devs[n].cap_msix ? devs[n].nvec : 0);
		serial_puts(" MSI-X vectors, ");
		serial_put_dec(devs[n].nq);
		serial_puts(" queues\n");
		n++;
	}
	unsigned long before = interrupts;
	for (unsigned gsi = 16; gsi < 24; gsi++)
		ioapic_route(gsi, 0x50 + gsi);   /* INTx, edge-triggered: no ack needed */
	sti();
	for (unsigned round = 0; round < VPCI_ROUNDS; round++)
		for (unsigned i = 0; i < n; i++) {
			if (round % 8 == 0) {
				vpci_bar_hammer(&devs[i], 300);
				vpci_window_hammer(&devs[i], 48);
			}
			vpci_round(&devs[i]);
		}
	cli();
	for (unsigned gsi = 16; gsi < 24; gsi++)
		ioapic_route(gsi, 1u << 16);
	for (unsigned i = 0; i < n; i++) {
		if (devs[i].cap_msix)
			vpci_msix_control(&devs[i], 0);
		cw(&devs[i], C_STATUS, 1, 0);
		if (cr(&devs[i], C_STATUS, 1) != 0)
			serial_puts("hostile: a virtio-pci device kept its status after a reset\n");
		cf8_write(devs[i].slot, 0x04, 0);
	}
	serial_puts("hostile: virtio-pci done, ");
	serial_put_dec(n);
	serial_puts(" devices, ");
	serial_put_dec(interrupts - before);
	serial_puts(" interrupts\n");
}

/* ---- interrupt storm: every timer as fast as it goes, every line open ---- */

static void storm_start(void)
{
	pic_init();
	outb(0x21, (uint8_t)rnd() & 0xfa);       /* the PIT's line and the cascade open */
	outb(0xa1, (uint8_t)rnd() & 0xfe);       /* the RTC's line open */
	outb(0x4d0, 0);                          /* every 8259 line edge-triggered */
	outb(0x4d1, 0);
	lapic_write(LAPIC_SVR, 0x1ff);
	for (unsigned gsi = 0; gsi < 24; gsi++)
		ioapic_route(gsi, (uint32_t)(0x20 + rnd() % 0xd0) | (uint32_t)(rnd() & 0x10000));
	outb(0x43, 0x34);                        /* PIT channel 0, rate generator */
	outb(0x40, (uint8_t)(1 + rnd() % 64));
	outb(0x40, 0);
	outb(0x70, 0x0a);
	outb(0x71, 0x23);                        /* RTC: 8192 Hz periodic */
	outb(0x70, 0x0b);
	outb(0x71, 0x40 | 0x20 | 0x10 | 0x02);   /* PIE, AIE, UIE, 24 h */
	*(volatile uint64_t *)(HPET + 0x10) = 0;
	for (unsigned t = 0; t < 3; t++) {
		volatile uint64_t *timer = (volatile uint64_t *)(HPET + 0x100 + 0x20 * t);
		timer[0] = (1u << 2) | (1u << 3) | (1u << 6) | ((rnd() % 24) << 9);   /* edge */
		timer[1] = 1 + rnd() % 1000;
		timer[1] = 1 + rnd() % 1000;
	}
	*(volatile uint64_t *)(HPET + 0xf0) = 0;
	*(volatile uint64_t *)(HPET + 0x10) = 1 | (rnd() & 2);
}

static void storm_stop(void)
{
	cli();
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	for (unsigned gsi = 0; gsi < 24; gsi++)
		ioapic_route(gsi, 1u << 16);
	*(volatile uint64_t *)(HPET + 0x10) = 0;
	outb(0x43, 0x30);                        /* PIT: one-shot, never loaded */
	outb(0x70, 0x0b);
	outb(0x71, 0x02);
	outb(0x70, 0x0c);
	inb(0x71);                               /* RTC flags cleared */
}

/* Every timer at once, for a bounded number of interrupts. */
static void phase_storm(void)
{
	phase("storm", SEED_STORM);
	storm_start();
	sti();
	for (unsigned long spin = 0; spin < STORM_SPINS && interrupts < STORM_INTERRUPTS; spin++)
		__asm__ volatile("pause");
	storm_stop();
	serial_puts("hostile: storm of ");
	serial_put_dec(interrupts);
	serial_puts(" interrupts\n");
}

#ifdef RESET_STORM
/* ---- resets with every virtio-pci device at work ---- */

#define BUSY_BOOT_COUNTER 0x42
#define BUSY_BOOTS 15

static inline uint8_t cmos_get(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static inline void cmos_put(uint8_t reg, uint8_t v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

/* Every queue of every function well formed, MSI-X on with its vectors
 * live, the device started, and every queue kicked: requests (block
 * I/O, frames, packets) are in flight when the reset comes. */
static unsigned devices_busy(void)
{
	struct vpci d;
	unsigned n = 0;
	for (unsigned slot = 0; slot < 32; slot++) {
		if (!vpci_find(slot, &d))
			continue;
		n++;
		cw(&d, C_STATUS, 1, 0);
		cw(&d, C_STATUS, 1, 3);
		for (unsigned word = 0; word < 2; word++) {
			cw(&d, C_DFSEL, 4, word);
			uint32_t offered = cr(&d, C_DF, 4);
			cw(&d, C_GFSEL, 4, word);
			cw(&d, C_GF, 4, offered & (word ? 1u : 0u));     /* VERSION_1 only */
		}
		cw(&d, C_STATUS, 1, 11);
		if (d.cap_msix) {
			vpci_msix_control(&d, 0x8000);
			for (unsigned v = 0; v < d.nvec; v++)
				vpci_msix_entry(&d);
		}
		for (unsigned q = 0; q < d.nq; q++)
			vpci_queue_sane(&d, q);
		cw(&d, C_STATUS, 1, 15);
		for (unsigned q = 0; q < d.nq; q++)
			mmio_write(d.bar + d.notify + q * d.notify_mult, 2, q);
	}
	return n;
}

/* With no IDT the #UD cannot be delivered, nor what follows: shutdown. */
static void triple_fault(void)
{
	static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) no_idt;
	__asm__ volatile("lidt %0\n\tud2" : : "m"(no_idt));
}

int main(void)
{
	idt_fill();
	uint8_t boot = (uint8_t)(cmos_get(BUSY_BOOT_COUNTER) + 1);
	cmos_put(BUSY_BOOT_COUNTER, boot);
	serial_puts("hostile: busy reset boot ");
	serial_put_dec(boot);
	serial_putc('\n');
	if (boot >= BUSY_BOOTS) {
		serial_puts("hostile: survived\n");
		return SURVIVED_CODE;
	}
	rng_state = SEED_VPCI ^ boot;
	ring_area_fill(RING_AREA, RING_SIZE / sizeof(struct desc));
	for (unsigned gsi = 16; gsi < 24; gsi++)
		ioapic_route(gsi, 0x50 + gsi);
	unsigned n = devices_busy();
	sti();
	serial_puts("hostile: ");
	serial_put_dec(n);
	serial_puts(" virtio-pci devices busy, resetting\n");
	switch (boot % 4) {
	case 0: outb(0xcf9, 0x02); outb(0xcf9, 0x06); break;
	case 1: while (inb(0x64) & 0x02) ; outb(0x64, 0xfe); break;
	case 2: triple_fault(); break;
	default: outb(0x92, inb(0x92) & (uint8_t)~1); outb(0x92, inb(0x92) | 1); break;
	}
	serial_puts("hostile: the reset did not happen\n");
	return 0x41;
}
#elif defined(SMP_STORM)
/* ---- the SMP storm: every vCPU on the same devices at once ---- */

#define TRAMPOLINE 0x9000UL
#define SMP_MAX_CPUS 8
#define SMP_ACCESSES 6000

extern const char smp_trampoline[], smp_trampoline_end[];
volatile uint32_t smp_checked_in;
volatile uint64_t smp_seen_mask;
volatile uint8_t smp_ap_exits;
uint8_t smp_ap_stacks[SMP_MAX_CPUS][16384] __attribute__((aligned(16)));
static volatile uint32_t smp_go, smp_done;
static volatile unsigned long smp_accesses;

static unsigned cpu_count(void)
{
	uint32_t eax = 1, ebx, ecx = 0, edx;
	__asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	return (edx & (1u << 28)) ? (ebx >> 16) & 0xff : 1;
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One access to a shared device: the UART's registers (never its
 * transmit register: the log must stay readable, and the line control
 * is put back before the BSP prints), the CMOS index/data pair, the
 * PIT, the i8042 (port_write_value()'s rules), port 0x61, and the
 * first virtio-mmio device's kicks, ISR, status reads and resets. */
static void smp_hit(uint64_t *s, uint64_t virtio)
{
	uint64_t r = xs(s);
	uint8_t v = (uint8_t)(r >> 32);
	switch (r % 8) {
	case 0: {
		uint16_t port = (uint16_t)(COM1 + 1 + (r >> 8) % 7);
		if ((r >> 16) & 1)
			inb(port);
		else if (port != COM1 + 3 || !(v & 0x80))   /* DLAB stays off */
			outb(port, v);
		break;
	}
	case 1:
		outb(0x70, (uint8_t)((r >> 8) & 0x7f));
		if ((r >> 16) & 1)
			inb(0x71);
		else
			outb(0x71, v);
		break;
	case 2:
		if ((r >> 16) & 1)
			inb((uint16_t)(0x40 + (r >> 8) % 4));
		else
			outb((uint16_t)(0x40 + (r >> 8) % 4), v);
		break;
	case 3: {
		uint16_t port = (r >> 8) & 1 ? 0x64 : 0x60;
		int64_t w = port_write_value(port, 1, v);
		if ((r >> 16) & 1 || w < 0)
			inb(port);
		else
			outb(port, (uint8_t)w);
		break;
	}
	case 4:
		outb(0x61, v & 0x0f);
		inb(0x61);
		break;
	default:
		if (!virtio)
			break;
		if ((r >> 8) % 64 == 0)
			vw(virtio, V_STATUS, 0);                 /* a reset under the others' kicks */
		vw(virtio, V_NOTIFY, (uint32_t)((r >> 16) % 4));
		vw(virtio, V_ACK, vr(virtio, V_ISR));
		vr(virtio, V_STATUS);
		break;
	}
	__atomic_fetch_add(&smp_accesses, 1, __ATOMIC_RELAXED);
}

static void smp_work(unsigned id)
{
	uint64_t s = SEED_PORTS ^ ((uint64_t)id + 1) * 0x9e3779b97f4a7c15ULL;
	uint64_t virtio = virtio_mmio_count() ? 0xd0000000UL : 0;
	while (!smp_go)
		__asm__ volatile("pause");
	for (unsigned i = 0; i < SMP_ACCESSES; i++) {
		smp_hit(&s, virtio);
		/* The BSP alone sets queues up (with the picks' addresses
		 * written whole, never a half of one with another's). */
		if (id == 0 && virtio && i % 256 == 0)
			virtio_round(virtio);
	}
	__atomic_fetch_add(&smp_done, 1, __ATOMIC_SEQ_CST);
}

void smp_ap_entry(unsigned id);
void smp_ap_entry(unsigned id)
{
	smp_work(id);
}

static void send_ipi_to_others(uint32_t command)
{
	lapic_write(LAPIC_ICR_HIGH, 0);
	lapic_write(LAPIC_ICR_LOW, command | (3u << 18));   /* all excluding self */
	while (lapic_read(LAPIC_ICR_LOW) & (1u << 12))
		;
}

int main(void)
{
	unsigned cpus = cpu_count();
	idt_fill();
	if (cpus > SMP_MAX_CPUS)
		cpus = SMP_MAX_CPUS;
	rng_state = SEED_VIRTIO;
	ring_area_fill(RING_AREA, RING_SIZE / sizeof(struct desc));
	volatile char *dst = (volatile char *)TRAMPOLINE;
	for (const char *src = smp_trampoline; src < smp_trampoline_end; src++)
		*dst++ = *src;
	lapic_write(LAPIC_SVR, 0x1ff);
	if (cpus > 1) {
		send_ipi_to_others(0x4500);
		send_ipi_to_others(0x4600 | (TRAMPOLINE >> 12));
		send_ipi_to_others(0x4600 | (TRAMPOLINE >> 12));
	}
	while (smp_checked_in < cpus - 1)
		__asm__ volatile("pause");
	serial_puts("hostile: smp storm on ");
	serial_put_dec(cpus);
	serial_puts(" cpus, ");
	serial_put_dec(virtio_mmio_count());
	serial_puts(" virtio-mmio devices\n");
	smp_go = 1;
	smp_work(0);
	while (smp_done < cpus)
		__asm__ volatile("pause");
	outb(COM1 + 3, 0x03);                    /* 8N1, DLAB off, */
	outb(COM1 + 4, 0x03);                    /* no loopback: the log again */
	outb(COM1 + 1, 0);
	serial_puts("\nhostile: smp storm done, ");
	serial_put_dec(smp_accesses);
	serial_puts(" accesses\n");
	serial_puts("hostile: survived\n");
	return SURVIVED_CODE;
}
#elif defined(ENDLESS_STORM)
/* The storm for ever: kvmini must still stop it (--timeout, SIGTERM). */
int main(void)
{
	idt_fill();
	rng_state = SEED_STORM;
	serial_puts("hostile: endless storm\n");
	storm_start();
	for (;;)
		sti_hlt();
}
#else
int main(void)
{
	idt_fill();
	serial_puts("hostile: start\n");
	rng_state = SEED_VIRTIO;
	ring_area_fill(RING_AREA, RING_SIZE / sizeof(struct desc));
	phase_ports();
	phase_storm();
	sti();
	phase_mmio();
	storm_stop();
	phase_lapic();
	phase_string();
	phase_virtio();
	phase_virtio_pci();
	phase("end", 0);
	serial_puts("hostile: ");
	serial_put_dec(interrupts);
	serial_puts(" interrupts\n");
	serial_puts("hostile: survived\n");
	return SURVIVED_CODE;
}
#endif
