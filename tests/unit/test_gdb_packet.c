/* Unit tests of the GDB remote-protocol wire layer (src/gdb/packet.c):
 * framing, checksums, acknowledgements, escapes, run-length encoding,
 * hex, argument syntax, and malformed or hostile input. The last test is
 * a deterministic random-mutation fuzz loop over every parser (the
 * libFuzzer harness in tests/fuzz/ does the same, open-ended). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "gdb/packet.h"

static struct gdb_decoder dec;

static void reset(void)
{
	gdb_decoder_init(&dec);
}

TestSuite(gdb_packet, .init = reset);

/* Feed a whole string; collect the inputs recognized, in order. */
static int feed_all(const char *bytes, size_t n, enum gdb_input *out, int max)
{
	int count = 0;
	size_t used = 0;
	while (used < n) {
		enum gdb_input what;
		size_t step = gdb_decoder_feed(&dec, (const uint8_t *)bytes + used, n - used, &what);
		cr_assert(step > 0 || what != GDB_IN_NONE, "decoder made no progress");
		used += step;
		if (what != GDB_IN_NONE && count < max)
			out[count++] = what;
	}
	return count;
}

static int feed_str(const char *s, enum gdb_input *out, int max)
{
	return feed_all(s, strlen(s), out, max);
}

/* ---- checksums and framing ---- */

Test(gdb_packet, checksum_is_sum_mod_256)
{
	cr_assert_eq(gdb_checksum("OK", 2), 0x9a);
	cr_assert_eq(gdb_checksum("", 0), 0);
	cr_assert_eq(gdb_checksum("\xff\xff", 2), 0xfe);
}

Test(gdb_packet, frame_adds_dollar_hash_and_sum)
{
	char out[32];
	size_t n = gdb_frame(out, sizeof(out), "OK", 2, false);
	cr_assert_eq(n, 6);
	cr_assert(memcmp(out, "$OK#9a", 6) == 0);
	n = gdb_frame(out, sizeof(out), "", 0, false);
	cr_assert(n == 4 && memcmp(out, "$#00", 4) == 0);
}

Test(gdb_packet, frame_refuses_what_does_not_fit)
{
	char out[8];
	cr_assert_eq(gdb_frame(out, sizeof(out), "12345", 5, false), 0);
	cr_assert_eq(gdb_frame(out, sizeof(out), "1234", 4, false), 8);
	cr_assert_eq(gdb_frame(out, 3, "", 0, false), 0);
}

Test(gdb_packet, decodes_one_packet)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("$g#67", in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_eq(dec.len, 1);
	cr_assert_str_eq(dec.buf, "g");
}

Test(gdb_packet, decodes_a_packet_fed_byte_by_byte)
{
	char framed[32];
	size_t n = gdb_frame(framed, sizeof(framed), "m100000,4", 9, false);
	cr_assert_eq(n, 13);
	enum gdb_input what = GDB_IN_NONE;
	for (size_t i = 0; i < n; i++) {
		size_t used = gdb_decoder_feed(&dec, (const uint8_t *)framed + i, 1, &what);
		cr_assert_eq(used, 1);
		if (i + 1 < n)
			cr_assert_eq(what, GDB_IN_NONE);
	}
	cr_assert_eq(what, GDB_IN_PACKET);
	cr_assert_str_eq(dec.buf, "m100000,4");
}

Test(gdb_packet, recognizes_acks_and_the_interrupt_byte)
{
	enum gdb_input in[8];
	int n = feed_str("+-\x03+", in, 8);
	cr_assert_eq(n, 4);
	cr_assert_eq(in[0], GDB_IN_ACK);
	cr_assert_eq(in[1], GDB_IN_NACK);
	cr_assert_eq(in[2], GDB_IN_INTERRUPT);
	cr_assert_eq(in[3], GDB_IN_ACK);
}

