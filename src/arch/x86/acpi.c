/* The ACPI tables of kvmini's PC. Not hardware-reduced: there is an 8259
 * pair and a PIT, so the FADT announces a PM1 event/control block, the
 * SCI on ISA IRQ 9 and a FACS. */
#include <string.h>
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/firmware.h"
#include "arch/x86/irqchip.h"

#define ACPI_OEM_ID       "KVMINI"
#define ACPI_OEM_TABLE_ID "KVMINIPC"
#define ACPI_CREATOR_ID   "KVMI"

/* The start of the DSDT's AML, written by hand (ACPI 6.0 chapter 20):
 *   Name (\_S5, Package (4) { 5, 5, 0, 0 })
 *   Name (\_S3, Package (4) { 3, 3, 0, 0 })
 * i.e. soft-off is SLP_TYP 5 and suspend to RAM SLP_TYP 3 in PM1a_CNT
 * (and PM1b, which is absent). The devices follow, generated from their
 * resources (dsdt_write). */
static const uint8_t dsdt_sleep_states[] = {
	0x08,                         /* NameOp */
	'\\', '_', 'S', '5', '_',     /* NameString: root, NameSeg "_S5_" */
	0x12,                         /* PackageOp */
	0x08,                         /* PkgLength: 8 bytes from here to the end */
	0x04,                         /* NumElements */
	0x0a, ACPI_S5_SLP_TYP,        /* BytePrefix 5: SLP_TYPa */
	0x0a, ACPI_S5_SLP_TYP,        /* BytePrefix 5: SLP_TYPb */
	0x00,                         /* ZeroOp: reserved */
	0x00,                         /* ZeroOp: reserved */
	0x08,                         /* NameOp */
	'\\', '_', 'S', '3', '_',     /* NameString: root, NameSeg "_S3_" */
	0x12, 0x08, 0x04,             /* PackageOp, PkgLength 8, NumElements 4 */
	0x0a, ACPI_S3_SLP_TYP,        /* BytePrefix 3: SLP_TYPa */
	0x0a, ACPI_S3_SLP_TYP,        /* BytePrefix 3: SLP_TYPb */
	0x00, 0x00,                   /* ZeroOp twice: reserved */
};

static struct acpi_header header(const char *signature, uint32_t length, uint8_t revision)
{
	struct acpi_header h = {
		.length = length, .revision = revision, .oem_revision = 1, .creator_revision = 1,
	};
	memcpy(h.signature, signature, sizeof(h.signature));
	memcpy(h.oem_id, ACPI_OEM_ID, sizeof(h.oem_id));
	memcpy(h.oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h.oem_table_id));
	memcpy(h.creator_id, ACPI_CREATOR_ID, sizeof(h.creator_id));
	return h;
}

/* Checksum the table built at `table` (its length is in its header). */
static void seal(void *table)
{
	struct acpi_header *h = table;
	h->checksum = 0;
	h->checksum = firmware_checksum(table, h->length);
}

static struct acpi_gas io_register(uint16_t port, uint8_t bits, uint8_t access_size)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_IO, .bit_width = bits, .access_size = access_size,
		.address = port,
	};
}

static void build_fadt(struct acpi_fadt *f)
{
	*f = (struct acpi_fadt){
		.h = header("FACP", sizeof(*f), 6),
		.firmware_ctrl = (uint32_t)ACPI_FACS_ADDR,
		.dsdt = (uint32_t)ACPI_DSDT_ADDR,
		.sci_int = X86_SCI_IRQ,
		.pm1a_evt_blk = ACPI_PM1A_EVT_PORT,
		.pm1a_cnt_blk = ACPI_PM1A_CNT_PORT,
		.pm1_evt_len = ACPI_PM1_EVT_LEN,
		.pm1_cnt_len = ACPI_PM1_CNT_LEN,
		.p_lvl2_lat = 101,          /* > 100: no C2 */
		.p_lvl3_lat = 1001,         /* > 1000: no C3 */
		.century = ACPI_RTC_CENTURY,
		.iapc_boot_arch = ACPI_BOOT_LEGACY_DEVICES | ACPI_BOOT_VGA_NOT_PRESENT,
		.flags = ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_PWR_BUTTON |
			 ACPI_FADT_SLP_BUTTON | ACPI_FADT_RESET_REG_SUP,
		.reset_reg = io_register(ACPI_RESET_PORT, 8, 1),
		.reset_value = ACPI_RESET_VALUE,
		.x_dsdt = ACPI_DSDT_ADDR,   /* X_FIRMWARE_CTRL stays 0: FIRMWARE_CTRL is set */
		.x_pm1a_evt_blk = io_register(ACPI_PM1A_EVT_PORT, ACPI_PM1_EVT_LEN * 8, 2),
		.x_pm1a_cnt_blk = io_register(ACPI_PM1A_CNT_PORT, ACPI_PM1_CNT_LEN * 8, 2),
	};
	seal(f);
}

