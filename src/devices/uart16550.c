/* 16550A UART model.
 *
 * Transmission is instantaneous: a byte written to THR leaves at once,
 * so THR and the transmitter are always empty (LSR.THRE and LSR.TEMT are
 * always set) and there is no transmit FIFO to model. The receive side
 * has a real 16-byte FIFO, filled by the front end through
 * uart16550_receive() and drained by the guest through RBR.
 *
 * Everything is guarded by one mutex: the front end's input thread and
 * the vCPU threads reach the same state. */
#include "devices/uart16550.h"
#include "devices/char_out.h"

#include <errno.h>
#include <linux/serial_reg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UART_RX_FIFO_SIZE 16

/* IIR bits 7:6 read 11 when FCR has enabled the FIFOs (16550A). The
 * uapi header has no name for this on every kernel version. */
#define UART_IIR_FIFOS_ENABLED 0xc0

/* Only the low nibble of IER and the low five bits of MCR exist on a
 * 16550A; the other bits read back as zero. */
#define UART_IER_WRITABLE 0x0f
#define UART_MCR_WRITABLE 0x1f

/* Reset divisor: 115200 / 12 = 9600 baud, the BIOS default. */
#define UART_RESET_DIVISOR 12

/* Outside loopback the far end is modelled as a connected, ready
 * terminal: carrier, data-set-ready and clear-to-send are asserted and
 * never change, so guests that wait for CTS or DCD before sending work. */
#define UART_MSR_LINE_CONNECTED (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

struct uart16550 {
	pthread_mutex_t lock;
	struct char_out out;     /* never blocks the vCPU (devices/char_out.h) */
	bool has_irq;
	struct irq_line irq;
	bool irq_level;          /* the level last driven on the line */

	uint8_t rx_fifo[UART_RX_FIFO_SIZE];
	unsigned rx_head;        /* index of the oldest byte */
	unsigned rx_count;
	uint8_t rbr;             /* last byte read: what RBR shows when empty */

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;             /* FIFO enable and trigger bits last written */
	uint8_t lsr_errors;      /* sticky error bits, cleared by reading LSR */
	uint8_t msr_deltas;      /* sticky delta bits, cleared by reading MSR */
	bool thre_pending;       /* THR-empty interrupt latched */
};

static bool divisor_latched(const struct uart16550 *uart)
{
	return uart->lcr & UART_LCR_DLAB;
}

static bool in_loopback(const struct uart16550 *uart)
{
	return uart->mcr & UART_MCR_LOOP;
}

static bool fifos_enabled(const struct uart16550 *uart)
{
	return uart->fcr & UART_FCR_ENABLE_FIFO;
}

/* ---- interrupts ---- */

