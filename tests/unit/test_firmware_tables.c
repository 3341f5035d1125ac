/* Unit tests of the firmware tables (src/arch/x86/mptable.c, acpi.c),
 * written into plain guest memory without KVM: each table found the way
 * an OS finds it (a scan for the MP floating pointer and the RSDP), every
 * checksum and signature, the entries for 1, 2, 4 and the maximum number
 * of vCPUs, and Debian's iasl (acpica-tools) disassembling each ACPI table
 * without complaint and compiling it back to the same bytes. Also: the
 * loaders keep images off the firmware area, and the in-kernel irqchip's
 * routing matches what the tables say about IRQ 0. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "memory.h"
#include "board/board.h"
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/firmware.h"
#include "arch/x86/irqchip.h"
#include "arch/x86/mptable.h"
#include "loaders/loader.h"

#define MIB (1ULL << 20)

struct tables {
	struct guest_memory mem;
	uint64_t rsdp;
	const struct resources *devices[BOARD_MAX_DEVICES + 1];
	struct x86_firmware_desc desc;
};

/* The PC board's devices, as the machine describes them, for ncpus. */
static struct x86_firmware_desc pc_desc(const struct resources **devices, unsigned ncpus)
{
	return (struct x86_firmware_desc){
		.ncpus = ncpus, .devices = devices,
		.ndevices = board_resources(&pc_board, true, devices),
	};
}

static void write_desc(struct tables *t)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&t->mem, 2 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(mptable_write(&t->mem, &t->desc, &err), 0, "%s", err.msg);
	cr_assert_eq(acpi_write_tables(&t->mem, &t->desc, &t->rsdp, &err), 0, "%s", err.msg);
}

static void write_tables(struct tables *t, unsigned ncpus)
{
	t->desc = pc_desc(t->devices, ncpus);
	write_desc(t);
}