static void build_facs(struct acpi_facs *facs)
{
	*facs = (struct acpi_facs){ .length = sizeof(*facs), .version = 2 };
	memcpy(facs->signature, "FACS", 4);   /* the FACS has no checksum */
}

/* ISA IRQs that need an interrupt source override: those not at the
 * IOAPIC pin of their own number (IRQ 0), and those not edge-triggered
 * active high as the ISA bus says (the SCI). */
static uint16_t overridden_irqs(const struct x86_firmware_desc *desc, uint16_t *level)
{
	uint16_t irqs = x86_firmware_isa_irqs(desc, level), out = 0;
	for (unsigned irq = 0; irq < X86_ISA_IRQS; irq++)
		if ((irqs & (1u << irq)) &&
		    (x86_isa_ioapic_pin(irq) != (int)irq || (*level & (1u << irq))))
			out |= (uint16_t)(1u << irq);
	return out;
}

uint64_t acpi_madt_size(const struct x86_firmware_desc *desc)
{
	uint16_t level;
	unsigned overrides = (unsigned)__builtin_popcount(overridden_irqs(desc, &level));
	return sizeof(struct acpi_madt) + desc->ncpus * sizeof(struct acpi_madt_lapic) +
	       sizeof(struct acpi_madt_ioapic) + overrides * sizeof(struct acpi_madt_iso) +
	       sizeof(struct acpi_madt_lapic_nmi);
}

static uint8_t *put(uint8_t *at, const void *entry, size_t size)
{
	memcpy(at, entry, size);
	return at + size;
}

static uint8_t *put_overrides(uint8_t *at, const struct x86_firmware_desc *desc)
{
	uint16_t level;
	uint16_t irqs = overridden_irqs(desc, &level);
	for (unsigned irq = 0; irq < X86_ISA_IRQS; irq++) {
		if (!(irqs & (1u << irq)))
			continue;
		struct acpi_madt_iso iso = {
			.type = ACPI_MADT_ISO, .length = sizeof(iso), .source = (uint8_t)irq,
			.gsi = (uint32_t)x86_isa_ioapic_pin(irq),
			.flags = level & (1u << irq) ? ACPI_INTI_LEVEL | ACPI_INTI_ACTIVE_HIGH
						     : ACPI_INTI_CONFORMS,
		};
		at = put(at, &iso, sizeof(iso));
	}
	return at;
}

static void build_madt(uint8_t *table, const struct x86_firmware_desc *desc)
{
	unsigned ncpus = desc->ncpus;
	uint32_t length = (uint32_t)acpi_madt_size(desc);
	struct acpi_madt m = {
		.h = header("APIC", length, 4),
		.lapic_addr = X86_LAPIC_ADDR, .flags = ACPI_MADT_PCAT_COMPAT,
	};
	uint8_t *at = put(table, &m, sizeof(m));
	for (unsigned i = 0; i < ncpus; i++) {
		struct acpi_madt_lapic cpu = {
			.type = ACPI_MADT_LAPIC, .length = sizeof(cpu),
			.processor_uid = (uint8_t)i, .apic_id = (uint8_t)i, .flags = ACPI_MADT_ENABLED,
		};
		at = put(at, &cpu, sizeof(cpu));
	}
	struct acpi_madt_ioapic ioapic = {
		.type = ACPI_MADT_IOAPIC, .length = sizeof(ioapic), .ioapic_id = x86_ioapic_id(ncpus),
		.address = X86_IOAPIC_ADDR, .gsi_base = 0,
	};
	at = put(at, &ioapic, sizeof(ioapic));
	at = put_overrides(at, desc);
	struct acpi_madt_lapic_nmi nmi = {
		.type = ACPI_MADT_LAPIC_NMI, .length = sizeof(nmi), .processor_uid = 0xff,
		.flags = ACPI_INTI_EDGE | ACPI_INTI_ACTIVE_HIGH, .lint = 1,
	};
	put(at, &nmi, sizeof(nmi));
	seal(table);
}

