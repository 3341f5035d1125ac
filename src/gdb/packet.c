#include <limits.h>
#include <string.h>
#include "gdb/packet.h"

/* ---- hex ---- */

int gdb_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void gdb_hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
}

int gdb_hex_decode(uint8_t *out, size_t cap, const char *hex, size_t hexlen)
{
	if (hexlen % 2 || hexlen / 2 > cap)
		return -1;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = gdb_hex_digit(hex[2 * i]), lo = gdb_hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---- framing ---- */

uint8_t gdb_checksum(const char *data, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + (uint8_t)data[i]);
	return sum;
}

void gdb_decoder_init(struct gdb_decoder *d)
{
	d->state = GDB_DEC_IDLE;
	d->len = 0;
	d->sum = 0;
	d->given = 0;
	d->overflow = false;
	d->buf[0] = '\0';
}

static void start_packet(struct gdb_decoder *d)
{
	d->state = GDB_DEC_PAYLOAD;
	d->len = 0;
	d->sum = 0;
	d->overflow = false;
}

/* Between packets only '$', '+', '-' and the interrupt byte mean anything. */
static enum gdb_input idle_byte(struct gdb_decoder *d, uint8_t c)
{
	switch (c) {
	case '$':
		start_packet(d);
		return GDB_IN_NONE;
	case '+':
		return GDB_IN_ACK;
	case '-':
		return GDB_IN_NACK;
	case GDB_INTERRUPT:
		return GDB_IN_INTERRUPT;
	default:
		return GDB_IN_NONE;
	}
}

static void payload_byte(struct gdb_decoder *d, uint8_t c)
{
	if (c == '$') {            /* a new packet began: the old one is lost */
		start_packet(d);
	} else if (c == '#') {
		d->state = GDB_DEC_SUM_HI;
	} else {
		d->sum = (uint8_t)(d->sum + c);
		if (d->len < GDB_PACKET_MAX)
			d->buf[d->len++] = (char)c;
		else
			d->overflow = true;
	}
}

static enum gdb_input finish_packet(struct gdb_decoder *d)
{
	d->state = GDB_DEC_IDLE;
	if (d->given != d->sum)
		return GDB_IN_BAD_CHECKSUM;
	if (d->overflow)
		return GDB_IN_TOO_LONG;
	d->buf[d->len] = '\0';
	return GDB_IN_PACKET;
}

size_t gdb_decoder_feed(struct gdb_decoder *d, const uint8_t *bytes, size_t n,
			enum gdb_input *what)
{
	*what = GDB_IN_NONE;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = bytes[i];
		int digit;
		switch (d->state) {
		case GDB_DEC_IDLE:
			*what = idle_byte(d, c);
			break;
		case GDB_DEC_PAYLOAD:
			payload_byte(d, c);
			break;
		case GDB_DEC_SUM_HI:
		case GDB_DEC_SUM_LO:
			digit = gdb_hex_digit((char)c);
			if (digit < 0) {
				/* Leave the byte unread: it may start the next packet. */
				d->state = GDB_DEC_IDLE;
				*what = GDB_IN_BAD_CHECKSUM;
				return i;
			}
			if (d->state == GDB_DEC_SUM_HI) {
				d->given = (uint8_t)(digit << 4);
				d->state = GDB_DEC_SUM_LO;
			} else {
				d->given |= (uint8_t)digit;
				*what = finish_packet(d);
			}
			break;
		}
		if (*what != GDB_IN_NONE)
			return i + 1;
	}
	return n;
}

/* ---- run-length encoding ---- */

#define RLE_MIN 3     /* ' ' (29 + 3) is the first printable count */
#define RLE_MAX 97    /* '~' (29 + 97) is the last one below 127 */

/* Counts that would encode as '#' or '$' are not allowed. */
static size_t rle_count(size_t remaining)
{
	size_t n = remaining < RLE_MAX ? remaining : RLE_MAX;
	if (n == 6 || n == 7)
		n = 5;
	return n;
}

size_t gdb_rle_encode(char *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0, i = 0;
	while (i < len) {
		char c = in[i];
		size_t run = 1;
		while (i + run < len && in[i + run] == c)
			run++;
		i += run;
		while (run > 0) {
			if (o >= cap)
				return SIZE_MAX;
			out[o++] = c;
			run--;
			if (run < RLE_MIN)
				continue;
			size_t n = rle_count(run);
			if (cap - o < 2)
				return SIZE_MAX;
			out[o++] = '*';
			out[o++] = (char)(n + 29);
			run -= n;
		}
	}
	return o;
}

size_t gdb_rle_decode(char *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '*') {
			if (o >= cap)
				return SIZE_MAX;
			out[o++] = in[i];
			continue;
		}
		if (o == 0 || i + 1 >= len || (uint8_t)in[i + 1] < 29 + RLE_MIN ||
		    (uint8_t)in[i + 1] > 29 + RLE_MAX)
			return SIZE_MAX;
		size_t n = (size_t)((uint8_t)in[++i] - 29);
		if (cap - o < n)
			return SIZE_MAX;
		memset(out + o, out[o - 1], n);
		o += n;
	}
	return o;
}

/* ---- binary escapes ---- */

static bool needs_escape(uint8_t c)
{
	return c == '#' || c == '$' || c == '}' || c == '*';
}