Test(gdb_packet, an_interrupt_byte_inside_a_packet_is_data)
{
	char payload[] = "a\x03z";
	char framed[16];
	size_t n = gdb_frame(framed, sizeof(framed), payload, 3, false);
	enum gdb_input in[4];
	cr_assert_eq(feed_all(framed, n, in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_eq(dec.len, 3);
	cr_assert_eq(dec.buf[1], 3);
}

Test(gdb_packet, skips_junk_between_packets)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("hello#12 \r\n$?#3f garbage", in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_str_eq(dec.buf, "?");
}

Test(gdb_packet, reports_a_bad_checksum_and_recovers)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("$g#00$g#67", in, 4), 2);
	cr_assert_eq(in[0], GDB_IN_BAD_CHECKSUM);
	cr_assert_eq(in[1], GDB_IN_PACKET);
	cr_assert_str_eq(dec.buf, "g");
}

Test(gdb_packet, a_non_hex_checksum_is_bad_and_its_byte_starts_the_next_packet)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("$g#6$g#67", in, 4), 2);
	cr_assert_eq(in[0], GDB_IN_BAD_CHECKSUM);
	cr_assert_eq(in[1], GDB_IN_PACKET);
	cr_assert_str_eq(dec.buf, "g");
}

Test(gdb_packet, uppercase_checksum_digits_are_accepted)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("$OK#9A", in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
}

Test(gdb_packet, a_dollar_inside_a_payload_restarts)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("$mXXXX$?#3f", in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_str_eq(dec.buf, "?");
}

