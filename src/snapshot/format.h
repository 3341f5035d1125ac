/* Layer 3, beside state.h: the snapshot file's container format.
 *
 *   header (32 bytes, little-endian):
 *     magic "KVMINISN" | u32 version (1) | u32 section count |
 *     u64 file length | u32 reserved (0) | u32 CRC-32 of the 28 bytes before
 *   then `count` sections, each:
 *     u32 tag (four ASCII bytes, e.g. "VCPU") | u32 CRC-32 of tag, length
 *     and payload | u64 payload length | payload
 *
 * The file is hostile when read back: snapshot_parse() checks the magic,
 * the version, every length against the file (and the declared file
 * length against the real one, so truncation is caught), every checksum,
 * the tags (printable ASCII), and that nothing follows the last section,
 * before anything is used. What a section's payload means is its
 * reader's business, through the bounds-checked struct state_reader. */
#ifndef KVMINI_SNAPSHOT_FORMAT_H
#define KVMINI_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "state.h"

#define SNAPSHOT_MAGIC "KVMINISN"
#define SNAPSHOT_VERSION 1
#define SNAPSHOT_HEADER_SIZE 32
#define SNAPSHOT_SECTION_HEADER_SIZE 16
#define SNAPSHOT_MAX_SECTIONS 128

/* Four ASCII bytes as a tag: SNAPSHOT_TAG('V','C','P','U'). */
#define SNAPSHOT_TAG(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

struct snapshot_section {
	uint32_t tag;
	const uint8_t *data;
	uint64_t len;
};

struct snapshot_view {
	uint32_t version;
	struct snapshot_section sections[SNAPSHOT_MAX_SECTIONS];
	unsigned count;
};

/* Writing: sections go into a state_writer, then the header is
 * prepended by snapshot_finish(). */
struct snapshot_builder {
	struct state_writer body;
	unsigned count;
};

void snapshot_builder_init(struct snapshot_builder *b);
void snapshot_builder_free(struct snapshot_builder *b);
void snapshot_add(struct snapshot_builder *b, uint32_t tag, const void *data, uint64_t len);
/* The whole file into out (a fresh writer the caller frees); -1 when
 * memory ran out or there are too many sections. */
int snapshot_finish(struct snapshot_builder *b, struct state_writer *out,
		    struct kvmini_error *err);

/* Check the whole file and index its sections (pointers into data). */
int snapshot_parse(const uint8_t *data, size_t len, struct snapshot_view *v,
		   struct kvmini_error *err);
/* The index-th section tagged `tag` (0 for the first), or NULL. */
const struct snapshot_section *snapshot_find(const struct snapshot_view *v, uint32_t tag,
					     unsigned index);
/* How many sections are tagged `tag`. */
unsigned snapshot_count(const struct snapshot_view *v, uint32_t tag);

/* CRC-32 (IEEE 802.3, as zlib's crc32()), and its continuation over
 * more bytes (zlib's crc32(crc, ...)). */
uint32_t snapshot_crc32(const void *data, size_t len);
uint32_t snapshot_crc32_update(uint32_t crc, const void *data, size_t len);

#endif
