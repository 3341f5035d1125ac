/* System calls on descriptors: read and write families, lseek, fstat,
 * ioctl, fcntl, dup, close. A guest descriptor is an index into the
 * sandbox's own table; the host descriptor behind it was opened by the
 * sandbox (the standard streams, or a file under a grant). Buffers are
 * reached through sb_uptr() and handed to the host call directly. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "sandbox/sandbox.h"

/* Linux moves at most this much in one read or write. */
#define RW_MAX 0x7ffff000ULL
#define IOV_MAX_COUNT 1024
#define KERNEL_TERMIOS_SIZE 36
#define WINSIZE_SIZE 8

static long host_result(ssize_t n)
{
	return n < 0 ? -errno : n;
}

/* A write to a closed pipe: unless the program handles, ignores or
 * blocks SIGPIPE, it dies of it, as it would natively. */
static void check_sigpipe(sandbox_t *sb, long r)
{
	if (r != -EPIPE)
		return;
	bool blocked = (sb->sigmask >> (SIGPIPE - 1)) & 1;
	if (sb->sigact[SIGPIPE - 1].handler == 0 && !blocked)
		sb_finish(sb, KVMINI_E_GUEST, 128 + SIGPIPE,
			  "program killed by SIGPIPE (it wrote to a closed pipe)");
}

long sb_sys_read(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	uint64_t len = a[2] > RW_MAX ? RW_MAX : a[2];
	void *buf = sb_uptr(sb, a[1], len, SB_ACCESS_WRITE);
	if (!buf)
		return -EFAULT;
	return host_result(read(f->host_fd, buf, len));
}

long sb_sys_write(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	uint64_t len = a[2] > RW_MAX ? RW_MAX : a[2];
	const void *buf = sb_uptr(sb, a[1], len, SB_ACCESS_READ);
	if (!buf)
		return -EFAULT;
	long r = host_result(write(f->host_fd, buf, len));
	check_sigpipe(sb, r);
	return r;
}

long sb_sys_pread64(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	if ((int64_t)a[3] < 0)
		return -EINVAL;
	uint64_t len = a[2] > RW_MAX ? RW_MAX : a[2];
	void *buf = sb_uptr(sb, a[1], len, SB_ACCESS_WRITE);
	if (!buf)
		return -EFAULT;
	return host_result(pread(f->host_fd, buf, len, (off_t)a[3]));
}

long sb_sys_pwrite64(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	if ((int64_t)a[3] < 0)
		return -EINVAL;
	uint64_t len = a[2] > RW_MAX ? RW_MAX : a[2];
	const void *buf = sb_uptr(sb, a[1], len, SB_ACCESS_READ);
	if (!buf)
		return -EFAULT;
	return host_result(pwrite(f->host_fd, buf, len, (off_t)a[3]));
}

/* Translate the program's iovec array; every buffer checked. */
static long import_iov(sandbox_t *sb, uint64_t va, uint64_t count, unsigned access,
		       struct iovec **out)
{
	if (count > IOV_MAX_COUNT)
		return -EINVAL;
	struct { uint64_t base, len; } *g = calloc(count ? count : 1, sizeof(*g));
	struct iovec *h = calloc(count ? count : 1, sizeof(*h));
	long r = (!g || !h) ? -ENOMEM : sb_copy_in(sb, g, va, count * sizeof(*g));
	uint64_t total = 0;
	/* Lengths first, as Linux does: a total past SSIZE_MAX is EINVAL. */
	for (uint64_t i = 0; r == 0 && i < count; i++) {
		if (g[i].len > (uint64_t)SSIZE_MAX - total)
			r = -EINVAL;
		else
			total += g[i].len;
	}
	for (uint64_t i = 0; r == 0 && i < count; i++) {
		h[i].iov_base = sb_uptr(sb, g[i].base, g[i].len, access);
		h[i].iov_len = g[i].len;
		if (!h[i].iov_base)
			r = -EFAULT;
	}
	free(g);
	if (r < 0) {
		free(h);
		return r;
	}
	*out = h;
	return 0;
}

long sb_sys_readv(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	struct iovec *iov;
	long r = import_iov(sb, a[1], a[2], SB_ACCESS_WRITE, &iov);
	if (r < 0)
		return r;
	r = host_result(readv(f->host_fd, iov, (int)a[2]));
	free(iov);
	return r;
}

long sb_sys_writev(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	struct iovec *iov;
	long r = import_iov(sb, a[1], a[2], SB_ACCESS_READ, &iov);
	if (r < 0)
		return r;
	r = host_result(writev(f->host_fd, iov, (int)a[2]));
	free(iov);
	check_sigpipe(sb, r);
	return r;
}

long sb_sys_lseek(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	if (a[2] > SEEK_HOLE)
		return -EINVAL;
	off_t r = lseek(f->host_fd, (off_t)a[1], (int)a[2]);
	return r < 0 ? -errno : r;
}