static const uint8_t *at(const struct tables *t, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = guest_ptr(&t->mem, gpa, len);
	cr_assert_not_null(p, "[0x%llx, +0x%llx) is not in guest RAM",
			   (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

static uint8_t sum(const uint8_t *p, uint64_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* The first 16-byte aligned address in [start, start+len) holding
 * `sig` with a valid checksum over `sum_len` bytes, or 0. */
static uint64_t scan(const struct tables *t, uint64_t start, uint64_t len, const char *sig,
		     uint64_t sum_len)
{
	for (uint64_t a = start; a + sum_len <= start + len; a += 16) {
		const uint8_t *p = at(t, a, sum_len);
		if (memcmp(p, sig, strlen(sig)) == 0 && sum(p, sum_len) == 0)
			return a;
	}
	return 0;
}

/* Where an OS looks for the MP floating pointer: the EBDA's first KiB
 * (none here: the BIOS data area says 0), the last KiB of base memory,
 * then the BIOS ROM area 0xf0000-0xfffff. */
static uint64_t find_mp(const struct tables *t)
{
	uint64_t found = scan(t, 639 * 1024, 1024, "_MP_", 16);
	return found ? found : scan(t, 0xf0000, 0x10000, "_MP_", 16);
}

/* ==== the MP table ==== */

static void check_mp(unsigned ncpus)
{
	struct tables t;
	write_tables(&t, ncpus);
	uint64_t fp_addr = find_mp(&t);
	cr_assert_eq(fp_addr, MP_FLOATING_ADDR, "floating pointer at 0x%llx",
		     (unsigned long long)fp_addr);
	const uint8_t *fp = at(&t, fp_addr, 16);
	cr_assert_eq(fp[8], 1, "length in paragraphs");
	cr_assert_eq(fp[9], 4, "MPS 1.4");
	cr_assert_eq(fp[11], 0, "feature byte 1: a configuration table follows");

	uint32_t cfg_addr = get32(fp + 4);
	const uint8_t *h = at(&t, cfg_addr, 44);
	uint16_t length = get16(h + 4);
	const uint8_t *cfg = at(&t, cfg_addr, length);
	cr_assert(memcmp(cfg, "PCMP", 4) == 0);
	cr_assert_eq(sum(cfg, length), 0, "configuration table checksum");
	cr_assert_eq(length, mptable_config_size(&t.desc));
	uint16_t level;
	uint16_t declared = x86_firmware_isa_irqs(&t.desc, &level);
	cr_assert_eq(declared, 0x1313, "the PC's devices: IRQs 0 (PIT), 1, 4, 8, 9, 12");
	cr_assert_eq(cfg[6], 4);
	cr_assert_eq(get32(cfg + 36), 0xfee00000u, "local APIC address");
	uint16_t count = get16(cfg + 34);
	unsigned nirqs = (unsigned)__builtin_popcount(declared);
	cr_assert_eq(count, ncpus + 1 + 1 + nirqs + 2, "entries: cpus, bus, IOAPIC, IRQs, 2 LINTs");

	unsigned cpus = 0, buses = 0, ioapics = 0, irqs = 0, lints = 0;
	uint32_t irq_seen = 0;
	const uint8_t *e = cfg + 44;
	for (unsigned i = 0; i < count; i++) {
		cr_assert_lt(e, cfg + length, "entry %u past the table's length", i);
		switch (e[0]) {
		case 0:
			cr_assert_eq(e[1], cpus, "processor %u's APIC ID", cpus);
			cr_assert_eq(e[2], 0x14, "local APIC version");
			cr_assert_eq(e[3], cpus == 0 ? 3 : 1, "processor %u flags (EN, BP on 0)", cpus);
			cpus++;
			e += 20;
			continue;
		case 1:
			cr_assert_eq(e[1], 0);
			cr_assert(memcmp(e + 2, "ISA   ", 6) == 0);
			buses++;
			break;
		case 2:
			cr_assert_eq(e[1], x86_ioapic_id(ncpus), "IOAPIC ID");
			cr_assert_eq(e[3], 1, "IOAPIC enabled");
			cr_assert_eq(get32(e + 4), 0xfec00000u, "IOAPIC address");
			ioapics++;
			break;
		case 3:
			cr_assert_eq(e[1], 0, "INT");
			cr_assert_eq(e[4], 0, "source bus ISA");
			cr_assert_eq(e[6], x86_ioapic_id(ncpus), "destination IOAPIC ID");
			cr_assert_eq(e[7], e[5] == 0 ? 2 : e[5], "IRQ %u's pin", e[5]);
			cr_assert_neq(e[5], 2, "IRQ 2 is the cascade");
			cr_assert_eq(get16(e + 2), level & (1u << e[5]) ? 0xd : 0,
				     "IRQ %u's trigger and polarity", e[5]);
			irq_seen |= 1u << e[5];
			irqs++;
			break;
		case 4:
			cr_assert_eq(e[1], lints == 0 ? 3 : 1, "ExtINT on LINT0, NMI on LINT1");
			cr_assert_eq(e[6], 0xff, "every local APIC");
			cr_assert_eq(e[7], lints);
			lints++;
			break;
		default:
			cr_assert_fail("unknown MP entry type %u", e[0]);
		}
		e += 8;
	}
	cr_assert_eq(e, cfg + length, "entries end where the table does");
	cr_assert_eq(cpus, ncpus);
	cr_assert_eq(buses + ioapics, 2);
	cr_assert_eq(irqs, nirqs);
	cr_assert_eq(irq_seen, declared, "every declared ISA IRQ, once");
	cr_assert_eq(lints, 2);
	guest_memory_free(&t.mem);
}

Test(mptable, one_cpu) { check_mp(1); }
Test(mptable, two_cpus) { check_mp(2); }
Test(mptable, four_cpus) { check_mp(4); }
Test(mptable, most_cpus) { check_mp(X86_FIRMWARE_MAX_CPUS); }

/* ==== ACPI ==== */

/* A table named in the XSDT, checked: signature, checksum, length. */
static const uint8_t *acpi_table(const struct tables *t, uint64_t addr, const char *sig)
{
	const uint8_t *h = at(t, addr, 36);
	uint32_t length = get32(h + 4);
	const uint8_t *table = at(t, addr, length);
	cr_assert(memcmp(table, sig, 4) == 0, "%s expected at 0x%llx", sig, (unsigned long long)addr);
	cr_assert_eq(sum(table, length), 0, "%s checksum", sig);
	cr_assert(memcmp(table + 10, "KVMINI", 6) == 0, "%s OEM ID", sig);
	return table;
}

static void check_madt(const uint8_t *m, const struct x86_firmware_desc *desc)
{
	unsigned ncpus = desc->ncpus;
	cr_assert_eq(get32(m + 4), acpi_madt_size(desc));
	cr_assert_eq(m[8], 4, "MADT revision");
	cr_assert_eq(get32(m + 36), 0xfee00000u, "local APIC address");
	cr_assert_eq(get32(m + 40), 1, "PCAT_COMPAT");
	unsigned cpus = 0, ioapics = 0, overrides = 0, nmis = 0;
	const uint8_t *e = m + 44, *end = m + get32(m + 4);
	while (e < end) {
		cr_assert_geq(e[1], 2);
		switch (e[0]) {
		case 0:
			cr_assert_eq(e[1], 8);
			cr_assert_eq(e[2], cpus, "processor UID");
			cr_assert_eq(e[3], cpus, "APIC ID");
			cr_assert_eq(get32(e + 4), 1, "enabled");
			cpus++;
			break;
		case 1:
			cr_assert_eq(e[1], 12);
			cr_assert_eq(e[2], x86_ioapic_id(ncpus), "IOAPIC ID");
			cr_assert_eq(get32(e + 4), 0xfec00000u);
			cr_assert_eq(get32(e + 8), 0, "GSI base");
			ioapics++;
			break;
		case 2:
			cr_assert_eq(e[1], 10);
			cr_assert_eq(e[2], 0, "ISA");
			if (e[3] == 0) {
				cr_assert_eq(get32(e + 4), 2, "IRQ 0 -> GSI 2");
				cr_assert_eq(get16(e + 8), 0, "as the ISA bus says");
			} else {
				cr_assert_eq(e[3], 9, "the SCI");
				cr_assert_eq(get32(e + 4), 9);
				cr_assert_eq(get16(e + 8), 0xd, "level, active high");
			}
			overrides++;
			break;
		case 4:
			cr_assert_eq(e[1], 6);
			cr_assert_eq(e[2], 0xff, "every processor");
			cr_assert_eq(e[5], 1, "LINT1");
			nmis++;
			break;
		default:
			cr_assert_fail("unexpected MADT entry type %u", e[0]);
		}
		e += e[1];
	}
	cr_assert_eq(e, end);
	cr_assert_eq(cpus, ncpus);
	cr_assert_eq(ioapics, 1);
	cr_assert_eq(overrides, 2);
	cr_assert_eq(nmis, 1);
}

static void check_fadt(const struct tables *t, const uint8_t *f)
{
	cr_assert_eq(get32(f + 4), 276, "ACPI 6.0 FADT length");
	cr_assert_eq(f[8], 6, "FADT revision");
	cr_assert_eq(get32(f + 36), ACPI_FACS_ADDR, "FIRMWARE_CTRL");
	cr_assert_eq(get32(f + 40), ACPI_DSDT_ADDR, "DSDT");
	cr_assert_eq(get64(f + 140), ACPI_DSDT_ADDR, "X_DSDT");
	cr_assert_eq(get16(f + 46), 9, "SCI_INT");
	cr_assert_eq(get32(f + 48), 0, "no SMI_CMD: always in ACPI mode");
	cr_assert_eq(get32(f + 56), 0x600, "PM1a_EVT_BLK");
	cr_assert_eq(get32(f + 64), 0x604, "PM1a_CNT_BLK");
	cr_assert_eq(f[88], 4, "PM1_EVT_LEN");
	cr_assert_eq(f[89], 2, "PM1_CNT_LEN");
	cr_assert_eq(get32(f + 112) & (1u << 20), 0, "not hardware-reduced");
	cr_assert_eq(get64(f + 148 + 4), 0x600, "X_PM1a_EVT_BLK address");
	cr_assert_eq(get64(f + 172 + 4), 0x604, "X_PM1a_CNT_BLK address");
	cr_assert_eq(f[116], 1, "reset register in I/O space");
	cr_assert_eq(get64(f + 120), 0xcf9);
	cr_assert_eq(f[128], 6, "reset value");
	cr_assert_eq(f[108], 0x32, "RTC century register");

	const uint8_t *facs = at(t, get32(f + 36), 64);
	cr_assert(memcmp(facs, "FACS", 4) == 0);
	cr_assert_eq(get32(facs + 4), 64);
	cr_assert_eq(get32(f + 36) % 64, 0, "the FACS is 64-byte aligned");

	const uint8_t *dsdt = acpi_table(t, get64(f + 140), "DSDT");
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
				      0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	cr_assert_leq(get32(dsdt + 4), ACPI_DSDT_MAX);
	cr_assert(memcmp(dsdt + 36, s5, sizeof(s5)) == 0, "Name (\\_S5, Package (4) {5, 5, 0, 0})");
}

/* The PC's HPET: 3 timers, 64-bit, legacy capable, at 0xfed00000. */
static void check_hpet(const uint8_t *h)
{
	cr_assert_eq(get32(h + 4), 56, "HPET table length");
	cr_assert_eq(h[8], 1, "revision");
	cr_assert_eq(get32(h + 36), 0x8086a201u, "event timer block ID");
	cr_assert_eq(h[40], 0, "base address in system memory");
	cr_assert_eq(get64(h + 44), 0xfed00000u);
	cr_assert_eq(h[52], 0, "HPET number");
	cr_assert_eq(get16(h + 53), 10000, "minimum tick: 100 us at 100 MHz");
}

static void check_acpi(unsigned ncpus)
{
	struct tables t;
	write_tables(&t, ncpus);
	/* An OS scans 0xe0000-0xfffff on 16-byte boundaries for the RSDP. */
	uint64_t rsdp_addr = scan(&t, 0xe0000, 0x20000, "RSD PTR ", 20);
	cr_assert_eq(rsdp_addr, ACPI_RSDP_ADDR);
	cr_assert_eq(t.rsdp, rsdp_addr, "the address the writer reports");
	const uint8_t *rsdp = at(&t, rsdp_addr, 36);
	cr_assert_eq(rsdp[15], 2, "ACPI 2.0+ RSDP");
	cr_assert_eq(get32(rsdp + 20), 36);
	cr_assert_eq(sum(rsdp, 36), 0, "extended checksum");

	const uint8_t *xsdt = acpi_table(&t, get64(rsdp + 24), "XSDT");
	cr_assert_eq(get32(xsdt + 4), 36 + 3 * 8, "three entries");
	check_fadt(&t, acpi_table(&t, get64(xsdt + 36), "FACP"));
	check_madt(acpi_table(&t, get64(xsdt + 44), "APIC"), &t.desc);
	check_hpet(acpi_table(&t, get64(xsdt + 52), "HPET"));
	guest_memory_free(&t.mem);
}

Test(acpi, one_cpu) { check_acpi(1); }
Test(acpi, two_cpus) { check_acpi(2); }
Test(acpi, four_cpus) { check_acpi(4); }
Test(acpi, most_cpus) { check_acpi(X86_FIRMWARE_MAX_CPUS); }

Test(firmware, every_table_stays_inside_the_firmware_area)
{
	const struct resources *devices[BOARD_MAX_DEVICES];
	struct x86_firmware_desc desc = pc_desc(devices, X86_FIRMWARE_MAX_CPUS);
	cr_assert_leq(mptable_config_size(&desc), MP_CONFIG_MAX);
	cr_assert_leq(MP_CONFIG_ADDR + MP_CONFIG_MAX, X86_TABLES_END);
	cr_assert_leq(ACPI_MADT_ADDR + acpi_madt_size(&desc), ACPI_HPET_ADDR);
	cr_assert_leq(ACPI_HPET_ADDR + sizeof(struct acpi_hpet), ACPI_DSDT_ADDR);
	cr_assert_leq(ACPI_TABLES_END, MP_CONFIG_ADDR);
	cr_assert_leq(X86_TABLES_END, MP_FLOATING_ADDR);
	cr_assert_geq(ACPI_RSDP_ADDR, X86_FIRMWARE_START);
}

Test(firmware, cpu_counts_outside_the_range_are_refused)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };
	uint64_t rsdp = 0;
	const struct resources *devices[BOARD_MAX_DEVICES];
	struct x86_firmware_desc none = pc_desc(devices, 0);
	struct x86_firmware_desc too_many = pc_desc(devices, X86_FIRMWARE_MAX_CPUS + 1);
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0);
	cr_assert_eq(mptable_write(&mem, &none, &err), -1);
	cr_assert_eq(mptable_write(&mem, &too_many, &err), -1);
	cr_assert(strstr(err.msg, "255 vCPUs: the MP table describes 1 to 254"), "%s", err.msg);
	cr_assert_eq(acpi_write_tables(&mem, &too_many, &rsdp, &err), -1);
	cr_assert(strstr(err.msg, "255 vCPUs: the ACPI tables describe 1 to 254"), "%s", err.msg);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	guest_memory_free(&mem);
}

Test(firmware, ram_below_the_area_is_refused_with_a_message)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };
	uint64_t rsdp = 0;
	const struct resources *devices[BOARD_MAX_DEVICES];
	struct x86_firmware_desc one = pc_desc(devices, 1);
	cr_assert_eq(guest_memory_init(&mem, 512 << 10, 0, &err), 0);
	cr_assert_eq(mptable_write(&mem, &one, &err), -1);
	cr_assert(strstr(err.msg, "guest RAM too small for the MP table"), "%s", err.msg);
	cr_assert_eq(acpi_write_tables(&mem, &one, &rsdp, &err), -1);
	cr_assert(strstr(err.msg, "guest RAM too small for the ACPI tables"), "%s", err.msg);
	guest_memory_free(&mem);
}

