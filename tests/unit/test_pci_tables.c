/* The firmware's view of the PCI host bridge (src/arch/x86/acpi.c with
 * desc->pci): the MCFG table in the XSDT, and in the DSDT the root
 * bridge PCI0 with its bus range, windows and _PRT, and the PNP0C02
 * device reserving ECAM. Checked byte by byte and by Debian's iasl
 * disassembling both tables cleanly. No KVM. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "arch/x86/firmware.h"
#include "arch/x86/mptable.h"
#include "board/board.h"

#define MIB (1ULL << 20)

static const struct x86_pci_desc pci = {
	.ecam_base = X86_PCI_ECAM_BASE, .mmio_base = X86_PCI_MMIO_BASE,
	.mmio_end = X86_PCI_MMIO_END, .intx_gsi = X86_PCI_INTX_GSI,
	.intx_lines = X86_PCI_INTX_LINES,
};

static struct guest_memory mem;
static const struct resources *devices[BOARD_MAX_DEVICES];

static void write_tables(const struct x86_pci_desc *with)
{
	struct kvmini_error err = { 0 };
	struct x86_firmware_desc desc = {
		.ncpus = 2, .devices = devices,
		.ndevices = board_resources(&pc_board, true, devices), .pci = with,
	};
	uint64_t rsdp;
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(acpi_write_tables(&mem, &desc, &rsdp, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	guest_memory_free(&mem);
}

TestSuite(pci_tables, .fini = teardown);

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static const uint8_t *table(uint64_t addr)
{
	const uint8_t *h = guest_ptr(&mem, addr, 36);
	cr_assert_not_null(h);
	const uint8_t *t = guest_ptr(&mem, addr, get32(h + 4));
	uint8_t sum = 0;
	for (uint32_t i = 0; i < get32(h + 4); i++)
		sum = (uint8_t)(sum + t[i]);
	cr_assert_eq(sum, 0, "%.4s checksum", (const char *)t);
	return t;
}

Test(pci_tables, mcfg_is_listed_and_names_bus_0s_ecam)
{
	write_tables(&pci);
	const uint8_t *xsdt = table(ACPI_XSDT_ADDR);
	/* The PC board has an HPET: its table follows MCFG. */
	cr_assert_eq(get32(xsdt + 4), 36 + 4 * 8, "FADT, MADT, MCFG, HPET");
	cr_assert_eq(get64(xsdt + 52), ACPI_MCFG_ADDR);
	cr_assert_eq(get64(xsdt + 60), ACPI_HPET_ADDR);
	const uint8_t *mcfg = table(ACPI_MCFG_ADDR);
	cr_assert(memcmp(mcfg, "MCFG", 4) == 0);
	cr_assert_eq(get32(mcfg + 4), 60);
	cr_assert_eq(get64(mcfg + 44), X86_PCI_ECAM_BASE);
	cr_assert_eq(mcfg[44 + 8] | mcfg[44 + 9] << 8, 0, "segment 0");
	cr_assert_eq(mcfg[44 + 10], 0, "start bus");
	cr_assert_eq(mcfg[44 + 11], 0, "end bus");
}

Test(pci_tables, without_pci_there_is_no_mcfg_and_no_pci0)
{
	write_tables(NULL);
	const uint8_t *xsdt = table(ACPI_XSDT_ADDR);
	cr_assert_eq(get32(xsdt + 4), 36 + 3 * 8, "FADT, MADT, HPET");
	cr_assert_eq(get64(xsdt + 52), ACPI_HPET_ADDR);
	const uint8_t *dsdt = table(ACPI_DSDT_ADDR);
	cr_assert_null(memmem(dsdt, get32(dsdt + 4), "PCI0", 4));
}

Test(pci_tables, dsdt_has_the_root_bridge_bytes)
{
	write_tables(&pci);
	const uint8_t *dsdt = table(ACPI_DSDT_ADDR);
	uint32_t len = get32(dsdt + 4);
	cr_assert_not_null(memmem(dsdt, len, "PCI0", 4));
	/* _HID EisaId ("PNP0A08"), _CID EisaId ("PNP0A03") */
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	static const uint8_t cid[] = { 0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03 };
	cr_assert_not_null(memmem(dsdt, len, hid, sizeof(hid)));
	cr_assert_not_null(memmem(dsdt, len, cid, sizeof(cid)));
	/* DWordMemory 0xc0000000-0xcfffffff, length 256 MiB */
	static const uint8_t window[] = { 0x87, 23, 0, 0, 0x0c, 0x01, 0, 0, 0, 0,
					  0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xcf,
					  0, 0, 0, 0, 0, 0, 0, 0x10 };
	cr_assert_not_null(memmem(dsdt, len, window, sizeof(window)));
	/* slot 3 INTA -> GSI 19, slot 3 INTD -> GSI 22; slot 7 INTB -> 16 */
	static const uint8_t s3a[] = { 0x12, 0x0b, 4, 0x0c, 0xff, 0xff, 3, 0, 0x00, 0x00, 0x0a, 19 };
	static const uint8_t s3d[] = { 0x12, 0x0c, 4, 0x0c, 0xff, 0xff, 3, 0, 0x0a, 3, 0x00, 0x0a, 22 };
	static const uint8_t s7b[] = { 0x12, 0x0b, 4, 0x0c, 0xff, 0xff, 7, 0, 0x01, 0x00, 0x0a, 16 };
	cr_assert_not_null(memmem(dsdt, len, s3a, sizeof(s3a)));
	cr_assert_not_null(memmem(dsdt, len, s3d, sizeof(s3d)));
	cr_assert_not_null(memmem(dsdt, len, s7b, sizeof(s7b)));
	/* PCIR: Memory32Fixed (ReadWrite, 0xe0000000, 0x100000) */
	static const uint8_t ecam[] = { 0x86, 9, 0, 1, 0, 0, 0, 0xe0, 0, 0, 0x10, 0 };
	cr_assert_not_null(memmem(dsdt, len, "PCIR", 4));
	cr_assert_not_null(memmem(dsdt, len, ecam, sizeof(ecam)));
	cr_assert_leq(len, ACPI_DSDT_MAX);
}

