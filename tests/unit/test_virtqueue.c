/* Unit tests of the virtqueue code with crafted rings (no KVM): a
 * driver written here lays descriptor tables and rings out in plain
 * guest RAM, as a hostile guest would, and checks what virtq_pop()
 * takes, refuses, and what it writes back. */
#include <criterion/criterion.h>
#include <string.h>
#include "virtio/virtqueue.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define QSIZE 8
#define DESC_GPA  0x10000
#define AVAIL_GPA 0x11000
#define USED_GPA  0x12000
#define DATA_GPA  0x20000

struct rig {
	struct guest_memory mem;
	struct virtq q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct virtq_elem e;
	struct kvmini_error err;
};

static struct rig r;

static void rig_up(uint64_t ram, uint16_t size, bool event_idx)
{
	if (r.mem.base)
		guest_memory_free(&r.mem);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(guest_memory_init(&r.mem, ram, 0, &r.err), 0, "%s", r.err.msg);
	r.q.size = size;
	r.q.desc_gpa = DESC_GPA;
	r.q.avail_gpa = AVAIL_GPA;
	r.q.used_gpa = USED_GPA;
	cr_assert_eq(virtq_enable(&r.q, &r.mem, event_idx, true, &r.err), 0, "%s", r.err.msg);
	r.desc = guest_ptr(&r.mem, DESC_GPA, 16);
	r.avail = guest_ptr(&r.mem, AVAIL_GPA, 4);
	r.used = guest_ptr(&r.mem, USED_GPA, 4);
}

static void setup(void)
{
	rig_up(16 * MIB, QSIZE, false);
}

static void teardown(void)
{
	guest_memory_free(&r.mem);
}

