/* A VNC server for the framebuffer, on Debian's libvncserver.
 *
 * Threads: the server runs on a thread of its own ("vnc"), never on the
 * VM's event loop: libvncserver writes to a client with blocking sends
 * (bounded by a timeout), and a viewer that stops reading must stall
 * nothing but its own updates, never a timer or a device the event loop
 * serves. The thread waits in libvncserver's select() over the listening
 * socket and the clients' for at most one refresh period (1/VNC_REFRESH_HZ
 * s), and at most once per period looks for damage (src/display/damage.h):
 * with a dirty-page log that is one KVM_GET_DIRTY_LOG and a bitmap walk,
 * so an idle screen costs a few wake-ups a second and no pixel reads,
 * and with no client connected it does not look at all.
 *
 * What viewers are given is the shadow copy the damage scan keeps, not
 * guest memory: libvncserver encodes from memory no guest writes, and
 * nothing it does reads guest memory.
 *
 * Listening: "HOST:DISPLAY" (TCP port 5900 + DISPLAY on HOST; ":DISPLAY"
 * is 127.0.0.1:DISPLAY, loopback unless asked) or "unix:PATH" (a Unix
 * socket created at PATH, removed at stop). The socket is kvmini's own,
 * handed to libvncserver as its listening socket, which accepts and
 * serves TCP and Unix clients alike. With a password, clients must pass
 * VNC authentication (DES challenge; VNC uses the first 8 characters). */
#ifndef KVMINI_DISPLAY_VNC_H
#define KVMINI_DISPLAY_VNC_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmini.h"
#include "display/framebuffer.h"

#define VNC_REFRESH_HZ 25
#define VNC_BASE_PORT  5900
#define VNC_MAX_DISPLAY 99

/* Where keys and pointer events go (the machine's i8042), called on the
 * server's thread. key: a PC key (src/display/keymap.h); pointer motion
 * is relative, right and up positive; buttons bit 0 left, 1 right,
 * 2 middle. */
struct vnc_input {
	void (*key)(void *ctx, uint16_t key, bool down);
	void (*pointer)(void *ctx, int dx, int dy, unsigned buttons);
	void *ctx;
};

/* KVM's dirty log of the framebuffer, fetched and reset (one bit per
 * page, framebuffer_bitmap_words() words); returns false when there is
 * none now (no VM, between boots): then every band is compared. */
struct vnc_damage_log {
	bool (*fetch)(void *ctx, uint64_t *bitmap);
	void *ctx;
};

struct vnc_config {
	const char *address;     /* "HOST:DISPLAY", ":DISPLAY" or "unix:PATH" */
	const char *password;    /* NULL: no authentication */
	bool verbose;            /* libvncserver's own messages on stderr */
	enum kvmini_seccomp seccomp;   /* the server thread's filter (src/seccomp) */
};

struct vnc_server;

/* Parse the address, listen, start the thread. fb must outlive the
 * server (input and log are copied). Errors: a malformed address (usage), a port in
 * use or a path that cannot be bound (host, with the address). */
struct vnc_server *vnc_server_start(const struct framebuffer *fb, const struct vnc_config *cfg,
				    const struct vnc_input *input,
				    const struct vnc_damage_log *log, struct kvmini_error *err);
/* Disconnect every client, stop and join the thread, free. NULL is fine. */
void vnc_server_stop(struct vnc_server *s);

/* Bytes sent to clients so far (those connected now and those gone). */
uint64_t vnc_server_bytes_sent(struct vnc_server *s);

#endif
