/* Unit tests of the IOAPIC, driven through its MMIO callbacks as the
 * vCPU loop drives 0xfec00000, with a sink that records the messages it
 * is asked to install and send. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "devices/ioapic.h"

#define MAX_SENT 16
#define RTE_LEVEL  (1u << 15)
#define RTE_MASKED (1u << 16)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LOGICAL (1u << 11)

struct rig {
	struct ioapic *io;
	unsigned programs;                 /* program() calls */
	struct ioapic_msi installed[IOAPIC_PINS];
	unsigned sent;                     /* send() calls */
	unsigned sent_pin[MAX_SENT];
	struct ioapic_msi sent_msg[MAX_SENT];
};

static void record_program(void *ctx, const struct ioapic_msi msgs[IOAPIC_PINS])
{
	struct rig *rig = ctx;
	rig->programs++;
	memcpy(rig->installed, msgs, sizeof(rig->installed));
}

static void record_send(void *ctx, unsigned pin, const struct ioapic_msi *msg)
{
	struct rig *rig = ctx;
	if (rig->sent < MAX_SENT) {
		rig->sent_pin[rig->sent] = pin;
		rig->sent_msg[rig->sent] = *msg;
	}
	rig->sent++;
}

static void rig_open(struct rig *rig)
{
	memset(rig, 0, sizeof(*rig));
	struct ioapic_sink sink = { .program = record_program, .send = record_send, .ctx = rig };
	rig->io = ioapic_create(4, &sink);
	cr_assert_not_null(rig->io);
}

static void rig_close(struct rig *rig)
{
	ioapic_destroy(rig->io);
}

static void mmio_write32(struct rig *rig, uint64_t offset, uint32_t value)
{
	uint8_t data[4] = { (uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
			    (uint8_t)(value >> 24) };
	ioapic_ops.write(rig->io, offset, data, 4);
}

static uint32_t mmio_read32(struct rig *rig, uint64_t offset)
{
	uint8_t data[4] = { 0 };
	ioapic_ops.read(rig->io, offset, data, 4);
	return data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24;
}

static uint32_t reg_read(struct rig *rig, uint8_t reg)
{
	mmio_write32(rig, 0x00, reg);
	return mmio_read32(rig, 0x10);
}

static void reg_write(struct rig *rig, uint8_t reg, uint32_t value)
{
	mmio_write32(rig, 0x00, reg);
	mmio_write32(rig, 0x10, value);
}

static void set_entry(struct rig *rig, unsigned pin, uint32_t low, uint8_t dest)
{
	reg_write(rig, (uint8_t)(0x11 + 2 * pin), (uint32_t)dest << 24);
	reg_write(rig, (uint8_t)(0x10 + 2 * pin), low);
}

Test(ioapic, id_version_and_arbitration_registers)
{
	struct rig rig;
	rig_open(&rig);
	cr_expect_eq(reg_read(&rig, 0x00), 0x04000000u, "the ID it was created with");
	cr_expect_eq(reg_read(&rig, 0x01), 0x00170011u, "24 entries, version 0x11");
	cr_expect_eq(reg_read(&rig, 0x02), 0x04000000u);
	reg_write(&rig, 0x00, 0x09000000);
	cr_expect_eq(reg_read(&rig, 0x00), 0x09000000u);
	cr_expect_eq(reg_read(&rig, 0x02), 0x09000000u, "arbitration follows the ID");
	reg_write(&rig, 0x01, 0xffffffff);
	cr_expect_eq(reg_read(&rig, 0x01), 0x00170011u, "version is read-only");
	cr_expect_eq(reg_read(&rig, 0x40), 0u, "beyond the last entry");
	cr_expect_eq(mmio_read32(&rig, 0x00), 0x40u, "IOREGSEL reads back");
	cr_expect_eq(mmio_read32(&rig, 0x20), 0u);
	rig_close(&rig);
}

Test(ioapic, entries_start_masked_and_keep_read_only_bits)
{
	struct rig rig;
	rig_open(&rig);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		cr_expect_eq(reg_read(&rig, (uint8_t)(0x10 + 2 * pin)), RTE_MASKED, "pin %u", pin);
		cr_expect_eq(reg_read(&rig, (uint8_t)(0x11 + 2 * pin)), 0u);
	}
	reg_write(&rig, 0x12, 0x0001ffff);   /* every writable bit, plus bits 12 and 14 */
	cr_expect_eq(reg_read(&rig, 0x12), 0x0001afffu, "delivery status and remote IRR ignore writes");
	reg_write(&rig, 0x13, 0xff000000);
	cr_expect_eq(reg_read(&rig, 0x13), 0xff000000u);
	rig_close(&rig);
}