size_t gdb_escape(char *out, size_t cap, const uint8_t *in, size_t len, size_t *used)
{
	size_t o = 0, i = 0;
	for (; i < len; i++) {
		size_t need = needs_escape(in[i]) ? 2 : 1;
		if (cap - o < need)
			break;
		if (need == 2) {
			out[o++] = '}';
			out[o++] = (char)(in[i] ^ 0x20);
		} else {
			out[o++] = (char)in[i];
		}
	}
	*used = i;
	return o;
}

size_t gdb_unescape(uint8_t *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)in[i];
		if (c == '}') {
			if (++i >= len)
				return SIZE_MAX;
			c = (uint8_t)in[i] ^ 0x20;
		}
		if (o >= cap)
			return SIZE_MAX;
		out[o++] = c;
	}
	return o;
}

/* ---- argument parsing ---- */

int gdb_args_hex(struct gdb_args *a, uint64_t *v)
{
	uint64_t value = 0;
	const char *start = a->p;
	for (; a->p < a->end; a->p++) {
		int digit = gdb_hex_digit(*a->p);
		if (digit < 0)
			break;
		if (value >> 60)
			return -1;    /* a 17th significant digit: overflow */
		value = value << 4 | (uint64_t)digit;
	}
	if (a->p == start)
		return -1;
	*v = value;
	return 0;
}

int gdb_args_expect(struct gdb_args *a, char c)
{
	if (a->p >= a->end || *a->p != c)
		return -1;
	a->p++;
	return 0;
}

int gdb_args_literal(struct gdb_args *a, const char *text)
{
	size_t n = strlen(text);
	if ((size_t)(a->end - a->p) < n || memcmp(a->p, text, n) != 0)
		return -1;
	a->p += n;
	return 0;
}

int gdb_parse_addr_len(struct gdb_args *a, uint64_t *addr, uint64_t *len)
{
	if (gdb_args_hex(a, addr) < 0 || gdb_args_expect(a, ',') < 0 ||
	    gdb_args_hex(a, len) < 0)
		return -1;
	return 0;
}

static int parse_tid_number(struct gdb_args *a, long *tid)
{
	if (gdb_args_literal(a, "-1") == 0) {
		*tid = GDB_TID_ALL;
		return 0;
	}
	uint64_t v;
	if (gdb_args_hex(a, &v) < 0 || v > LONG_MAX)
		return -1;
	*tid = (long)v;
	return 0;
}

int gdb_parse_thread_id(struct gdb_args *a, long *tid)
{
	if (gdb_args_expect(a, 'p') < 0)
		return parse_tid_number(a, tid);
	long pid;
	if (parse_tid_number(a, &pid) < 0)
		return -1;
	if (gdb_args_expect(a, '.') < 0) {
		*tid = GDB_TID_ALL;   /* a whole process: all its threads */
		return 0;
	}
	return parse_tid_number(a, tid);
}

int gdb_parse_point(struct gdb_args *a, struct gdb_point *pt)
{
	uint64_t type;
	if (gdb_args_hex(a, &type) < 0 || type > 4 || gdb_args_expect(a, ',') < 0 ||
	    gdb_parse_addr_len(a, &pt->addr, &pt->kind) < 0)
		return -1;
	if (!gdb_args_done(a) && *a->p != ';')
		return -1;
	pt->type = (unsigned)type;
	return 0;
}

static int parse_vcont_action(struct gdb_args *a, struct gdb_vcont_action *act)
{
	if (a->p >= a->end)
		return -1;
	char c = *a->p++;
	uint64_t sig;
	switch (c) {
	case 'c':
	case 's':
		act->action = c;
		break;
	case 'C':
	case 'S':
		/* The signal is meaningless to a VM; it is parsed and dropped. */
		if (gdb_args_hex(a, &sig) < 0 || sig > 0xff)
			return -1;
		act->action = (char)(c - 'A' + 'a');
		break;
	default:
		return -1;
	}
	act->tid = GDB_TID_ALL;
	if (gdb_args_expect(a, ':') == 0)
		return gdb_parse_thread_id(a, &act->tid);
	return 0;
}

int gdb_parse_vcont(struct gdb_args *a, struct gdb_vcont_action *acts, int max)
{
	int n = 0;
	while (!gdb_args_done(a)) {
		if (n >= max || gdb_args_expect(a, ';') < 0 ||
		    parse_vcont_action(a, &acts[n]) < 0)
			return -1;
		n++;
	}
	return n > 0 ? n : -1;
}

size_t gdb_frame(char *out, size_t cap, const char *payload, size_t len, bool rle)
{
	if (cap < 4)
		return 0;
	size_t body;
	if (rle) {
		body = gdb_rle_encode(out + 1, cap - 4, payload, len);
		if (body == SIZE_MAX)
			return 0;
	} else {
		if (len > cap - 4)
			return 0;
		memcpy(out + 1, payload, len);
		body = len;
	}
	out[0] = '$';
	uint8_t sum = gdb_checksum(out + 1, body);
	static const char digits[] = "0123456789abcdef";
	out[body + 1] = '#';
	out[body + 2] = digits[sum >> 4];
	out[body + 3] = digits[sum & 0xf];
	return body + 4;
}
