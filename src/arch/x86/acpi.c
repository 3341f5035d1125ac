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
 * i.e. soft-off is SLP_TYP 5 in PM1a_CNT (and PM1b, which is absent).
 * The devices follow, generated from their resources (dsdt_write). */
static const uint8_t dsdt_s5[] = {
	0x08,                         /* NameOp */
	'\\', '_', 'S', '5', '_',     /* NameString: root, NameSeg "_S5_" */
	0x12,                         /* PackageOp */
	0x08,                         /* PkgLength: 8 bytes from here to the end */
	0x04,                         /* NumElements */
	0x0a, ACPI_S5_SLP_TYP,        /* BytePrefix 5: SLP_TYPa */
	0x0a, ACPI_S5_SLP_TYP,        /* BytePrefix 5: SLP_TYPb */
	0x00,                         /* ZeroOp: reserved */
	0x00,                         /* ZeroOp: reserved */
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

static void build_xsdt(struct acpi_xsdt *x)
{
	*x = (struct acpi_xsdt){
		.h = header("XSDT", sizeof(*x), 1),
		.entries = { ACPI_FADT_ADDR, ACPI_MADT_ADDR },
	};
	seal(x);
}

static void build_rsdp(struct acpi_rsdp *r)
{
	*r = (struct acpi_rsdp){ .revision = 2, .length = sizeof(*r), .xsdt_addr = ACPI_XSDT_ADDR };
	memcpy(r->signature, "RSD PTR ", sizeof(r->signature));
	memcpy(r->oem_id, ACPI_OEM_ID, sizeof(r->oem_id));
	r->checksum = firmware_checksum(r, 20);   /* the ACPI 1.0 part */
	r->ext_checksum = firmware_checksum(r, sizeof(*r));
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
	aml_byte(a, AML_NAME_OP);
	aml_name_seg(a, "_CRS");
	aml_byte(a, AML_BUFFER_OP);
	size_t buffer = aml_pkg_open(a);
	aml_byte(a, AML_BYTE_PREFIX);
	size_t size_at = a->len;
	aml_byte(a, 0);             /* the buffer's size, known below */
	size_t first = a->len;
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
	aml_res_end(a);
	if (!a->overflow)
		a->buf[size_at] = (uint8_t)(a->len - first);
	aml_pkg_close(a, buffer);
	aml_pkg_close(a, device);
	return 0;
}

/* The DSDT's AML: \_S5, then Scope (_SB) with every device that has a
 * PNP ID, in the board's order. */
static int dsdt_write(struct aml *a, const struct x86_firmware_desc *desc,
		      struct kvmini_error *err)
{
	aml_bytes(a, dsdt_s5, sizeof(dsdt_s5));
	aml_byte(a, AML_SCOPE_OP);
	size_t scope = aml_pkg_open(a);
	aml_name_seg(a, "_SB_");
	for (size_t i = 0; i < desc->ndevices; i++)
		if (desc->devices[i]->acpi_hid && dsdt_device(a, desc->devices[i], err) < 0)
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
	if (!r || !x || !f || !facs || !dsdt || !madt)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "guest RAM too small for the ACPI tables at 0x%llx",
				   ACPI_RSDP_ADDR);
	if (build_dsdt(dsdt, desc, err) < 0)
		return -1;
	build_facs(facs);
	build_fadt(f);
	build_madt(madt, desc);
	build_xsdt(x);
	build_rsdp(r);
	*rsdp = ACPI_RSDP_ADDR;
	return 0;
}
