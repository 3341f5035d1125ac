/* The jail (src/cli/jail.c) without KVM: each drop happens in a forked
 * child, which reports what /proc/self/status (or, inside a chroot,
 * getresuid/capget) says afterwards. Dropping needs root: as another
 * user these skip, with the reason. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/jail.h"
#include "cli/options.h"

#define NOBODY 65534

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("dropping privileges needs root; this runs as uid %u",
			     (unsigned)geteuid());
}

struct child_result {
	int status;
	char text[4096];
};

/* fn() in a forked child that writes its findings to `out`. */
static struct child_result run_child(void (*fn)(int out, void *ctx), void *ctx)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		fn(p[1], ctx);
		_exit(0);
	}
	close(p[1]);
	struct child_result r;
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(r.text) - 1 && (n = read(p[0], r.text + len, sizeof(r.text) - 1 - len)) > 0)
		len += (size_t)n;
	r.text[len] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &r.status, 0), pid);
	return r;
}

static void put(int out, const char *line)
{
	if (write(out, line, strlen(line)) < 0)
		_exit(9);
}

/* The lines of /proc/self/status the drop changes. */
static void status_child(int out, void *ctx)
{
	(void)ctx;
	struct kvmini_error err;
	if (jail_drop(NOBODY, NOBODY, &err) < 0) {
		put(out, err.msg);
		_exit(3);
	}
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	static const char *const keys[] = { "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:",
					    "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:" };
	while (f && fgets(line, sizeof(line), f))
		for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strncmp(line, keys[i], strlen(keys[i])) == 0)
				put(out, line);
	put(out, setuid(0) == 0 ? "root regained\n" : "root stays lost\n");
}

Test(jail, the_drop_leaves_the_ids_and_no_capability)
{
	need_root();
	struct child_result r = run_child(status_child, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status 0x%x: %s", r.status,
		  r.text);
	static const char *const want[] = {
		"Uid:\t65534\t65534\t65534\t65534\n", "Gid:\t65534\t65534\t65534\t65534\n",
		"Groups:\t \n", "CapInh:\t0000000000000000\n", "CapPrm:\t0000000000000000\n",
		"CapEff:\t0000000000000000\n", "CapBnd:\t0000000000000000\n",
		"CapAmb:\t0000000000000000\n", "NoNewPrivs:\t1\n", "root stays lost\n",
	};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(r.text, want[i]), "no '%s' in:\n%s", want[i], r.text);
}

struct chroot_case {
	char dir[64];
};

/* Inside: only dev/, with the host's nodes as the same devices, owned
 * by the new ids and usable by them. */
static void chroot_child(int out, void *ctx)
{
	struct chroot_case *c = ctx;
	struct jail_config j = { .uid_set = true, .gid_set = true, .uid = NOBODY,
				 .gid = NOBODY, .chroot_dir = c->dir };
	struct kvmini_error err;
	if (jail_enter(&j, "test", &err) < 0) {
		put(out, err.msg);
		_exit(3);
	}
	DIR *d = opendir("/");
	struct dirent *e;
	char line[512];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(line, sizeof(line), "root has %s\n", e->d_name);
			put(out, line);
		}
	struct stat st;
	static const char *const nodes[] = { "/dev/urandom", "/dev/null", "/dev/kvm" };
	for (unsigned i = 0; i < 3; i++)
		if (stat(nodes[i], &st) == 0) {
			snprintf(line, sizeof(line), "%s %u:%u rdev %lu owner %u:%u\n", nodes[i],
				 major(st.st_rdev), minor(st.st_rdev), (unsigned long)st.st_rdev,
				 (unsigned)st.st_uid, (unsigned)st.st_gid);
			put(out, line);
		}
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	unsigned char b;
	put(out, fd >= 0 && read(fd, &b, 1) == 1 ? "urandom reads\n" : "urandom fails\n");
	uid_t ru, eu, su;
	getresuid(&ru, &eu, &su);
	snprintf(line, sizeof(line), "ids %u %u %u\n", (unsigned)ru, (unsigned)eu, (unsigned)su);
	put(out, line);
}

Test(jail, chroot_holds_the_device_nodes_and_nothing_else)
{
	need_root();
	struct chroot_case c;
	snprintf(c.dir, sizeof(c.dir), "/tmp/kvmini-jail-XXXXXX");
	cr_assert_not_null(mkdtemp(c.dir));
	cr_assert_eq(chmod(c.dir, 0755), 0);   /* a jail root the user can search */
	struct child_result r = run_child(chroot_child, &c);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status 0x%x: %s", r.status,
		  r.text);
	cr_assert(strstr(r.text, "root has dev\n"), "%s", r.text);
	unsigned entries = 0;
	for (const char *p = r.text; (p = strstr(p, "root has ")); p++)
		entries++;
	cr_assert_eq(entries, 1, "only dev/ inside: %s", r.text);
	struct stat host;
	cr_assert_eq(stat("/dev/urandom", &host), 0);
	char want[128];
	snprintf(want, sizeof(want), "/dev/urandom %u:%u rdev %lu owner 65534:65534\n",
		 major(host.st_rdev), minor(host.st_rdev), (unsigned long)host.st_rdev);
	cr_assert(strstr(r.text, want), "no '%s' in:\n%s", want, r.text);
	cr_assert(strstr(r.text, "urandom reads\n"), "%s", r.text);
	cr_assert(strstr(r.text, "ids 65534 65534 65534\n"), "%s", r.text);
	bool host_kvm = access("/dev/kvm", F_OK) == 0;
	cr_assert_eq(strstr(r.text, "/dev/kvm ") != NULL, host_kvm,
		     "/dev/kvm inside exactly when the host has it: %s", r.text);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c.dir);
	cr_assert_eq(system(cmd), 0);
}

