#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "display/damage.h"
#include "display/keymap.h"
#include "display/vnc.h"
#include "dynlib.h"
#include "seccomp/seccomp.h"
#include "thread.h"
#include "thread_name.h"

/* A viewer that stops reading holds the server's thread at most this
 * long per send before it is dropped. */
#define VNC_CLIENT_WAIT_MS 2000
#define VNC_UNIX_PREFIX "unix:"

/* libvncserver, opened when a server starts (src/dynlib.h): with GnuTLS,
 * libgcrypt, libjpeg and the rest it links, it is twenty libraries. */
#define VNC_LIBRARY "libvncserver.so.1"
#define VNC_PACKAGE "libvncserver1"
#define RFB_FUNCTIONS(X) \
	X(rfbGetScreen) X(rfbInitServer) X(rfbLogEnable) X(rfbMarkRectAsModified) \
	X(rfbProcessEvents) X(rfbShutdownServer) X(rfbScreenCleanup) X(rfbStatGetSentBytes) \
	X(rfbGetClientIterator) X(rfbClientIteratorNext) X(rfbReleaseClientIterator) \
	X(rfbCheckPasswordByList) X(rfbRandomBytes) X(rfbEncryptBytes) \
	X(rfbNewFramebuffer)

struct rfb_api {
	void *handle;
#define RFB_FIELD(fn) __typeof__(fn) *fn;
	RFB_FUNCTIONS(RFB_FIELD)
#undef RFB_FIELD
};

struct vnc_server {
	struct rfb_api rfb;
	const struct framebuffer *fb;   /* the live one: its mode may change */
	struct framebuffer view;        /* its mode as viewers were last told */
	struct vnc_input input;
	struct vnc_damage_log log;
	rfbScreenInfoPtr screen;
	uint8_t *shadow;          /* what viewers see: screen->frameBuffer */
	uint64_t *bitmap;
	char *passwords[2];       /* libvncserver's NULL-terminated list */
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t thread;
	bool thread_started;
	enum kvmini_seccomp seccomp;
	pthread_mutex_t lock;
	pthread_cond_t entered;
	int entry;                /* the thread's filter: 0 not yet, 1 installed, -1 failed */
	struct kvmini_error entry_err;
	atomic_bool stop;
	unsigned clients;
	bool full_compare;        /* a client arrived: compare everything once */
	uint64_t last_refresh_ns;
	uint64_t gone_bytes;      /* sent to clients that left */
	_Atomic uint64_t bytes_sent;
	int last_x, last_y;       /* the pointer, for relative motion */
	bool pointer_known;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the address ---- */

static int parse_display(const char *text, unsigned *display, struct kvmini_error *err)
{
	char *end;
	errno = 0;
	unsigned long d = strtoul(text, &end, 10);
	if (!*text || *end || errno || d > VNC_MAX_DISPLAY || text[0] == '-')
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "--vnc: display '%s' is not a number from 0 to %d", text,
				   VNC_MAX_DISPLAY);
	*display = (unsigned)d;
	return 0;
}

static int listen_tcp(const char *address, struct kvmini_error *err)
{
	const char *colon = strrchr(address, ':');
	if (!colon)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "--vnc '%s': expected HOST:DISPLAY, :DISPLAY or unix:PATH", address);
	unsigned display = 0;
	if (parse_display(colon + 1, &display, err) < 0)
		return -1;
	char host[256];
	size_t hlen = (size_t)(colon - address);
	if (hlen >= sizeof(host))
		return kvmini_fail(err, KVMINI_E_USAGE, "--vnc: host name too long");
	memcpy(host, address, hlen);
	host[hlen] = 0;
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {   /* [::1]:0 */
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = 0;
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", VNC_BASE_PORT + display);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *ai;
	int rc = getaddrinfo(*host ? host : "127.0.0.1", port, &hints, &ai);
	if (rc != 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "--vnc '%s': %s", address, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "--vnc: cannot listen on %s port %s",
					 *host ? host : "127.0.0.1", port);
	}
	freeaddrinfo(ai);
	return fd;
}

