/* The display's public calls (include/kvmini.h): screenshots and the VNC
 * server of a machine's framebuffer, on top of what the machine lends
 * (src/machine.h). Like the gdb stub, a layer above the machine: the
 * machine owns the framebuffer's memory and its dirty log, this file
 * the viewers. */
#include <stdlib.h>
#include "display/screenshot.h"
#include "display/vnc.h"
#include "machine.h"

struct kvmini_vnc {
	struct vnc_server *server;
};

static const struct framebuffer *framebuffer_of(struct kvmini_vm *vm, const char *what,
						struct kvmini_error *err)
{
	const struct framebuffer *fb = machine_framebuffer(vm);
	if (!fb)
		kvmini_fail(err, KVMINI_E_USAGE, "%s needs a display: add --display WIDTHxHEIGHT",
			    what);
	return fb;
}

int kvmini_vm_screenshot(struct kvmini_vm *vm, const char *path, struct kvmini_error *err)
{
	const struct framebuffer *fb = framebuffer_of(vm, "a screenshot", err);
	return fb ? screenshot_write_png(fb, path, err) : -1;
}

static void vnc_key(void *ctx, uint16_t key, bool down)
{
	machine_key_event(ctx, key, down);
}

static void vnc_pointer(void *ctx, int dx, int dy, unsigned buttons)
{
	machine_pointer_event(ctx, dx, dy, buttons);
}

static bool vnc_dirty_log(void *ctx, uint64_t *bitmap)
{
	return machine_framebuffer_dirty_log(ctx, bitmap);
}

struct kvmini_vnc *kvmini_vnc_start(struct kvmini_vm *vm, const char *address,
				    const char *password, struct kvmini_error *err)
{
	const struct framebuffer *fb = framebuffer_of(vm, "--vnc", err);
	if (!fb)
		return NULL;
	struct kvmini_vnc *v = calloc(1, sizeof(*v));
	if (!v) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the VNC server");
		return NULL;
	}
	struct vnc_input input = { vnc_key, vnc_pointer, vm };
	struct vnc_damage_log log = { vnc_dirty_log, vm };
	struct vnc_config cfg = { .address = address, .password = password,
				  .seccomp = machine_seccomp(vm) };
	v->server = vnc_server_start(fb, &cfg, &input, &log, err);
	if (!v->server) {
		free(v);
		return NULL;
	}
	return v;
}

void kvmini_vnc_stop(struct kvmini_vnc *v)
{
	if (!v)
		return;
	vnc_server_stop(v->server);
	free(v);
}
