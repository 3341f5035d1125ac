/* Unit tests of the 16550A model, driven through its bus callbacks the
 * way the vCPU loop drives it: transmitted bytes land in a pipe and the
 * interrupt line is a recorder. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/serial_reg.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/uart16550.h"

#define LEVEL_LOG_MAX 64

/* Records every level the UART drives on its line. */
struct irq_recorder {
	bool level;
	unsigned calls;
	bool log[LEVEL_LOG_MAX];
};

static void record_level(void *ctx, unsigned line, bool level)
{
	struct irq_recorder *rec = ctx;

	cr_assert_eq(line, UART_COM1_IRQ);
	rec->level = level;
	if (rec->calls < LEVEL_LOG_MAX)
		rec->log[rec->calls] = level;
	rec->calls++;
}

struct rig {
	struct uart16550 *uart;
	int out_read, out_write;   /* the pipe standing in for the terminal */
	struct irq_recorder irq;
};

static void rig_open(struct rig *rig)
{
	int fds[2];

	memset(rig, 0, sizeof(*rig));
	cr_assert_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	rig->out_read = fds[0];
	rig->out_write = fds[1];
	struct irq_line line = {
		.set_level = record_level, .ctx = &rig->irq, .line = UART_COM1_IRQ,
	};
	rig->uart = uart16550_create(rig->out_write, &line);
	cr_assert_not_null(rig->uart);
}

static void rig_close(struct rig *rig)
{
	uart16550_destroy(rig->uart);
	close(rig->out_read);
	close(rig->out_write);
}

static uint8_t reg_read(struct rig *rig, unsigned offset)
{
	uint8_t value;

	uart16550_ops.read(rig->uart, offset, &value, 1);
	return value;
}

static void reg_write(struct rig *rig, unsigned offset, uint8_t value)
{
	uart16550_ops.write(rig->uart, offset, &value, 1);
}

/* Whatever the UART wrote to the pipe so far (the pipe is non-blocking). */
static size_t drain_output(struct rig *rig, uint8_t *buf, size_t size)
{
	ssize_t n = read(rig->out_read, buf, size);

	if (n < 0) {
		cr_assert_eq(errno, EAGAIN);
		return 0;
	}
	return (size_t)n;
}

static void receive_text(struct rig *rig, const char *text)
{
	size_t n = strlen(text);

	cr_assert_eq(uart16550_receive(rig->uart, (const uint8_t *)text, n), n);
}

/* ---- reset state and plain registers ---- */