/* The highest-priority pending and enabled source, as IIR bits 3:0. */
static uint8_t pending_interrupt(const struct uart16550 *uart)
{
	if ((uart->ier & UART_IER_RLSI) && uart->lsr_errors)
		return UART_IIR_RLSI;
	if ((uart->ier & UART_IER_RDI) && uart->rx_count > 0)
		return UART_IIR_RDI;
	if ((uart->ier & UART_IER_THRI) && uart->thre_pending)
		return UART_IIR_THRI;
	if ((uart->ier & UART_IER_MSI) && uart->msr_deltas)
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* Drive the line only when its level changes, so every call is an edge
 * (ISA interrupts are edge-triggered). Called with the lock held so that
 * concurrent updates reach the interrupt controller in order. */
static void update_irq(struct uart16550 *uart)
{
	bool level = pending_interrupt(uart) != UART_IIR_NO_INT;

	if (level == uart->irq_level)
		return;
	uart->irq_level = level;
	if (uart->has_irq)
		irq_line_set(&uart->irq, level);
}

/* ---- receive FIFO ---- */

static void rx_clear(struct uart16550 *uart)
{
	uart->rx_head = 0;
	uart->rx_count = 0;
}

static bool rx_push(struct uart16550 *uart, uint8_t byte)
{
	if (uart->rx_count == UART_RX_FIFO_SIZE)
		return false;
	uart->rx_fifo[(uart->rx_head + uart->rx_count) % UART_RX_FIFO_SIZE] = byte;
	uart->rx_count++;
	return true;
}

static uint8_t read_rbr(struct uart16550 *uart)
{
	if (uart->rx_count > 0) {
		uart->rbr = uart->rx_fifo[uart->rx_head];
		uart->rx_head = (uart->rx_head + 1) % UART_RX_FIFO_SIZE;
		uart->rx_count--;
	}
	return uart->rbr;
}

/* ---- transmit ---- */

/* In loopback the transmitter feeds the receiver; a byte that finds the
 * FIFO full is lost and flagged as an overrun, as on the chip. */
static void loop_back(struct uart16550 *uart, uint8_t byte)
{
	if (!rx_push(uart, byte))
		uart->lsr_errors |= UART_LSR_OE;
}

static void write_thr(struct uart16550 *uart, uint8_t byte)
{
	/* Writing THR clears the THRE interrupt; the line drops here so that
	 * the THRE that follows is a fresh edge, as on hardware, and a
	 * driver sending one byte per interrupt keeps getting interrupts. */
	uart->thre_pending = false;
	update_irq(uart);
	if (in_loopback(uart))
		loop_back(uart, byte);
	else
		char_out_write(&uart->out, &byte, 1);
	uart->thre_pending = true;
}

/* ---- modem lines ---- */

/* MSR bits 7:4 as the receiver sees them. */
static uint8_t modem_inputs(const struct uart16550 *uart)
{
	uint8_t mcr = uart->mcr;
	uint8_t in = 0;

	if (!in_loopback(uart))
		return UART_MSR_LINE_CONNECTED;
	if (mcr & UART_MCR_RTS)
		in |= UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		in |= UART_MSR_DSR;
	if (mcr & UART_MCR_OUT1)
		in |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		in |= UART_MSR_DCD;
	return in;
}

/* Delta bits for a change of the modem inputs; RI only reports its
 * trailing edge (1 -> 0). */
static uint8_t modem_deltas(uint8_t before, uint8_t after)
{
	uint8_t changed = before ^ after;
	uint8_t deltas = 0;

	if (changed & UART_MSR_CTS)
		deltas |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		deltas |= UART_MSR_DDSR;
	if ((before & UART_MSR_RI) && !(after & UART_MSR_RI))
		deltas |= UART_MSR_TERI;
	if (changed & UART_MSR_DCD)
		deltas |= UART_MSR_DDCD;
	return deltas;
}

static void write_mcr(struct uart16550 *uart, uint8_t value)
{
	uint8_t before = modem_inputs(uart);

	uart->mcr = value & UART_MCR_WRITABLE;
	uart->msr_deltas |= modem_deltas(before, modem_inputs(uart));
}

/* ---- other registers ---- */

static void write_ier(struct uart16550 *uart, uint8_t value)
{
	bool was_enabled = uart->ier & UART_IER_THRI;

	uart->ier = value & UART_IER_WRITABLE;
	/* Enabling the THRE interrupt while THR is empty (always, here)
	 * raises it at once. */
	if (!was_enabled && (uart->ier & UART_IER_THRI))
		uart->thre_pending = true;
}

static void write_fcr(struct uart16550 *uart, uint8_t value)
{
	bool enable = value & UART_FCR_ENABLE_FIFO;

	/* Switching the FIFOs on or off empties them. */
	if (enable != fifos_enabled(uart))
		rx_clear(uart);
	/* The other FCR bits take effect only together with FIFO enable. */
	if (!enable) {
		uart->fcr = 0;
		return;
	}
	if (value & UART_FCR_CLEAR_RCVR)
		rx_clear(uart);
	/* UART_FCR_CLEAR_XMIT: the transmit side is always empty already. */
	uart->fcr = value & (UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_MASK);
}

static uint8_t read_iir(struct uart16550 *uart)
{
	uint8_t id = pending_interrupt(uart);

	/* Reading IIR acknowledges a THRE interrupt, but only when it is
	 * the one reported. */
	if (id == UART_IIR_THRI)
		uart->thre_pending = false;
	return id | (fifos_enabled(uart) ? UART_IIR_FIFOS_ENABLED : 0);
}

static uint8_t read_lsr(struct uart16550 *uart)
{
	uint8_t lsr = UART_LSR_THRE | UART_LSR_TEMT | uart->lsr_errors;

	if (uart->rx_count > 0)
		lsr |= UART_LSR_DR;
	uart->lsr_errors = 0;
	return lsr;
}

static uint8_t read_msr(struct uart16550 *uart)
{
	uint8_t msr = modem_inputs(uart) | uart->msr_deltas;

	uart->msr_deltas = 0;
	return msr;
}

static uint8_t read_register(struct uart16550 *uart, uint64_t offset)
{
	switch (offset) {
	case UART_RX:
		return divisor_latched(uart) ? uart->dll : read_rbr(uart);
	case UART_IER:
		return divisor_latched(uart) ? uart->dlm : uart->ier;
	case UART_IIR:
		return read_iir(uart);
	case UART_LCR:
		return uart->lcr;
	case UART_MCR:
		return uart->mcr;
	case UART_LSR:
		return read_lsr(uart);
	case UART_MSR:
		return read_msr(uart);
	case UART_SCR:
		return uart->scr;
	default:
		return 0xff;
	}
}

static void write_register(struct uart16550 *uart, uint64_t offset, uint8_t value)
{
	switch (offset) {
	case UART_TX:
		if (divisor_latched(uart))
			uart->dll = value;
		else
			write_thr(uart, value);
		break;
	case UART_IER:
		if (divisor_latched(uart))
			uart->dlm = value;
		else
			write_ier(uart, value);
		break;
	case UART_FCR:
		write_fcr(uart, value);
		break;
	case UART_LCR:
		uart->lcr = value;
		break;
	case UART_MCR:
		write_mcr(uart, value);
		break;
	case UART_SCR:
		uart->scr = value;
		break;
	default:
		/* LSR and MSR are read-only (writing them is a factory test
		 * feature on the chip); out-of-range offsets are ignored. */
		break;
	}
}

/* ---- bus callbacks ---- */

/* A wider access acts on the register at its first byte; the bytes
 * above it are not driven and read as all-ones, like an empty bus. */
static void uart_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct uart16550 *uart = opaque;

	if (len == 0)
		return;
	memset(data, 0xff, len);
	if (offset >= UART_NREGS)
		return;
	pthread_mutex_lock(&uart->lock);
	data[0] = read_register(uart, offset);
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
}

