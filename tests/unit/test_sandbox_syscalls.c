/* The sandbox's system-call layer against hostile arguments: pointers
 * outside the window, into the kernel half, into guard or read-only
 * pages, lengths that wrap, strings without an end, paths that try to
 * leave a grant. Each handler is called directly on a sandbox built from
 * a real program (build/guests/sandbox/hello.glibc) that never runs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sandbox/sandbox.h"
#include "kvm_skip.h"
#include "read_file.h"

#define PROGRAM "build/guests/sandbox/hello.glibc"

static sandbox_t *sb;
static char grant_dir[] = "/tmp/kvmini-sbtest-XXXXXX";
static char outside[PATH_MAX];
static uint8_t *elf;
static size_t elf_size;

static void read_program(void)
{
	elf = test_read_file(PROGRAM, &elf_size);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	skip_without_kvm();
	read_program();
	cr_assert_not_null(mkdtemp(grant_dir));
	char sub[PATH_MAX];
	snprintf(sub, sizeof(sub), "%s/ro", grant_dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/rw", grant_dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/ro", grant_dir);
	write_file(sub, "data.txt", "granted\n");
	snprintf(outside, sizeof(outside), "%s/secret.txt", grant_dir);
	write_file(grant_dir, "secret.txt", "secret\n");
	/* A link inside the grant that points out of it. */
	char link[PATH_MAX];
	snprintf(link, sizeof(link), "%s/ro/escape", grant_dir);
	cr_assert_eq(symlink(outside, link), 0);

	char ro[PATH_MAX], rw[PATH_MAX];
	snprintf(ro, sizeof(ro), "%s/ro", grant_dir);
	snprintf(rw, sizeof(rw), "%s/rw", grant_dir);
	static struct kvmini_sandbox_grant grants[2];
	grants[0] = (struct kvmini_sandbox_grant){ strdup(ro), "/data", false };
	grants[1] = (struct kvmini_sandbox_grant){ strdup(rw), "/out", true };
	struct kvmini_sandbox_config cfg;
	kvmini_sandbox_config_defaults(&cfg);
	cfg.mem_size = 16 << 20;
	cfg.grants = grants;
	cfg.ngrants = 2;
	cfg.max_files = 8;
	cfg.log_fd = open("/dev/null", O_WRONLY);
	struct kvmini_error err;
	sb = kvmini_sandbox_create(&cfg, elf, elf_size, PROGRAM, &err);
	cr_assert_not_null(sb, "%s", err.msg);
}

static void teardown(void)
{
	kvmini_sandbox_destroy(sb);
	free(elf);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", grant_dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", grant_dir);
}

TestSuite(sandbox_syscalls, .init = setup, .fini = teardown);

static long call(sb_syscall_fn fn, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		 uint64_t a4, uint64_t a5)
{
	const uint64_t a[6] = { a0, a1, a2, a3, a4, a5 };
	return fn(sb, a);
}

/* A fresh read-write anonymous mapping of `len` bytes in the program. */
static uint64_t scratch(uint64_t len)
{
	long va = call(sb_sys_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       (uint64_t)-1, 0);
	cr_assert_gt(va, 0, "mmap: %ld", va);
	return (uint64_t)va;
}

static uint64_t guest_string(const char *s)
{
	uint64_t va = scratch(SB_PAGE);
	cr_assert_eq(sb_copy_out(sb, va, s, strlen(s) + 1), 0);
	return va;
}

/* ==== pointers ==== */

Test(sandbox_syscalls, pointers_outside_the_window_are_refused)
{
	const uint64_t bad[] = {
		0, 16, SB_PAGE, sb->mm.base - 1, sb->mm.base + sb->mm.size,
		SB_KERNEL_VA + SB_STUB_GPA, 0xffff800000000000ULL, UINT64_MAX - 3,
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_null(sb_uptr(sb, bad[i], 4, SB_ACCESS_READ), "0x%llx readable",
			       (unsigned long long)bad[i]);
		cr_expect_eq(call(sb_sys_write, 1, bad[i], 4, 0, 0, 0), -EFAULT);
		cr_expect_eq(call(sb_sys_read, 0, bad[i], 4, 0, 0, 0), -EFAULT);
	}
}

