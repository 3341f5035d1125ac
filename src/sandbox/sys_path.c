/* System calls on paths: open, stat, readlink, access, getcwd, chdir,
 * and in writable grants unlink, mkdir and rename. Every path is
 * resolved by resolve() to a grant and a path beneath it; the host is
 * only ever asked about that path, relative to the grant's directory
 * descriptor, with openat2(RESOLVE_BENEATH). Outside every grant the
 * answer is EACCES and no host file is touched; writing in a read-only
 * grant is EROFS. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sandbox/sandbox.h"

/* musl passes the kernel's O_LARGEFILE; glibc's is 0 on x86-64. */
#define KERNEL_O_LARGEFILE 0100000
#define OPEN_FLAGS_ALLOWED (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | \
			    O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECTORY | O_NOFOLLOW |        \
			    O_CLOEXEC | O_NOATIME | KERNEL_O_LARGEFILE)

struct resolved {
	const struct sb_grant *grant;
	const char *rel;          /* beneath the grant's directory; "." for itself */
	char abs[PATH_MAX];       /* the normalised guest path */
};

static long resolve_string(sandbox_t *sb, uint64_t dirfd, const char *path, struct resolved *r)
{
	const char *base = sb->cwd;
	if (path[0] != '/' && (int)dirfd != AT_FDCWD) {
		struct sb_file *f = sb_file_get(sb, (uint32_t)dirfd);
		if (!f)
			return -EBADF;
		if (!f->is_dir || !f->guest_path)
			return -ENOTDIR;
		base = f->guest_path;
	}
	if (sb_path_normalise(base, path, r->abs, sizeof(r->abs)) < 0)
		return -ENAMETOOLONG;
	r->grant = sb_path_grant(sb, r->abs, &r->rel);
	if (!r->grant) {
		if (sb->verbose)
			sb_log(sb, "kvmini: denied access to '%s' (outside the granted directories)\n",
			       r->abs);
		return -EACCES;
	}
	return 0;
}

static long resolve(sandbox_t *sb, uint64_t dirfd, uint64_t path_va, struct resolved *r)
{
	char path[PATH_MAX];
	long n = sb_copy_string(sb, path, path_va, sizeof(path));
	if (n < 0)
		return n;
	if (n == 0)
		return -ENOENT;
	return resolve_string(sb, dirfd, path, r);
}

static long open_beneath(const struct resolved *r, const char *rel, uint64_t flags, uint64_t mode)
{
	struct open_how how = {
		/* openat2 refuses O_PATH with anything but these flags. */
		.flags = flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY),
		.mode = (flags & O_CREAT) ? (mode & 07777) : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, r->grant->root_fd, rel, &how, sizeof(how));
	if (fd < 0)
		return errno == EXDEV ? -EACCES : -errno;
	return fd;
}