Test(ioapic, an_edge_sends_the_entry_as_an_msi_once)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 2, 0x30, 0);
	cr_expect_eq(rig.programs, 0u, "messages are installed when first needed");
	ioapic_set_pin(rig.io, 2, true);
	cr_assert_eq(rig.programs, 1u);
	cr_assert_eq(rig.sent, 1u);
	cr_expect_eq(rig.sent_pin[0], 2u);
	cr_expect_eq(rig.sent_msg[0].address, 0xfee00000ull);
	cr_expect_eq(rig.sent_msg[0].data, 0x30u);
	cr_expect_eq(rig.installed[2].data, 0x30u);
	ioapic_set_pin(rig.io, 2, true);
	cr_expect_eq(rig.sent, 1u, "no new edge");
	ioapic_set_pin(rig.io, 2, false);
	ioapic_set_pin(rig.io, 2, true);
	cr_expect_eq(rig.sent, 2u);
	cr_expect_eq(rig.programs, 1u, "nothing changed: installed once");
	rig_close(&rig);
}

Test(ioapic, an_edge_on_a_masked_pin_is_lost)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 5, 0x35 | RTE_MASKED, 0);
	ioapic_set_pin(rig.io, 5, true);
	ioapic_set_pin(rig.io, 5, false);
	set_entry(&rig, 5, 0x35, 0);
	cr_expect_eq(rig.sent, 0u);
	rig_close(&rig);
}

Test(ioapic, message_fields_follow_the_entry)
{
	struct rig rig;
	rig_open(&rig);
	/* lowest priority (1), logical destination 0x0f, level */
	set_entry(&rig, 9, 0x49 | 1u << 8 | RTE_LOGICAL | RTE_LEVEL, 0x0f);
	ioapic_set_pin(rig.io, 9, true);
	cr_assert_eq(rig.sent, 1u);
	cr_expect_eq(rig.sent_msg[0].address, 0xfee0f004ull);
	cr_expect_eq(rig.sent_msg[0].data, 0xc149u, "vector, mode, assert, level trigger");
	cr_expect_eq(rig.installed[9].address, 0xfee0f004ull);
	rig_close(&rig);
}

Test(ioapic, a_level_pin_waits_for_the_eoi_and_comes_back_while_asserted)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 4, 0x41 | RTE_LEVEL, 0);
	ioapic_set_pin(rig.io, 4, true);
	cr_assert_eq(rig.sent, 1u);
	cr_expect(reg_read(&rig, 0x18) & RTE_REMOTE_IRR);
	ioapic_set_pin(rig.io, 4, true);
	cr_expect_eq(rig.sent, 1u, "remote IRR holds it off");
	ioapic_eoi(rig.io, 0x42);
	cr_expect_eq(rig.sent, 1u, "another vector's EOI");
	ioapic_eoi(rig.io, 0x41);
	cr_expect_eq(rig.sent, 2u, "still asserted: sent again");
	cr_expect(reg_read(&rig, 0x18) & RTE_REMOTE_IRR);
	ioapic_set_pin(rig.io, 4, false);
	ioapic_eoi(rig.io, 0x41);
	cr_expect_eq(rig.sent, 2u);
	cr_expect_eq(reg_read(&rig, 0x18) & RTE_REMOTE_IRR, 0u);
	rig_close(&rig);
}

