/* A tiny VNC client for the display's tests, on Debian's libvncclient:
 * connects, sends keys and pointer events, and can capture the screen.
 *
 * Usage: vnc_client SERVER [OPTIONS]
 *   SERVER        HOST:PORT (a port, not a display), or a Unix socket path
 *   -p PASSWORD   answer VNC authentication with PASSWORD
 *   -k KEYSYM     press and release the key (hex keysym, e.g. 61 for 'a')
 *   -m X,Y,MASK   a pointer event
 *   -c FILE.png   wait for the whole screen, then write it as a PNG
 *   -w MESSAGE    print MESSAGE, then wait for the next change of the
 *                 screen (an incremental update with pixels)
 *   -i SECONDS    stay connected and idle, asking for changes
 *   -f SECONDS    as -i, then print "frames N": the updates with pixels
 *                 received in those SECONDS (the bench's frame rate)
 *   -e ENCODINGS  the encodings to ask for (default: the lossless "zrle
 *                 hextile zlib raw"; libvncclient's own list starts with
 *                 tight, whose JPEG would change pixels)
 * Options run in order. Exit 0, or 1 with the reason on stderr. */
#include <png.h>
#include <rfb/rfbclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *password;
static int updates_done;   /* whole updates with pixels since the capture began */
static int rects;          /* rectangles of pixels in the current update */

static void got_update(rfbClient *cl, int x, int y, int w, int h)
{
	(void)cl; (void)x; (void)y; (void)w; (void)h;
	rects++;
}

static char *get_password(rfbClient *cl)
{
	(void)cl;
	return strdup(password ? password : "");
}

/* A capture asks for the whole screen at once: one update holds it. */
static void finished_update(rfbClient *cl)
{
	(void)cl;
	if (getenv("VNC_CLIENT_DEBUG"))
		fprintf(stderr, "update: %d rects\n", rects);
	if (rects)   /* an update of only pseudo-rectangles (cursor, size) has no pixels */
		updates_done++;
	rects = 0;
}

/* Ask for a non-incremental update of w x h pixels and read messages
 * until one with pixels came: the server handles a client's messages in
 * order, so everything sent before has been handled then. The request is
 * sent again each second without one: libvncserver may answer a request
 * with an update of pseudo-rectangles only (cursor, supported messages)
 * when they meet, and a request answered so is spent. */
static int update_wait(rfbClient *cl, int w, int h)
{
	updates_done = 0;
	for (int second = 0; second < 60; second++) {
		if (!SendFramebufferUpdateRequest(cl, 0, 0, w, h, FALSE))
			return -1;
		int n;
		while (!updates_done && (n = WaitForMessage(cl, 1000000)) > 0)
			if (!HandleRFBServerMessage(cl)) {
				fprintf(stderr, "vnc_client: bad message, or the server left\n");
				return -1;
			}
		if (updates_done)
			return 0;
		if (n < 0)
			return -1;
	}
	fprintf(stderr, "vnc_client: no update after 60 s\n");
	return -1;
}

/* Wait until the server sends a change; incremental requests are
 * answered only when something changed. */
static int change_wait(rfbClient *cl, const char *message)
{
	printf("%s\n", message);
	fflush(stdout);
	updates_done = 0;
	if (!SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE))
		return -1;
	for (int second = 0; second < 60 && !updates_done; second++) {
		int n;
		while (!updates_done && (n = WaitForMessage(cl, 1000000)) > 0)
			if (!HandleRFBServerMessage(cl))
				return -1;
		if (n < 0)
			return -1;
	}
	return updates_done ? 0 : -1;
}

/* Connected and idle for `seconds`, with a request for changes always
 * waiting at the server, as a viewer's is. */
static int idle(rfbClient *cl, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (!SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE))
			return -1;
		int n = WaitForMessage(cl, 100000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl)))
			return -1;
	}
	return 0;
}

static double seconds_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* As idle(), for `seconds` of the clock, counting the updates with
 * pixels: a viewer's frame rate while the screen keeps changing. */