static bool wants_write(uint64_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

/* Only regular files and directories: no FIFO can block the host, no
 * device is reachable even inside a grant. */
static long check_type_and_mode(long fd, uint64_t flags, struct stat *st)
{
	if (fstat((int)fd, st) < 0 || !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
		close((int)fd);
		return -EACCES;
	}
	if (!(flags & O_NONBLOCK)) {
		int fl = fcntl((int)fd, F_GETFL);
		fcntl((int)fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return fd;
}

long sb_sys_openat(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t flags = a[2] & 0xffffffffULL;
	if (flags & ~(uint64_t)OPEN_FLAGS_ALLOWED)
		return -EINVAL;
	flags &= ~(uint64_t)KERNEL_O_LARGEFILE;
	struct resolved r;
	long e = resolve(sb, a[0], a[1], &r);
	if (e < 0)
		return e;
	if (wants_write(flags) && !r.grant->writable)
		return -EROFS;
	long fd = open_beneath(&r, r.rel, flags | O_NONBLOCK, a[3]);
	if (fd < 0)
		return fd;
	struct stat st;
	fd = check_type_and_mode(fd, flags, &st);
	if (fd < 0)
		return fd;
	uint64_t acc = flags & O_ACCMODE;
	const struct sb_file like = {
		.readable = acc != O_WRONLY, .writable = acc != O_RDONLY,
		.is_dir = S_ISDIR(st.st_mode), .guest_path = r.abs,
	};
	return sb_fd_install(sb, (int)fd, &like);
}

long sb_sys_open(sandbox_t *sb, const uint64_t a[6])
{
	const uint64_t args[6] = { (uint64_t)(int64_t)AT_FDCWD, a[0], a[1], a[2], 0, 0 };
	return sb_sys_openat(sb, args);
}

/* A host O_PATH descriptor for a guest path (the link itself when nofollow). */
static long open_path(sandbox_t *sb, uint64_t dirfd, uint64_t path_va, bool nofollow,
		      struct resolved *r)
{
	long e = resolve(sb, dirfd, path_va, r);
	if (e < 0)
		return e;
	return open_beneath(r, r->rel, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0);
}

static long stat_common(sandbox_t *sb, uint64_t dirfd, uint64_t path_va, uint64_t buf,
			bool nofollow)
{
	struct resolved r;
	long fd = open_path(sb, dirfd, path_va, nofollow, &r);
	if (fd < 0)
		return fd;
	struct stat st;
	int ok = fstat((int)fd, &st);
	close((int)fd);
	if (ok < 0)
		return -errno;
	return sb_copy_out(sb, buf, &st, sizeof(st));
}

static long stat_cwd(sandbox_t *sb, uint64_t buf)
{
	struct resolved r;
	long e = resolve_string(sb, (uint64_t)(int64_t)AT_FDCWD, ".", &r);
	long fd = e < 0 ? e : open_beneath(&r, r.rel, O_PATH, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	int ok = fstat((int)fd, &st);
	close((int)fd);
	return ok < 0 ? -errno : sb_copy_out(sb, buf, &st, sizeof(st));
}

long sb_sys_stat(sandbox_t *sb, const uint64_t a[6])
{
	return stat_common(sb, (uint64_t)(int64_t)AT_FDCWD, a[0], a[1], false);
}

long sb_sys_lstat(sandbox_t *sb, const uint64_t a[6])
{
	return stat_common(sb, (uint64_t)(int64_t)AT_FDCWD, a[0], a[1], true);
}

long sb_sys_newfstatat(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t flags = a[3];
	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT))
		return -EINVAL;
	if (flags & AT_EMPTY_PATH) {
		char first;
		if (sb_copy_in(sb, &first, a[1], 1) < 0)
			return -EFAULT;
		if (first == 0) {   /* fstat of dirfd: how glibc implements fstat() */
			const uint64_t args[6] = { a[0], a[2], 0, 0, 0, 0 };
			return (int)a[0] == AT_FDCWD ? stat_cwd(sb, a[2]) : sb_sys_fstat(sb, args);
		}
	}
	return stat_common(sb, a[0], a[1], a[2], flags & AT_SYMLINK_NOFOLLOW);
}

long sb_sys_readlinkat(sandbox_t *sb, const uint64_t a[6])
{
	if ((int64_t)a[3] <= 0)
		return -EINVAL;
	struct resolved r;
	long fd = open_path(sb, a[0], a[1], true, &r);
	if (fd < 0)
		return fd;
	char target[PATH_MAX];
	struct stat st;
	ssize_t n = -1;
	int e = EINVAL;
	if (fstat((int)fd, &st) == 0 && S_ISLNK(st.st_mode)) {
		n = readlinkat((int)fd, "", target, sizeof(target));
		e = errno;
	}
	close((int)fd);
	if (n < 0)
		return -e;
	size_t len = (uint64_t)n < a[3] ? (size_t)n : (size_t)a[3];
	return sb_copy_out(sb, a[2], target, len) < 0 ? -EFAULT : (long)len;
}

long sb_sys_readlink(sandbox_t *sb, const uint64_t a[6])
{
	const uint64_t args[6] = { (uint64_t)(int64_t)AT_FDCWD, a[0], a[1], a[2], 0, 0 };
	return sb_sys_readlinkat(sb, args);
}

static long access_common(sandbox_t *sb, uint64_t dirfd, uint64_t path_va, uint64_t mode,
			  uint64_t flags)
{
	if (mode & ~(uint64_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	if (flags & ~(uint64_t)(AT_EACCESS | AT_SYMLINK_NOFOLLOW))
		return -EINVAL;
	struct resolved r;
	long fd = open_path(sb, dirfd, path_va, flags & AT_SYMLINK_NOFOLLOW, &r);
	if (fd < 0)
		return fd;
	long ret = 0;
	if ((mode & W_OK) && !r.grant->writable)
		ret = -EROFS;
	else if (syscall(SYS_faccessat2, (int)fd, "", (int)mode, AT_EMPTY_PATH | (int)flags) < 0)
		ret = -errno;
	close((int)fd);
	return ret;
}

long sb_sys_access(sandbox_t *sb, const uint64_t a[6])
{
	return access_common(sb, (uint64_t)(int64_t)AT_FDCWD, a[0], a[1], 0);
}

long sb_sys_faccessat(sandbox_t *sb, const uint64_t a[6])
{
	return access_common(sb, a[0], a[1], a[2], 0);
}

long sb_sys_faccessat2(sandbox_t *sb, const uint64_t a[6])
{
	return access_common(sb, a[0], a[1], a[2], a[3]);
}

long sb_sys_getcwd(sandbox_t *sb, const uint64_t a[6])
{
	size_t len = strlen(sb->cwd) + 1;
	if (a[1] < len)
		return -ERANGE;
	return sb_copy_out(sb, a[0], sb->cwd, len) < 0 ? -EFAULT : (long)len;
}

long sb_sys_chdir(sandbox_t *sb, const uint64_t a[6])
{
	struct resolved r;
	long e = resolve(sb, (uint64_t)(int64_t)AT_FDCWD, a[0], &r);
	if (e < 0)
		return e;
	long fd = open_beneath(&r, r.rel, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	close((int)fd);
	char *cwd = strdup(r.abs);
	if (!cwd)
		return -ENOMEM;
	free(sb->cwd);
	sb->cwd = cwd;
	return 0;
}

/* ---- changes in writable grants: the parent directory is opened
 * beneath the grant, the last component is handled by name. ---- */

struct parent {
	long fd;
	const char *name;
	char dir[PATH_MAX];
};

static long open_parent(sandbox_t *sb, uint64_t dirfd, uint64_t path_va, struct resolved *r,
			struct parent *p)
{
	long e = resolve(sb, dirfd, path_va, r);
	if (e < 0)
		return e;
	if (!r->grant->writable)
		return -EROFS;
	if (strcmp(r->rel, ".") == 0)
		return -EBUSY;   /* the grant's own directory */
	snprintf(p->dir, sizeof(p->dir), "%s", r->rel);
	char *slash = strrchr(p->dir, '/');
	if (slash) {
		*slash = 0;
		p->name = r->rel + (slash - p->dir) + 1;
	} else {
		p->name = r->rel;
		strcpy(p->dir, ".");
	}
	p->fd = open_beneath(r, p->dir, O_PATH | O_DIRECTORY, 0);
	return p->fd < 0 ? p->fd : 0;
}

long sb_sys_unlinkat(sandbox_t *sb, const uint64_t a[6])
{
	if (a[2] & ~(uint64_t)AT_REMOVEDIR)
		return -EINVAL;
	struct resolved r;
	struct parent p;
	long e = open_parent(sb, a[0], a[1], &r, &p);
	if (e < 0)
		return e;
	e = unlinkat((int)p.fd, p.name, (int)a[2]) < 0 ? -errno : 0;
	close((int)p.fd);
	return e;
}

long sb_sys_unlink(sandbox_t *sb, const uint64_t a[6])
{
	const uint64_t args[6] = { (uint64_t)(int64_t)AT_FDCWD, a[0], 0, 0, 0, 0 };
	return sb_sys_unlinkat(sb, args);
}

long sb_sys_mkdirat(sandbox_t *sb, const uint64_t a[6])
{
	struct resolved r;
	struct parent p;
	long e = open_parent(sb, a[0], a[1], &r, &p);
	if (e < 0)
		return e;
	e = mkdirat((int)p.fd, p.name, (mode_t)(a[2] & 07777)) < 0 ? -errno : 0;
	close((int)p.fd);
	return e;
}

long sb_sys_mkdir(sandbox_t *sb, const uint64_t a[6])
{
	const uint64_t args[6] = { (uint64_t)(int64_t)AT_FDCWD, a[0], a[1], 0, 0, 0 };
	return sb_sys_mkdirat(sb, args);
}

long sb_sys_renameat(sandbox_t *sb, const uint64_t a[6])
{
	struct resolved r1, r2;
	struct parent p1, p2;
	long e = open_parent(sb, a[0], a[1], &r1, &p1);
	if (e < 0)
		return e;
	e = open_parent(sb, a[2], a[3], &r2, &p2);
	if (e < 0) {
		close((int)p1.fd);
		return e;
	}
	if (r1.grant != r2.grant)
		e = -EXDEV;
	else
		e = renameat((int)p1.fd, p1.name, (int)p2.fd, p2.name) < 0 ? -errno : 0;
	close((int)p1.fd);
	close((int)p2.fd);
	return e;
}

long sb_sys_rename(sandbox_t *sb, const uint64_t a[6])
{
	const uint64_t args[6] = { (uint64_t)(int64_t)AT_FDCWD, a[0],
				   (uint64_t)(int64_t)AT_FDCWD, a[1], 0, 0 };
	return sb_sys_renameat(sb, args);
}
