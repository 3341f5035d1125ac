/* ACPI tables for kvmini's PC (ACPI 6.0 layouts): RSDP -> XSDT -> FADT
 * (-> FACS, DSDT) and MADT. The structures are defined here from the
 * specification (chapter 5.2); all fields little-endian, packed. */
#ifndef KVMINI_X86_ACPI_H
#define KVMINI_X86_ACPI_H

#include <stdint.h>
#include "memory.h"
#include "arch/x86/firmware.h"

/* Fixed addresses inside the firmware area (firmware.h); the RSDP is on
 * a 16-byte boundary in 0xe0000-0xfffff, where an OS scans for it. */
#define ACPI_RSDP_ADDR 0xe0000ULL
#define ACPI_XSDT_ADDR 0xe0100ULL
#define ACPI_FADT_ADDR 0xe0200ULL
#define ACPI_MCFG_ADDR 0xe0340ULL   /* after the FADT's 276 bytes; only with PCI */
#define ACPI_FACS_ADDR 0xe0400ULL   /* 64-byte aligned, as the FACS must be */
#define ACPI_MADT_ADDR 0xe0500ULL   /* the MADT for X86_FIRMWARE_MAX_CPUS ends below the HPET's */
#define ACPI_HPET_ADDR 0xe0e00ULL   /* when a device is an HPET (resources.h) */
/* The DSDT grows with the board's devices (about 40 bytes each, more
 * with virtio's): 12 KiB leaves room for hundreds. */
#define ACPI_DSDT_ADDR 0xe1000ULL
#define ACPI_DSDT_MAX  0x3000ULL    /* its room, header included */
#define ACPI_TABLES_END (ACPI_DSDT_ADDR + ACPI_DSDT_MAX)

/* Fixed-hardware registers the FADT announces (I/O ports). The PM1
 * event block holds PM1_STS (0x600) and PM1_EN (0x602); the PM1 control
 * block holds PM1_CNT (0x604), where writing SLP_TYP = ACPI_S5_SLP_TYP
 * with SLP_EN (bit 13) asks for soft-off (S5), SLP_TYP = ACPI_S3_SLP_TYP
 * for suspend to RAM (S3, src/devices/acpi_pm.h). There is no SMI command
 * port: the machine is always in ACPI mode, so PM1_CNT.SCI_EN reads 1. */
#define ACPI_PM1A_EVT_PORT 0x600u
#define ACPI_PM1_EVT_LEN   4u
#define ACPI_PM1A_CNT_PORT 0x604u
#define ACPI_PM1_CNT_LEN   2u
#define ACPI_S5_SLP_TYP    5u       /* the DSDT's \_S5 package says so */
#define ACPI_S3_SLP_TYP    3u       /* and its \_S3 package */
#define ACPI_RTC_CENTURY   0x32u    /* the CMOS register holding the century */
#define ACPI_RESET_PORT    0xcf9u   /* FADT reset register */
#define ACPI_RESET_VALUE   0x06u