/* A fake cgroup root: the files a cgroup v2 directory would have. */
static void cgroup_child(int out, void *ctx)
{
	const char *root = ctx;
	char leaf[256], path[320];
	snprintf(leaf, sizeof(leaf), "%s/kvmini", root);
	mkdir(leaf, 0755);
	snprintf(leaf, sizeof(leaf), "%s/kvmini/vm_1.%d", root, (int)getpid());
	mkdir(leaf, 0755);
	static const char *const files[] = { "memory.max", "pids.max", "cgroup.procs" };
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", leaf, files[i]);
		close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	}
	const char *settings[] = { "memory.max=1G", "pids.max=64" };
	struct kvmini_error err;
	if (jail_cgroup_join(root, "vm/1", settings, 2, &err) < 0) {
		put(out, err.msg);
		_exit(3);
	}
	char text[64];
	snprintf(text, sizeof(text), "pid %d\n", (int)getpid());
	put(out, text);
}

static void read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

Test(jail, cgroup_settings_and_the_process_land_in_its_own_cgroup)
{
	char root[64] = "/tmp/kvmini-cgroup-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	struct child_result r = run_child(cgroup_child, root);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status 0x%x: %s", r.status,
		  r.text);
	int pid;
	cr_assert_eq(sscanf(r.text, "pid %d", &pid), 1, "%s", r.text);
	char path[256], text[64];
	snprintf(path, sizeof(path), "%s/kvmini/vm_1.%d/memory.max", root, pid);
	read_text(path, text, sizeof(text));
	cr_assert_str_eq(text, "1G");
	snprintf(path, sizeof(path), "%s/kvmini/vm_1.%d/pids.max", root, pid);
	read_text(path, text, sizeof(text));
	cr_assert_str_eq(text, "64");
	snprintf(path, sizeof(path), "%s/kvmini/vm_1.%d/cgroup.procs", root, pid);
	read_text(path, text, sizeof(text));
	char want[32];
	snprintf(want, sizeof(want), "%d", pid);
	cr_assert_str_eq(text, want);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

Test(jail, a_cgroup_without_cgroup_v2_is_refused)
{
	struct statfs fs;
	if (statfs(JAIL_CGROUP_ROOT, &fs) == 0 && fs.f_type == 0x63677270)
		cr_skip_test("cgroup v2 is mounted here: the refusal cannot be seen");
	struct jail_config j = { .uid_set = true, .gid_set = true, .uid = NOBODY, .gid = NOBODY,
				 .cgroup = { "memory.max=1G" }, .ncgroup = 1 };
	struct kvmini_error err;
	cr_assert_eq(jail_enter(&j, "vm", &err), -1);
	cr_assert_eq(err.code, KVMINI_E_HOST);
	cr_assert_str_eq(err.msg, "--cgroup needs the cgroup v2 hierarchy mounted at /sys/fs/cgroup");
}

Test(jail, options)
{
	struct run_options o;
	struct kvmini_error err;
	char *ok[] = { "run", "--uid", "1000", "--gid", "100", "--chroot", "/srv/vm",
		       "--cgroup", "memory.max=1G", "--cgroup", "pids.max=64", NULL };
	cr_assert_eq(parse_run_options(11, ok, &o, &err), 0, "%s", err.msg);
	cr_assert(o.jail.uid_set && o.jail.uid == 1000 && o.jail.gid == 100);
	cr_assert_str_eq(o.jail.chroot_dir, "/srv/vm");
	cr_assert_eq(o.jail.ncgroup, 2);
	cr_assert_eq(o.cfg.seccomp, KVMINI_SECCOMP_KILL, "the command line filters by default");
	char *off[] = { "run", "--no-seccomp", NULL };
	cr_assert_eq(parse_run_options(2, off, &o, &err), 0);
	cr_assert_eq(o.cfg.seccomp, KVMINI_SECCOMP_OFF);
	char *log[] = { "run", "--seccomp=log", NULL };
	cr_assert_eq(parse_run_options(2, log, &o, &err), 0);
	cr_assert_eq(o.cfg.seccomp, KVMINI_SECCOMP_LOG);
	static const char *const bad[][4] = {
		{ "run", "--uid", "0", "--gid" },        /* root is no drop */
		{ "run", "--uid", "1000", NULL },        /* without --gid */
		{ "run", "--chroot", "/srv", NULL },     /* without ids */
		{ "run", "--cgroup", "memory.max", NULL },
		{ "run", "--cgroup", "../x=1", NULL },
		{ "run", "--seccomp", "maybe", NULL },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[6] = { (char *)bad[i][0], (char *)bad[i][1], (char *)bad[i][2],
				  (char *)bad[i][3], (char *)"1", NULL };
		int argc = bad[i][3] ? 5 : 3;
		cr_assert_eq(parse_run_options(argc, argv, &o, &err), -1, "case %u accepted", i);
		cr_assert_eq(err.code, KVMINI_E_USAGE);
	}
}

/* A root the user cannot search is refused at once, not at a reset. */
static void closed_root_child(int out, void *ctx)
{
	struct jail_config j = { .uid_set = true, .gid_set = true, .uid = NOBODY,
				 .gid = NOBODY, .chroot_dir = ctx };
	struct kvmini_error err;
	if (jail_enter(&j, "test", &err) < 0)
		put(out, err.msg);
}

Test(jail, a_chroot_the_user_cannot_search_is_refused)
{
	need_root();
	char dir[64] = "/tmp/kvmini-jail-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));   /* 0700, root's */
	struct child_result r = run_child(closed_root_child, dir);
	char want[160];
	snprintf(want, sizeof(want), "--chroot %s: user 65534 cannot reach /dev inside: "
		 "Permission denied", dir);
	cr_assert_str_eq(r.text, want);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}