/* ==== iasl from acpica-tools ==== */

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "iasl wrote no %s", path);
	static char buf[1 << 16];
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

static void run(const char *dir, const char *command, const char *log)
{
	char line[1024];
	snprintf(line, sizeof(line), "cd %s && %s > %s 2>&1", dir, command, log);
	int status = system(line);
	size_t n;
	cr_assert_eq(status, 0, "'%s' failed (%d): %s", command, status,
		     read_file(log, &n));
}

/* Disassemble one table; iasl must recognise it and find nothing wrong
 * (it reports a bad checksum or length as a warning, not a failure). */
static const char *disassemble(const char *dir, const char *name, const uint8_t *table,
			       uint32_t length)
{
	char path[512], log[512];
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	write_file(path, table, length);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	char command[256];
	snprintf(command, sizeof(command), "iasl -d %s.dat", name);
	run(dir, command, log);
	size_t n;
	const char *out = read_file(log, &n);
	cr_assert_not_null(strstr(out, "decoded") ? out : strstr(out, "Disassembly completed"),
			   "iasl did not decode %s: %s", name, out);
	for (const char *bad = "Warning\0Error\0Incorrect\0Invalid\0Unknown\0"; *bad;
	     bad += strlen(bad) + 1)
		cr_assert_null(strstr(out, bad), "iasl on %s says '%s': %s", name, bad, out);
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	const char *dsl = read_file(path, &n);
	for (const char *bad = "Incorrect\0Invalid\0Unknown\0**** \0"; *bad; bad += strlen(bad) + 1)
		cr_assert_null(strstr(dsl, bad), "%s.dsl has '%s':\n%s", name, bad, dsl);
	return dsl;
}

