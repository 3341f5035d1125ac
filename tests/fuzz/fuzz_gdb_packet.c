/* libFuzzer harness for the GDB remote-protocol wire layer
 * (src/gdb/packet.c): the input is a byte stream from a client. It goes
 * through the framing decoder in random-sized pieces, and every decoded
 * packet, and the raw input itself, through each argument parser and
 * codec. Built and run by `make fuzz-gdb` (clang, ASan, UBSan). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "gdb/packet.h"

static void parse_everything(const char *p, size_t n)
{
	struct gdb_args a;
	uint64_t x, y;
	long tid;
	struct gdb_point pt;
	struct gdb_vcont_action acts[16];
	static uint8_t bin[GDB_PACKET_MAX];
	static char text[2 * GDB_PACKET_MAX + 8];
	size_t used;
	a = gdb_args_of(p, n);
	gdb_parse_addr_len(&a, &x, &y);
	a = gdb_args_of(p, n);
	gdb_parse_thread_id(&a, &tid);
	a = gdb_args_of(p, n);
	gdb_parse_point(&a, &pt);
	a = gdb_args_of(p, n);
	gdb_parse_vcont(&a, acts, 16);
	gdb_unescape(bin, sizeof(bin), p, n);
	gdb_hex_decode(bin, sizeof(bin), p, n);
	size_t m = gdb_rle_decode(text, sizeof(text), p, n);
	if (m != SIZE_MAX)
		gdb_rle_encode(text + m, sizeof(text) - m, text, m);
	gdb_escape(text, sizeof(text), (const uint8_t *)p, n, &used);
	gdb_frame(text, sizeof(text), p, n < GDB_PACKET_MAX ? n : GDB_PACKET_MAX, n & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gdb_decoder dec;
	gdb_decoder_init(&dec);
	/* The first byte picks the piece size, as a socket might split. */
	size_t piece = size ? (size_t)data[0] % 64 + 1 : 1;
	size_t used = 0;
	while (used < size) {
		size_t n = size - used < piece ? size - used : piece;
		enum gdb_input what;
		size_t took = gdb_decoder_feed(&dec, data + used, n, &what);
		if (took == 0 && what == GDB_IN_NONE)
			__builtin_trap();   /* no progress: the stub would spin */
		used += took;
		if (dec.len > GDB_PACKET_MAX)
			__builtin_trap();
		if (what == GDB_IN_PACKET)
			parse_everything(dec.buf, dec.len);
	}
	parse_everything((const char *)data, size);
	return 0;
}