Test(uart, reset_values)
{
	struct rig rig;

	rig_open(&rig);
	cr_expect_eq(reg_read(&rig, UART_IER), 0x00);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	cr_expect_eq(reg_read(&rig, UART_LCR), 0x00);
	cr_expect_eq(reg_read(&rig, UART_MCR), 0x00);
	cr_expect_eq(reg_read(&rig, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	cr_expect_eq(reg_read(&rig, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	cr_expect_eq(reg_read(&rig, UART_SCR), 0x00);
	reg_write(&rig, UART_LCR, UART_LCR_DLAB);
	cr_expect_eq(reg_read(&rig, UART_DLL), 12);
	cr_expect_eq(reg_read(&rig, UART_DLM), 0);
	cr_expect_eq(rig.irq.calls, 0, "no interrupt activity at reset");
	rig_close(&rig);
}

Test(uart, thr_write_reaches_fd)
{
	struct rig rig;
	uint8_t out[16];

	rig_open(&rig);
	reg_write(&rig, UART_TX, 'h');
	reg_write(&rig, UART_TX, 'i');
	reg_write(&rig, UART_TX, '\n');
	cr_assert_eq(drain_output(&rig, out, sizeof(out)), 3);
	cr_expect_arr_eq(out, "hi\n", 3);
	cr_expect_eq(reg_read(&rig, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
		     UART_LSR_THRE | UART_LSR_TEMT, "transmission is instantaneous");
	rig_close(&rig);
}

Test(uart, divisor_latch_hides_thr_and_ier)
{
	struct rig rig;
	uint8_t out[4];

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_RDI);
	reg_write(&rig, UART_LCR, UART_LCR_DLAB | 0x03);
	reg_write(&rig, UART_DLL, 0x01);
	reg_write(&rig, UART_DLM, 0x02);
	cr_expect_eq(reg_read(&rig, UART_DLL), 0x01);
	cr_expect_eq(reg_read(&rig, UART_DLM), 0x02);
	cr_expect_eq(drain_output(&rig, out, sizeof(out)), 0, "DLL write is not a THR write");

	reg_write(&rig, UART_LCR, 0x03);
	cr_expect_eq(reg_read(&rig, UART_IER), UART_IER_RDI, "DLM write left IER alone");
	reg_write(&rig, UART_LCR, UART_LCR_DLAB | 0x03);
	cr_expect_eq(reg_read(&rig, UART_DLL), 0x01, "divisor survives DLAB toggling");
	cr_expect_eq(reg_read(&rig, UART_DLM), 0x02);
	rig_close(&rig);
}

Test(uart, lcr_scr_mcr_ier_read_back)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_LCR, 0x1b);
	reg_write(&rig, UART_SCR, 0xa5);
	reg_write(&rig, UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	cr_expect_eq(reg_read(&rig, UART_LCR), 0x1b);
	cr_expect_eq(reg_read(&rig, UART_SCR), 0xa5);
	cr_expect_eq(reg_read(&rig, UART_MCR), 0x0b);
	reg_write(&rig, UART_MCR, 0xe3);
	cr_expect_eq(reg_read(&rig, UART_MCR), 0x03, "MCR bits 7:5 do not exist");
	reg_write(&rig, UART_IER, 0xf0);
	cr_expect_eq(reg_read(&rig, UART_IER), 0x00, "IER bits 7:4 do not exist");
	rig_close(&rig);
}

/* ---- receive side ---- */

Test(uart, lsr_data_ready_follows_fifo)
{
	struct rig rig;

	rig_open(&rig);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, 0);
	receive_text(&rig, "ab");
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	cr_expect_eq(reg_read(&rig, UART_RX), 'a');
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	cr_expect_eq(reg_read(&rig, UART_RX), 'b');
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, 0);
	cr_expect_eq(reg_read(&rig, UART_RX), 'b', "empty RBR keeps showing the last byte");
	rig_close(&rig);
}

Test(uart, fifo_keeps_order_across_wraparound)
{
	struct rig rig;
	const char *text = "0123456789abcdefghijklmnopqrstuvwxyz";
	size_t sent = 0, got = 0;

	rig_open(&rig);
	/* Interleave partial fills and drains so the ring wraps. */
	while (got < strlen(text)) {
		sent += uart16550_receive(rig.uart, (const uint8_t *)text + sent,
					  strlen(text) - sent < 5 ? strlen(text) - sent : 5);
		for (int i = 0; i < 3 && (reg_read(&rig, UART_LSR) & UART_LSR_DR); i++)
			cr_assert_eq(reg_read(&rig, UART_RX), (uint8_t)text[got++]);
	}
	cr_expect_eq(sent, strlen(text));
	rig_close(&rig);
}

Test(uart, full_fifo_accepts_fewer_and_flags_nothing)
{
	struct rig rig;
	uint8_t bytes[20];
	uint8_t extra = 'X';

	rig_open(&rig);
	for (unsigned i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)i;
	cr_assert_eq(uart16550_receive(rig.uart, bytes, sizeof(bytes)), 16);
	cr_expect_eq(uart16550_receive(rig.uart, &extra, 1), 0);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_OE, 0,
		     "a refused byte is not an overrun");
	cr_expect_eq(reg_read(&rig, UART_RX), 0);
	cr_expect_eq(uart16550_receive(rig.uart, &extra, 1), 1, "one slot freed");
	for (unsigned i = 1; i < 16; i++)
		cr_expect_eq(reg_read(&rig, UART_RX), i);
	cr_expect_eq(reg_read(&rig, UART_RX), 'X');
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, 0);
	rig_close(&rig);
}

