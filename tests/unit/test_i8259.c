/* Unit tests of the 8259A pair, driven through its bus callbacks as the
 * vCPU loop drives ports 0x20-0x21, 0xa0-0xa1 and 0x4d0-0x4d1, with the
 * CPU's side (INT and the acknowledge cycle) played by the test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "devices/i8259.h"

struct rig {
	struct i8259 *pic;
	bool output;          /* INT as last reported */
	unsigned changes;     /* how many times it changed */
};

static void output_changed(void *ctx, bool level)
{
	struct rig *rig = ctx;
	rig->output = level;
	rig->changes++;
}

static void outb(struct rig *rig, unsigned port, uint8_t value)
{
	if (port >= I8259_ELCR_PORT)
		i8259_elcr_ops.write(rig->pic, port - I8259_ELCR_PORT, &value, 1);
	else if (port >= I8259_SLAVE_PORT)
		i8259_slave_ops.write(rig->pic, port - I8259_SLAVE_PORT, &value, 1);
	else
		i8259_master_ops.write(rig->pic, port - I8259_MASTER_PORT, &value, 1);
}

static uint8_t inb(struct rig *rig, unsigned port)
{
	uint8_t value = 0;
	if (port >= I8259_ELCR_PORT)
		i8259_elcr_ops.read(rig->pic, port - I8259_ELCR_PORT, &value, 1);
	else if (port >= I8259_SLAVE_PORT)
		i8259_slave_ops.read(rig->pic, port - I8259_SLAVE_PORT, &value, 1);
	else
		i8259_master_ops.read(rig->pic, port - I8259_MASTER_PORT, &value, 1);
	return value;
}

/* What a PC BIOS or kernel does: vectors 0x20 and 0x28, the slave on
 * input 2, 8086 mode with ICW4 `icw4`, then the masks. */
static void init_pair(struct rig *rig, uint8_t icw4, uint8_t master_mask, uint8_t slave_mask)
{
	outb(rig, 0x20, 0x11);
	outb(rig, 0xa0, 0x11);
	outb(rig, 0x21, 0x20);
	outb(rig, 0xa1, 0x28);
	outb(rig, 0x21, 0x04);
	outb(rig, 0xa1, 0x02);
	outb(rig, 0x21, icw4);
	outb(rig, 0xa1, icw4);
	outb(rig, 0x21, master_mask);
	outb(rig, 0xa1, slave_mask);
}

static void rig_open(struct rig *rig)
{
	*rig = (struct rig){ 0 };
	struct i8259_output out = { .changed = output_changed, .ctx = rig };
	rig->pic = i8259_create(&out);
	cr_assert_not_null(rig->pic);
	init_pair(rig, 0x01, 0x00, 0x00);
}

static void rig_close(struct rig *rig)
{
	i8259_destroy(rig->pic);
}

static void pulse(struct rig *rig, unsigned irq)
{
	i8259_set_irq(rig->pic, irq, true);
	i8259_set_irq(rig->pic, irq, false);
}

static uint8_t read_isr(struct rig *rig, unsigned port)
{
	outb(rig, port, 0x0b);   /* OCW3: read ISR */
	uint8_t isr = inb(rig, port);
	outb(rig, port, 0x0a);   /* back to IRR */
	return isr;
}

Test(i8259, initialization_sets_masks_and_reads_irr_by_default)
{
	struct rig rig;
	rig_open(&rig);
	init_pair(&rig, 0x01, 0xfb, 0xff);
	cr_expect_eq(inb(&rig, 0x21), 0xfb);
	cr_expect_eq(inb(&rig, 0xa1), 0xff);
	i8259_set_irq(rig.pic, 3, true);
	cr_expect_eq(inb(&rig, 0x20), 0x08, "IRR shows the masked request");
	cr_expect_not(i8259_output(rig.pic), "a masked request raises no INT");
	cr_expect_eq(read_isr(&rig, 0x20), 0x00);
	rig_close(&rig);
}