/* Compile the disassembly back without a warning. With `compare`, it
 * must give the same bytes, but for the creator ID and revision iasl puts
 * in a standard header (and so the checksum). */
static void round_trip(const char *dir, const char *name, const uint8_t *table, uint32_t length,
		       bool compare, bool header)
{
	char command[256], log[512], path[512];
	snprintf(command, sizeof(command), "iasl -p back_%s %s.dsl", name, name);
	snprintf(log, sizeof(log), "%s/back_%s.log", dir, name);
	run(dir, command, log);
	size_t n;
	const char *out = read_file(log, &n);
	cr_assert(strstr(out, "0 Errors, 0 Warnings, 0 Remarks"), "iasl compiling %s: %s", name, out);
	if (!compare)
		return;
	snprintf(path, sizeof(path), "%s/back_%s.aml", dir, name);
	const uint8_t *back = (const uint8_t *)read_file(path, &n);
	cr_assert_eq(n, length, "%s: %zu bytes back, %u written", name, n, length);
	for (uint32_t i = 0; i < length; i++)
		if (!header || (i != 9 && (i < 28 || i >= 36)))
			cr_assert_eq(back[i], table[i], "%s byte %u: 0x%02x back, 0x%02x written",
				     name, i, back[i], table[i]);
}

Test(iasl, disassembles_every_acpi_table_cleanly)
{
	if (system("command -v iasl > /dev/null 2>&1") != 0)
		cr_assert_fail("iasl missing: scripts/install-deps.sh test installs acpica-tools");
	struct tables t;
	write_tables(&t, 4);
	char dir[] = "/tmp/kvmini-acpi-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	static const struct { const char *name; uint64_t addr; } tables[] = {
		{ "xsdt", ACPI_XSDT_ADDR }, { "facp", ACPI_FADT_ADDR },
		{ "apic", ACPI_MADT_ADDR }, { "facs", ACPI_FACS_ADDR },
	};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		uint32_t length = get32(at(&t, tables[i].addr + 4, 4));
		const uint8_t *table = at(&t, tables[i].addr, length);
		disassemble(dir, tables[i].name, table, length);
		round_trip(dir, tables[i].name, table, length, true, tables[i].addr != ACPI_FACS_ADDR);
	}
	/* The DSDT's AML: iasl writes \_S5 back without the root prefix, one
	 * byte shorter, so it compiles cleanly but not to the same bytes. */
	const uint8_t *dsdt = at(&t, ACPI_DSDT_ADDR, get32(at(&t, ACPI_DSDT_ADDR + 4, 4)));
	const char *dsl = disassemble(dir, "dsdt", dsdt, get32(dsdt + 4));
	cr_assert(strstr(dsl, "Name (\\_S5, Package (0x04)"), "%s", dsl);
	cr_assert(strstr(dsl, "0x05, \n        0x05, \n        Zero, \n        Zero"), "%s", dsl);
	cr_assert(strstr(dsl, "Device (COM1)"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_HID, EisaId (\"PNP0501\")"), "%s", dsl);
	cr_assert(strstr(dsl, "IO (Decode16,\n                    0x03F8,"), "%s", dsl);
	cr_assert(strstr(dsl, "IRQNoFlags ()\n                    {4}"), "%s", dsl);
	cr_assert(strstr(dsl, "Device (KBD)") && strstr(dsl, "Device (RTC)") &&
		  strstr(dsl, "Device (TMR)"), "%s", dsl);
	round_trip(dir, "dsdt", dsdt, get32(dsdt + 4), false, true);
	char cleanup[128];
	snprintf(cleanup, sizeof(cleanup), "rm -rf %s", dir);
	cr_assert_eq(system(cleanup), 0);
	guest_memory_free(&t.mem);
}