Test(gdb_packet, an_empty_packet_is_a_packet)
{
	enum gdb_input in[4];
	cr_assert_eq(feed_str("$#00", in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_eq(dec.len, 0);
}

/* A payload of n 'a's with a correct (or deliberately wrong) checksum. */
static char *long_packet(size_t n, bool good_sum, size_t *len)
{
	char *p = malloc(n + 5);   /* snprintf adds a NUL */
	cr_assert_not_null(p);
	p[0] = '$';
	memset(p + 1, 'a', n);
	uint8_t sum = gdb_checksum(p + 1, n) + (good_sum ? 0 : 1);
	snprintf(p + 1 + n, 4, "#%02x", sum);
	*len = n + 4;
	return p;
}

Test(gdb_packet, the_largest_packet_fits)
{
	size_t len;
	char *p = long_packet(GDB_PACKET_MAX, true, &len);
	enum gdb_input in[4];
	cr_assert_eq(feed_all(p, len, in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_eq(dec.len, GDB_PACKET_MAX);
	free(p);
}

Test(gdb_packet, a_longer_packet_is_too_long_but_still_checked)
{
	size_t len;
	char *p = long_packet(GDB_PACKET_MAX + 1, true, &len);
	enum gdb_input in[4];
	cr_assert_eq(feed_all(p, len, in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_TOO_LONG);
	free(p);
	p = long_packet(5 * GDB_PACKET_MAX, false, &len);
	cr_assert_eq(feed_all(p, len, in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_BAD_CHECKSUM);
	free(p);
	/* and the decoder is usable afterwards */
	cr_assert_eq(feed_str("$g#67", in, 4), 1);
	cr_assert_eq(in[0], GDB_IN_PACKET);
	cr_assert_str_eq(dec.buf, "g");
}

Test(gdb_packet, an_endless_payload_never_overflows)
{
	char chunk[4096];
	memset(chunk, 'x', sizeof(chunk));
	enum gdb_input in[1];
	feed_str("$", in, 1);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(feed_all(chunk, sizeof(chunk), in, 1), 0);
	cr_assert_eq(dec.len, GDB_PACKET_MAX);
	cr_assert(dec.overflow);
}

/* ---- run-length encoding ---- */

Test(gdb_packet, rle_encodes_runs)
{
	char out[64];
	size_t n = gdb_rle_encode(out, sizeof(out), "0000000000", 10);
	cr_assert_eq(n, 3);
	cr_assert(memcmp(out, "0*&", 3) == 0);   /* '0' then 9 more: 9 + 29 = '&' */
	n = gdb_rle_encode(out, sizeof(out), "abc", 3);
	cr_assert(n == 3 && memcmp(out, "abc", 3) == 0);
	n = gdb_rle_encode(out, sizeof(out), "aaa", 3);   /* too short a run to pay */
	cr_assert(n == 3 && memcmp(out, "aaa", 3) == 0);
}

Test(gdb_packet, rle_never_emits_hash_or_dollar_and_round_trips)
{
	char in[400], enc[400], dec_out[400];
	for (size_t len = 1; len <= sizeof(in); len++) {
		memset(in, '0', len);
		in[len / 2] = 'f';
		size_t n = gdb_rle_encode(enc, sizeof(enc), in, len);
		cr_assert_neq(n, SIZE_MAX);
		for (size_t i = 0; i < n; i++)
			cr_assert(enc[i] != '#' && enc[i] != '$' && (uint8_t)enc[i] < 127,
				  "length %zu: bad byte 0x%02x", len, (uint8_t)enc[i]);
		size_t m = gdb_rle_decode(dec_out, sizeof(dec_out), enc, n);
		cr_assert_eq(m, len);
		cr_assert(memcmp(dec_out, in, len) == 0);
	}
}

Test(gdb_packet, rle_encode_reports_a_small_buffer)
{
	char out[2];
	cr_assert_eq(gdb_rle_encode(out, sizeof(out), "abc", 3), SIZE_MAX);
	cr_assert_eq(gdb_rle_encode(out, sizeof(out), "aaaaaaaaaa", 10), SIZE_MAX);
}

Test(gdb_packet, rle_decode_rejects_malformed_runs)
{
	char out[256];
	cr_assert_eq(gdb_rle_decode(out, sizeof(out), "*a", 2), SIZE_MAX);     /* nothing to repeat */
	cr_assert_eq(gdb_rle_decode(out, sizeof(out), "0*", 2), SIZE_MAX);     /* missing count */
	cr_assert_eq(gdb_rle_decode(out, sizeof(out), "0*\x1f", 3), SIZE_MAX); /* count too small */
	cr_assert_eq(gdb_rle_decode(out, sizeof(out), "0*\x7f", 3), SIZE_MAX); /* count too large */
	cr_assert_eq(gdb_rle_decode(out, 4, "0*~", 3), SIZE_MAX);              /* 98 bytes, no room */
}

/* ---- binary escapes and hex ---- */

Test(gdb_packet, escapes_round_trip_every_byte)
{
	uint8_t in[256], back[256];
	char enc[512];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	size_t used;
	size_t n = gdb_escape(enc, sizeof(enc), in, sizeof(in), &used);
	cr_assert_eq(used, 256);
	cr_assert_eq(n, 256 + 4);   /* '#', '$', '*' and '}' take two bytes */
	for (size_t i = 0; i < n; i++)
		cr_assert((enc[i] != '#' && enc[i] != '$' && enc[i] != '*') ||
			  (i > 0 && enc[i - 1] == '}'));
	cr_assert_eq(gdb_unescape(back, sizeof(back), enc, n), 256);
	cr_assert(memcmp(in, back, 256) == 0);
}

Test(gdb_packet, escape_stops_at_a_whole_byte)
{
	const uint8_t in[] = { 'a', '}', 'b' };
	char out[2];
	size_t used;
	size_t n = gdb_escape(out, sizeof(out), in, sizeof(in), &used);
	cr_assert_eq(n, 1);      /* "}]" does not fit after 'a' */
	cr_assert_eq(used, 1);
}

Test(gdb_packet, unescape_rejects_dangling_escape_and_overflow)
{
	uint8_t out[4];
	cr_assert_eq(gdb_unescape(out, sizeof(out), "ab}", 3), SIZE_MAX);
	cr_assert_eq(gdb_unescape(out, sizeof(out), "abcde", 5), SIZE_MAX);
	cr_assert_eq(gdb_unescape(out, sizeof(out), "}]", 2), 1);
	cr_assert_eq(out[0], '}');
}

Test(gdb_packet, hex_round_trips_and_rejects_bad_input)
{
	const uint8_t in[] = { 0x00, 0x7f, 0x80, 0xff, 0x12 };
	char hex[10];
	uint8_t back[5];
	gdb_hex_encode(hex, in, sizeof(in));
	cr_assert(memcmp(hex, "007f80ff12", 10) == 0);
	cr_assert_eq(gdb_hex_decode(back, sizeof(back), hex, 10), 0);
	cr_assert(memcmp(in, back, 5) == 0);
	cr_assert_eq(gdb_hex_decode(back, sizeof(back), "ABcd", 4), 0);
	cr_assert_eq(back[0], 0xab);
	cr_assert_eq(gdb_hex_decode(back, sizeof(back), "abc", 3), -1);
	cr_assert_eq(gdb_hex_decode(back, sizeof(back), "zz", 2), -1);
	cr_assert_eq(gdb_hex_decode(back, 2, "001122", 6), -1);
}

/* ---- arguments ---- */

static int hex_of(const char *text, uint64_t *v)
{
	struct gdb_args a = gdb_args_of(text, strlen(text));
	return gdb_args_hex(&a, v) < 0 || !gdb_args_done(&a) ? -1 : 0;
}

Test(gdb_packet, hex_numbers_are_checked_for_overflow)
{
	uint64_t v;
	cr_assert_eq(hex_of("ffffffffffffffff", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(hex_of("0000000000000000000001", &v), 0);   /* leading zeros are fine */
	cr_assert_eq(v, 1);
	cr_assert_eq(hex_of("10000000000000000", &v), -1);
	cr_assert_eq(hex_of("", &v), -1);
	cr_assert_eq(hex_of("-1", &v), -1);
}

Test(gdb_packet, address_and_length)
{
	uint64_t addr, len;
	struct gdb_args a = gdb_args_of("100000,40", 9);
	cr_assert_eq(gdb_parse_addr_len(&a, &addr, &len), 0);
	cr_assert(addr == 0x100000 && len == 0x40 && gdb_args_done(&a));
	const char *bad[] = { "100000,", ",40", "100000", "1ffffffffffffffff,1", "x,1", "" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = gdb_args_of(bad[i], strlen(bad[i]));
		cr_assert_eq(gdb_parse_addr_len(&a, &addr, &len), -1, "'%s'", bad[i]);
	}
}

static int tid_of(const char *text, long *tid)
{
	struct gdb_args a = gdb_args_of(text, strlen(text));
	return gdb_parse_thread_id(&a, tid) < 0 || !gdb_args_done(&a) ? -1 : 0;
}

Test(gdb_packet, thread_ids)
{
	long tid;
	cr_assert(tid_of("-1", &tid) == 0 && tid == GDB_TID_ALL);
	cr_assert(tid_of("0", &tid) == 0 && tid == GDB_TID_ANY);
	cr_assert(tid_of("1f", &tid) == 0 && tid == 0x1f);
	cr_assert(tid_of("p1.2", &tid) == 0 && tid == 2);
	cr_assert(tid_of("p1.-1", &tid) == 0 && tid == GDB_TID_ALL);
	cr_assert(tid_of("p1", &tid) == 0 && tid == GDB_TID_ALL);
	cr_assert_eq(tid_of("x", &tid), -1);
	cr_assert_eq(tid_of("-2", &tid), -1);
	cr_assert_eq(tid_of("ffffffffffffffff", &tid), -1);   /* beyond a long */
	cr_assert_eq(tid_of("p", &tid), -1);
	cr_assert_eq(tid_of("p1.", &tid), -1);
}

static int point_of(const char *text, struct gdb_point *pt)
{
	struct gdb_args a = gdb_args_of(text, strlen(text));
	return gdb_parse_point(&a, pt);
}

Test(gdb_packet, breakpoint_arguments)
{
	struct gdb_point pt;
	cr_assert_eq(point_of("0,100000,1", &pt), 0);
	cr_assert(pt.type == 0 && pt.addr == 0x100000 && pt.kind == 1);
	cr_assert_eq(point_of("2,101000,8;X1,0", &pt), 0);   /* conditions ignored */
	cr_assert(pt.type == 2 && pt.kind == 8);
	cr_assert_eq(point_of("5,1,1", &pt), -1);
	cr_assert_eq(point_of("1,10", &pt), -1);
	cr_assert_eq(point_of("1,10,1x", &pt), -1);
	cr_assert_eq(point_of("", &pt), -1);
}

static int vcont_of(const char *text, struct gdb_vcont_action *acts, int max)
{
	struct gdb_args a = gdb_args_of(text, strlen(text));
	return gdb_parse_vcont(&a, acts, max);
}

Test(gdb_packet, vcont_actions)
{
	struct gdb_vcont_action acts[4];
	cr_assert_eq(vcont_of(";c", acts, 4), 1);
	cr_assert(acts[0].action == 'c' && acts[0].tid == GDB_TID_ALL);
	cr_assert_eq(vcont_of(";s:1;c", acts, 4), 2);
	cr_assert(acts[0].action == 's' && acts[0].tid == 1 && acts[1].action == 'c');
	cr_assert_eq(vcont_of(";C05:2;S0b", acts, 4), 2);
	cr_assert(acts[0].action == 'c' && acts[0].tid == 2 && acts[1].action == 's');
	cr_assert_eq(vcont_of(";s:p1.2", acts, 4), 1);
	cr_assert_eq(acts[0].tid, 2);
	const char *bad[] = { "", ";", ";x", ";S", ";C123", ";c:", ";c;", "c", ";c:zz" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(vcont_of(bad[i], acts, 4), -1, "'%s'", bad[i]);
	cr_assert_eq(vcont_of(";c;c;c;c;c", acts, 4), -1);   /* more than fit */
}

Test(gdb_packet, literal_and_expect_stay_in_bounds)
{
	struct gdb_args a = gdb_args_of("vCo", 3);
	cr_assert_eq(gdb_args_literal(&a, "vCont"), -1);
	cr_assert_eq(a.p, a.end - 3);
	cr_assert_eq(gdb_args_literal(&a, "vCo"), 0);
	cr_assert_eq(gdb_args_expect(&a, ';'), -1);
}

/* ---- fuzzing: random mutations of real packets through every parser ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void parse_everything(const char *p, size_t n)
{
	struct gdb_args a;
	uint64_t x, y;
	long tid;
	struct gdb_point pt;
	struct gdb_vcont_action acts[8];
	uint8_t bin[64];
	char text[256];
	a = gdb_args_of(p, n);
	gdb_parse_addr_len(&a, &x, &y);
	a = gdb_args_of(p, n);
	gdb_parse_thread_id(&a, &tid);
	a = gdb_args_of(p, n);
	gdb_parse_point(&a, &pt);
	a = gdb_args_of(p, n);
	gdb_parse_vcont(&a, acts, 8);
	gdb_unescape(bin, sizeof(bin), p, n);
	gdb_hex_decode(bin, sizeof(bin), p, n);
	gdb_rle_decode(text, sizeof(text), p, n);
	gdb_rle_encode(text, sizeof(text), p, n);
	size_t used;
	gdb_escape(text, sizeof(text), (const uint8_t *)p, n, &used);
}

Test(gdb_packet, survives_random_mutations, .timeout = 60)
{
	static const char *seeds[] = {
		"$m100000,40#00", "$M100000,4:deadbeef#00", "$X100000,2:}]a#00",
		"$vCont;s:1;c#00", "$Z0,100000,1#00", "$Hg-1#00", "$qXfer:features:read:target.xml:0,fff#00",
		"$g#67", "+", "-", "\x03", "$0*&#00",
	};
	char buf[256];
	for (int iter = 0; iter < 200000; iter++) {
		const char *seed = seeds[next_random() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t n = strlen(seed);
		memcpy(buf, seed, n);
		for (int m = (int)(next_random() % 8); m >= 0; m--) {
			size_t pos = n ? next_random() % n : 0;
			switch (next_random() % 4) {
			case 0: buf[pos] = (char)next_random(); break;            /* flip a byte */
			case 1: if (n < sizeof(buf)) buf[n++] = (char)next_random(); break;  /* append */
			case 2: if (n) n--; break;                                   /* truncate */
			case 3: if (n && n < sizeof(buf)) { memmove(buf + pos + 1, buf + pos, n - pos); n++; } break;
			}
		}
		enum gdb_input what;
		size_t used = 0;
		while (used < n) {
			used += gdb_decoder_feed(&dec, (const uint8_t *)buf + used, n - used, &what);
			if (what == GDB_IN_PACKET)
				parse_everything(dec.buf, dec.len);
		}
		parse_everything(buf, n);
		cr_assert_leq(dec.len, GDB_PACKET_MAX);
	}
}