Test(uart, fcr_rx_reset_empties_fifo)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_FCR, UART_FCR_ENABLE_FIFO);
	receive_text(&rig, "hello");
	reg_write(&rig, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, 0);
	cr_expect_eq(reg_read(&rig, UART_IIR), 0xc1, "FIFOs stay enabled");
	receive_text(&rig, "z");
	cr_expect_eq(reg_read(&rig, UART_RX), 'z');
	/* Transmit reset: nothing to clear, THR stays empty. */
	reg_write(&rig, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_XMIT);
	cr_expect_eq(reg_read(&rig, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	rig_close(&rig);
}

Test(uart, fcr_reset_bits_need_fifo_enable)
{
	struct rig rig;

	rig_open(&rig);
	receive_text(&rig, "q");
	reg_write(&rig, UART_FCR, UART_FCR_CLEAR_RCVR);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, UART_LSR_DR,
		     "FCR bits 1-7 are ignored while bit 0 is clear");
	reg_write(&rig, UART_FCR, UART_FCR_ENABLE_FIFO);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, 0,
		     "switching the FIFOs on empties them");
	rig_close(&rig);
}

Test(uart, iir_fifo_bits)
{
	struct rig rig;

	rig_open(&rig);
	cr_expect_eq(reg_read(&rig, UART_IIR), 0x01);
	reg_write(&rig, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_14);
	cr_expect_eq(reg_read(&rig, UART_IIR), 0xc1);
	reg_write(&rig, UART_LCR, UART_LCR_DLAB);
	cr_expect_eq(reg_read(&rig, UART_IIR), 0xc1, "IIR is readable with DLAB set");
	reg_write(&rig, UART_FCR, 0);
	cr_expect_eq(reg_read(&rig, UART_IIR), 0x01);
	rig_close(&rig);
}

/* ---- loopback and modem status ---- */

Test(uart, loopback_routes_thr_to_rbr)
{
	struct rig rig;
	uint8_t out[4];

	rig_open(&rig);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP);
	reg_write(&rig, UART_TX, 'Z');
	cr_expect_eq(drain_output(&rig, out, sizeof(out)), 0, "nothing goes out");
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	cr_expect_eq(reg_read(&rig, UART_RX), 'Z');

	uint8_t outside = 'o';
	cr_expect_eq(uart16550_receive(rig.uart, &outside, 1), 1);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_DR, 0,
		     "the line is disconnected from the receiver in loopback");

	reg_write(&rig, UART_MCR, 0);
	reg_write(&rig, UART_TX, 'A');
	cr_expect_eq(drain_output(&rig, out, sizeof(out)), 1);
	cr_expect_eq(out[0], 'A');
	rig_close(&rig);
}

Test(uart, loopback_msr_mirrors_mcr)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP);
	cr_expect_eq(reg_read(&rig, UART_MSR),
		     UART_MSR_DDCD | UART_MSR_DDSR | UART_MSR_DCTS,
		     "entering loopback drops the connected lines");
	cr_expect_eq(reg_read(&rig, UART_MSR), 0x00, "deltas clear on read");

	reg_write(&rig, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	cr_expect_eq(reg_read(&rig, UART_MSR), UART_MSR_CTS | UART_MSR_DCTS);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
	cr_expect_eq(reg_read(&rig, UART_MSR),
		     UART_MSR_DSR | UART_MSR_DDSR | UART_MSR_DCTS);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
	cr_expect_eq(reg_read(&rig, UART_MSR), UART_MSR_RI | UART_MSR_DDSR,
		     "RI rising edge is not a delta");
	reg_write(&rig, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	cr_expect_eq(reg_read(&rig, UART_MSR),
		     UART_MSR_DCD | UART_MSR_DDCD | UART_MSR_TERI);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP | 0x0f);
	cr_expect_eq(reg_read(&rig, UART_MSR) & 0xf0, 0xf0);
	rig_close(&rig);
}