/* ==== the tables follow the devices' declared resources ==== */

/* The Device (name) object in the DSDT: its body (after the name) and
 * the body's length, or NULL. */
static const uint8_t *dsdt_device(const uint8_t *dsdt, const char *name, size_t *len)
{
	uint32_t total = get32(dsdt + 4);
	for (uint32_t i = 36; i + 8 < total; i++) {
		if (dsdt[i] != 0x5b || dsdt[i + 1] != 0x82)
			continue;
		const uint8_t *pkg = dsdt + i + 2;
		unsigned n = (pkg[0] >> 6) + 1;
		size_t pkg_len = n == 1 ? pkg[0] & 0x3f : (pkg[0] & 0x0f);
		for (unsigned k = 1; k < n; k++)
			pkg_len |= (size_t)pkg[k] << (4 + 8 * (k - 1));
		if (memcmp(pkg + n, name, 4) == 0 && i + 2 + pkg_len <= total) {
			*len = pkg_len - n - 4;
			return pkg + n + 4;
		}
	}
	return NULL;
}

static bool has_bytes(const uint8_t *p, size_t len, const uint8_t *want, size_t n)
{
	return memmem(p, len, want, n) != NULL;
}

/* The MP table's I/O interrupt entry for ISA IRQ irq, or NULL. */
static const uint8_t *mp_irq(const struct tables *t, unsigned irq)
{
	const uint8_t *cfg = at(t, MP_CONFIG_ADDR, 44);
	uint16_t length = get16(cfg + 4);
	cfg = at(t, MP_CONFIG_ADDR, length);
	for (const uint8_t *e = cfg + 44; e < cfg + length; e += e[0] == 0 ? 20 : 8)
		if (e[0] == 3 && e[5] == irq)
			return e;
	return NULL;
}