Test(i8259, an_edge_is_acknowledged_served_and_ended_by_eoi)
{
	struct rig rig;
	rig_open(&rig);
	pulse(&rig, 0);
	cr_assert(i8259_output(rig.pic));
	cr_expect(rig.output);
	cr_expect_eq(inb(&rig, 0x20), 0x01, "the edge stays latched after the line falls");
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x20);
	cr_expect_eq(inb(&rig, 0x20), 0x00, "IRR cleared by the acknowledge");
	cr_expect_eq(read_isr(&rig, 0x20), 0x01);
	cr_expect_not(i8259_output(rig.pic));
	pulse(&rig, 0);
	cr_expect_not(i8259_output(rig.pic), "held off while its own ISR bit is set");
	outb(&rig, 0x20, 0x20);   /* non-specific EOI */
	cr_expect_eq(read_isr(&rig, 0x20), 0x00);
	cr_expect(i8259_output(rig.pic), "the second edge is served after the EOI");
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x20);
	rig_close(&rig);
}

Test(i8259, a_line_held_high_gives_one_edge_request)
{
	struct rig rig;
	rig_open(&rig);
	i8259_set_irq(rig.pic, 4, true);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x24);
	outb(&rig, 0x20, 0x20);
	cr_expect_not(i8259_output(rig.pic), "no new edge while the line stays high");
	i8259_set_irq(rig.pic, 4, false);
	i8259_set_irq(rig.pic, 4, true);
	cr_expect(i8259_output(rig.pic));
	rig_close(&rig);
}

Test(i8259, masking_and_unmasking)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x21, 0x02);
	pulse(&rig, 1);
	cr_expect_not(i8259_output(rig.pic));
	outb(&rig, 0x21, 0x00);
	cr_expect(i8259_output(rig.pic), "the latched request is served once unmasked");
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x21);
	rig_close(&rig);
}

Test(i8259, fully_nested_priority)
{
	struct rig rig;
	rig_open(&rig);
	pulse(&rig, 3);
	pulse(&rig, 1);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x21, "IRQ 1 before IRQ 3");
	cr_expect_not(i8259_output(rig.pic), "IRQ 3 waits while IRQ 1 is in service");
	pulse(&rig, 0);
	cr_expect(i8259_output(rig.pic), "IRQ 0 interrupts IRQ 1's handler");
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x20);
	cr_expect_eq(read_isr(&rig, 0x20), 0x03);
	outb(&rig, 0x20, 0x20);   /* ends IRQ 0, the highest in service */
	cr_expect_eq(read_isr(&rig, 0x20), 0x02);
	outb(&rig, 0x20, 0x20);
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x23);
	rig_close(&rig);
}

Test(i8259, the_slave_is_served_through_the_cascade)
{
	struct rig rig;
	rig_open(&rig);
	pulse(&rig, 12);
	cr_assert(i8259_output(rig.pic));
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x2c);
	cr_expect_eq(read_isr(&rig, 0x20), 0x04, "master: input 2 in service");
	cr_expect_eq(read_isr(&rig, 0xa0), 0x10, "slave: input 4 in service");
	outb(&rig, 0xa0, 0x20);
	outb(&rig, 0x20, 0x20);
	cr_expect_eq(read_isr(&rig, 0x20), 0x00);
	cr_expect_eq(read_isr(&rig, 0xa0), 0x00);
	i8259_set_irq(rig.pic, 2, true);
	cr_expect_not(i8259_output(rig.pic), "IRQ 2 is the cascade, not a line");
	rig_close(&rig);
}

Test(i8259, the_master_mask_on_input_2_holds_the_slave_off)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x21, 0x04);
	pulse(&rig, 9);
	cr_expect_not(i8259_output(rig.pic));
	outb(&rig, 0x21, 0x00);
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x29);
	rig_close(&rig);
}