Test(ioapic, unmasking_an_asserted_level_pin_sends_it)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 10, 0x4a | RTE_LEVEL | RTE_MASKED, 1);
	ioapic_set_pin(rig.io, 10, true);
	cr_expect_eq(rig.sent, 0u);
	set_entry(&rig, 10, 0x4a | RTE_LEVEL, 1);
	cr_assert_eq(rig.sent, 1u);
	cr_expect_eq(rig.sent_msg[0].address, 0xfee01000ull);
	rig_close(&rig);
}

Test(ioapic, switching_to_edge_clears_remote_irr)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 3, 0x43 | RTE_LEVEL, 0);
	ioapic_set_pin(rig.io, 3, true);
	cr_assert(reg_read(&rig, 0x16) & RTE_REMOTE_IRR);
	set_entry(&rig, 3, 0x43, 0);
	cr_expect_eq(reg_read(&rig, 0x16) & RTE_REMOTE_IRR, 0u);
	rig_close(&rig);
}

Test(ioapic, changed_entries_are_installed_again_before_the_next_send)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 1, 0x31, 0);
	ioapic_set_pin(rig.io, 1, true);
	cr_assert_eq(rig.programs, 1u);
	set_entry(&rig, 1, 0x31 | RTE_MASKED, 0);
	set_entry(&rig, 1, 0x31, 0);
	ioapic_set_pin(rig.io, 1, false);
	ioapic_set_pin(rig.io, 1, true);
	cr_expect_eq(rig.programs, 1u, "masking changes no message");
	for (unsigned pin = 12; pin < 16; pin++)
		set_entry(&rig, pin, 0x50 + pin, 0);
	cr_expect_eq(rig.programs, 1u);
	ioapic_set_pin(rig.io, 14, true);
	cr_expect_eq(rig.programs, 2u, "four changed entries, one installation");
	cr_expect_eq(rig.installed[15].data, 0x5fu);
	rig_close(&rig);
}

Test(ioapic, extint_entries_send_nothing)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 0, 7u << 8, 0);
	ioapic_set_pin(rig.io, 0, true);
	cr_expect_eq(rig.sent, 0u);
	rig_close(&rig);
}

Test(ioapic, narrow_iowin_writes_are_ignored_and_pins_beyond_23_too)
{
	struct rig rig;
	rig_open(&rig);
	uint8_t select = 0x10;
	ioapic_ops.write(rig.io, 0x00, &select, 1);
	uint8_t narrow[2] = { 0x33, 0x00 };
	ioapic_ops.write(rig.io, 0x10, narrow, 2);
	cr_expect_eq(reg_read(&rig, 0x10), RTE_MASKED);
	ioapic_set_pin(rig.io, IOAPIC_PINS, true);
	cr_expect_eq(rig.sent, 0u);
	rig_close(&rig);
}

/* ---- saved state ---- */

static void save(struct rig *rig, struct state_writer *w)
{
	state_writer_init(w);
	ioapic_save(rig->io, w);
	cr_assert_not(w->failed);
}

static int restore(struct rig *rig, const uint8_t *data, size_t len, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	int rc = ioapic_restore(rig->io, &r, err);
	if (rc == 0)
		cr_expect_eq(r.pos, len, "the whole record is read");
	return rc;
}