static void desc_set(struct vring_desc *table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	table[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* Publish head as the next available entry. */
static void avail_add(uint16_t head)
{
	r.avail->ring[r.avail->idx % r.q.size] = head;
	r.avail->idx++;
}

static int pop(void)
{
	memset(&r.err, 0, sizeof(r.err));
	return virtq_pop(&r.q, &r.e, &r.err);
}

static void expect_refused(const char *fragment)
{
	cr_assert_eq(pop(), -1, "a malformed chain was taken");
	cr_assert(strstr(r.err.msg, fragment), "message '%s' lacks '%s'", r.err.msg, fragment);
}

TestSuite(virtqueue, .init = setup, .fini = teardown);

Test(virtqueue, empty_ring_gives_nothing)
{
	cr_assert_eq(pop(), 0);
	cr_assert_not(virtq_has_work(&r.q));
}

Test(virtqueue, chain_of_readable_then_writable_buffers)
{
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, 3);
	desc_set(r.desc, 3, DATA_GPA + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
	desc_set(r.desc, 5, DATA_GPA + 0x400, 1, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	cr_assert(virtq_has_work(&r.q));
	cr_assert_eq(pop(), 1, "%s", r.err.msg);
	cr_assert_eq(r.e.head, 0);
	cr_assert_eq(r.e.nout, 1);
	cr_assert_eq(r.e.nin, 2);
	cr_assert_eq(r.e.out_len, 16);
	cr_assert_eq(r.e.in_len, 513);
	cr_assert_eq(r.e.iov[0].iov_base, guest_ptr(&r.mem, DATA_GPA, 16));
	cr_assert_eq(virtq_elem_in(&r.e)[1].iov_base, guest_ptr(&r.mem, DATA_GPA + 0x400, 1));

	virtq_push(&r.q, r.e.head, 513);
	cr_assert_eq(r.used->idx, 1);
	cr_assert_eq(r.used->ring[0].id, 0);
	cr_assert_eq(r.used->ring[0].len, 513);
	cr_assert_eq(pop(), 0, "the chain was taken twice");
}

Test(virtqueue, indirect_table)
{
	struct vring_desc *table = guest_ptr(&r.mem, DATA_GPA, 3 * 16);
	desc_set(table, 0, DATA_GPA + 0x1000, 8, VRING_DESC_F_NEXT, 2);
	desc_set(table, 2, DATA_GPA + 0x2000, 4096, VRING_DESC_F_WRITE, 0);
	desc_set(r.desc, 1, DATA_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(1);
	cr_assert_eq(pop(), 1, "%s", r.err.msg);
	cr_assert_eq(r.e.head, 1);
	cr_assert_eq(r.e.nout, 1);
	cr_assert_eq(r.e.nin, 1);
	cr_assert_eq(r.e.in_len, 4096);
}

Test(virtqueue, indirect_without_the_feature_is_refused)
{
	r.q.indirect = false;
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_refused("not negotiated");
}

Test(virtqueue, nested_indirect_is_refused)
{
	struct vring_desc *table = guest_ptr(&r.mem, DATA_GPA, 16);
	desc_set(table, 0, DATA_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_refused("nested");
}

Test(virtqueue, indirect_with_next_is_refused)
{
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	avail_add(0);
	expect_refused("NEXT");
}

Test(virtqueue, indirect_table_lengths_are_checked)
{
	desc_set(r.desc, 0, DATA_GPA, 0, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_refused("indirect table length");
	rig_up(16 * MIB, QSIZE, false);
	desc_set(r.desc, 0, DATA_GPA, 24, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_refused("indirect table length");
	rig_up(16 * MIB, QSIZE, false);
	desc_set(r.desc, 0, DATA_GPA, 257 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_refused("indirect table length");
}

Test(virtqueue, loop_in_the_ring_is_refused)
{
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, 1);
	desc_set(r.desc, 1, DATA_GPA, 16, VRING_DESC_F_NEXT, 0);
	avail_add(0);
	expect_refused("loop");
}

Test(virtqueue, self_loop_of_empty_buffers_is_refused)
{
	/* Zero-length buffers are skipped, but still counted as steps. */
	desc_set(r.desc, 2, DATA_GPA, 0, VRING_DESC_F_NEXT, 2);
	avail_add(2);
	expect_refused("loop");
}

Test(virtqueue, loop_in_an_indirect_table_is_refused)
{
	struct vring_desc *table = guest_ptr(&r.mem, DATA_GPA, 2 * 16);
	desc_set(table, 0, DATA_GPA + 0x1000, 8, VRING_DESC_F_NEXT, 1);
	desc_set(table, 1, DATA_GPA + 0x1000, 8, VRING_DESC_F_NEXT, 0);
	desc_set(r.desc, 0, DATA_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_refused("loop");
}

Test(virtqueue, next_past_the_table_is_refused)
{
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_NEXT, QSIZE);
	avail_add(0);
	expect_refused("past the table");
}

Test(virtqueue, head_past_the_table_is_refused)
{
	avail_add(QSIZE);
	expect_refused("past the table");
}

Test(virtqueue, readable_after_writable_is_refused)
{
	desc_set(r.desc, 0, DATA_GPA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc_set(r.desc, 1, DATA_GPA, 16, 0, 0);
	avail_add(0);
	expect_refused("readable buffer after a writable");
}

Test(virtqueue, buffers_outside_ram_are_refused)
{
	/* Past the end, one byte past, a 4 GiB length, a wrapping address. */
	const struct { uint64_t addr; uint32_t len; } bad[] = {
		{ 16 * MIB, 1 }, { 16 * MIB - 1, 2 }, { DATA_GPA, 0xffffffffu },
		{ ~0ull - 3, 8 }, { 1ull << 52, 16 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rig_up(16 * MIB, QSIZE, false);
		desc_set(r.desc, 0, bad[i].addr, bad[i].len, 0, 0);
		avail_add(0);
		expect_refused("not in guest RAM");
		teardown();
	}
	rig_up(16 * MIB, QSIZE, false);
}

Test(virtqueue, last_byte_of_ram_is_fine)
{
	desc_set(r.desc, 0, 16 * MIB - 1, 1, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	cr_assert_eq(pop(), 1, "%s", r.err.msg);
	cr_assert_eq(r.e.in_len, 1);
}

Test(virtqueue, buffer_in_the_mmio_hole_is_refused)
{
	teardown();
	rig_up(4 * GIB, QSIZE, false);   /* RAM below 3 GiB and above 4 GiB */
	desc_set(r.desc, 0, GUEST_MMIO_HOLE_START, 16, 0, 0);
	avail_add(0);
	expect_refused("not in guest RAM");
	rig_up(4 * GIB, QSIZE, false);
	/* Straddling the end of low RAM into the hole. */
	desc_set(r.desc, 0, GUEST_MMIO_HOLE_START - 8, 16, 0, 0);
	avail_add(0);
	expect_refused("not in guest RAM");
	rig_up(4 * GIB, QSIZE, false);
	desc_set(r.desc, 0, GUEST_MMIO_HOLE_END, 16, 0, 0);
	avail_add(0);
	cr_assert_eq(pop(), 1, "RAM above 4 GiB refused: %s", r.err.msg);
}

Test(virtqueue, zero_length_buffers_are_skipped)
{
	desc_set(r.desc, 0, DATA_GPA, 0, VRING_DESC_F_NEXT, 1);
	desc_set(r.desc, 1, DATA_GPA, 4, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	cr_assert_eq(pop(), 1, "%s", r.err.msg);
	cr_assert_eq(r.e.nout + r.e.nin, 1);
}

Test(virtqueue, indices_wrap_around)
{
	/* Start both sides near 65535 and go through the wrap. */
	r.q.last_avail = r.q.used_idx = 65533;
	r.avail->idx = 65533;
	r.used->idx = 65533;
	desc_set(r.desc, 0, DATA_GPA, 4, VRING_DESC_F_WRITE, 0);
	for (int i = 0; i < 6; i++) {
		avail_add(0);
		cr_assert_eq(pop(), 1, "round %d: %s", i, r.err.msg);
		virtq_push(&r.q, 0, 4);
	}
	cr_assert_eq(r.used->idx, (uint16_t)(65533 + 6));
	cr_assert_eq(pop(), 0);
}

Test(virtqueue, avail_index_too_far_ahead_is_refused)
{
	r.avail->idx = QSIZE + 1;
	expect_refused("ahead");
}

Test(virtqueue, chain_longer_than_256_buffers_is_refused)
{
	teardown();
	rig_up(16 * MIB, 256, false);
	struct vring_desc *table = guest_ptr(&r.mem, DATA_GPA, 256 * 16);
	for (unsigned i = 0; i < 256; i++)
		desc_set(table, i, DATA_GPA + 0x10000, 1, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	table[255].flags = 0;
	desc_set(r.desc, 0, DATA_GPA, 256 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	cr_assert_eq(pop(), 1, "256 buffers refused: %s", r.err.msg);
	/* A direct chain of 256 plus... cannot exceed; make the table 256
	 * buffers and the ring's own descriptor one more. */
	desc_set(r.desc, 1, DATA_GPA + 0x20000, 1, VRING_DESC_F_NEXT, 2);
	desc_set(r.desc, 2, DATA_GPA, 256 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(1);
	expect_refused("more than 256 buffers");
}

Test(virtqueue, descriptor_is_read_once)
{
	/* The copy is what counts: after pop, rewriting the descriptor to
	 * point outside RAM changes nothing already taken. */
	desc_set(r.desc, 0, DATA_GPA, 64, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	cr_assert_eq(pop(), 1);
	void *base = r.e.iov[0].iov_base;
	desc_set(r.desc, 0, ~0ull, 0xffffffffu, VRING_DESC_F_WRITE, 0);
	cr_assert_eq(r.e.iov[0].iov_base, base);
	cr_assert_eq(r.e.iov[0].iov_len, 64);
}

Test(virtqueue, rings_are_checked_on_enable)
{
	struct virtq q = { .size = QSIZE, .desc_gpa = DESC_GPA + 8, .avail_gpa = AVAIL_GPA,
			   .used_gpa = USED_GPA };
	cr_assert_eq(virtq_enable(&q, &r.mem, false, false, &r.err), -1);
	cr_assert(strstr(r.err.msg, "aligned"), "%s", r.err.msg);
	q.desc_gpa = DESC_GPA;
	q.used_gpa = 16 * MIB - 8;
	cr_assert_eq(virtq_enable(&q, &r.mem, false, false, &r.err), -1);
	cr_assert(strstr(r.err.msg, "used ring"), "%s", r.err.msg);
	q.used_gpa = USED_GPA;
	q.size = 0;
	cr_assert_eq(virtq_enable(&q, &r.mem, false, false, &r.err), -1);
	q.size = VIRTQ_MAX_SIZE + 1;
	cr_assert_eq(virtq_enable(&q, &r.mem, false, false, &r.err), -1);
	cr_assert_not(q.enabled);
}

Test(virtqueue, no_interrupt_flag_is_honoured)
{
	desc_set(r.desc, 0, DATA_GPA, 4, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	cr_assert_eq(pop(), 1);
	virtq_push(&r.q, 0, 4);
	cr_assert(virtq_should_interrupt(&r.q));
	cr_assert_not(virtq_should_interrupt(&r.q), "nothing new, yet an interrupt");
	r.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	avail_add(0);
	cr_assert_eq(pop(), 1);
	virtq_push(&r.q, 0, 4);
	cr_assert_not(virtq_should_interrupt(&r.q));
}

Test(virtqueue, used_event_is_honoured)
{
	teardown();
	rig_up(16 * MIB, QSIZE, true);
	uint16_t *used_event = &r.avail->ring[QSIZE];
	desc_set(r.desc, 0, DATA_GPA, 4, VRING_DESC_F_WRITE, 0);
	*used_event = 2;   /* interrupt when the used index passes 2 */
	for (int i = 0; i < 4; i++) {
		avail_add(0);
		cr_assert_eq(pop(), 1);
		virtq_push(&r.q, 0, 4);
		bool want = virtq_should_interrupt(&r.q);
		/* First push: no interrupt yet recorded, so one is sent. */
		cr_assert_eq(want, i == 0 || i == 2, "push %d: interrupt %d", i, want);
	}
	/* The device publishes avail_event = the next entry it will take. */
	cr_assert_eq(*(uint16_t *)&r.used->ring[QSIZE], 4);
}

Test(virtqueue, notify_suppression_reports_missed_work)
{
	virtq_set_notify(&r.q, false);
	cr_assert_eq(r.used->flags, VRING_USED_F_NO_NOTIFY);
	desc_set(r.desc, 0, DATA_GPA, 4, 0, 0);
	avail_add(0);
	cr_assert(virtq_set_notify(&r.q, true), "an entry added while off was missed");
	cr_assert_eq(r.used->flags, 0);
}

Test(virtqueue, iov_copies_across_buffers)
{
	uint8_t a[3], b[5], out[8];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	const uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	cr_assert_eq(iov_from_buf(iov, 2, 2, src, 8), 6);
	cr_assert_eq(a[2], 1);
	cr_assert_eq(b[4], 6);
	cr_assert_eq(iov_to_buf(iov, 2, 2, out, sizeof(out)), 6);
	cr_assert_eq(memcmp(out, src, 6), 0);
	cr_assert_eq(iov_to_buf(iov, 2, 9, out, sizeof(out)), 0);
}