long sb_sys_fstat(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	struct stat st;   /* the x86-64 kernel and libc layouts are the same */
	if (fstat(f->host_fd, &st) < 0)
		return -errno;
	return sb_copy_out(sb, a[1], &st, sizeof(st));
}

long sb_sys_close(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	close(f->host_fd);
	free(f->guest_path);
	*f = (struct sb_file){ .host_fd = -1 };
	sb->files_touched = true;
	return 0;
}

long sb_sys_ioctl(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	size_t size;
	switch (a[1]) {
	case TCGETS: size = KERNEL_TERMIOS_SIZE; break;
	case TIOCGWINSZ: size = WINSIZE_SIZE; break;
	default:
		if (sb->verbose)
			sb_log(sb, "kvmini: unsupported ioctl 0x%llx on descriptor %llu (returned ENOTTY)\n",
			       (unsigned long long)a[1], (unsigned long long)a[0]);
		return -ENOTTY;
	}
	if (!isatty(f->host_fd))
		return -ENOTTY;
	uint8_t buf[64] = { 0 };
	if (ioctl(f->host_fd, a[1], buf) < 0)
		return -errno;
	return sb_copy_out(sb, a[2], buf, size);
}

static long alloc_fd(sandbox_t *sb, uint64_t lowest)
{
	for (uint64_t i = lowest; i < sb->max_files; i++)
		if (sb->files[i].host_fd < 0)
			return (long)i;
	return -EMFILE;
}

/* Install host_fd as guest descriptor `slot` (closing what was there). */
static long install(sandbox_t *sb, long slot, int host_fd, const struct sb_file *like)
{
	struct sb_file *f = &sb->files[slot];
	sb->files_touched = true;
	if (f->host_fd >= 0) {
		close(f->host_fd);
		free(f->guest_path);
	}
	*f = *like;
	f->host_fd = host_fd;
	f->guest_path = like->guest_path ? strdup(like->guest_path) : NULL;
	return slot;
}

long sb_fd_install(sandbox_t *sb, int host_fd, const struct sb_file *like)
{
	long slot = alloc_fd(sb, 0);
	if (slot < 0) {
		close(host_fd);
		return slot;
	}
	return install(sb, slot, host_fd, like);
}

static long dup_to(sandbox_t *sb, struct sb_file *f, long slot)
{
	int h = fcntl(f->host_fd, F_DUPFD_CLOEXEC, 0);
	if (h < 0)
		return -errno;
	struct sb_file copy = *f;
	return install(sb, slot, h, &copy);
}

long sb_sys_dup(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	long slot = alloc_fd(sb, 0);
	return slot < 0 ? slot : dup_to(sb, f, slot);
}

long sb_sys_dup3(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f || a[1] >= sb->max_files)
		return -EBADF;
	if (a[2] & ~(uint64_t)O_CLOEXEC)
		return -EINVAL;
	if (a[0] == a[1])
		return -EINVAL;
	return dup_to(sb, f, (long)a[1]);
}

long sb_sys_dup2(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f || a[1] >= sb->max_files)
		return -EBADF;
	if (a[0] == a[1])
		return (long)a[1];
	return dup_to(sb, f, (long)a[1]);
}

long sb_sys_fcntl(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	switch (a[1]) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		if (a[2] >= sb->max_files)
			return -EINVAL;
		long slot = alloc_fd(sb, a[2]);
		return slot < 0 ? slot : dup_to(sb, f, slot);
	}
	case F_GETFD:
	case F_SETFD:
		return 0;   /* there is no exec, so close-on-exec has no effect */
	case F_GETFL: {
		int fl = fcntl(f->host_fd, F_GETFL);
		return fl < 0 ? -errno : fl;
	}
	case F_SETFL:
		return 0;   /* the host descriptor's status flags stay the host's */
	}
	return -EINVAL;
}

long sb_sys_ftruncate(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	if ((int64_t)a[1] < 0)
		return -EINVAL;
	if (!f->writable)
		return -EINVAL;
	return ftruncate(f->host_fd, (off_t)a[1]) < 0 ? -errno : 0;
}

long sb_sys_fsync(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	return fsync(f->host_fd) < 0 && errno != EINVAL ? -errno : 0;
}

long sb_sys_fadvise64(sandbox_t *sb, const uint64_t a[6])
{
	return sb_file_get(sb, a[0]) ? 0 : -EBADF;
}

long sb_sys_getdents64(sandbox_t *sb, const uint64_t a[6])
{
	struct sb_file *f = sb_file_get(sb, a[0]);
	if (!f)
		return -EBADF;
	if (!f->is_dir)
		return -ENOTDIR;
	uint64_t len = a[2] > (1 << 20) ? (1 << 20) : a[2];
	void *buf = sb_uptr(sb, a[1], len, SB_ACCESS_WRITE);
	if (!buf)
		return -EFAULT;
	ssize_t n = getdents64(f->host_fd, buf, len);
	return n < 0 ? -errno : n;
}