/* The first device that is an HPET, or NULL. */
static const struct resources *hpet_of(const struct x86_firmware_desc *desc)
{
	for (size_t i = 0; i < desc->ndevices; i++)
		if (desc->devices[i]->hpet && desc->devices[i]->nranges &&
		    desc->devices[i]->ranges[0].space == RESOURCE_SPACE_MMIO)
			return desc->devices[i];
	return NULL;
}

static void build_hpet(struct acpi_hpet *t, const struct resources *res)
{
	*t = (struct acpi_hpet){
		.h = header("HPET", sizeof(*t), 1),
		.event_timer_block_id = res->hpet->block_id,
		.base_address = { .space_id = ACPI_GAS_MEMORY, .bit_width = 64,
				  .address = res->ranges[0].base },
		.min_clock_tick = res->hpet->min_tick,
	};
	seal(t);
}

static void build_xsdt(struct acpi_xsdt *x, const struct x86_firmware_desc *desc, bool hpet)
{
	*x = (struct acpi_xsdt){ .entries = { ACPI_FADT_ADDR, ACPI_MADT_ADDR } };
	unsigned n = 2;
	if (desc->pci)
		x->entries[n++] = ACPI_MCFG_ADDR;
	if (hpet)
		x->entries[n++] = ACPI_HPET_ADDR;
	x->h = header("XSDT", (uint32_t)(sizeof(x->h) + n * sizeof(x->entries[0])), 1);
	seal(x);
}

/* Bus 0 only: ECAM's 1 MiB. */
static void build_mcfg(struct acpi_mcfg *m, const struct x86_pci_desc *pci)
{
	*m = (struct acpi_mcfg){
		.h = header("MCFG", sizeof(*m), 1),
		.alloc = { { .base = pci->ecam_base, .segment = 0, .start_bus = 0, .end_bus = 0 } },
	};
	seal(m);
}

static void build_rsdp(struct acpi_rsdp *r)
{
	*r = (struct acpi_rsdp){ .revision = 2, .length = sizeof(*r), .xsdt_addr = ACPI_XSDT_ADDR };
	memcpy(r->signature, "RSD PTR ", sizeof(r->signature));
	memcpy(r->oem_id, ACPI_OEM_ID, sizeof(r->oem_id));
	r->checksum = firmware_checksum(r, 20);   /* the ACPI 1.0 part */
	r->ext_checksum = firmware_checksum(r, sizeof(*r));
}

/* Name (_CRS, Buffer (n) {...}): open, write the descriptors, close
 * (the end tag, then the buffer's size byte, known only then). */
struct crs {
	size_t buffer, size_at, first;
};

static struct crs crs_open(struct aml *a)
{
	struct crs c;
	aml_byte(a, AML_NAME_OP);
	aml_name_seg(a, "_CRS");
	aml_byte(a, AML_BUFFER_OP);
	c.buffer = aml_pkg_open(a);
	aml_byte(a, AML_BYTE_PREFIX);
	c.size_at = a->len;
	aml_byte(a, 0);
	c.first = a->len;
	return c;
}

static void crs_close(struct aml *a, const struct crs *c)
{
	aml_res_end(a);
	if (!a->overflow)
		a->buf[c->size_at] = (uint8_t)(a->len - c->first);
	aml_pkg_close(a, c->buffer);
}

static bool ids_valid(const struct resources *res)
{
	uint32_t hid;
	return (aml_eisa_id(res->acpi_hid, &hid) || aml_acpi_id(res->acpi_hid)) &&
	       res->acpi_name && strlen(res->acpi_name) == 4;
}

/* Name (_HID, EisaId ("PNP0501")) or Name (_HID, "LNRO0005"), then
 * Name (_UID, n) when the device has one. */
static void dsdt_ids(struct aml *a, const struct resources *res)
{
	uint32_t hid;
	aml_byte(a, AML_NAME_OP);
	aml_name_seg(a, "_HID");
	if (aml_eisa_id(res->acpi_hid, &hid))
		aml_dword(a, hid);
	else
		aml_string(a, res->acpi_hid);
	if (res->acpi_uid_set) {
		aml_byte(a, AML_NAME_OP);
		aml_name_seg(a, "_UID");
		aml_dword(a, res->acpi_uid);
	}
}