/* Each port range and line of `res` in its DSDT device and the MP table. */
static void expect_described(const struct tables *t, const struct resources *res)
{
	for (unsigned i = 0; i < res->nirqs; i++)
		if (res->irqs[i].line != 2)
			cr_assert_not_null(mp_irq(t, res->irqs[i].line), "MP entry for IRQ %u",
					   res->irqs[i].line);
	if (!res->acpi_hid)
		return;
	const uint8_t *dsdt = at(t, ACPI_DSDT_ADDR, ACPI_DSDT_MAX);
	size_t len;
	const uint8_t *dev = dsdt_device(dsdt, res->acpi_name, &len);
	cr_assert_not_null(dev, "Device (%s) in the DSDT", res->acpi_name);
	uint32_t hid;
	cr_assert(aml_eisa_id(res->acpi_hid, &hid));
	uint8_t name_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, (uint8_t)hid, (uint8_t)(hid >> 8),
			       (uint8_t)(hid >> 16), (uint8_t)(hid >> 24) };
	cr_assert(has_bytes(dev, len, name_hid, sizeof(name_hid)), "%s: _HID %s", res->acpi_name,
		  res->acpi_hid);
	for (unsigned i = 0; i < res->nranges; i++) {
		if (res->ranges[i].space == RESOURCE_SPACE_MMIO) {
			uint32_t m = (uint32_t)res->ranges[i].base, n = (uint32_t)res->ranges[i].len;
			uint8_t mem32[] = { 0x86, 0x09, 0x00, 0x01, (uint8_t)m, (uint8_t)(m >> 8),
					    (uint8_t)(m >> 16), (uint8_t)(m >> 24), (uint8_t)n,
					    (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
			cr_assert(has_bytes(dev, len, mem32, sizeof(mem32)), "%s: memory at 0x%x",
				  res->acpi_name, m);
			continue;
		}
		uint16_t b = (uint16_t)res->ranges[i].base;
		uint8_t io[] = { 0x47, 0x01, (uint8_t)b, (uint8_t)(b >> 8), (uint8_t)b,
				 (uint8_t)(b >> 8), 0x01, (uint8_t)res->ranges[i].len };
		cr_assert(has_bytes(dev, len, io, sizeof(io)), "%s: IO at 0x%x", res->acpi_name, b);
	}
	for (unsigned i = 0; i < res->nirqs; i++) {
		unsigned mask = 1u << res->irqs[i].line;
		uint8_t irq[] = { res->irqs[i].level ? 0x23 : 0x22, (uint8_t)mask, (uint8_t)(mask >> 8) };
		cr_assert(has_bytes(dev, len, irq, sizeof(irq)), "%s: IRQ %u", res->acpi_name,
			  res->irqs[i].line);
	}
}

Test(firmware, every_declared_resource_is_in_the_tables)
{
	struct tables t;
	write_tables(&t, 2);
	cr_assert_geq(t.desc.ndevices, 9, "the PIT and the PC's eight devices");
	for (size_t i = 0; i < t.desc.ndevices; i++)
		expect_described(&t, t.desc.devices[i]);
	uint32_t hid;
	cr_assert(aml_eisa_id("PNP0501", &hid));
	cr_assert_eq(hid, 0x0105d041u, "EisaId (\"PNP0501\")");
	cr_assert_not(aml_eisa_id("pnp0501", &hid));
	cr_assert_not(aml_eisa_id("PNP05G1", &hid));
	guest_memory_free(&t.mem);
}

/* A device the board does not have: declaring it is all it takes. */
static const struct resources com2 = {
	.ranges = { { RESOURCE_SPACE_PORT, 0x2f8, 8, NULL, "COM2" } }, .nranges = 1,
	.irqs = { { 3, false } }, .nirqs = 1,
	.acpi_name = "COM2", .acpi_hid = "PNP0501",
};
static const struct resources level_irq_device = {
	.ranges = { { RESOURCE_SPACE_PORT, 0x700, 4, NULL, "level" } }, .nranges = 1,
	.irqs = { { 11, true } }, .nirqs = 1,
};

/* The PC's own devices and two new ones. */
Test(firmware, a_new_device_appears_by_declaring_its_resources)
{
	struct tables t;
	t.desc = (struct x86_firmware_desc){
		.ncpus = 1, .devices = t.devices,
		.ndevices = board_resources(&pc_board, false, t.devices),
	};
	t.devices[t.desc.ndevices++] = &com2;
	t.devices[t.desc.ndevices++] = &level_irq_device;
	write_desc(&t);
	expect_described(&t, &com2);
	expect_described(&t, &level_irq_device);
	cr_assert_eq(get16(mp_irq(&t, 11) + 2), 0xd, "level, active high in the MP table");
	cr_assert_eq(get16(mp_irq(&t, 3) + 2), 0, "as the ISA bus says");
	/* The MADT overrides the level-triggered line, not the edge one. */
	const uint8_t *m = at(&t, ACPI_MADT_ADDR, acpi_madt_size(&t.desc));
	bool irq11 = false, irq3 = false;
	for (const uint8_t *e = m + 44; e < m + get32(m + 4); e += e[1]) {
		irq11 |= e[0] == 2 && e[3] == 11 && get16(e + 8) == 0xd;
		irq3 |= e[0] == 2 && e[3] == 3;
	}
	cr_assert(irq11);
	cr_assert_not(irq3);
	guest_memory_free(&t.mem);
}

Test(firmware, devices_beyond_the_dsdt_room_are_refused)
{
	/* More devices than any board lists: each one's Device () object
	 * takes a few dozen bytes, 1000 of them more than the DSDT's room. */
	static const struct resources *many[1000];
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = &com2;
	struct x86_firmware_desc desc = { .ncpus = 1, .devices = many, .ndevices = 1000 };
	struct guest_memory mem;
	uint64_t rsdp;
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0);
	cr_assert_eq(acpi_write_tables(&mem, &desc, &rsdp, &err), -1);
	cr_assert(strstr(err.msg, "the DSDT's devices need more than its 12288 bytes at 0xe1000"),
		  "%s", err.msg);
	guest_memory_free(&mem);
}