static void uart_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct uart16550 *uart = opaque;

	if (len == 0 || offset >= UART_NREGS)
		return;
	pthread_mutex_lock(&uart->lock);
	write_register(uart, offset, data[0]);
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
}

const struct bus_device_ops uart16550_ops = {
	.read = uart_read,
	.write = uart_write,
};

/* ---- lifetime and front end ---- */

static void reset(struct uart16550 *uart)
{
	rx_clear(uart);
	uart->rbr = 0;
	uart->ier = 0;
	uart->lcr = 0;
	uart->mcr = 0;
	uart->scr = 0;
	uart->fcr = 0;
	uart->dll = UART_RESET_DIVISOR & 0xff;
	uart->dlm = UART_RESET_DIVISOR >> 8;
	uart->lsr_errors = 0;
	uart->msr_deltas = 0;
	uart->thre_pending = false;
	uart->irq_level = false;
}

struct uart16550 *uart16550_create(int out_fd, const struct irq_line *irq)
{
	struct uart16550 *uart = calloc(1, sizeof(*uart));

	if (!uart)
		return NULL;
	if (pthread_mutex_init(&uart->lock, NULL) != 0) {
		free(uart);
		return NULL;
	}
	char_out_open(&uart->out, out_fd);
	if (irq) {
		uart->has_irq = true;
		uart->irq = *irq;
	}
	reset(uart);
	return uart;
}

void uart16550_destroy(struct uart16550 *uart)
{
	if (!uart)
		return;
	char_out_close(&uart->out);
	pthread_mutex_destroy(&uart->lock);
	free(uart);
}

size_t uart16550_receive(struct uart16550 *uart, const uint8_t *bytes, size_t n)
{
	size_t accepted = 0;

	pthread_mutex_lock(&uart->lock);
	if (in_loopback(uart)) {
		/* The serial input is disconnected from the receiver in
		 * loopback: what arrives meanwhile is lost, as on the chip,
		 * rather than held back and stalling the front end. */
		accepted = n;
	} else {
		while (accepted < n && rx_push(uart, bytes[accepted]))
			accepted++;
	}
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return accepted;
}

/* ---- the device interface (src/device.h) ---- */