Test(i8259, level_triggered_inputs_follow_the_line)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x4d0, 0xff);
	outb(&rig, 0x4d1, 0xff);
	cr_expect_eq(inb(&rig, 0x4d0), 0xf8, "IRQs 0-2 are edge-only");
	cr_expect_eq(inb(&rig, 0x4d1), 0xde, "IRQs 8 and 13 are edge-only");
	i8259_set_irq(rig.pic, 9, true);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x29);
	outb(&rig, 0xa0, 0x20);
	outb(&rig, 0x20, 0x20);
	cr_expect(i8259_output(rig.pic), "still asserted after the EOI: requested again");
	i8259_set_irq(rig.pic, 9, false);
	cr_expect_eq(inb(&rig, 0xa0), 0x00, "a level request goes away with its line");
	/* The master latched the cascade's edge: as on a PC (and in KVM's
	 * model), the acknowledge finds nothing on the slave. */
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x2f, "the slave's spurious IRQ 15");
	cr_expect_not(i8259_output(rig.pic));
	i8259_set_irq(rig.pic, 9, true);
	i8259_set_irq(rig.pic, 9, false);
	cr_expect_eq(inb(&rig, 0xa0), 0x00);
	rig_close(&rig);
}

Test(i8259, ltim_makes_the_whole_chip_level_triggered)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x20, 0x19);   /* ICW1 with LTIM */
	outb(&rig, 0x21, 0x20);
	outb(&rig, 0x21, 0x04);
	outb(&rig, 0x21, 0x01);
	outb(&rig, 0x21, 0x00);
	i8259_set_irq(rig.pic, 5, true);
	cr_expect(i8259_output(rig.pic));
	i8259_set_irq(rig.pic, 5, false);
	cr_expect_not(i8259_output(rig.pic));
	rig_close(&rig);
}

Test(i8259, auto_eoi_sets_no_isr_bit)
{
	struct rig rig;
	rig_open(&rig);
	init_pair(&rig, 0x03, 0x00, 0x00);
	pulse(&rig, 6);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x26);
	cr_expect_eq(read_isr(&rig, 0x20), 0x00);
	pulse(&rig, 6);
	cr_expect(i8259_output(rig.pic), "nothing in service: served at once");
	rig_close(&rig);
}

Test(i8259, an_acknowledge_with_nothing_pending_is_spurious_irq_7)
{
	struct rig rig;
	rig_open(&rig);
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x27);
	cr_expect_eq(read_isr(&rig, 0x20), 0x00);
	rig_close(&rig);
}

Test(i8259, poll_mode_reads_and_acknowledges_the_highest_request)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x21, 0xff);   /* polling works with the inputs masked */
	outb(&rig, 0x21, 0x00);
	pulse(&rig, 5);
	outb(&rig, 0x20, 0x0c);   /* OCW3: poll */
	cr_expect_eq(inb(&rig, 0x20), 0x85);
	cr_expect_eq(read_isr(&rig, 0x20), 0x20);
	outb(&rig, 0x20, 0x0c);
	cr_expect_eq(inb(&rig, 0x20), 0x00, "nothing else pending");
	rig_close(&rig);
}

Test(i8259, specific_eoi_and_priority_rotation)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x20, 0xc4);   /* set priority: IRQ 4 lowest, IRQ 5 highest */
	pulse(&rig, 1);
	pulse(&rig, 6);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x26, "IRQ 6 outranks IRQ 1 now");
	outb(&rig, 0x20, 0x66);   /* specific EOI for IRQ 6 */
	cr_expect_eq(read_isr(&rig, 0x20), 0x00);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x21);
	outb(&rig, 0x20, 0xa0);   /* rotate on non-specific EOI: IRQ 1 becomes lowest */
	pulse(&rig, 1);
	pulse(&rig, 3);
	cr_expect_eq(i8259_acknowledge(rig.pic), 0x23, "IRQ 3 outranks IRQ 1 after rotation");
	rig_close(&rig);
}

