/* libFuzzer target: virtio-vsock's packet parsing and connection state,
 * driven by a hostile driver (fuzz_virtio_rig.h). A Unix socket listens
 * at PATH_1 so that guest-initiated connections to host port 1 are
 * established and their data, credit and shutdown paths are reached;
 * the event loop is never started (the device's own moves are what the
 * input makes). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_vsock.h>
#include "fuzz_virtio_rig.h"
#include "event_loop.h"
#include "virtio/vsock.h"

static char path[64];
static int server = -1;
static struct event_loop *loop;

static void remove_socket(void)
{
	char p1[80];
	snprintf(p1, sizeof(p1), "%s_1", path);
	unlink(p1);
}

static void listen_port_1(void)
{
	snprintf(path, sizeof(path), "/tmp/kvmini-fuzz-vsock-%d", (int)getpid());
	char p1[80];
	snprintf(p1, sizeof(p1), "%s_1", path);
	unlink(p1);
	server = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, p1, strlen(p1) + 1);
	if (server < 0 || bind(server, (struct sockaddr *)&sa, sizeof(sa)) || listen(server, 256))
		abort();
	atexit(remove_socket);
	struct kvmini_error err;
	loop = event_loop_create("fuzz", &err);
	if (!loop)
		abort();
}

/* Connections the device made to PATH_1, accepted and closed again so
 * the backlog never fills up between inputs. */
static void drain_server(void)
{
	int fd;
	while ((fd = accept(server, NULL, NULL)) >= 0)
		close(fd);
}

/* A packet from the guest on the transmit queue, its header's fields
 * from the input (CIDs usually right, so the checks behind them run). */
static void vsock_packet(struct virtio_device *vdev, const struct guest_memory *mem,
			 struct rig_input *in, uint8_t cmd)
{
	(void)vdev;
	(void)cmd;
	uint8_t kind = rig_u8(in);
	struct virtio_vsock_hdr h = {
		.src_cid = (kind & 1) ? rig_u64(in) : 42, .dst_cid = (kind & 2) ? rig_u64(in) : 2,
		.src_port = rig_u8(in), .dst_port = (kind & 4) ? rig_u16(in) : 1,
		.len = rig_u16(in), .type = (kind & 8) ? rig_u8(in) : 1, .op = rig_u8(in) % 9,
		.flags = rig_u8(in) % 4, .buf_alloc = (uint32_t)rig_u16(in) << 4,
		.fwd_cnt = rig_u16(in),
	};
	uint16_t off = rig_u16(in) % (RIG_DATA_SIZE - sizeof(h));
	guest_write(mem, RIG_DATA + off, &h, sizeof(h));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (server < 0)
		listen_port_1();
	const struct guest_memory *mem = fuzz_guest_memory();
	struct rig_input in = { data, size };
	struct kvmini_vsock cfg = { .enabled = true, .guest_cid = 42, .uds_path = path };
	struct virtio_device_env env = { .loop = loop, .log_fd = -1 };
	struct kvmini_error err;
	unlink(path);
	struct virtio_device *vdev = virtio_vsock_create(&env, &cfg, &err);
	if (!vdev)
		abort();
	rig_run(vdev, mem, &in, 5, vsock_packet);
	virtio_device_destroy(vdev);
	drain_server();
	return 0;
}
