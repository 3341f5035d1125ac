/* Unit tests of the three reset paths (the i8042 at 0x60/0x64, port
 * 0x92, port 0xcf9), through their bus callbacks, with a reset line that
 * records every pull. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "devices/i8042.h"
#include "devices/port92.h"
#include "devices/reset_control.h"

struct reset_recorder {
	unsigned pulls;
	char reason[128];
};

static void record_pull(void *ctx, const char *reason)
{
	struct reset_recorder *rec = ctx;
	rec->pulls++;
	snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
}

static struct reset_line recorder_line(struct reset_recorder *rec)
{
	memset(rec, 0, sizeof(*rec));
	return (struct reset_line){ .pull = record_pull, .ctx = rec };
}

static void out(const struct bus_device_ops *ops, void *dev, uint8_t value)
{
	ops->write(dev, 0, &value, 1);
}

static uint8_t in(const struct bus_device_ops *ops, void *dev)
{
	uint8_t value = 0;
	ops->read(dev, 0, &value, 1);
	return value;
}

/* ---- i8042 ---- */

struct kbc_rig {
	struct reset_recorder rec;
	struct i8042 *kbc;
};

static void kbc_open(struct kbc_rig *rig)
{
	struct reset_line line = recorder_line(&rig->rec);
	rig->kbc = i8042_create(&line);
	cr_assert_not_null(rig->kbc);
}

static uint8_t kbc_status(struct kbc_rig *rig)
{
	return in(&i8042_command_ops, rig->kbc);
}

static void kbc_command(struct kbc_rig *rig, uint8_t cmd)
{
	out(&i8042_command_ops, rig->kbc, cmd);
}

static void kbc_data_write(struct kbc_rig *rig, uint8_t byte)
{
	out(&i8042_data_ops, rig->kbc, byte);
}

/* The next byte at port 0x60, which must be waiting (OBF set). */
static uint8_t kbc_data_read(struct kbc_rig *rig)
{
	cr_expect(kbc_status(rig) & I8042_STATUS_OBF, "no byte waiting");
	return in(&i8042_data_ops, rig->kbc);
}

Test(i8042, status_at_power_on)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	/* system flag and keyboard not inhibited; both buffers empty */
	cr_expect_eq(kbc_status(&rig), I8042_STATUS_SYS | I8042_STATUS_UNLOCKED);
	i8042_destroy(rig.kbc);
}

Test(i8042, self_test_answers_0x55)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	kbc_command(&rig, 0xaa);
	cr_expect_eq(kbc_status(&rig), I8042_STATUS_OBF | I8042_STATUS_SYS | I8042_STATUS_CMD |
		     I8042_STATUS_UNLOCKED);
	cr_expect_eq(kbc_data_read(&rig), 0x55);
	cr_expect_not(kbc_status(&rig) & I8042_STATUS_OBF);
	cr_expect_eq(in(&i8042_data_ops, rig.kbc), 0x55, "an empty buffer reads the last byte again");
	cr_expect_eq(rig.rec.pulls, 0);
	i8042_destroy(rig.kbc);
}

Test(i8042, command_byte_read_and_write)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	kbc_command(&rig, 0x20);
	cr_expect_eq(kbc_data_read(&rig), 0x44);
	kbc_command(&rig, 0x60);
	kbc_data_write(&rig, 0x00);   /* clears the system flag */
	cr_expect_eq(kbc_status(&rig), I8042_STATUS_UNLOCKED);
	kbc_command(&rig, 0x20);
	cr_expect_eq(kbc_data_read(&rig), 0x00);
	kbc_command(&rig, 0xad);      /* disable the keyboard port: bit 4 */
	kbc_command(&rig, 0x20);
	cr_expect_eq(kbc_data_read(&rig), 0x10);
	i8042_destroy(rig.kbc);
}

Test(i8042, interface_tests_and_output_port)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	kbc_command(&rig, 0xab);
	cr_expect_eq(kbc_data_read(&rig), 0x00);
	kbc_command(&rig, 0xa9);
	cr_expect_eq(kbc_data_read(&rig), 0x00);
	kbc_command(&rig, 0xd0);
	cr_expect_eq(kbc_data_read(&rig), 0x03, "reset line high, A20 on");
	kbc_command(&rig, 0xdd);
	kbc_command(&rig, 0xd0);
	cr_expect_eq(kbc_data_read(&rig), 0x01);
	kbc_command(&rig, 0xd1);
	kbc_data_write(&rig, 0x03);   /* A20 back on, reset line still high */
	kbc_command(&rig, 0xd0);
	cr_expect_eq(kbc_data_read(&rig), 0x03);
	cr_expect_eq(rig.rec.pulls, 0);
	i8042_destroy(rig.kbc);
}