static int listen_unix(struct vnc_server *s, const char *path, struct kvmini_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return kvmini_fail(err, KVMINI_E_USAGE, "--vnc unix:PATH: path empty or too long");
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "--vnc: cannot listen on %s", path);
	}
	strcpy(s->unix_path, path);
	return fd;
}

static int listen_address(struct vnc_server *s, const char *address, struct kvmini_error *err)
{
	if (strncmp(address, VNC_UNIX_PREFIX, strlen(VNC_UNIX_PREFIX)) == 0)
		return listen_unix(s, address + strlen(VNC_UNIX_PREFIX), err);
	return listen_tcp(address, err);
}

/* ---- input: keysyms to PC keys, absolute pointer to relative ---- */

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	uint16_t key = keymap_from_keysym(keysym);
	if (key && s->input.key)
		s->input.key(s->input.ctx, key, down);
}

/* RFB's button mask: bit 0 left, 1 middle, 2 right; PS/2's: 0 left,
 * 1 right, 2 middle. The wheel (bits 3, 4) has no place on a 3-button mouse. */
static unsigned ps2_buttons(int mask)
{
	return (unsigned)((mask & 1) | (mask & 4 ? 2 : 0) | (mask & 2 ? 4 : 0));
}

static void on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	if (x < 0 || y < 0 || (unsigned)x >= s->view.width || (unsigned)y >= s->view.height)
		return;   /* libvncserver clips; a hostile client is checked again */
	int dx = s->pointer_known ? x - s->last_x : 0;
	int dy = s->pointer_known ? s->last_y - y : 0;
	s->last_x = x;
	s->last_y = y;
	s->pointer_known = true;
	if (s->input.pointer)
		s->input.pointer(s->input.ctx, dx, dy, ps2_buttons(mask));
}

/* ---- clients ---- */

static void on_client_gone(rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	s->gone_bytes += (uint64_t)s->rfb.rfbStatGetSentBytes(cl);
	s->clients--;
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	cl->clientGoneHook = on_client_gone;
	s->clients++;
	s->full_compare = true;   /* the shadow is stale while nobody watches */
	return RFB_CLIENT_ACCEPT;
}

static void count_bytes(struct vnc_server *s)
{
	uint64_t sum = s->gone_bytes;
	rfbClientIteratorPtr it = s->rfb.rfbGetClientIterator(s->screen);
	for (rfbClientPtr cl; (cl = s->rfb.rfbClientIteratorNext(it));)
		sum += (uint64_t)s->rfb.rfbStatGetSentBytes(cl);
	s->rfb.rfbReleaseClientIterator(it);
	atomic_store(&s->bytes_sent, sum);
}

/* ---- damage ---- */

static void mark_modified(void *ctx, const struct fb_rect *r)
{
	struct vnc_server *s = ctx;
	s->rfb.rfbMarkRectAsModified(s->screen, (int)r->x, (int)r->y, (int)(r->x + r->w),
			      (int)(r->y + r->h));
}

/* Bytes in memory B, G, R, unused: 0x00RRGGBB words. */
static void pixel_format_set(rfbScreenInfoPtr screen)
{
	screen->serverFormat.redShift = 16;
	screen->serverFormat.greenShift = 8;
	screen->serverFormat.blueShift = 0;
}

/* The guest set a mode of another size (a display device): a shadow of
 * that size, handed to libvncserver, which tells viewers that know the
 * NewFBSize pseudo-encoding. It resets the pixel format to its own
 * default and each viewer's translation with it: both are put back. */
static bool shadow_resize(struct vnc_server *s, const struct framebuffer *view)
{
	uint8_t *shadow = calloc(1, view->size);
	if (!shadow)
		return false;
	rfbScreenInfoPtr screen = s->screen;
	s->rfb.rfbNewFramebuffer(screen, (char *)shadow, (int)view->width, (int)view->height, 8,
				 3, FB_BYTES_PER_PIXEL);
	pixel_format_set(screen);
	screen->paddedWidthInBytes = (int)view->stride;
	rfbClientIteratorPtr it = s->rfb.rfbGetClientIterator(screen);
	for (rfbClientPtr cl; (cl = s->rfb.rfbClientIteratorNext(it));)
		screen->setTranslateFunction(cl);
	s->rfb.rfbReleaseClientIterator(it);
	free(s->shadow);
	s->shadow = shadow;
	s->pointer_known = false;
	return true;
}

