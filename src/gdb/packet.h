/* The GDB remote serial protocol, wire level: framing ($payload#xx),
 * checksums, acknowledgements, the interrupt byte, binary escapes,
 * run-length encoding, hex, and the argument syntax of the packets the
 * stub serves. Pure functions on buffers: no sockets, no KVM, so every
 * corner (and every hostile input) is unit-testable.
 *
 * Nothing here trusts its input: lengths are bounded by the caller's
 * buffers, numbers are checked for overflow, and a malformed packet is an
 * error value, never a crash. */
#ifndef KVMINI_GDB_PACKET_H
#define KVMINI_GDB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest packet payload we accept, and advertise as PacketSize. */
#define GDB_PACKET_MAX 16384
/* The interrupt request gdb sends outside a packet (Ctrl-C). */
#define GDB_INTERRUPT 0x03

enum gdb_input {
	GDB_IN_NONE,          /* need more bytes */
	GDB_IN_PACKET,        /* a well-formed packet: d->buf[0..d->len) */
	GDB_IN_BAD_CHECKSUM,  /* a complete packet whose checksum is wrong */
	GDB_IN_TOO_LONG,      /* a complete, correctly summed packet too long to keep */
	GDB_IN_INTERRUPT,     /* 0x03 between packets */
	GDB_IN_ACK,           /* '+' */
	GDB_IN_NACK,          /* '-' */
};

struct gdb_decoder {
	enum { GDB_DEC_IDLE, GDB_DEC_PAYLOAD, GDB_DEC_SUM_HI, GDB_DEC_SUM_LO } state;
	uint8_t sum;          /* running checksum of the payload */
	uint8_t given;        /* checksum sent by the peer */
	bool overflow;        /* payload longer than buf; still summed */
	size_t len;
	char buf[GDB_PACKET_MAX + 1];   /* payload, NUL-terminated for convenience */
};

void gdb_decoder_init(struct gdb_decoder *d);

/* Consume bytes until one input is complete or the bytes run out. Returns
 * how many bytes were used; *what says what was recognized. Junk between
 * packets is skipped; a '$' inside a payload starts over (resync). */
size_t gdb_decoder_feed(struct gdb_decoder *d, const uint8_t *bytes, size_t n,
			enum gdb_input *what);

uint8_t gdb_checksum(const char *data, size_t len);

/* Frame payload as "$payload#xx" into out; with rle, runs are encoded.
 * Returns the framed length, or 0 if it does not fit in cap. */
size_t gdb_frame(char *out, size_t cap, const char *payload, size_t len, bool rle);

/* Run-length encoding of replies ("X*<n+29>"): returns the encoded length,
 * or SIZE_MAX if it does not fit. Runs never produce '#' or '$' counts. */
size_t gdb_rle_encode(char *out, size_t cap, const char *in, size_t len);
/* The inverse; SIZE_MAX on a malformed run or when out is too small. */
size_t gdb_rle_decode(char *out, size_t cap, const char *in, size_t len);

/* Binary data as in X packets and qXfer replies: '#', '$', '}' and '*'
 * become '}' followed by the byte xor 0x20. gdb_escape writes as many
 * whole input bytes as fit and returns the output length; *used tells how
 * many input bytes went in. */
size_t gdb_escape(char *out, size_t cap, const uint8_t *in, size_t len, size_t *used);
/* Returns the decoded length, or SIZE_MAX on a dangling '}' or overflow. */
size_t gdb_unescape(uint8_t *out, size_t cap, const char *in, size_t len);

/* Hex: two lowercase digits per byte. Decode returns -1 on an odd length,
 * a non-hex digit, or more than cap bytes. */
void gdb_hex_encode(char *out, const uint8_t *in, size_t len);
int gdb_hex_decode(uint8_t *out, size_t cap, const char *hex, size_t hexlen);
int gdb_hex_digit(char c);

/* A cursor over a packet's arguments. */
struct gdb_args {
	const char *p, *end;
};

static inline struct gdb_args gdb_args_of(const char *p, size_t len)
{
	return (struct gdb_args){ p, p + len };
}

/* One hex number (at least one digit, at most 64 bits). */
int gdb_args_hex(struct gdb_args *a, uint64_t *v);
/* Expect the character c next. */
int gdb_args_expect(struct gdb_args *a, char c);
/* Expect the literal text next. */
int gdb_args_literal(struct gdb_args *a, const char *text);
static inline bool gdb_args_done(const struct gdb_args *a)
{
	return a->p == a->end;
}

/* "ADDR,LENGTH" */
int gdb_parse_addr_len(struct gdb_args *a, uint64_t *addr, uint64_t *len);

/* Thread ids: -1 all, 0 any, otherwise a positive hex id. The
 * multiprocess form "pPID.TID" is accepted and its TID used. */
#define GDB_TID_ALL (-1L)
#define GDB_TID_ANY 0L
int gdb_parse_thread_id(struct gdb_args *a, long *tid);

/* Z/z packets: "TYPE,ADDR,KIND" (conditions after ';' are ignored). */
struct gdb_point {
	unsigned type;    /* 0 sw break, 1 hw break, 2 write, 3 read, 4 access watch */
	uint64_t addr;
	uint64_t kind;    /* breakpoint kind or watched length */
};
int gdb_parse_point(struct gdb_args *a, struct gdb_point *pt);

/* vCont actions after "vCont": ";c", ";s", ";C sig", ";S sig", each with
 * an optional ":TID". Returns the number parsed, -1 on malformed input or
 * more than max actions. */
struct gdb_vcont_action {
	char action;      /* 'c' or 's' (C and S fold into them) */
	long tid;         /* GDB_TID_ALL when no thread is named */
};
int gdb_parse_vcont(struct gdb_args *a, struct gdb_vcont_action *acts, int max);

#endif