Test(sandbox_syscalls, lengths_that_wrap_or_overrun_are_refused)
{
	uint64_t va = scratch(2 * SB_PAGE);
	cr_expect_not_null(sb_uptr(sb, va, 2 * SB_PAGE, SB_ACCESS_WRITE));
	cr_expect_null(sb_uptr(sb, va, UINT64_MAX, SB_ACCESS_READ));
	cr_expect_null(sb_uptr(sb, va + 8, UINT64_MAX - 4, SB_ACCESS_READ));
	cr_expect_null(sb_uptr(sb, sb->mm.base + sb->mm.size - 8, 16, SB_ACCESS_READ));
	/* A length of zero is fine anywhere, as on Linux. */
	cr_expect_eq(call(sb_sys_write, 1, 0, 0, 0, 0, 0), 0);
}

Test(sandbox_syscalls, guard_page_and_unmapped_pages_are_refused)
{
	uint64_t guard = sb->mm.stack_lo - SB_PAGE;
	cr_expect_null(sb_uptr(sb, guard, 1, SB_ACCESS_READ));
	cr_expect_null(sb_uptr(sb, sb->mm.stack_lo - 8, 16, SB_ACCESS_READ),
		       "a range reaching into the guard page");
	uint64_t va = scratch(2 * SB_PAGE);
	cr_assert_eq(call(sb_sys_munmap, va + SB_PAGE, SB_PAGE, 0, 0, 0, 0), 0);
	cr_expect_not_null(sb_uptr(sb, va, SB_PAGE, SB_ACCESS_READ));
	cr_expect_null(sb_uptr(sb, va, SB_PAGE + 1, SB_ACCESS_READ));
	cr_expect_eq(call(sb_sys_read, 0, va + SB_PAGE - 4, 8, 0, 0, 0), -EFAULT);
}

Test(sandbox_syscalls, read_only_pages_cannot_receive_data)
{
	uint64_t va = scratch(SB_PAGE);
	cr_assert_eq(call(sb_sys_mprotect, va, SB_PAGE, PROT_READ, 0, 0, 0), 0);
	cr_expect_not_null(sb_uptr(sb, va, 8, SB_ACCESS_READ));
	cr_expect_null(sb_uptr(sb, va, 8, SB_ACCESS_WRITE));
	cr_expect_eq(call(sb_sys_read, 0, va, 8, 0, 0, 0), -EFAULT);
	cr_expect_eq(call(sb_syscall_lookup(318)->fn, va, 8, 0, 0, 0, 0), -EFAULT);  /* getrandom */
	/* The program's own text is not writable either. */
	cr_expect_null(sb_uptr(sb, sb->mm.base + SB_PAGE, 8, SB_ACCESS_WRITE));
	cr_assert_eq(call(sb_sys_mprotect, va, SB_PAGE, PROT_NONE, 0, 0, 0), 0);
	cr_expect_null(sb_uptr(sb, va, 8, SB_ACCESS_READ));
}

Test(sandbox_syscalls, strings_need_an_end_inside_mapped_memory)
{
	char out[64];
	uint64_t va = scratch(2 * SB_PAGE);
	cr_assert_eq(call(sb_sys_munmap, va + SB_PAGE, SB_PAGE, 0, 0, 0, 0), 0);
	uint8_t *host = sb_uptr(sb, va, SB_PAGE, SB_ACCESS_WRITE);
	memset(host, 'a', SB_PAGE);
	/* Runs into the unmapped page without a NUL. */
	cr_expect_eq(sb_copy_string(sb, out, va + SB_PAGE - 10, sizeof(out)), -EFAULT);
	/* Longer than the buffer. */
	cr_expect_eq(sb_copy_string(sb, out, va, sizeof(out)), -ENAMETOOLONG);
	host[SB_PAGE - 1] = 0;
	cr_expect_eq(sb_copy_string(sb, out, va + SB_PAGE - 5, sizeof(out)), 4);
	cr_expect_str_eq(out, "aaaa");
	cr_expect_eq(sb_copy_string(sb, out, SB_KERNEL_VA, sizeof(out)), -EFAULT);
}

Test(sandbox_syscalls, iovecs_are_checked_one_by_one)
{
	uint64_t va = scratch(SB_PAGE);
	uint64_t iov[4] = { va + 256, 16, SB_KERNEL_VA, 16 };
	cr_assert_eq(sb_copy_out(sb, va, iov, sizeof(iov)), 0);
	cr_expect_eq(call(sb_sys_writev, 1, va, 2, 0, 0, 0), -EFAULT);
	cr_expect_eq(call(sb_sys_writev, 1, va, 100000, 0, 0, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_readv, 0, 0, 1, 0, 0, 0), -EFAULT);
	uint64_t huge[4] = { va, 0x7fffffffffffff00ULL, va, 0x1000 };
	cr_assert_eq(sb_copy_out(sb, va, huge, sizeof(huge)), 0);
	cr_expect_eq(call(sb_sys_writev, 1, va, 2, 0, 0, 0), -EINVAL, "total length overflows");
}