Test(uart, modem_status_interrupt)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_MSI);
	cr_expect_not(rig.irq.level);
	/* Same lines as the connected default: no change, no interrupt. */
	reg_write(&rig, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_DTR |
		  UART_MCR_OUT2);
	cr_expect_not(rig.irq.level);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
	cr_expect(rig.irq.level, "CTS dropped");
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_MSI);
	cr_expect(rig.irq.level, "reading IIR does not acknowledge MSI");
	reg_read(&rig, UART_MSR);
	cr_expect_not(rig.irq.level);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	rig_close(&rig);
}

/* ---- interrupt identification ---- */

Test(uart, rx_data_outranks_thre)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_RDI | UART_IER_THRI);
	cr_expect(rig.irq.level, "enabling THRI with THR empty raises it");
	receive_text(&rig, "a");
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_RDI);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_RDI,
		     "an IIR read does not acknowledge RX data");
	cr_expect_eq(reg_read(&rig, UART_RX), 'a');
	cr_expect(rig.irq.level, "THRE is still pending under RX data");
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_THRI);
	cr_expect_not(rig.irq.level, "reading IIR acknowledged THRE");
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	rig_close(&rig);
}

Test(uart, thre_acknowledged_only_when_reported)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_RDI | UART_IER_THRI);
	receive_text(&rig, "a");
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_RDI);
	reg_read(&rig, UART_RX);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_THRI,
		     "THRE survived the IIR read that reported RX data");
	rig_close(&rig);
}

Test(uart, thr_write_pulses_thre_interrupt)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_THRI);
	cr_assert_eq(rig.irq.calls, 1);
	cr_expect(rig.irq.log[0]);
	reg_write(&rig, UART_TX, 'x');
	/* Writing THR clears THRE (line low), the byte leaves at once and
	 * THR is empty again (line high): a fresh edge per byte. */
	cr_assert_eq(rig.irq.calls, 3);
	cr_expect_not(rig.irq.log[1]);
	cr_expect(rig.irq.log[2]);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_THRI);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	cr_expect_eq(rig.irq.calls, 4);
	cr_expect_not(rig.irq.level);
	rig_close(&rig);
}

Test(uart, thre_raised_only_when_ier_bit_newly_set)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_THRI);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_THRI);
	reg_write(&rig, UART_IER, UART_IER_THRI);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT,
		     "rewriting an already-set THRI does not re-raise");
	reg_write(&rig, UART_IER, 0);
	reg_write(&rig, UART_IER, UART_IER_THRI);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_THRI);
	rig_close(&rig);
}

Test(uart, thre_masked_by_ier)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_TX, 'x');
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	cr_expect_eq(rig.irq.calls, 0, "no interrupt with IER clear");
	rig_close(&rig);
}

Test(uart, overrun_in_loopback_raises_line_status)
{
	struct rig rig;

	rig_open(&rig);
	reg_write(&rig, UART_FCR, UART_FCR_ENABLE_FIFO);
	reg_write(&rig, UART_MCR, UART_MCR_LOOP);
	reg_write(&rig, UART_IER, UART_IER_RLSI | UART_IER_RDI);
	for (int i = 0; i < 17; i++)
		reg_write(&rig, UART_TX, (uint8_t)('a' + i));
	cr_expect(rig.irq.level);
	cr_expect_eq(reg_read(&rig, UART_IIR), 0xc0 | UART_IIR_RLSI);
	uint8_t lsr = reg_read(&rig, UART_LSR);
	cr_expect_eq(lsr & (UART_LSR_OE | UART_LSR_DR), UART_LSR_OE | UART_LSR_DR);
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_OE, 0, "OE clears on read");
	cr_expect_eq(reg_read(&rig, UART_IIR), 0xc0 | UART_IIR_RDI);
	for (int i = 0; i < 16; i++)
		cr_expect_eq(reg_read(&rig, UART_RX), 'a' + i, "the 17th byte was lost");
	cr_expect_eq(reg_read(&rig, UART_IIR), 0xc0 | UART_IIR_NO_INT);
	cr_expect_not(rig.irq.level);
	rig_close(&rig);
}

