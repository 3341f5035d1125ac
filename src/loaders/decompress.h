/* Host-side decompression of a bzImage's payload (--decompress): the
 * compressed vmlinux that the setup header's payload_offset and
 * payload_length locate (boot protocol 2.08+). The format is told by
 * its magic bytes; gzip, xz, zstd and lz4 (legacy frames, as the kernel
 * makes them) are decompressed with Debian's zlib, liblzma, libzstd and
 * liblz4 when kvmini was built with them (build/gen/decompress_config.h,
 * written by the Makefile). Every decompressor's output is bounded: a
 * hostile file cannot make kvmini allocate more than the caller's limit. */
#ifndef KVMINI_LOADERS_DECOMPRESS_H
#define KVMINI_LOADERS_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

enum payload_format {
	PAYLOAD_UNKNOWN,
	PAYLOAD_GZIP,    /* 1f 8b */
	PAYLOAD_XZ,      /* fd 37 7a 58 5a 00 */
	PAYLOAD_ZSTD,    /* 28 b5 2f fd */
	PAYLOAD_LZ4,     /* 02 21 4c 18: the legacy frame format */
	PAYLOAD_BZIP2,   /* "BZh": recognised, refused */
	PAYLOAD_LZMA,    /* 5d 00 00: recognised, refused */
	PAYLOAD_LZO,     /* 89 "LZO": recognised, refused */
	PAYLOAD_ELF,     /* already uncompressed */
};

/* The format the bytes start with. */
enum payload_format payload_detect(const uint8_t *data, size_t size);

/* "gzip", "xz", ...; "unknown" for PAYLOAD_UNKNOWN. */
const char *payload_format_name(enum payload_format format);

/* Whether this kvmini can decompress the format (built with its library). */
int payload_supported(enum payload_format format);

/* Decompress the payload `in` (one stream of a supported format,
 * optionally followed by the 4-byte size the kernel's build appends)
 * into a new malloc'd buffer of at most `max_out` bytes: *out (free()
 * it) and *out_size. `limit` names that bound in the message when the
 * output would pass it. `name` starts every error message; errors carry
 * KVMINI_E_USAGE (the file is at fault), or KVMINI_E_HOST when the host
 * runs out of memory. */
int payload_decompress(const char *name, const uint8_t *in, size_t in_size, size_t max_out,
		       const char *limit, uint8_t **out, size_t *out_size, struct kvmini_error *err);

#endif