Test(sandbox_syscalls, bad_descriptors)
{
	uint64_t va = scratch(SB_PAGE);
	const uint64_t fds[] = { 3, 7, 8, 1000, (uint64_t)-1, 0x100000000ULL };
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		cr_expect_eq(call(sb_sys_read, fds[i], va, 1, 0, 0, 0), -EBADF);
		cr_expect_eq(call(sb_sys_close, fds[i], 0, 0, 0, 0, 0), -EBADF);
		cr_expect_eq(call(sb_sys_fstat, fds[i], va, 0, 0, 0, 0), -EBADF);
	}
	cr_expect_eq(call(sb_sys_dup2, 1, 8, 0, 0, 0, 0), -EBADF, "beyond --max-files");
}

Test(sandbox_syscalls, the_open_file_cap_holds)
{
	uint64_t path = guest_string("/data/data.txt");
	int opened = 0;
	long r;
	while ((r = call(sb_sys_openat, (uint64_t)AT_FDCWD, path, O_RDONLY, 0, 0, 0)) >= 0)
		opened++;
	cr_expect_eq(r, -EMFILE);
	cr_expect_eq(opened, 8 - 3, "8 files minus the standard streams");
}

/* ==== paths and grants ==== */

static long open_path(const char *p, int flags)
{
	return call(sb_sys_openat, (uint64_t)AT_FDCWD, guest_string(p), (uint64_t)flags, 0644, 0, 0);
}

Test(sandbox_syscalls, files_in_a_grant_open)
{
	long fd = open_path("/data/data.txt", O_RDONLY);
	cr_assert_geq(fd, 3);
	uint64_t buf = scratch(SB_PAGE);
	cr_expect_eq(call(sb_sys_read, (uint64_t)fd, buf, 100, 0, 0, 0), 8);
	cr_expect_eq(memcmp(sb_uptr(sb, buf, 8, SB_ACCESS_READ), "granted\n", 8), 0);
	cr_expect_eq(call(sb_sys_close, (uint64_t)fd, 0, 0, 0, 0, 0), 0);
	cr_expect_geq(open_path("/data/../data/./data.txt", O_RDONLY), 3);
}