static void *uart_device_create(const struct device_env *env, struct kvmini_error *err)
{
	struct uart16550 *uart = uart16550_create(env->config->serial_out_fd, &env->irqs[0]);
	if (!uart)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the UART");
	return uart;
}

static void uart_device_destroy(void *dev)
{
	uart16550_destroy(dev);
}

static void uart_device_reset(void *dev)
{
	struct uart16550 *uart = dev;
	pthread_mutex_lock(&uart->lock);
	bool was_raised = uart->irq_level;
	reset(uart);
	uart->irq_level = was_raised;
	update_irq(uart);   /* lowers the line if it was up */
	pthread_mutex_unlock(&uart->lock);
}

/* The receive FIFO goes oldest byte first; the interrupt line's level is
 * not saved: it follows from the registers (update_irq after restore). */
static void uart_save(void *dev, struct state_writer *w)
{
	struct uart16550 *uart = dev;
	pthread_mutex_lock(&uart->lock);
	state_put_u8(w, (uint8_t)uart->rx_count);
	for (unsigned i = 0; i < uart->rx_count; i++)
		state_put_u8(w, uart->rx_fifo[(uart->rx_head + i) % UART_RX_FIFO_SIZE]);
	const uint8_t regs[] = {
		uart->rbr, uart->ier, uart->lcr, uart->mcr, uart->scr, uart->dll, uart->dlm,
		uart->fcr, uart->lsr_errors, uart->msr_deltas, uart->thre_pending,
	};
	state_put_bytes(w, regs, sizeof(regs));
	pthread_mutex_unlock(&uart->lock);
}

/* Bits a saved register may have set: what the guest can make it hold. */
static bool uart_state_valid(const uint8_t regs[11])
{
	enum { IER = 1, MCR = 3, FCR = 7, LSR_ERR = 8, MSR_DELTA = 9, THRE = 10 };
	return !(regs[IER] & ~UART_IER_WRITABLE) && !(regs[MCR] & ~UART_MCR_WRITABLE) &&
	       !(regs[FCR] & ~(UART_FCR_ENABLE_FIFO | UART_FCR_TRIGGER_MASK)) &&
	       !(regs[LSR_ERR] & ~UART_LSR_BRK_ERROR_BITS) && !(regs[MSR_DELTA] & ~UART_MSR_ANY_DELTA) &&
	       regs[THRE] <= 1;
}

static int uart_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct uart16550 *uart = dev;
	uint8_t fifo[UART_RX_FIFO_SIZE], regs[11];
	unsigned count = state_get_u8(r);
	if (count > UART_RX_FIFO_SIZE)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "uart16550: saved receive FIFO holds %u bytes, more than %u",
				   count, UART_RX_FIFO_SIZE);
	state_get_bytes(r, fifo, count);
	state_get_bytes(r, regs, sizeof(regs));
	if (state_reader_finish(r, "uart16550", err) < 0)
		return -1;
	if (!uart_state_valid(regs))
		return kvmini_fail(err, KVMINI_E_USAGE, "uart16550: saved registers hold bits no 16550A has");
	pthread_mutex_lock(&uart->lock);
	memcpy(uart->rx_fifo, fifo, count);
	uart->rx_head = 0;
	uart->rx_count = count;
	uint8_t *fields[] = {
		&uart->rbr, &uart->ier, &uart->lcr, &uart->mcr, &uart->scr, &uart->dll, &uart->dlm,
		&uart->fcr, &uart->lsr_errors, &uart->msr_deltas,
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		*fields[i] = regs[i];
	uart->thre_pending = regs[10];
	update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return 0;
}

static size_t uart_device_input(void *dev, const uint8_t *bytes, size_t n)
{
	return uart16550_receive(dev, bytes, n);
}

const struct device_type uart16550_device = {
	.name = "uart16550 (COM1)",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, UART_COM1_BASE, UART_NREGS, &uart16550_ops,
			      "uart16550 (COM1)" } },
		.nranges = 1,
		.irqs = { { UART_COM1_IRQ, false } },
		.nirqs = 1,
		.acpi_name = "COM1", .acpi_hid = "PNP0501",
	},
	.create = uart_device_create, .destroy = uart_device_destroy,
	.reset = uart_device_reset,
	.save_state = uart_save, .restore_state = uart_restore,
	.input = uart_device_input,
};