Test(i8042, keyboard_answers_and_echoed_buffers)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	kbc_data_write(&rig, 0xf2);   /* identify */
	cr_expect_eq(kbc_data_read(&rig), 0xfa);
	cr_expect_eq(kbc_data_read(&rig), 0xab);
	cr_expect_eq(kbc_data_read(&rig), 0x83);
	kbc_data_write(&rig, 0xff);   /* reset the keyboard */
	cr_expect_eq(kbc_data_read(&rig), 0xfa);
	cr_expect_eq(kbc_data_read(&rig), 0xaa);
	kbc_data_write(&rig, 0xee);
	cr_expect_eq(kbc_data_read(&rig), 0xee);
	kbc_command(&rig, 0xd3);      /* as if from the mouse */
	kbc_data_write(&rig, 0x42);
	cr_expect(kbc_status(&rig) & I8042_STATUS_AUX);
	cr_expect_eq(kbc_data_read(&rig), 0x42);
	kbc_command(&rig, 0xd4);      /* to the mouse: it resets */
	kbc_data_write(&rig, 0xff);
	cr_expect(kbc_status(&rig) & I8042_STATUS_AUX);
	cr_expect_eq(kbc_data_read(&rig), 0xfa);
	cr_expect_eq(kbc_data_read(&rig), 0xaa);
	cr_expect_eq(kbc_data_read(&rig), 0x00);
	cr_expect_not(kbc_status(&rig) & I8042_STATUS_OBF);
	i8042_destroy(rig.kbc);
}

Test(i8042, pulse_reset_0xfe_resets_once_with_its_reason)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	kbc_command(&rig, 0xff);      /* pulses no line */
	cr_expect_eq(rig.rec.pulls, 0);
	kbc_command(&rig, 0xfe);
	cr_expect_eq(rig.rec.pulls, 1);
	cr_expect_str_eq(rig.rec.reason, "guest reset through the i8042 (0xfe)");
	i8042_destroy(rig.kbc);
}

Test(i8042, output_port_with_the_reset_line_low_resets)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	kbc_command(&rig, 0xd1);
	kbc_data_write(&rig, 0x02);
	cr_expect_eq(rig.rec.pulls, 1);
	cr_expect_str_eq(rig.rec.reason, "guest reset through the i8042 output port (0xd1, 0x02)");
	i8042_destroy(rig.kbc);
}

Test(i8042, a_full_output_buffer_keeps_its_oldest_bytes)
{
	struct kbc_rig rig;
	kbc_open(&rig);
	for (unsigned i = 0; i < 70; i++)
		kbc_command(&rig, 0xaa);
	unsigned n = 0;
	while (kbc_status(&rig) & I8042_STATUS_OBF) {
		cr_expect_eq(in(&i8042_data_ops, rig.kbc), 0x55);
		n++;
	}
	cr_expect_eq(n, 64);
	i8042_destroy(rig.kbc);
}

/* ---- port 0x92 ---- */

Test(port92, rising_edge_of_bit_0_resets)
{
	struct reset_recorder rec;
	struct reset_line line = recorder_line(&rec);
	struct port92 port;
	port92_init(&port, &line);
	cr_expect_eq(in(&port92_ops, &port), 0x02, "A20 starts enabled");
	out(&port92_ops, &port, 0x00);
	cr_expect_eq(in(&port92_ops, &port), 0x00, "A20 reads back");
	cr_expect_eq(rec.pulls, 0);
	out(&port92_ops, &port, 0x03);
	cr_expect_eq(rec.pulls, 1);
	cr_expect_str_eq(rec.reason, "guest reset through port 0x92 (fast reset)");
	out(&port92_ops, &port, 0x03);   /* no edge */
	cr_expect_eq(rec.pulls, 1);
	out(&port92_ops, &port, 0x02);
	out(&port92_ops, &port, 0x01);
	cr_expect_eq(rec.pulls, 2);
}

/* ---- port 0xcf9 ---- */

Test(reset_control, bit_2_resets_and_bits_1_and_3_are_kept)
{
	struct reset_recorder rec;
	struct reset_line line = recorder_line(&rec);
	struct reset_control rc;
	reset_control_init(&rc, &line);
	cr_expect_eq(in(&reset_control_ops, &rc), 0x00);
	out(&reset_control_ops, &rc, 0x02);
	cr_expect_eq(rec.pulls, 0);
	cr_expect_eq(in(&reset_control_ops, &rc), 0x02);
	out(&reset_control_ops, &rc, 0x06);
	cr_expect_eq(rec.pulls, 1);
	cr_expect_str_eq(rec.reason, "guest reset through port 0xcf9 (0x06)");
	out(&reset_control_ops, &rc, 0x0e);
	cr_expect_eq(rec.pulls, 2);
	cr_expect_str_eq(rec.reason, "guest reset through port 0xcf9 (0x0e)");
	cr_expect_eq(in(&reset_control_ops, &rc), 0x0a, "bit 2 does not stick");
}
