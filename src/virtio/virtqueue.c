/* Split virtqueues, device side (virtqueue.h): every guest-written
 * value is checked before use; see the header for the rules. */
#include <string.h>
#include "virtio/virtqueue.h"

#define DESC_SIZE ((uint64_t)sizeof(struct vring_desc))

/* Sizes of the three areas for n entries (specification 2.7). */
static uint64_t desc_bytes(uint16_t n)  { return DESC_SIZE * n; }
static uint64_t avail_bytes(uint16_t n) { return 4 + 2ull * n + 2; }   /* + used_event */
static uint64_t used_bytes(uint16_t n)  { return 4 + 8ull * n + 2; }   /* + avail_event */

static uint16_t load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

/* The avail ring's used_event and the used ring's avail_event sit just
 * past their rings. */
static uint16_t *used_event_ptr(const struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event_ptr(const struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

static void *area_ptr(const struct guest_memory *mem, gpa_t gpa, uint64_t len,
		      uint64_t align, const char *what, struct kvmini_error *err)
{
	if (gpa & (align - 1)) {
		kvmini_fail(err, KVMINI_E_GUEST, "virtqueue %s at %#llx is not %llu-byte aligned",
			    what, (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	void *p = guest_ptr(mem, gpa, len);
	if (!p)
		kvmini_fail(err, KVMINI_E_GUEST, "virtqueue %s [%#llx, +%llu) is not in guest RAM",
			    what, (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

int virtq_enable(struct virtq *q, const struct guest_memory *mem, bool event_idx,
		 bool indirect, struct kvmini_error *err)
{
	q->enabled = false;
	if (q->size == 0 || q->size > VIRTQ_MAX_SIZE)
		return kvmini_fail(err, KVMINI_E_GUEST, "virtqueue size %u is not in 1..%u",
				   q->size, VIRTQ_MAX_SIZE);
	struct vring_desc *desc = area_ptr(mem, q->desc_gpa, desc_bytes(q->size), 16,
					   "descriptor table", err);
	struct vring_avail *avail = desc ? area_ptr(mem, q->avail_gpa, avail_bytes(q->size), 2,
						    "available ring", err) : NULL;
	struct vring_used *used = avail ? area_ptr(mem, q->used_gpa, used_bytes(q->size), 4,
						   "used ring", err) : NULL;
	if (!used)
		return -1;
	q->mem = mem;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_valid = false;
	q->notify_off = false;
	q->enabled = true;
	return 0;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

bool virtq_has_work(const struct virtq *q)
{
	return q->enabled &&
	       __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

/* One descriptor, copied once: the guest may rewrite it at any time. */
static struct vring_desc desc_copy(const struct vring_desc *table, unsigned i)
{
	struct vring_desc d;
	memcpy(&d, &table[i], sizeof(d));
	return d;
}

/* Where the chain walk is: the table it reads (the ring's or one
 * indirect table), its length, and how many of its entries were read. */
struct chain_walk {
	const struct vring_desc *table;
	unsigned table_size;
	unsigned steps;
	bool in_indirect;
};

static int chain_fail(struct kvmini_error *err, uint16_t head, const char *why)
{
	return kvmini_fail(err, KVMINI_E_GUEST, "virtqueue chain at descriptor %u: %s",
			   head, why);
}

/* Switch the walk to the indirect table d names; d is the next
 * descriptor read (the table's first). */
static int chain_enter_indirect(const struct virtq *q, struct chain_walk *w,
				struct vring_desc *d, uint16_t head, struct kvmini_error *err)
{
	if (!q->indirect)
		return chain_fail(err, head, "indirect descriptor, but the feature was not negotiated");
	if (w->in_indirect)
		return chain_fail(err, head, "nested indirect table");
	if (d->flags & VRING_DESC_F_NEXT)
		return chain_fail(err, head, "indirect descriptor with the NEXT flag");
	if (d->len == 0 || d->len % DESC_SIZE || d->len / DESC_SIZE > VIRTQ_MAX_SEGS)
		return chain_fail(err, head, "indirect table length is not 1..256 descriptors");
	const struct vring_desc *table = guest_ptr(q->mem, d->addr, d->len);
	if (!table)
		return chain_fail(err, head, "indirect table is not in guest RAM");
	w->table = table;
	w->table_size = d->len / DESC_SIZE;
	w->steps = 0;
	w->in_indirect = true;
	*d = desc_copy(table, 0);
	return 0;
}

/* Append d's buffer to e. */
static int chain_add_buffer(const struct virtq *q, struct virtq_elem *e,
			    const struct vring_desc *d, uint16_t head, struct kvmini_error *err)
{
	if (d->len == 0)
		return 0;
	bool writable = d->flags & VRING_DESC_F_WRITE;
	if (!writable && e->nin)
		return chain_fail(err, head, "device-readable buffer after a writable one");
	if (e->nout + e->nin >= VIRTQ_MAX_SEGS)
		return chain_fail(err, head, "more than 256 buffers");
	void *p = guest_ptr(q->mem, d->addr, d->len);
	if (!p)
		return chain_fail(err, head, "buffer is not in guest RAM");
	e->iov[e->nout + e->nin] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (writable) {
		e->nin++;
		e->in_len += d->len;
	} else {
		e->nout++;
		e->out_len += d->len;
	}
	return 0;
}

static int chain_walk(const struct virtq *q, uint16_t head, struct virtq_elem *e,
		      struct kvmini_error *err)
{
	struct chain_walk w = { .table = q->desc, .table_size = q->size };
	struct vring_desc d = desc_copy(q->desc, head);
	for (;;) {
		if (++w.steps > w.table_size)
			return chain_fail(err, head, "chain longer than its table (a loop?)");
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (chain_enter_indirect(q, &w, &d, head, err))
				return -1;
			continue;
		}
		if (chain_add_buffer(q, e, &d, head, err))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= w.table_size)
			return chain_fail(err, head, "next index past the table");
		d = desc_copy(w.table, d.next);
	}
}

int virtq_pop(struct virtq *q, struct virtq_elem *e, struct kvmini_error *err)
{
	if (!q->enabled)
		return 0;
	uint16_t avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return kvmini_fail(err, KVMINI_E_GUEST,
				   "virtqueue available index %u is %u entries ahead (queue size %u)",
				   avail_idx, pending, q->size);
	uint16_t head = load16(&q->avail->ring[q->last_avail % q->size]);
	if (head >= q->size)
		return kvmini_fail(err, KVMINI_E_GUEST,
				   "virtqueue head %u is past the table (queue size %u)", head, q->size);
	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	if (chain_walk(q, head, e, err))
		return -1;
	q->last_avail++;
	if (q->event_idx && !q->notify_off)
		store16(avail_event_ptr(q), q->last_avail);
	return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	if (!q->enabled)
		return;
	struct vring_used_elem *u = &q->used->ring[q->used_idx % q->size];
	__atomic_store_n(&u->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, written, __ATOMIC_RELAXED);
	q->used_idx++;
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_interrupt(struct virtq *q)
{
	if (!q->enabled)
		return false;
	/* The used index must be visible before the driver's suppression
	 * state is read (the specification's full barrier). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = q->signalled_used, now = q->used_idx;
	bool valid = q->signalled_valid;
	if (valid && old == now)
		return false;
	q->signalled_used = now;
	q->signalled_valid = true;
	if (!q->event_idx)
		return !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	return !valid || vring_need_event(load16(used_event_ptr(q)), now, old);
}

bool virtq_set_notify(struct virtq *q, bool on)
{
	if (!q->enabled)
		return false;
	q->notify_off = !on;
	if (q->event_idx) {
		if (on)
			store16(avail_event_ptr(q), q->last_avail);
	} else {
		store16(&q->used->flags, on ? 0 : VRING_USED_F_NO_NOTIFY);
	}
	if (!on)
		return false;
	/* Publish the flag before looking for entries the driver added
	 * while it believed kicks were off. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_work(q);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + skip, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}