static void dsdt_irq(struct aml *a, const struct resource_irq *irq, bool shared)
{
	if (irq->line < X86_ISA_IRQS)
		aml_res_irq(a, irq->line, irq->level);
	else
		aml_res_interrupt(a, irq->line, irq->level, shared);
}

/* Device (NAME) { Name (_HID, ...) [Name (_UID, n)] Name (_CRS, ResourceTemplate () {...}) } */
static int dsdt_device(struct aml *a, const struct resources *res, struct kvmini_error *err)
{
	if (!ids_valid(res))
		return kvmini_fail(err, KVMINI_E_HOST, "DSDT: device '%s' has a bad PNP ID '%s'",
				   res->acpi_name, res->acpi_hid);
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	size_t device = aml_pkg_open(a);
	aml_name_seg(a, res->acpi_name);
	dsdt_ids(a, res);
	struct crs crs = crs_open(a);
	for (unsigned i = 0; i < res->nranges; i++) {
		const struct resource_range *r = &res->ranges[i];
		if (r->space == RESOURCE_SPACE_PORT && r->base + r->len <= 0x10000 && r->len <= 0xff)
			aml_res_io(a, (uint16_t)r->base, (uint8_t)r->len);
		else if (r->space == RESOURCE_SPACE_MMIO && r->base + r->len <= (1ULL << 32))
			aml_res_memory32(a, (uint32_t)r->base, (uint32_t)r->len);
		else
			return kvmini_fail(err, KVMINI_E_HOST, "DSDT: %s cannot be described",
					   r->name);
	}
	for (unsigned i = 0; i < res->nirqs; i++)
		dsdt_irq(a, &res->irqs[i], res->irqs_shared);
	crs_close(a, &crs);
	aml_pkg_close(a, device);
	return 0;
}

/* ---- the PCI root bridge ---- */

static void name_integer(struct aml *a, const char *name, uint32_t v)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_seg(a, name);
	aml_integer(a, v);
}

static void name_eisa_id(struct aml *a, const char *name, const char *pnp_id)
{
	uint32_t id = 0;
	aml_eisa_id(pnp_id, &id);   /* constant IDs: they parse */
	aml_byte(a, AML_NAME_OP);
	aml_name_seg(a, name);
	aml_dword(a, id);
}

/* _CRS: bus 0, the config ports, the I/O space around them, the BARs'
 * memory window. */
static void pci_crs(struct aml *a, const struct x86_pci_desc *pci)
{
	struct crs crs = crs_open(a);
	aml_res_bus_numbers(a, 0, 0);
	aml_res_io(a, 0xcf8, 8);
	aml_res_io_window(a, 0x0000, 0x0cf7);
	aml_res_io_window(a, 0x0d00, 0xffff);
	aml_res_memory_window(a, (uint32_t)pci->mmio_base, (uint32_t)(pci->mmio_end - 1));
	crs_close(a, &crs);
}

/* _PRT: Package { Package { slot << 16 | 0xffff, pin, 0, GSI } ... } for
 * every slot and pin (a source of 0: the GSI is the IOAPIC's input). */
static void pci_prt(struct aml *a, const struct x86_pci_desc *pci)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_seg(a, "_PRT");
	aml_byte(a, AML_PACKAGE_OP);
	size_t outer = aml_pkg_open(a);
	aml_byte(a, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			aml_byte(a, AML_PACKAGE_OP);
			size_t entry = aml_pkg_open(a);
			aml_byte(a, 4);
			aml_integer(a, slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, pci->intx_gsi + (slot + pin) % pci->intx_lines);
			aml_pkg_close(a, entry);
		}
	}
	aml_pkg_close(a, outer);
}

/* Device (PCI0): a PCI Express root bridge (PNP0A08, compatible with
 * PNP0A03) with segment 0, bus 0; and Device (PCIR), a motherboard
 * resource (PNP0C02) reserving ECAM, which Linux wants to see before it
 * trusts the MCFG table. */