Test(i8259, special_mask_mode_lets_lower_priorities_through)
{
	struct rig rig;
	rig_open(&rig);
	pulse(&rig, 1);
	cr_assert_eq(i8259_acknowledge(rig.pic), 0x21);
	pulse(&rig, 5);
	cr_expect_not(i8259_output(rig.pic));
	outb(&rig, 0x21, 0x02);   /* mask IRQ 1, which is in service */
	outb(&rig, 0x20, 0x68);   /* OCW3: set special mask mode */
	cr_expect(i8259_output(rig.pic), "IRQ 5 gets through while IRQ 1 is masked");
	outb(&rig, 0x20, 0x48);   /* reset special mask mode */
	cr_expect_not(i8259_output(rig.pic));
	rig_close(&rig);
}

Test(i8259, icw1_needs_a_fresh_edge_and_reports_int_changes)
{
	struct rig rig;
	rig_open(&rig);
	i8259_set_irq(rig.pic, 3, true);
	cr_expect_eq(rig.changes, 1u);
	init_pair(&rig, 0x01, 0x00, 0x00);
	cr_expect_not(i8259_output(rig.pic), "ICW1 clears edge requests");
	cr_expect_eq(rig.changes, 2u);
	cr_expect_not(rig.output);
	i8259_set_irq(rig.pic, 3, false);
	i8259_set_irq(rig.pic, 3, true);
	cr_expect(rig.output);
	rig_close(&rig);
}

Test(i8259, word_accesses_reach_both_ports)
{
	struct rig rig;
	rig_open(&rig);
	uint8_t both[2] = { 0x0a, 0x5a };   /* OCW3 to 0x20, IMR to 0x21 */
	i8259_master_ops.write(rig.pic, 0, both, 2);
	cr_expect_eq(inb(&rig, 0x21), 0x5a);
	rig_close(&rig);
}

/* ---- saved state ---- */

static void save(struct rig *rig, struct state_writer *w)
{
	state_writer_init(w);
	i8259_save(rig->pic, w);
	cr_assert_not(w->failed);
}

static int restore(struct rig *rig, const uint8_t *data, size_t len, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	int rc = i8259_restore(rig->pic, &r, err);
	if (rc == 0)
		cr_expect_eq(r.pos, len, "the whole record is read");
	return rc;
}

/* What a guest can see of the pair, port by port. */
static void expect_same_registers(struct rig *a, struct rig *b)
{
	static const unsigned ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };
	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		cr_expect_eq(inb(a, ports[i]), inb(b, ports[i]), "port 0x%x", ports[i]);
	cr_expect_eq(read_isr(a, 0x20), read_isr(b, 0x20));
	cr_expect_eq(read_isr(a, 0xa0), read_isr(b, 0xa0));
	cr_expect_eq(i8259_output(a->pic), i8259_output(b->pic));
}

