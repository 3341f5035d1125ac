/* Device state as bytes (for snapshots): a growable little-endian writer
 * and a bounds-checked reader. A saved state is hostile input when it is
 * read back (a snapshot file): the reader never reads past its end, and
 * a device's restore checks every value before it uses it. */
#ifndef KVMINI_STATE_H
#define KVMINI_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct state_writer {
	uint8_t *data;
	size_t len, cap;
	bool failed;           /* out of memory: the bytes are incomplete */
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
void state_put_bytes(struct state_writer *w, const void *bytes, size_t n);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);

struct state_reader {
	const uint8_t *data;
	size_t len, pos;
	bool failed;           /* a read ran past the end: the getters returned 0 */
};

void state_reader_init(struct state_reader *r, const uint8_t *data, size_t len);
bool state_get_bytes(struct state_reader *r, void *bytes, size_t n);
/* The next n bytes where they are (no copy), read past; NULL (and the
 * reader failed) when fewer are left. */
const uint8_t *state_get_span(struct state_reader *r, size_t n);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/* n booleans saved one byte each into flags[n]; false when a byte is
 * neither 0 nor 1 (no model could have saved it). */
bool state_get_flags(struct state_reader *r, uint8_t *flags, size_t n);

/* After a device read its state: fails (naming `what`) when a read ran
 * past the end or bytes are left over. */
int state_reader_finish(const struct state_reader *r, const char *what,
			struct kvmini_error *err);

#endif
