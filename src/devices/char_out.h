/* A byte stream out of the guest (the UART's transmitter, the debug
 * console) to a host fd, written so that no consumer can stall a vCPU.
 *
 * The fd the front end gives (stdout, say) may be a blocking pipe that
 * nobody reads: a plain write() would then block the vCPU thread for
 * ever, and with it every stop (--timeout, signals, Ctrl-A x). So the
 * stream writes through a private, non-blocking open file description of
 * its own (reopened through /proc/self/fd, which leaves the caller's fd
 * and everybody sharing it untouched; a socket gets MSG_DONTWAIT
 * instead; a regular file stays as it is, since disk writes end). When
 * the consumer is full, a write waits up to CHAR_OUT_WAIT_MS for room,
 * once; after that the stream is stalled and drops bytes at once until
 * the fd takes a write again. Output is lossless for a consumer that
 * keeps up, and a stuck one costs a vCPU at most CHAR_OUT_WAIT_MS. */
#ifndef KVMINI_DEVICES_CHAR_OUT_H
#define KVMINI_DEVICES_CHAR_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHAR_OUT_WAIT_MS 100

struct char_out {
	int fd;            /* ours (closed by char_out_close); -1: output off */
	bool is_socket;
	bool stalled;      /* the last write found no room, even after waiting */
	uint64_t dropped;  /* bytes lost to a stuck consumer */
};

/* Take a private non-blocking handle on fd (-1: no output). Never
 * fails: without one (no /proc, an fd that cannot be reopened) the
 * stream writes to a duplicate of fd as it is. */
void char_out_open(struct char_out *out, int fd);
void char_out_close(struct char_out *out);
/* Write n bytes, or drop them as described above. A closed or broken
 * output (EPIPE, EIO) loses them too: the guest never learns. */
void char_out_write(struct char_out *out, const uint8_t *bytes, size_t n);
/* Write what the fd takes now, never waiting (for a caller that keeps
 * the rest and waits for EPOLLOUT on out->fd itself): the bytes
 * written, 0..n, or -1 when the output is off, closed or broken (the
 * caller drops the bytes). */
ssize_t char_out_write_now(struct char_out *out, const uint8_t *bytes, size_t n);

#endif
