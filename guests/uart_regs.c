/* Exercises every 16550A register from inside the guest and reports
 * each mismatch; ends through debug-exit with the number of failures
 * (0 failures: kvmini exits with status 1). Long mode, ELF64. */
#include "guest.h"

enum {
	RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2,
	LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7,
};

static unsigned failures;

static uint8_t reg(unsigned r) { return inb(COM1 + r); }
static void set(unsigned r, uint8_t v) { outb(COM1 + r, v); }

static void expect(const char *what, uint8_t got, uint8_t want)
{
	if (got == want)
		return;
	failures++;
	serial_puts("uart: FAIL ");
	serial_puts(what);
	serial_puts(": got ");
	serial_put_hex(got);
	serial_puts(", want ");
	serial_put_hex(want);
	serial_putc('\n');
}

static void check_scratch_and_lcr(void)
{
	set(SCR, 0x5a);
	expect("SCR 0x5a", reg(SCR), 0x5a);
	set(SCR, 0xa5);
	expect("SCR 0xa5", reg(SCR), 0xa5);
	set(LCR, 0x1b);   /* 8 bits, 2 stop bits, even parity */
	expect("LCR", reg(LCR), 0x1b);
}

static void check_divisor_latch(void)
{
	set(IER, 0x00);
	set(LCR, 0x83);   /* DLAB on, 8N1 */
	set(DLL, 0x01);   /* 115200 baud */
	set(DLM, 0x02);
	expect("DLL", reg(DLL), 0x01);
	expect("DLM", reg(DLM), 0x02);
	set(LCR, 0x03);   /* DLAB off: offsets 0/1 are the data and IER again */
	expect("IER after DLAB", reg(IER), 0x00);
	set(LCR, 0x83);
	expect("DLL kept", reg(DLL), 0x01);
	set(LCR, 0x03);
}

static void check_line_status(void)
{
	uint8_t lsr = reg(LSR);
	expect("LSR THRE|TEMT", lsr & 0x60, 0x60);
	expect("LSR DR (no input)", lsr & 0x01, 0x00);
}

static void check_fifo_and_iir(void)
{
	expect("IIR no interrupt", reg(IIR), 0x01);
	set(FCR, 0x07);   /* enable FIFOs, reset both */
	expect("IIR FIFO bits", reg(IIR), 0xc1);
	set(IER, 0x02);   /* transmitter-empty interrupt */
	expect("IIR THRE pending", reg(IIR), 0xc2);
	expect("IIR THRE cleared by IIR read", reg(IIR), 0xc1);
	set(IER, 0x00);
}

static void check_loopback(void)
{
	set(MCR, 0x1f);   /* loopback + OUT2 + OUT1 + RTS + DTR */
	expect("MCR", reg(MCR), 0x1f);
	expect("MSR mirrors MCR in loopback", reg(MSR) & 0xf0, 0xf0);
	set(IER, 0x01);   /* received-data interrupt */
	set(THR, 'Z');    /* loops back into the receiver, not onto the line */
	expect("LSR DR after loopback", reg(LSR) & 0x01, 0x01);
	expect("IIR data available", reg(IIR), 0xc4);
	expect("RBR", reg(RBR), 'Z');
	expect("LSR DR after read", reg(LSR) & 0x01, 0x00);
	expect("IIR after read", reg(IIR), 0xc1);
	set(IER, 0x00);
	set(MCR, 0x0b);   /* back to normal: OUT2 + RTS + DTR */
	expect("MCR normal", reg(MCR), 0x0b);
}

int main(void)
{
	check_scratch_and_lcr();
	check_divisor_latch();
	check_line_status();
	check_fifo_and_iir();
	check_loopback();
	if (failures == 0)
		serial_puts("uart: all checks passed\n");
	return (int)failures;
}