/* ==== who else must agree with the tables ==== */

static int load_flat_at(struct guest_memory *mem, uint64_t addr, uint64_t size,
			enum kvmini_mode mode, struct kvmini_error *err)
{
	static uint8_t bytes[0x200];
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_RAW, .path = "fw.bin", .data = bytes, .size = size,
		.mode_set = true, .mode = mode, .load_addr_set = true, .load_addr = addr,
	};
	struct load_result out;
	return load_flat(mem, &img, &out, err);
}

/* Refused over the tables' ranges once they are reserved (a VM with an
 * irqchip), and accepted when nothing is (no irqchip: no tables). */
static void expect_flat_refused(uint64_t addr, uint64_t size, enum kvmini_mode mode,
				const char *fragment)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0);
	cr_assert_eq(load_flat_at(&mem, addr, size, mode, &err), 0, "no tables: %s", err.msg);
	cr_assert_eq(x86_firmware_reserve(&mem), 0);
	cr_assert_eq(load_flat_at(&mem, addr, size, mode, &err), -1, "0x%llx accepted",
		     (unsigned long long)addr);
	cr_assert(strstr(err.msg, fragment), "%s", err.msg);
	guest_memory_free(&mem);
}

static void expect_flat_accepted(uint64_t addr, uint64_t size, enum kvmini_mode mode)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0);
	cr_assert_eq(x86_firmware_reserve(&mem), 0);
	cr_assert_eq(load_flat_at(&mem, addr, size, mode, &err), 0, "0x%llx: %s",
		     (unsigned long long)addr, err.msg);
	guest_memory_free(&mem);
}