static int frames(rfbClient *cl, int seconds)
{
	updates_done = 0;
	double end = seconds_now() + seconds;
	while (seconds_now() < end) {
		if (!SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE))
			return -1;
		int n = WaitForMessage(cl, 100000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl)))
			return -1;
	}
	printf("frames %d\n", updates_done);
	fflush(stdout);
	return 0;
}

static int capture(rfbClient *cl, const char *path)
{
	if (update_wait(cl, cl->width, cl->height) < 0)
		return -1;
	/* The fourth byte is unused in RFB; libpng reads it as alpha. */
	for (size_t i = 0; i < (size_t)cl->width * cl->height; i++)
		cl->frameBuffer[4 * i + 3] = 0xff;
	png_image pi = { .version = PNG_IMAGE_VERSION, .width = (png_uint_32)cl->width,
			 .height = (png_uint_32)cl->height, .format = PNG_FORMAT_RGBA };
	return png_image_write_to_file(&pi, path, 0, cl->frameBuffer, 0, NULL) ? 0 : -1;
}

static rfbClient *connect_to(const char *server, const char *encodings)
{
	rfbClient *cl = rfbGetClient(8, 3, 4);   /* R, G, B, unused in memory: RGBA for libpng */
	cl->GetPassword = get_password;
	cl->FinishedFrameBufferUpdate = finished_update;
	cl->GotFrameBufferUpdate = got_update;
	cl->appData.encodingsString = encodings;
	struct stat st;
	const char *colon = strrchr(server, ':');
	if (stat(server, &st) == 0 && S_ISSOCK(st.st_mode)) {
		free(cl->serverHost);
		cl->serverHost = strdup(server);
	} else if (colon) {
		free(cl->serverHost);
		cl->serverHost = strndup(server, (size_t)(colon - server));
		cl->serverPort = atoi(colon + 1);
	}
	if (!rfbInitClient(cl, NULL, NULL))
		return NULL;   /* rfbInitClient frees the client when it fails */
	return cl;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: vnc_client SERVER [-p PW] [-k KEYSYM] [-m X,Y,MASK] [-c FILE]\n");
		return 1;
	}
	const char *encodings = "zrle hextile zlib raw";
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-p") == 0)
			password = argv[i + 1];
		if (strcmp(argv[i], "-e") == 0)
			encodings = argv[i + 1];
	}
	rfbEnableClientLogging = FALSE;
	rfbClient *cl = connect_to(argv[1], encodings);
	if (!cl) {
		fprintf(stderr, "vnc_client: cannot connect to %s\n", argv[1]);
		return 1;
	}
	int rc = 0;
	for (int i = 2; i + 1 < argc && rc == 0; i += 2) {
		const char *opt = argv[i], *arg = argv[i + 1];
		unsigned x, y, mask;
		if (strcmp(opt, "-k") == 0) {
			uint32_t sym = (uint32_t)strtoul(arg, NULL, 16);
			rc = SendKeyEvent(cl, sym, TRUE) && SendKeyEvent(cl, sym, FALSE) ? 0 : -1;
		} else if (strcmp(opt, "-m") == 0 && sscanf(arg, "%u,%u,%u", &x, &y, &mask) == 3) {
			rc = SendPointerEvent(cl, (int)x, (int)y, (int)mask) ? 0 : -1;
		} else if (strcmp(opt, "-c") == 0) {
			rc = capture(cl, arg);
		} else if (strcmp(opt, "-w") == 0) {
			rc = change_wait(cl, arg);
		} else if (strcmp(opt, "-i") == 0) {
			rc = idle(cl, atoi(arg));
		} else if (strcmp(opt, "-f") == 0) {
			rc = frames(cl, atoi(arg));
		}
	}
	/* Leave only once the server has taken every event and nothing it
	 * sent is left unread: closing a socket with unread data resets the
	 * connection, and the server would lose the events still queued. */
	if (rc == 0)
		rc = update_wait(cl, 1, 1);
	if (rc != 0)
		fprintf(stderr, "vnc_client: failed at an option\n");
	free(cl->frameBuffer);
	rfbClientCleanup(cl);
	return rc ? 1 : 0;
}