Test(uart, irq_follows_rx_data_exactly)
{
	struct rig rig;

	rig_open(&rig);
	receive_text(&rig, "a");
	cr_expect_eq(rig.irq.calls, 0, "RDI disabled: line untouched");
	reg_write(&rig, UART_IER, UART_IER_RDI);
	cr_expect_eq(rig.irq.calls, 1);
	cr_expect(rig.irq.level, "data already waiting raises at enable");
	receive_text(&rig, "b");
	cr_expect_eq(rig.irq.calls, 1, "no repeated call while the level holds");
	reg_read(&rig, UART_RX);
	cr_expect(rig.irq.level);
	reg_read(&rig, UART_RX);
	cr_expect_not(rig.irq.level);
	cr_expect_eq(rig.irq.calls, 2);
	reg_write(&rig, UART_IER, 0);
	receive_text(&rig, "c");
	cr_expect_eq(rig.irq.calls, 2);
	rig_close(&rig);
}

Test(uart, no_irq_line_is_fine)
{
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	struct uart16550 *uart = uart16550_create(fds[1], NULL);
	uint8_t value = UART_IER_RDI | UART_IER_THRI;

	cr_assert_not_null(uart);
	uart16550_ops.write(uart, UART_IER, &value, 1);
	cr_expect_eq(uart16550_receive(uart, (const uint8_t *)"k", 1), 1);
	uart16550_ops.read(uart, UART_IIR, &value, 1);
	cr_expect_eq(value, UART_IIR_RDI);
	uart16550_destroy(uart);
	close(fds[0]);
	close(fds[1]);
}

/* ---- robustness ---- */

Test(uart, odd_offsets_and_widths_are_harmless)
{
	struct rig rig;
	uint8_t data[8];
	uint8_t out[8];

	rig_open(&rig);
	memset(data, 0, sizeof(data));
	uart16550_ops.read(rig.uart, 8, data, 1);
	cr_expect_eq(data[0], 0xff);
	uart16550_ops.read(rig.uart, 1000, data, 4);
	cr_expect_eq(data[3], 0xff);
	uart16550_ops.write(rig.uart, 9, data, 1);
	uart16550_ops.write(rig.uart, UART_TX, data, 0);
	uart16550_ops.read(rig.uart, UART_IIR, data, 0);

	uart16550_ops.read(rig.uart, UART_LSR, data, 2);
	cr_expect_eq(data[0], UART_LSR_THRE | UART_LSR_TEMT, "first byte is the register");
	cr_expect_eq(data[1], 0xff);

	const uint8_t word[4] = { 'W', 0x0f, 0x0f, 0x0f };
	uart16550_ops.write(rig.uart, UART_TX, word, 4);
	cr_expect_eq(drain_output(&rig, out, sizeof(out)), 1);
	cr_expect_eq(out[0], 'W');
	cr_expect_eq(reg_read(&rig, UART_IER), 0, "upper bytes of a wide write ignored");

	reg_write(&rig, UART_LSR, 0x00);
	reg_write(&rig, UART_MSR, 0x00);
	cr_expect_eq(reg_read(&rig, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT,
		     "LSR is read-only");
	cr_expect_eq(drain_output(&rig, out, sizeof(out)), 0);
	rig_close(&rig);
}

Test(uart, broken_output_is_ignored)
{
	int fds[2];
	uint8_t byte = 'x';

	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe(fds), 0);
	close(fds[0]);
	struct uart16550 *uart = uart16550_create(fds[1], NULL);
	cr_assert_not_null(uart);
	uart16550_ops.write(uart, UART_TX, &byte, 1);
	uart16550_ops.read(uart, UART_LSR, &byte, 1);
	cr_expect_eq(byte, UART_LSR_THRE | UART_LSR_TEMT);
	uart16550_destroy(uart);
	close(fds[1]);

	uart = uart16550_create(-1, NULL);
	cr_assert_not_null(uart);
	uart16550_ops.write(uart, UART_TX, &byte, 1);
	uart16550_destroy(uart);
	uart16550_destroy(NULL);
}