struct acpi_rsdp {
	char signature[8];            /* "RSD PTR " */
	uint8_t checksum;             /* the first 20 bytes sum to 0 */
	char oem_id[6];
	uint8_t revision;             /* 2: ACPI 2.0+, XSDT present */
	uint32_t rsdt_addr;           /* 0: no RSDT, the XSDT is used */
	uint32_t length;              /* 36 */
	uint64_t xsdt_addr;
	uint8_t ext_checksum;         /* all 36 bytes sum to 0 */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP: 36 bytes");

struct acpi_header {
	char signature[4];
	uint32_t length;              /* of the whole table */
	uint8_t revision;
	uint8_t checksum;             /* the whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "system description table header: 36 bytes");

/* Generic Address Structure: where a register is. */
struct acpi_gas {
	uint8_t space_id;             /* 0 system memory, 1 system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;          /* 0 undefined, 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "generic address structure: 12 bytes");

#define ACPI_GAS_MEMORY 0
#define ACPI_GAS_IO 1

/* Its length says how many entries are used: FADT, MADT, then MCFG
 * when there is PCI and the HPET table when there is an HPET. */
#define ACPI_XSDT_MAX_ENTRIES 4
struct acpi_xsdt {
	struct acpi_header h;         /* "XSDT" */
	uint64_t entries[ACPI_XSDT_MAX_ENTRIES];
} __attribute__((packed));
_Static_assert(ACPI_XSDT_ADDR + sizeof(struct acpi_xsdt) <= ACPI_FADT_ADDR, "XSDT room");

/* MCFG (PCI Firmware Specification 3.0, 4.1.2): where ECAM is. */
struct acpi_mcfg_allocation {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus, end_bus;
	uint32_t reserved;
} __attribute__((packed));
struct acpi_mcfg {
	struct acpi_header h;         /* "MCFG", revision 1 */
	uint64_t reserved;
	struct acpi_mcfg_allocation alloc[1];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 60, "MCFG with one allocation: 60 bytes");

struct acpi_fadt {
	struct acpi_header h;         /* "FACP", revision 6 */
	uint32_t firmware_ctrl;       /* FACS */
	uint32_t dsdt;
	uint8_t reserved0;            /* INT_MODEL in ACPI 1.0 */
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6: 276 bytes");
_Static_assert(ACPI_FADT_ADDR + sizeof(struct acpi_fadt) <= ACPI_MCFG_ADDR &&
	       ACPI_MCFG_ADDR + 60 <= ACPI_FACS_ADDR, "the MCFG between the FADT and the FACS");
_Static_assert(__builtin_offsetof(struct acpi_fadt, flags) == 112, "FADT Flags offset");
_Static_assert(__builtin_offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT offset");

/* FADT Flags */
#define ACPI_FADT_WBINVD        (1u << 0)
#define ACPI_FADT_PROC_C1       (1u << 2)
#define ACPI_FADT_PWR_BUTTON    (1u << 4)    /* 1: no fixed-feature power button */
#define ACPI_FADT_SLP_BUTTON    (1u << 5)    /* 1: no fixed-feature sleep button */
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
/* IA-PC boot architecture flags */
#define ACPI_BOOT_LEGACY_DEVICES  (1u << 0)
#define ACPI_BOOT_VGA_NOT_PRESENT (1u << 2)

struct acpi_facs {
	char signature[4];            /* "FACS" */
	uint32_t length;              /* 64 */
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;              /* 2 */
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS: 64 bytes");

struct acpi_madt {
	struct acpi_header h;         /* "APIC", revision 4 */
	uint32_t lapic_addr;
	uint32_t flags;               /* ACPI_MADT_PCAT_COMPAT */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT header: 44 bytes");

#define ACPI_MADT_PCAT_COMPAT 1u   /* an 8259 pair is present too */

enum acpi_madt_type {
	ACPI_MADT_LAPIC = 0, ACPI_MADT_IOAPIC = 1, ACPI_MADT_ISO = 2, ACPI_MADT_LAPIC_NMI = 4,
};

struct acpi_madt_lapic {
	uint8_t type, length;         /* 0, 8 */
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;               /* bit 0: enabled */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "processor local APIC structure: 8 bytes");

struct acpi_madt_ioapic {
	uint8_t type, length;         /* 1, 12 */
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "I/O APIC structure: 12 bytes");

struct acpi_madt_iso {
	uint8_t type, length;         /* 2, 10 */
	uint8_t bus;                  /* 0: ISA */
	uint8_t source;               /* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;               /* MPS INTI flags */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "interrupt source override: 10 bytes");

struct acpi_madt_lapic_nmi {
	uint8_t type, length;         /* 4, 6 */
	uint8_t processor_uid;        /* 0xff: every processor */
	uint16_t flags;               /* MPS INTI flags */
	uint8_t lint;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "local APIC NMI structure: 6 bytes");

#define ACPI_MADT_ENABLED 1u
/* MPS INTI flags: polarity bits 0-1, trigger mode bits 2-3 */
#define ACPI_INTI_CONFORMS     0x0
#define ACPI_INTI_ACTIVE_HIGH  0x1
#define ACPI_INTI_EDGE         (0x1 << 2)
#define ACPI_INTI_LEVEL        (0x3 << 2)

/* The IA-PC HPET table (HPET specification 1.0a, 3.2.4). */
struct acpi_hpet {
	struct acpi_header h;         /* "HPET", revision 1 */
	uint32_t event_timer_block_id;   /* the capabilities register's low half */
	struct acpi_gas base_address;    /* system memory */
	uint8_t hpet_number;
	uint16_t min_clock_tick;
	uint8_t page_protection;      /* 0: no guarantee */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_hpet) == 56, "HPET table: 56 bytes");

/* Bytes of the MADT for desc (its vCPUs and interrupt source overrides). */
uint64_t acpi_madt_size(const struct x86_firmware_desc *desc);

/* Write every ACPI table for desc->ncpus vCPUs (APIC IDs 0..ncpus-1),
 * the IOAPIC (ID ncpus) and desc's devices: the DSDT describes each one
 * with a PNP ID (and, with desc->pci, the PCI root bridge PCI0 with its
 * windows and INTx routing, and the MCFG table ECAM), the MADT overrides
 * the ISA IRQs they declare that are not at their own pin or not
 * edge-triggered, and the first device declaring an HPET (resources.h)
 * gets the HPET table. *rsdp gets the RSDP's
 * address, which an OS finds by scanning or is told (a bzImage's
 * boot_params.acpi_rsdp_addr). Fails when ncpus is outside
 * 1..X86_FIRMWARE_MAX_CPUS, RAM lacks the area, or the devices do not
 * fit the DSDT's room. */
int acpi_write_tables(const struct guest_memory *mem, const struct x86_firmware_desc *desc,
		      uint64_t *rsdp, struct kvmini_error *err);

#endif