Test(ioapic, saved_state_restores_routes_and_a_pin_waiting_for_its_eoi)
{
	struct rig a, b;
	rig_open(&a);
	reg_write(&a, 0x00, 9u << 24);                 /* a new ID */
	set_entry(&a, 1, 0x31, 1);                      /* edge */
	set_entry(&a, 10, 0x3a | RTE_LEVEL, 2);         /* level */
	set_entry(&a, 11, 0x3b | RTE_LEVEL | RTE_LOGICAL, 0x0f);
	ioapic_set_pin(a.io, 10, true);                 /* sent, waits for its EOI */
	ioapic_set_pin(a.io, 11, true);
	mmio_write32(&a, 0x00, 0x15);                   /* IOREGSEL left at pin 2's high half */
	cr_assert_eq(a.sent, 2u);
	struct state_writer w;
	save(&a, &w);

	rig_open(&b);
	struct kvmini_error err;
	cr_assert_eq(restore(&b, w.data, w.len, &err), 0, "%s", err.msg);
	cr_expect_eq(b.programs, 1u, "the routes are installed at once");
	cr_expect_eq(memcmp(b.installed, a.installed, sizeof(a.installed)), 0);
	cr_expect_eq(b.sent, 0u, "a restore sends nothing");
	cr_expect_eq(mmio_read32(&b, 0x00), 0x15u);
	for (uint8_t reg = 0; reg < 0x10 + 2 * IOAPIC_PINS; reg++)
		cr_expect_eq(reg_read(&b, reg), reg_read(&a, reg), "register 0x%x", reg);
	/* Pin 10 waits for vector 0x3a's EOI on both, then comes back. */
	ioapic_eoi(a.io, 0x3a);
	ioapic_eoi(b.io, 0x3a);
	cr_expect_eq(b.sent, 1u);
	cr_expect_eq(b.sent_pin[0], 10u);
	cr_expect_eq(b.sent_msg[0].address, a.sent_msg[2].address);
	cr_expect_eq(b.sent_msg[0].data, a.sent_msg[2].data);
	/* An edge on a pin that is already high is no edge. */
	ioapic_set_pin(b.io, 11, true);
	cr_expect_eq(b.sent, 1u, "pin 11's level was restored");
	ioapic_set_pin(b.io, 1, true);
	cr_expect_eq(b.sent, 2u);
	cr_expect_eq(b.sent_msg[1].data & 0xff, 0x31u);
	state_writer_free(&w);
	rig_close(&a);
	rig_close(&b);
}

/* Record offsets: version (4 bytes), ID, IOREGSEL, the pins' levels (4
 * bytes), then the 24 entries (8 bytes each). */
enum { LEVELS = 6, ENTRIES = 10 };

static void expect_refused(const struct state_writer *good, size_t offset, uint8_t value,
			   const char *message)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 3, 0x33, 0);
	uint8_t *bad = malloc(good->len);
	memcpy(bad, good->data, good->len);
	bad[offset] = value;
	struct kvmini_error err;
	cr_expect_eq(restore(&rig, bad, good->len, &err), -1, "offset %zu", offset);
	cr_expect_str_eq(err.msg, message);
	cr_expect_eq(reg_read(&rig, 0x16), 0x33u, "a refused state changes nothing");
	cr_expect_eq(reg_read(&rig, 0x00), 4u << 24);
	free(bad);
	rig_close(&rig);
}

Test(ioapic, malformed_saved_state_is_refused)
{
	struct rig rig;
	rig_open(&rig);
	set_entry(&rig, 5, 0x35, 0);   /* edge, unmasked */
	struct state_writer w;
	save(&rig, &w);
	cr_assert_eq(w.len, 10u + 8 * IOAPIC_PINS);
	expect_refused(&w, 0, 7, "IOAPIC: saved state version 7 is not supported");
	expect_refused(&w, LEVELS + 3, 0x01, "IOAPIC: saved pin levels 0x1000000 name pins "
		       "beyond 23");
	expect_refused(&w, ENTRIES + 8 * 5 + 1, 0x10, "IOAPIC: saved redirection entry 5 "
		       "(0x1035) is impossible");   /* delivery status */
	expect_refused(&w, ENTRIES + 8 * 5 + 1, 0x40, "IOAPIC: saved redirection entry 5 "
		       "(0x4035) is impossible");   /* remote IRR on an edge pin */
	struct kvmini_error err;
	for (size_t len = 0; len < w.len; len++) {
		cr_expect_eq(restore(&rig, w.data, len, &err), -1, "cut at %zu", len);
		cr_expect_str_eq(err.msg, "IOAPIC: saved state is truncated");
	}
	state_writer_free(&w);
	rig_close(&rig);
}