/* The MP table's entry of `type` whose bytes [at, at + n) are `want`. */
static const uint8_t *mp_entry(uint8_t type, unsigned at, const uint8_t *want, unsigned n)
{
	const uint8_t *cfg = guest_ptr(&mem, MP_CONFIG_ADDR, 44);
	uint16_t length = (uint16_t)(cfg[4] | cfg[5] << 8);
	cfg = guest_ptr(&mem, MP_CONFIG_ADDR, length);
	for (const uint8_t *e = cfg + 44; e < cfg + length; e += e[0] == 0 ? 20 : 8)
		if (e[0] == type && memcmp(e + at, want, n) == 0)
			return e;
	return NULL;
}

Test(pci_tables, mp_table_has_the_pci_bus_and_each_slots_pins)
{
	struct kvmini_error err = { 0 };
	struct x86_firmware_desc desc = {
		.ncpus = 2, .devices = devices,
		.ndevices = board_resources(&pc_board, true, devices), .pci = &pci,
	};
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(mptable_write(&mem, &desc, &err), 0, "%s", err.msg);
	static const uint8_t pci_bus[] = { MP_PCI_BUS_ID, 'P', 'C', 'I', ' ', ' ', ' ' };
	cr_assert_not_null(mp_entry(MP_BUS, 1, pci_bus, sizeof(pci_bus)));
	/* slot 3 INTA: source IRQ 3 << 2, IOAPIC (ID 2) pin 19, level, active low */
	static const uint8_t s3a[] = { MP_INT, MP_FLAGS_LEVEL_LOW, 0, MP_PCI_BUS_ID, 3 << 2, 2, 19 };
	static const uint8_t s7b[] = { MP_INT, MP_FLAGS_LEVEL_LOW, 0, MP_PCI_BUS_ID, 7 << 2 | 1, 2, 16 };
	cr_assert_not_null(mp_entry(MP_IO_INTERRUPT, 1, s3a, sizeof(s3a)));
	cr_assert_not_null(mp_entry(MP_IO_INTERRUPT, 1, s7b, sizeof(s7b)));
	/* The most vCPUs with PCI still fit the table's room. */
	desc.ncpus = X86_FIRMWARE_MAX_CPUS;
	cr_assert_leq(mptable_config_size(&desc), MP_CONFIG_MAX);
}

/* iasl must read both tables without a complaint. */
static const char *iasl_disassemble(const char *dir, const char *name, const uint8_t *t)
{
	char path[256], cmd[512];
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(t, 1, get32(t + 4), f), get32(t + 4));
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat > %s.log 2>&1", dir, name, name);
	cr_assert_eq(system(cmd), 0, "iasl -d %s failed", name);
	static char out[1 << 16];
	snprintf(path, sizeof(path), "%s/%s.log", dir, name);
	f = fopen(path, "rb");
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	fclose(f);
	for (const char *bad = "Warning\0Error\0Incorrect\0Invalid\0Unknown\0"; *bad;
	     bad += strlen(bad) + 1)
		cr_assert_null(strstr(out, bad), "iasl on %s says '%s': %s", name, bad, out);
	static char dsl[1 << 16];
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "iasl wrote no %s.dsl", name);
	n = fread(dsl, 1, sizeof(dsl) - 1, f);
	dsl[n] = 0;
	fclose(f);
	return dsl;
}

Test(pci_tables, iasl_reads_the_root_bridge_and_mcfg)
{
	if (system("command -v iasl > /dev/null 2>&1") != 0)
		cr_assert_fail("iasl missing: scripts/install-deps.sh test installs acpica-tools");
	write_tables(&pci);
	char dir[] = "/tmp/kvmini-pci-acpi-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	const char *dsl = iasl_disassemble(dir, "dsdt", table(ACPI_DSDT_ADDR));
	cr_assert(strstr(dsl, "Device (PCI0)"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_HID, EisaId (\"PNP0A08\")"), "%s", dsl);
	cr_assert(strstr(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, "
			      "NonCacheable, ReadWrite,"), "%s", dsl);
	cr_assert(strstr(dsl, "0xC0000000,         // Range Minimum"), "%s", dsl);
	cr_assert(strstr(dsl, "Package (0x04)\n                {\n                    "
			      "0x0001FFFF, \n                    Zero, \n                    Zero, \n"
			      "                    0x11\n"), "%s", dsl);
	cr_assert(strstr(dsl, "Device (PCIR)"), "%s", dsl);
	const char *mcfg = iasl_disassemble(dir, "mcfg", table(ACPI_MCFG_ADDR));
	cr_assert(strstr(mcfg, "Base Address : 00000000E0000000"), "%s", mcfg);
	cr_assert(strstr(mcfg, "End Bus Number : 00"), "%s", mcfg);
	char cleanup[128];
	snprintf(cleanup, sizeof(cleanup), "rm -rf %s", dir);
	cr_assert_eq(system(cleanup), 0);
}
