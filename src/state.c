#include <stdlib.h>
#include <string.h>
#include "state.h"

void state_writer_init(struct state_writer *w)
{
	*w = (struct state_writer){ 0 };
}

void state_writer_free(struct state_writer *w)
{
	free(w->data);
	state_writer_init(w);
}

void state_put_bytes(struct state_writer *w, const void *bytes, size_t n)
{
	if (w->failed)
		return;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap - w->len < n)
			cap *= 2;
		uint8_t *grown = realloc(w->data, cap);
		if (!grown) {
			w->failed = true;
			return;
		}
		w->data = grown;
		w->cap = cap;
	}
	memcpy(w->data + w->len, bytes, n);
	w->len += n;
}

/* Little-endian, whatever the host: a state file is portable bytes. */
static void put_le(struct state_writer *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	state_put_bytes(w, b, n);
}

void state_put_u8(struct state_writer *w, uint8_t v) { put_le(w, v, 1); }
void state_put_u16(struct state_writer *w, uint16_t v) { put_le(w, v, 2); }
void state_put_u32(struct state_writer *w, uint32_t v) { put_le(w, v, 4); }
void state_put_u64(struct state_writer *w, uint64_t v) { put_le(w, v, 8); }

void state_reader_init(struct state_reader *r, const uint8_t *data, size_t len)
{
	*r = (struct state_reader){ .data = data, .len = len };
}

const uint8_t *state_get_span(struct state_reader *r, size_t n)
{
	if (r->failed || n > r->len - r->pos) {
		r->failed = true;
		return NULL;
	}
	const uint8_t *span = r->data + r->pos;
	r->pos += n;
	return span;
}

bool state_get_bytes(struct state_reader *r, void *bytes, size_t n)
{
	const uint8_t *span = state_get_span(r, n);
	if (!span) {
		memset(bytes, 0, n);
		return false;
	}
	memcpy(bytes, span, n);
	return true;
}

static uint64_t get_le(struct state_reader *r, size_t n)
{
	uint8_t b[8];
	state_get_bytes(r, b, n);
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

uint8_t state_get_u8(struct state_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t state_get_u16(struct state_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t state_get_u32(struct state_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t state_get_u64(struct state_reader *r) { return get_le(r, 8); }

bool state_get_flags(struct state_reader *r, uint8_t *flags, size_t n)
{
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok &= (flags[i] = state_get_u8(r)) <= 1;
	return ok;
}

int state_reader_finish(const struct state_reader *r, const char *what,
			struct kvmini_error *err)
{
	if (r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved state is truncated (%zu bytes)",
				   what, r->len);
	if (r->pos != r->len)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: saved state has %zu bytes left over after %zu",
				   what, r->len - r->pos, r->pos);
	return 0;
}