static int dsdt_pci(struct aml *a, const struct x86_pci_desc *pci, struct kvmini_error *err)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	size_t device = aml_pkg_open(a);
	aml_name_seg(a, "PCI0");
	name_eisa_id(a, "_HID", "PNP0A08");
	name_eisa_id(a, "_CID", "PNP0A03");
	name_integer(a, "_UID", 0);
	name_integer(a, "_SEG", 0);
	name_integer(a, "_BBN", 0);
	pci_crs(a, pci);
	pci_prt(a, pci);
	aml_pkg_close(a, device);
	const struct resources ecam = {
		.ranges = { { RESOURCE_SPACE_MMIO, pci->ecam_base, X86_PCI_ECAM_SIZE, NULL, "ECAM" } },
		.nranges = 1, .acpi_name = "PCIR", .acpi_hid = "PNP0C02",
	};
	return dsdt_device(a, &ecam, err);
}

/* The DSDT's AML: \_S5 and \_S3, then Scope (_SB) with every device that has a
 * PNP ID, in the board's order, and the PCI root bridge. */
static int dsdt_write(struct aml *a, const struct x86_firmware_desc *desc,
		      struct kvmini_error *err)
{
	aml_bytes(a, dsdt_sleep_states, sizeof(dsdt_sleep_states));
	aml_byte(a, AML_SCOPE_OP);
	size_t scope = aml_pkg_open(a);
	aml_name_seg(a, "_SB_");
	for (size_t i = 0; i < desc->ndevices; i++)
		if (desc->devices[i]->acpi_hid && dsdt_device(a, desc->devices[i], err) < 0)
			return -1;
	if (desc->pci && dsdt_pci(a, desc->pci, err) < 0)
		return -1;
	aml_pkg_close(a, scope);
	if (a->overflow)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "the DSDT's devices need more than its %llu bytes at 0x%llx",
				   ACPI_DSDT_MAX, ACPI_DSDT_ADDR);
	return 0;
}

static int build_dsdt(uint8_t *table, const struct x86_firmware_desc *desc,
		      struct kvmini_error *err)
{
	struct aml a = { .buf = table + sizeof(struct acpi_header),
			 .cap = ACPI_DSDT_MAX - sizeof(struct acpi_header) };
	if (dsdt_write(&a, desc, err) < 0)
		return -1;
	struct acpi_header h = header("DSDT", (uint32_t)(sizeof(h) + a.len), 2);
	memcpy(table, &h, sizeof(h));
	seal(table);
	return 0;
}

int acpi_write_tables(const struct guest_memory *mem, const struct x86_firmware_desc *desc,
		      uint64_t *rsdp, struct kvmini_error *err)
{
	unsigned ncpus = desc->ncpus;
	if (ncpus < 1 || ncpus > X86_FIRMWARE_MAX_CPUS)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%u vCPUs: the ACPI tables describe 1 to %u", ncpus,
				   X86_FIRMWARE_MAX_CPUS);
	struct acpi_rsdp *r = guest_ptr(mem, ACPI_RSDP_ADDR, sizeof(*r));
	struct acpi_xsdt *x = guest_ptr(mem, ACPI_XSDT_ADDR, sizeof(*x));
	struct acpi_fadt *f = guest_ptr(mem, ACPI_FADT_ADDR, sizeof(*f));
	struct acpi_facs *facs = guest_ptr(mem, ACPI_FACS_ADDR, sizeof(*facs));
	uint8_t *dsdt = guest_ptr(mem, ACPI_DSDT_ADDR, ACPI_DSDT_MAX);
	uint8_t *madt = guest_ptr(mem, ACPI_MADT_ADDR, acpi_madt_size(desc));
	struct acpi_mcfg *mcfg = guest_ptr(mem, ACPI_MCFG_ADDR, sizeof(*mcfg));
	const struct resources *hpet = hpet_of(desc);
	struct acpi_hpet *hpet_table = guest_ptr(mem, ACPI_HPET_ADDR, sizeof(*hpet_table));
	if (!r || !x || !f || !facs || !dsdt || !madt || !mcfg || !hpet_table)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "guest RAM too small for the ACPI tables at 0x%llx",
				   ACPI_RSDP_ADDR);
	if (build_dsdt(dsdt, desc, err) < 0)
		return -1;
	build_facs(facs);
	build_fadt(f);
	build_madt(madt, desc);
	if (desc->pci)
		build_mcfg(mcfg, desc->pci);
	if (hpet)
		build_hpet(hpet_table, hpet);
	build_xsdt(x, desc, hpet != NULL);
	build_rsdp(r);
	*rsdp = ACPI_RSDP_ADDR;
	return 0;
}
