/* libFuzzer target: a virtio-mmio transport with virtio-rng or
 * virtio-console behind it,
 * driven as a hostile guest drives them: register reads and writes of
 * every size at every offset of the window, and writes into the guest
 * RAM where the rings and buffers go (descriptors, indices, indirect
 * tables), with the event loop's kick handling run in between. No KVM,
 * no loop thread: the kick eventfds are drained here, so an input runs
 * the same way every time (but for the rate-limited bucket's clock).
 *
 * Input: 8-byte records {op, off_lo, off_hi, size, data[4]}:
 *   op % 4 == 0: read  window[off & 0xfff], 1 << (size & 3) bytes
 *   op % 4 == 1: write the same with data
 *   op % 4 == 2: poke data into RAM at (off * 4) (the low 256 KiB)
 *   op % 4 == 3: the event loop's turn: drain kicks, run the device;
 *                but with data[0] == 0xee a snapshot's turn instead:
 *                quiesce and save the device and transport, XOR byte
 *                data[1] (mod the length) of the saved bytes with
 *                data[2], and restore from them (a refused restore
 *                resets the device, as its machine would be destroyed)
 * The first byte picks the device (mod 3): the rng unlimited, the rng
 * limited (its timer never fires here, so the bucket's empty path is
 * what runs), or a console without ends (its output dropped). */
#include <string.h>
#include <unistd.h>
#include "fuzz_target.h"
#include "event_loop.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"

#define POKE_SPAN (256u << 10)

struct rig {
	struct event_loop *loop;
	struct virtio_device *dev;
	struct virtio_mmio *mmio;
	struct kvmini_config cfg;
};

static struct rig *rig_for(unsigned kind)
{
	static struct rig rigs[3];
	struct rig *r = &rigs[kind];
	if (r->mmio)
		return r;
	struct kvmini_error err;
	kvmini_config_defaults(&r->cfg);
	r->cfg.rng = kind < 2;
	r->cfg.rng_bytes_per_sec = kind == 1 ? 4096 : 0;
	r->cfg.vconsole = kind == 2;
	r->cfg.vconsole_out_fd = r->cfg.vconsole_in_fd = -1;
	if (!(r->loop = event_loop_create("evloop", &err)))
		abort();
	struct virtio_device_env env = { .loop = r->loop, .log_fd = -1, .cfg = &r->cfg };
	r->dev = kind == 2 ? virtio_console_create(&env, NULL, &err)
			   : virtio_rng_create(&env, NULL, &err);
	if (!r->dev ||
	    !(r->mmio = virtio_mmio_create(r->dev, fuzz_guest_memory(), r->loop, -1, &err)))
		abort();
	return r;
}

/* What the loop does when a kick eventfd is readable. */
static void loop_turn(struct rig *r)
{
	uint64_t n;
	for (unsigned q = 0; q < r->dev->nqueues; q++)
		if (read(virtio_mmio_kick_fd(r->mmio, q), &n, sizeof(n)) == sizeof(n))
			virtio_device_kick(r->dev, q);
	if (read(virtio_mmio_irq_fd(r->mmio), &n, sizeof(n)) < 0)
		n = 0;   /* no interrupt this time */
}

static void snapshot_turn(struct rig *r, uint8_t at, uint8_t flip)
{
	struct state_writer w;
	struct state_reader rd;
	struct kvmini_error err;
	state_writer_init(&w);
	virtio_device_lock(r->dev);
	virtio_device_quiesce(r->dev);
	virtio_device_save(r->dev, &w);
	virtio_mmio_save(r->mmio, &w);
	if (w.len)
		w.data[at % w.len] ^= flip;
	state_reader_init(&rd, w.data, w.len);
	bool refused = virtio_device_restore(r->dev, &rd, &err) < 0 ||
		       virtio_mmio_restore(r->mmio, &rd, &err) < 0;
	virtio_device_unlock(r->dev);
	state_writer_free(&w);
	uint8_t reset[4] = { 0 };
	if (refused)
		virtio_mmio_bus_ops.write(r->mmio, 0x70, reset, 4);
}

static void one_record(struct rig *r, const uint8_t *rec)
{
	unsigned off = (unsigned)rec[1] | (unsigned)rec[2] << 8;
	uint8_t data[8] = { 0 };
	memcpy(data, rec + 4, 4);
	uint32_t len = 1u << (rec[3] & 3);
	switch (rec[0] & 3) {
	case 0:
		virtio_mmio_bus_ops.read(r->mmio, off & 0xfff, data, len);
		break;
	case 1:
		virtio_mmio_bus_ops.write(r->mmio, off & 0xfff, data, len);
		break;
	case 2:
		guest_write(fuzz_guest_memory(), (uint64_t)off * 4, rec + 4, 4);
		break;
	case 3:
		if (rec[4] == 0xee)
			snapshot_turn(r, rec[5], rec[6]);
		else
			loop_turn(r);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct rig *r = rig_for(data[0] % 3u);
	memset(guest_ptr(fuzz_guest_memory(), 0, POKE_SPAN), 0, POKE_SPAN);
	uint8_t reset[4] = { 0 };
	virtio_mmio_bus_ops.write(r->mmio, 0x70, reset, 4);   /* Status 0: a fresh device */
	for (size_t at = 1; at + 8 <= size; at += 8)
		one_record(r, data + at);
	loop_turn(r);
	return 0;
}
