/* QEMU's pc-testdev, the device kvm-unit-tests' x86 tests drive; only
 * with --testdev (kvmini_config.testdev):
 *   0xe0-0xe3    a latch: a write of 1, 2 or 4 bytes stores the value
 *                (zero-extended), a read returns it
 *   0xe4-0xe7    page flush: writes accepted and ignored (kvmini keeps
 *                no host mapping to drop), reads 0
 *   0x2000+n     for n < 24: writing 1 raises, 0 lowers ISA IRQ line n
 *                (lines 16-23 reach IOAPIC pins with an IOAPIC)
 *   0xff000000   64 KiB of RAM-like MMIO (clear of the IOAPIC, the local
 *                APIC and KVM's TSS and identity map, which are at
 *                0xfec00000, 0xfee00000, 0xfffbc000-0xfffbffff) */
#ifndef KVMINI_TESTDEV_H
#define KVMINI_TESTDEV_H

#include "bus.h"
#include "device.h"

#define TESTDEV_LATCH_PORT  0xe0
#define TESTDEV_FLUSH_PORT  0xe4
#define TESTDEV_IRQ_PORT    0x2000
#define TESTDEV_IRQ_LINES   24
#define TESTDEV_MMIO_BASE   0xff000000ULL
#define TESTDEV_MMIO_SIZE   0x10000ULL

extern const struct bus_device_ops testdev_latch_ops, testdev_flush_ops, testdev_irq_ops,
	testdev_mmio_ops;
extern const struct device_type testdev_device;

#endif