Test(sandbox_syscalls, nothing_outside_the_grants_is_reachable)
{
	const char *denied[] = {
		"/etc/passwd", "/", "/tmp", outside, "/data/../secret.txt",
		"/data/../../../../etc/passwd", "/datax/data.txt", "../etc/passwd",
	};
	for (unsigned i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		cr_expect_eq(open_path(denied[i], O_RDONLY), -EACCES, "%s", denied[i]);
	/* A symbolic link inside the grant that points outside it. */
	cr_expect_eq(open_path("/data/escape", O_RDONLY), -EACCES);
	uint64_t st = scratch(SB_PAGE);
	cr_expect_eq(call(sb_sys_stat, guest_string("/data/escape"), st, 0, 0, 0, 0), -EACCES);
	cr_expect_eq(call(sb_sys_stat, guest_string("/etc"), st, 0, 0, 0, 0), -EACCES);
}

Test(sandbox_syscalls, read_only_grants_refuse_every_write)
{
	cr_expect_eq(open_path("/data/data.txt", O_WRONLY), -EROFS);
	cr_expect_eq(open_path("/data/data.txt", O_RDWR), -EROFS);
	cr_expect_eq(open_path("/data/new.txt", O_WRONLY | O_CREAT), -EROFS);
	cr_expect_eq(open_path("/data/data.txt", O_RDONLY | O_TRUNC), -EROFS);
	cr_expect_eq(call(sb_sys_unlink, guest_string("/data/data.txt"), 0, 0, 0, 0, 0), -EROFS);
	cr_expect_eq(call(sb_sys_mkdir, guest_string("/data/d"), 0755, 0, 0, 0, 0), -EROFS);
	struct stat st;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ro/new.txt", grant_dir);
	cr_expect_neq(stat(path, &st), 0, "a file appeared in the read-only grant");
}

Test(sandbox_syscalls, writable_grants_accept_writes)
{
	long fd = open_path("/out/new.txt", O_WRONLY | O_CREAT | O_TRUNC);
	cr_assert_geq(fd, 3);
	uint64_t buf = guest_string("written");
	cr_expect_eq(call(sb_sys_write, (uint64_t)fd, buf, 7, 0, 0, 0), 7);
	call(sb_sys_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/rw/new.txt", grant_dir);
	struct stat st;
	cr_expect_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_size, 7);
	cr_expect_eq(call(sb_sys_unlink, guest_string("/out"), 0, 0, 0, 0, 0), -EBUSY);
}

Test(sandbox_syscalls, open_flags_and_bad_paths)
{
	cr_expect_eq(open_path("/data/data.txt", O_RDONLY | 040000000 /* O_TMPFILE bit */), -EINVAL);
	cr_expect_eq(call(sb_sys_openat, (uint64_t)AT_FDCWD, 0, O_RDONLY, 0, 0, 0), -EFAULT);
	cr_expect_eq(call(sb_sys_openat, (uint64_t)AT_FDCWD, SB_KERNEL_VA, O_RDONLY, 0, 0, 0), -EFAULT);
	cr_expect_eq(open_path("", O_RDONLY), -ENOENT);
	cr_expect_eq(call(sb_sys_openat, 5, guest_string("x"), O_RDONLY, 0, 0, 0), -EBADF);
	char long_path[PATH_MAX + 10];
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = 0;
	uint64_t va = scratch(2 * SB_PAGE);
	cr_assert_eq(sb_copy_out(sb, va, long_path, sizeof(long_path)), 0);
	cr_expect_eq(call(sb_sys_openat, (uint64_t)AT_FDCWD, va, O_RDONLY, 0, 0, 0), -ENAMETOOLONG);
}

Test(sandbox_syscalls, path_normalisation)
{
	char out[64];
	struct { const char *base, *path, *want; } cases[] = {
		{ "/", "a/b", "/a/b" }, { "/x", "../../..", "/" }, { "/x/y", "..//z/./", "/x/z" },
		{ "/x", "/abs", "/abs" }, { "/", ".", "/" }, { "/a", "b/../../c", "/c" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(sb_path_normalise(cases[i].base, cases[i].path, out, sizeof(out)), 0);
		cr_expect_str_eq(out, cases[i].want, "%s + %s", cases[i].base, cases[i].path);
	}
	char big[200];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_expect_eq(sb_path_normalise("/", big, out, sizeof(out)), -ENAMETOOLONG);
}

/* ==== memory ==== */

Test(sandbox_syscalls, mmap_arguments)
{
	cr_expect_eq(call(sb_sys_mmap, 0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1ULL, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_mmap, 0, UINT64_MAX, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1ULL, 0),
		     -EINVAL);
	cr_expect_eq(call(sb_sys_mmap, 0, SB_PAGE, 0x100, MAP_PRIVATE | MAP_ANONYMOUS, -1ULL, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_mmap, 0, SB_PAGE, PROT_READ, MAP_PRIVATE, 42, 0), -EBADF);
	cr_expect_eq(call(sb_sys_mmap, 0, SB_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1ULL, 5),
		     -EINVAL);
	cr_expect_eq(call(sb_sys_mmap, SB_KERNEL_VA, SB_PAGE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1ULL, 0), -ENOMEM);
	cr_expect_eq(call(sb_sys_mmap, 0x10000, SB_PAGE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1ULL, 0), -ENOMEM);
	/* More than the memory limit. */
	cr_expect_eq(call(sb_sys_mmap, 0, 1ULL << 30, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1ULL, 0),
		     -ENOMEM);
	uint64_t va = scratch(SB_PAGE);
	cr_expect_eq(call(sb_sys_mmap, va, SB_PAGE, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1ULL, 0), -EEXIST);
	cr_expect_eq(call(sb_sys_munmap, va + 1, SB_PAGE, 0, 0, 0, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_munmap, va, 0, 0, 0, 0, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_mprotect, va + 1, SB_PAGE, PROT_READ, 0, 0, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_mprotect, SB_KERNEL_VA, SB_PAGE, PROT_READ, 0, 0, 0), -ENOMEM);
	cr_expect_eq(call(sb_sys_mremap, va, SB_PAGE, 0, 0, 0, 0), -EINVAL);
	cr_expect_eq(call(sb_sys_mremap, SB_KERNEL_VA, SB_PAGE, 2 * SB_PAGE, MREMAP_MAYMOVE, 0, 0),
		     -EFAULT);
}

Test(sandbox_syscalls, anonymous_memory_starts_zeroed_and_is_zeroed_again)
{
	uint64_t va = scratch(SB_PAGE);
	uint8_t *p = sb_uptr(sb, va, SB_PAGE, SB_ACCESS_WRITE);
	memset(p, 0xab, SB_PAGE);
	cr_assert_eq(call(sb_sys_munmap, va, SB_PAGE, 0, 0, 0, 0), 0);
	long again = call(sb_sys_mmap, va, SB_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1ULL, 0);
	cr_assert_eq(again, (long)va);
	p = sb_uptr(sb, va, SB_PAGE, SB_ACCESS_READ);
	for (unsigned i = 0; i < SB_PAGE; i++)
		cr_assert_eq(p[i], 0, "byte %u left over", i);
}

Test(sandbox_syscalls, brk_stays_inside_its_area)
{
	long start = call(sb_sys_brk, 0, 0, 0, 0, 0, 0);
	cr_assert_gt(start, 0);
	cr_expect_eq(call(sb_sys_brk, (uint64_t)start + 3 * SB_PAGE, 0, 0, 0, 0, 0), start + 3 * (long)SB_PAGE);
	cr_expect_not_null(sb_uptr(sb, (uint64_t)start, 3 * SB_PAGE, SB_ACCESS_WRITE));
	cr_expect_eq(call(sb_sys_brk, SB_KERNEL_VA, 0, 0, 0, 0, 0), start + 3 * (long)SB_PAGE);
	cr_expect_eq(call(sb_sys_brk, 1, 0, 0, 0, 0, 0), start + 3 * (long)SB_PAGE);
	cr_expect_eq(call(sb_sys_brk, (uint64_t)start, 0, 0, 0, 0, 0), start);
	cr_expect_null(sb_uptr(sb, (uint64_t)start, 1, SB_ACCESS_READ), "shrunk brk still mapped");
}

/* ==== the table and the small calls ==== */

Test(sandbox_syscalls, unknown_calls_are_enosys)
{
	cr_expect_null(sb_syscall_lookup(56));      /* clone */
	cr_expect_null(sb_syscall_lookup(59));      /* execve */
	cr_expect_null(sb_syscall_lookup(100000));
	cr_expect_null(sb_syscall_lookup(UINT64_MAX));
	cr_expect_not_null(sb_syscall_lookup(1));   /* write */
	cr_expect_not_null(sb_syscall_lookup((uint64_t)KVMINI_SANDBOX_SYS_SERVE));
}

Test(sandbox_syscalls, signal_calls_check_their_arguments)
{
	const struct sb_syscall_desc *sigaction = sb_syscall_lookup(13);
	uint64_t act = scratch(SB_PAGE);
	cr_expect_eq(call(sigaction->fn, 2, act, 0, 4, 0, 0), -EINVAL, "sigsetsize 4");
	cr_expect_eq(call(sigaction->fn, 0, act, 0, 8, 0, 0), -EINVAL, "signal 0");
	cr_expect_eq(call(sigaction->fn, 65, act, 0, 8, 0, 0), -EINVAL, "signal 65");
	cr_expect_eq(call(sigaction->fn, 9, act, 0, 8, 0, 0), -EINVAL, "SIGKILL");
	cr_expect_eq(call(sigaction->fn, 2, SB_KERNEL_VA, 0, 8, 0, 0), -EFAULT);
	cr_expect_eq(call(sigaction->fn, 2, act, act + SB_PAGE - 8, 8, 0, 0), -EFAULT,
		     "old action across the end of the mapping");
	cr_expect_eq(call(sigaction->fn, 2, act, 0, 8, 0, 0), 0);
}

Test(sandbox_syscalls, ioctl_on_a_pipe_is_enotty)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	int saved = sb->files[0].host_fd;
	sb->files[0].host_fd = p[0];
	uint64_t buf = scratch(SB_PAGE);
	cr_expect_eq(call(sb_sys_ioctl, 0, 0x5401 /* TCGETS */, buf, 0, 0, 0), -ENOTTY);
	cr_expect_eq(call(sb_sys_ioctl, 0, 0x5413 /* TIOCGWINSZ */, buf, 0, 0, 0), -ENOTTY);
	cr_expect_eq(call(sb_sys_ioctl, 0, 0x1234, buf, 0, 0, 0), -ENOTTY);
	sb->files[0].host_fd = saved;
	close(p[0]);
	close(p[1]);
}