Test(firmware, loaders_keep_images_off_the_tables_in_every_mode)
{
	const char *tables = "overlaps the ACPI and MP tables [0xe0000, 0xe6000)";
	expect_flat_refused(0xe0000, 0x10, KVMINI_MODE_REAL, tables);
	expect_flat_refused(0xdff00, 0x101, KVMINI_MODE_REAL, tables);
	expect_flat_refused(0xe5ff0, 0x20, KVMINI_MODE_PROTECTED, tables);
	expect_flat_refused(0xf0000, 0x10, KVMINI_MODE_LONG,
			    "overlaps the MP floating pointer [0xf0000, 0xf0010)");
	/* Right below, between and after the tables' ranges. */
	expect_flat_accepted(0xdff00, 0x100, KVMINI_MODE_REAL);
	expect_flat_accepted(0xe6000, 0x200, KVMINI_MODE_REAL);
	expect_flat_accepted(0xefe00, 0x200, KVMINI_MODE_PROTECTED);
	expect_flat_accepted(0xf0010, 0x200, KVMINI_MODE_REAL);
	expect_flat_accepted(0xfff00, 0x200, KVMINI_MODE_PROTECTED);
}

Test(firmware, irqchip_routes_irq0_to_the_pin_the_tables_name)
{
	struct kvm_irq_routing_entry routes[X86_ISA_ROUTES];
	unsigned n = 0;
	x86_irqchip_isa_routes(routes, &n);
	cr_assert_eq(n, X86_ISA_ROUTES);
	unsigned ioapic_pins = 0, pic_pins = 0;
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(routes[i].type, KVM_IRQ_ROUTING_IRQCHIP);
		unsigned gsi = routes[i].gsi, chip = routes[i].u.irqchip.irqchip;
		unsigned pin = routes[i].u.irqchip.pin;
		cr_assert_neq(gsi, 2, "nothing raises GSI 2");
		if (chip == KVM_IRQCHIP_IOAPIC) {
			cr_assert_eq(pin, gsi == 0 ? X86_IRQ0_IOAPIC_PIN : gsi, "GSI %u", gsi);
			ioapic_pins++;
		} else {
			cr_assert_lt(gsi, 16);
			cr_assert_eq(chip, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE);
			cr_assert_eq(pin, gsi % 8);
			pic_pins++;
		}
	}
	cr_assert_eq(ioapic_pins, 23, "GSIs 0-23 but 2");
	cr_assert_eq(pic_pins, 15, "ISA IRQs 0-15 but 2");
}

/* An image filling the BIOS area around the tables' ranges (what ld
 * -Ttext=0x100000 puts at 0xff000, and more) loads on a reserved RAM,
 * and writing the tables after it leaves every image byte in place
 * while the scans still find valid tables. */
Test(firmware, tables_written_after_an_image_around_them_leave_both_intact)
{
	struct tables t;
	struct kvmini_error err = { 0 };
	t.desc = pc_desc(t.devices, 4);
	cr_assert_eq(guest_memory_init(&t.mem, 2 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(x86_firmware_reserve(&t.mem), 0);
	static uint8_t image[0x10000 - 0x10];
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7 + 1);
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_RAW, .path = "fw.bin", .data = image, .size = sizeof(image),
		.mode_set = true, .mode = KVMINI_MODE_PROTECTED, .load_addr_set = true,
		.load_addr = X86_MP_POINTER_ADDR + X86_MP_POINTER_SIZE,
	};
	struct load_result out;
	cr_assert_eq(load_flat(&t.mem, &img, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(mptable_write(&t.mem, &t.desc, &err), 0, "%s", err.msg);
	cr_assert_eq(acpi_write_tables(&t.mem, &t.desc, &t.rsdp, &err), 0, "%s", err.msg);
	cr_assert_eq(memcmp(at(&t, img.load_addr, sizeof(image)), image, sizeof(image)), 0,
		     "the image was overwritten");
	cr_assert_eq(find_mp(&t), MP_FLOATING_ADDR);
	cr_assert_eq(scan(&t, 0xe0000, 0x20000, "RSD PTR ", 20), ACPI_RSDP_ADDR);
	guest_memory_free(&t.mem);
}