/* A new mode or memory moved: a new shadow if the size changed, and
 * everything compared (the dirty log restarted, or the offset moved). */
static bool mode_follow(struct vnc_server *s)
{
	struct framebuffer view;
	framebuffer_view(s->fb, &view);
	if (view.generation == s->view.generation)
		return true;
	bool resized = view.width != s->view.width || view.height != s->view.height ||
		       view.stride != s->view.stride;
	if (resized && !shadow_resize(s, &view))
		return false;   /* out of memory: the old picture, and again next time */
	s->view = view;
	s->full_compare = true;
	return true;
}

static void refresh(struct vnc_server *s)
{
	if (!mode_follow(s))
		return;
	bool logged = s->log.fetch && s->log.fetch(s->log.ctx, s->bitmap);
	const uint64_t *dirty = logged && !s->full_compare ? s->bitmap : NULL;
	s->full_compare = false;
	damage_scan(&s->view, s->shadow, dirty, mark_modified, s);
}

/* Name the thread and install its role's filter before the first
 * viewer's byte; tell vnc_server_start() how that went. */
static bool enter_thread(struct vnc_server *s)
{
	thread_name_set("vnc");
	struct kvmini_error err;
	int r = seccomp_role_install(SECCOMP_ROLE_VNC, s->seccomp, &err);
	pthread_mutex_lock(&s->lock);
	s->entry = r < 0 ? -1 : 1;
	if (r < 0)
		s->entry_err = err;
	pthread_cond_signal(&s->entered);
	pthread_mutex_unlock(&s->lock);
	return r == 0;
}

static void *vnc_thread(void *arg)
{
	struct vnc_server *s = arg;
	const uint64_t period = 1000000000ull / VNC_REFRESH_HZ;
	if (!enter_thread(s))
		return NULL;
	while (!atomic_load(&s->stop)) {
		/* Follow a mode set even with no viewer: one that connects
		 * is then told the size of the screen as it is. */
		mode_follow(s);
		s->rfb.rfbProcessEvents(s->screen, (long)(period / 1000));
		uint64_t now = now_ns();
		if (s->clients && (s->full_compare || now - s->last_refresh_ns >= period)) {
			refresh(s);
			s->last_refresh_ns = now;
			s->rfb.rfbProcessEvents(s->screen, 0);   /* send what changed now */
		}
		count_bytes(s);
	}
	return NULL;
}

/* ---- start and stop ---- */

static rfbScreenInfoPtr screen_create(struct vnc_server *s, int listen_fd,
				      const struct vnc_config *cfg)
{
	int argc = 0;
	rfbScreenInfoPtr screen = s->rfb.rfbGetScreen(&argc, NULL, (int)s->view.width,
						      (int)s->view.height, 8, 3, FB_BYTES_PER_PIXEL);
	if (!screen)
		return NULL;
	pixel_format_set(screen);
	screen->paddedWidthInBytes = (int)s->view.stride;
	screen->frameBuffer = (char *)s->shadow;
	screen->desktopName = "kvmini";
	screen->screenData = s;
	screen->autoPort = FALSE;
	screen->port = screen->ipv6port = -1;   /* kvmini's socket, below */
	screen->httpPort = screen->http6Port = -1;
	screen->deferUpdateTime = 0;            /* the refresh period paces updates */
	screen->maxClientWait = VNC_CLIENT_WAIT_MS;
	screen->alwaysShared = TRUE;
	screen->kbdAddEvent = on_key;
	screen->ptrAddEvent = on_pointer;
	screen->newClientHook = on_new_client;
	screen->cursor = NULL;                  /* the guest draws its own */
	if (cfg->password) {
		screen->authPasswdData = s->passwords;
		screen->passwordCheck = s->rfb.rfbCheckPasswordByList;
	}
	s->rfb.rfbInitServer(screen);
	screen->listenSock = listen_fd;
	FD_SET(listen_fd, &screen->allFds);
	if (listen_fd > screen->maxFd)
		screen->maxFd = listen_fd;
	return screen;
}