Test(i8259, saved_state_restores_into_a_fresh_pair_that_behaves_the_same)
{
	struct rig a, b;
	rig_open(&a);
	outb(&a, 0x4d1, 0x02);             /* IRQ 9 level-triggered */
	outb(&a, 0x21, 0x10);              /* IRQ 4 masked */
	i8259_set_irq(a.pic, 9, true);     /* held */
	pulse(&a, 4);                      /* latched while masked */
	pulse(&a, 3);
	pulse(&a, 1);
	cr_assert_eq(i8259_acknowledge(a.pic), 0x21, "IRQ 1 is in service");
	outb(&a, 0x20, 0xc4);              /* set priority: IRQ 5 highest */
	/* IRR, ISR, IMR, ELCR, a held level line and a rotated priority. */
	struct state_writer w;
	save(&a, &w);

	b = (struct rig){ 0 };
	struct i8259_output out = { .changed = output_changed, .ctx = &b };
	b.pic = i8259_create(&out);
	struct kvmini_error err;
	cr_assert_eq(restore(&b, w.data, w.len, &err), 0, "%s", err.msg);
	cr_expect_eq(b.output, i8259_output(a.pic), "the output is reported after a restore");
	expect_same_registers(&a, &b);
	/* The same acknowledges, EOIs and edges from here give the same. */
	for (unsigned step = 0; step < 4; step++) {
		cr_expect_eq(i8259_acknowledge(a.pic), i8259_acknowledge(b.pic), "step %u", step);
		outb(&a, 0x20, 0x20);
		outb(&b, 0x20, 0x20);
		outb(&a, 0xa0, 0x20);
		outb(&b, 0xa0, 0x20);
	}
	outb(&a, 0x21, 0x00);
	outb(&b, 0x21, 0x00);
	pulse(&a, 6);
	pulse(&b, 6);
	expect_same_registers(&a, &b);
	cr_expect_eq(i8259_acknowledge(a.pic), i8259_acknowledge(b.pic));
	/* A half-done initialization goes on where it was. */
	outb(&a, 0x20, 0x11);
	struct state_writer w2;
	save(&a, &w2);
	cr_assert_eq(restore(&b, w2.data, w2.len, &err), 0, "%s", err.msg);
	outb(&a, 0x21, 0x40);
	outb(&b, 0x21, 0x40);
	outb(&a, 0x21, 0x04);
	outb(&b, 0x21, 0x04);
	outb(&a, 0x21, 0x01);
	outb(&b, 0x21, 0x01);
	pulse(&a, 0);
	pulse(&b, 0);
	cr_expect_eq(i8259_acknowledge(b.pic), 0x40, "ICW2 went on from the saved step");
	state_writer_free(&w);
	state_writer_free(&w2);
	rig_close(&a);
	rig_close(&b);
}

/* Record offsets: version (4 bytes), then per chip irr, isr, imr,
 * input, elcr, vector base, top, init step and eight flags. */
enum { MASTER = 4, SLAVE = 20, ELCR = 4, VECTOR = 5, TOP = 6, STEP = 7, FLAGS = 8 };

static void expect_refused(const struct state_writer *good, size_t offset, uint8_t value,
			   const char *message)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x21, 0x5a);
	uint8_t *bad = malloc(good->len);
	memcpy(bad, good->data, good->len);
	bad[offset] = value;
	struct kvmini_error err;
	cr_expect_eq(restore(&rig, bad, good->len, &err), -1, "offset %zu", offset);
	cr_expect_str_eq(err.msg, message);
	cr_expect_eq(inb(&rig, 0x21), 0x5a, "a refused state changes nothing");
	free(bad);
	rig_close(&rig);
}

Test(i8259, malformed_saved_state_is_refused)
{
	struct rig rig;
	rig_open(&rig);
	struct state_writer w;
	save(&rig, &w);
	cr_assert_eq(w.len, 36u);
	expect_refused(&w, 0, 2, "8259 PIC: saved state version 2 is not supported");
	expect_refused(&w, MASTER + ELCR, 0x01, "8259 PIC: saved master state is impossible");
	expect_refused(&w, SLAVE + ELCR, 0x01, "8259 PIC: saved slave state is impossible");
	expect_refused(&w, MASTER + VECTOR, 0x21, "8259 PIC: saved master state is impossible");
	expect_refused(&w, SLAVE + TOP, 8, "8259 PIC: saved slave state is impossible");
	expect_refused(&w, MASTER + STEP, 1, "8259 PIC: saved master state is impossible");
	expect_refused(&w, SLAVE + FLAGS + 3, 2, "8259 PIC: saved slave state is impossible");
	struct kvmini_error err;
	for (size_t len = 0; len < w.len; len++) {
		cr_expect_eq(restore(&rig, w.data, len, &err), -1, "cut at %zu", len);
		cr_expect_str_eq(err.msg, "8259 PIC: saved state is truncated");
	}
	state_writer_free(&w);
	rig_close(&rig);
}
