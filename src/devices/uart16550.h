/* 16550A UART (COM1 at 0x3f8, IRQ 4). Transmitted bytes go to an fd;
 * received bytes are pushed in by the front end.
 *
 * Reset state: IER=0, IIR=0x01, LCR=0, MCR=0, LSR=0x60 (THRE|TEMT),
 * MSR=0xb0 (DCD|DSR|CTS: a connected, ready terminal), SCR=0, FIFOs off,
 * divisor 12 (9600 baud). Transmission is instantaneous, so THRE and
 * TEMT are always set. The receive FIFO holds 16 bytes in both 16450
 * and FIFO mode, and the RX-data interrupt fires as soon as a byte is
 * ready (no trigger level, no character timeout). OUT2 does not gate
 * the interrupt line. */
#ifndef KVMINI_UART16550_H
#define KVMINI_UART16550_H

#include <stddef.h>
#include <stdint.h>
#include "bus.h"
#include "device.h"
#include "irq.h"

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4
#define UART_NREGS     8

struct uart16550;

/* out_fd receives transmitted bytes (-1 discards them); write errors
 * such as EPIPE are ignored, so the process should ignore SIGPIPE.
 * irq may be NULL (no interrupts); otherwise *irq is copied. The line is
 * driven only when its level changes, with the UART's lock held:
 * set_level must not call back into the UART. Returns NULL when out of
 * memory. */
struct uart16550 *uart16550_create(int out_fd, const struct irq_line *irq);
void uart16550_destroy(struct uart16550 *uart);

/* Bus callbacks; opaque is the struct uart16550 *. */
extern const struct bus_device_ops uart16550_ops;

/* Queue received bytes (thread-safe). Returns how many were accepted;
 * fewer than n when the receive FIFO is full (offer the rest again
 * later; nothing is dropped and no overrun is flagged). In loopback mode
 * the receiver is disconnected from the line: all n are accepted and
 * discarded. */
size_t uart16550_receive(struct uart16550 *uart, const uint8_t *bytes, size_t n);

/* COM1 at 0x3f8, ISA IRQ 4, PNP0501 (src/device.h). */
extern const struct device_type uart16550_device;

#endif
