/* Grants, guest paths and the descriptor table.
 *
 * The program sees only the directories the user granted, each at its
 * guest path. A guest path is normalised lexically (".", "..", repeated
 * slashes) against the working directory, matched to the grant with the
 * longest guest prefix, and the rest is opened relative to the grant's
 * directory descriptor with openat2(RESOLVE_BENEATH), so neither ".."
 * nor a symbolic link can lead out of a grant (sys_path.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sandbox/sandbox.h"

int sb_path_normalise(const char *base, const char *path, char *out, size_t cap)
{
	size_t len = 0;
	if (cap < 2)
		return -ENAMETOOLONG;
	out[0] = 0;
	for (int pass = path[0] == '/' ? 1 : 0; pass < 2; pass++) {
		const char *p = pass == 0 ? base : path;
		while (*p) {
			while (*p == '/')
				p++;
			const char *end = strchrnul(p, '/');
			size_t n = (size_t)(end - p);
			if (n == 0 || (n == 1 && p[0] == '.')) {
				/* nothing */
			} else if (n == 2 && p[0] == '.' && p[1] == '.') {
				while (len > 0 && out[len] != '/')
					len--;
				out[len] = 0;
			} else {
				if (len + 1 + n + 1 > cap)
					return -ENAMETOOLONG;
				out[len++] = '/';
				memcpy(out + len, p, n);
				len += n;
				out[len] = 0;
			}
			p = end;
		}
	}
	if (len == 0) {
		out[0] = '/';
		out[1] = 0;
	}
	return 0;
}

const struct sb_grant *sb_path_grant(const sandbox_t *sb, const char *abs, const char **rel)
{
	const struct sb_grant *best = NULL;
	for (unsigned i = 0; i < sb->ngrants; i++) {
		const struct sb_grant *g = &sb->grants[i];
		size_t n = g->guest_len;
		bool root = n == 1;   /* the grant is "/" */
		bool match = root || (strncmp(abs, g->guest, n) == 0 && (abs[n] == 0 || abs[n] == '/'));
		if (match && (!best || n > best->guest_len))
			best = g;
	}
	if (best) {
		const char *r = best->guest_len == 1 ? abs + 1 : abs + best->guest_len;
		while (*r == '/')
			r++;
		*rel = *r ? r : ".";
	}
	return best;
}

static int add_grant(sandbox_t *sb, const struct kvmini_sandbox_grant *in,
		     struct kvmini_error *err)
{
	struct sb_grant *g = &sb->grants[sb->ngrants];
	char *host = realpath(in->host, NULL);
	if (!host)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno,
					 "cannot grant directory '%s'", in->host);
	g->host = host;
	g->root_fd = open(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g->root_fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno,
					 "cannot grant directory '%s'", in->host);
	const char *guest = in->guest && *in->guest ? in->guest : host;
	if (guest[0] != '/')
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the guest path '%s' of a --dir grant must be absolute", guest);
	char norm[PATH_MAX];
	if (sb_path_normalise("/", guest, norm, sizeof(norm)) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "guest path '%s' is too long", guest);
	g->guest = strdup(norm);
	if (!g->guest)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	g->guest_len = strlen(norm);
	g->writable = in->writable;
	sb->ngrants++;
	return 0;
}

static int open_stdio(sandbox_t *sb, const struct kvmini_sandbox_config *cfg,
		      struct kvmini_error *err)
{
	for (int i = 0; i < 3; i++) {
		if (cfg->stdio_fds[i] < 0)
			continue;
		int fd = fcntl(cfg->stdio_fds[i], F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
						 "cannot pass descriptor %d to the program",
						 cfg->stdio_fds[i]);
		int mode = fcntl(fd, F_GETFL) & O_ACCMODE;
		sb->files[i] = (struct sb_file){
			.host_fd = fd,
			.readable = mode != O_WRONLY,
			.writable = mode != O_RDONLY,
		};
	}
	return 0;
}

int sb_files_init(sandbox_t *sb, const struct kvmini_sandbox_config *cfg,
		  struct kvmini_error *err)
{
	sb->max_files = cfg->max_files < 3 ? 3 : cfg->max_files;
	if (sb->max_files > 4096)
		return kvmini_fail(err, KVMINI_E_USAGE, "at most 4096 open files");
	sb->files = calloc(sb->max_files, sizeof(*sb->files));
	sb->grants = calloc(cfg->ngrants + 1, sizeof(*sb->grants));
	if (!sb->files || !sb->grants)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	for (unsigned i = 0; i < sb->max_files; i++)
		sb->files[i].host_fd = -1;
	for (unsigned i = 0; i < cfg->ngrants; i++) {
		sb->grants[i].root_fd = -1;
		if (add_grant(sb, &cfg->grants[i], err) < 0)
			return -1;
	}
	char cwd[PATH_MAX];
	const char *want = cfg->cwd ? cfg->cwd : "/";
	if (want[0] != '/' || sb_path_normalise("/", want, cwd, sizeof(cwd)) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "bad working directory '%s'", want);
	sb->cwd = strdup(cwd);
	if (!sb->cwd)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	return open_stdio(sb, cfg, err);
}

void sb_files_free(sandbox_t *sb)
{
	for (unsigned i = 0; sb->files && i < sb->max_files; i++) {
		if (sb->files[i].host_fd >= 0)
			close(sb->files[i].host_fd);
		free(sb->files[i].guest_path);
	}
	free(sb->files);
	sb->files = NULL;
	for (unsigned i = 0; sb->grants && i < sb->ngrants + 1; i++) {
		if (sb->grants[i].root_fd >= 0)
			close(sb->grants[i].root_fd);
		free(sb->grants[i].guest);
		free(sb->grants[i].host);
	}
	free(sb->grants);
	sb->grants = NULL;
	free(sb->cwd);
	sb->cwd = NULL;
}

struct sb_file *sb_file_get(sandbox_t *sb, uint64_t fd)
{
	if (fd >= sb->max_files || sb->files[fd].host_fd < 0)
		return NULL;
	return &sb->files[fd];
}

int sb_file_read_into(sandbox_t *sb, int fd, uint64_t off, uint8_t *dst, uint64_t len)
{
	(void)sb;
	uint64_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, dst + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	return 0;
}