static int rfb_api_load(struct rfb_api *api, struct kvmini_error *err)
{
	if (!(api->handle = dynlib_open(VNC_LIBRARY, VNC_PACKAGE, "--vnc", err)))
		return -1;
#define RFB_LOAD(fn) \
	if (DYNLIB_SYM(api->handle, VNC_LIBRARY, api, fn, err) < 0) \
		return -1;
	RFB_FUNCTIONS(RFB_LOAD)
#undef RFB_LOAD
	return 0;
}

/* What libvncserver does once and the thread's filter would refuse:
 * its first password check initialises libgcrypt (which reads its
 * configuration files and may write to syslog), and its log's first
 * time stamp reads the time zone. Done here, before the thread starts. */
static void warm_up(struct vnc_server *s, bool verbose)
{
	if (s->passwords[0]) {
		unsigned char challenge[CHALLENGESIZE];
		s->rfb.rfbRandomBytes(challenge);
		s->rfb.rfbEncryptBytes(challenge, s->passwords[0]);
	}
	if (verbose)
		tzset();
}

/* Start the thread and wait until it is confined. */
static int vnc_thread_start(struct vnc_server *s, struct kvmini_error *err)
{
	int rc = thread_start(&s->thread, vnc_thread, s);
	if (rc != 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, rc, "cannot start the VNC thread");
	s->thread_started = true;
	pthread_mutex_lock(&s->lock);
	while (s->entry == 0)
		pthread_cond_wait(&s->entered, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->entry > 0)
		return 0;
	*err = s->entry_err;
	return -1;
}

static void server_free(struct vnc_server *s)
{
	if (s->screen) {
		s->rfb.rfbShutdownServer(s->screen, TRUE);   /* closes the listening socket too */
		s->rfb.rfbScreenCleanup(s->screen);
	}
	if (*s->unix_path)
		unlink(s->unix_path);
	free(s->passwords[0]);
	free(s->shadow);
	free(s->bitmap);
	dynlib_close(s->rfb.handle);
	pthread_cond_destroy(&s->entered);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct vnc_server *server_alloc(const struct framebuffer *fb, const struct vnc_config *cfg,
				       const struct vnc_input *input,
				       const struct vnc_damage_log *log)
{
	struct vnc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fb = fb;
	s->input = *input;
	s->seccomp = cfg->seccomp;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->entered, NULL);
	if (log)
		s->log = *log;
	framebuffer_view(fb, &s->view);
	s->shadow = calloc(1, s->view.size);
	s->bitmap = calloc(framebuffer_bitmap_words(fb), sizeof(uint64_t));
	s->passwords[0] = cfg->password ? strdup(cfg->password) : NULL;
	if (!s->shadow || !s->bitmap || (cfg->password && !s->passwords[0])) {
		server_free(s);
		return NULL;
	}
	memcpy(s->shadow, s->view.pixels, s->view.size);
	return s;
}

struct vnc_server *vnc_server_start(const struct framebuffer *fb, const struct vnc_config *cfg,
				    const struct vnc_input *input,
				    const struct vnc_damage_log *log, struct kvmini_error *err)
{
	struct vnc_server *s = server_alloc(fb, cfg, input, log);
	if (!s) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the VNC server");
		return NULL;
	}
	if (rfb_api_load(&s->rfb, err) < 0) {
		server_free(s);
		return NULL;
	}
	s->rfb.rfbLogEnable(cfg->verbose);
	int fd = listen_address(s, cfg->address, err);
	if (fd < 0) {
		server_free(s);
		return NULL;
	}
	s->screen = screen_create(s, fd, cfg);
	if (!s->screen) {
		close(fd);
		server_free(s);
		kvmini_fail(err, KVMINI_E_HOST, "libvncserver cannot create its screen");
		return NULL;
	}
	warm_up(s, cfg->verbose);
	if (vnc_thread_start(s, err) < 0) {
		vnc_server_stop(s);
		return NULL;
	}
	return s;
}

void vnc_server_stop(struct vnc_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	server_free(s);
}

uint64_t vnc_server_bytes_sent(struct vnc_server *s)
{
	return atomic_load(&s->bytes_sent);
}