Test(uart, full_nonblocking_output_drops_instead_of_hanging, .timeout = 10)
{
	struct rig rig;
	uint8_t chunk[4096] = { 0 };

	rig_open(&rig);
	while (write(rig.out_write, chunk, sizeof(chunk)) > 0)
		continue;
	reg_write(&rig, UART_TX, 'x');
	cr_expect_eq(reg_read(&rig, UART_LSR) & UART_LSR_THRE, UART_LSR_THRE);
	rig_close(&rig);
}

/* ---- threads ---- */

#define STREAM_LEN 20000

static void *feed_stream(void *arg)
{
	struct uart16550 *uart = arg;
	uint8_t bytes[64];
	size_t sent = 0;

	while (sent < STREAM_LEN) {
		size_t n = STREAM_LEN - sent < sizeof(bytes) ? STREAM_LEN - sent : sizeof(bytes);

		for (size_t i = 0; i < n; i++)
			bytes[i] = (uint8_t)((sent + i) * 7);
		size_t accepted = uart16550_receive(uart, bytes, n);
		sent += accepted;
		if (accepted < n)
			sched_yield();
	}
	return NULL;
}

Test(uart, concurrent_receive_and_reads_keep_order, .timeout = 30)
{
	struct rig rig;
	pthread_t feeder;
	size_t got = 0;

	rig_open(&rig);
	reg_write(&rig, UART_IER, UART_IER_RDI);
	cr_assert_eq(pthread_create(&feeder, NULL, feed_stream, rig.uart), 0);
	while (got < STREAM_LEN) {
		if (!(reg_read(&rig, UART_LSR) & UART_LSR_DR)) {
			sched_yield();
			continue;
		}
		cr_assert_eq(reg_read(&rig, UART_RX), (uint8_t)(got * 7), "byte %zu", got);
		got++;
	}
	pthread_join(feeder, NULL);
	cr_expect_not(rig.irq.level);
	cr_expect_eq(reg_read(&rig, UART_IIR), UART_IIR_NO_INT);
	rig_close(&rig);
}

/* A guest writing to COM1 while nobody reads kvmini's output must not
 * stall its vCPU (and with it every stop): once the pipe is full the
 * UART waits a moment, then drops, and sends again once there is room.
 * Without that, this test blocks in write() until SIGALRM kills it (a
 * crash to Criterion; its own .timeout leaks in the runner under LSan). */
Test(uart, a_consumer_that_never_reads_cannot_stall_the_guest)
{
	int fds[2];

	alarm(60);
	cr_assert_eq(pipe(fds), 0);   /* blocking, as a shell's pipe is */
	int capacity = fcntl(fds[1], F_GETPIPE_SZ);
	cr_assert_gt(capacity, 0);
	struct uart16550 *uart = uart16550_create(fds[1], NULL);
	cr_assert_not_null(uart);
	cr_expect_eq(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0,
		     "the caller's fd (and whoever shares it) stays blocking");

	uint8_t byte = 'a';
	for (int i = 0; i < capacity + 4096; i++)
		uart16550_ops.write(uart, UART_TX, &byte, 1);
	int queued = 0;
	cr_assert_eq(ioctl(fds[0], FIONREAD, &queued), 0);
	cr_expect_eq(queued, capacity, "the pipe is full, the rest was dropped");

	/* The consumer catches up: output flows again. */
	static uint8_t sink[1 << 20];
	cr_assert_eq(read(fds[0], sink, sizeof(sink)), capacity);
	byte = 'z';
	uart16550_ops.write(uart, UART_TX, &byte, 1);
	cr_assert_eq(read(fds[0], sink, 1), 1);
	cr_expect_eq(sink[0], 'z');
	uart16550_destroy(uart);
	close(fds[0]);
	close(fds[1]);
	alarm(0);
}
