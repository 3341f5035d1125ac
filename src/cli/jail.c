/* The jail: see jail.h. Every step fails loudly (status 4, or 2 for a
 * bad option): a jail that silently did less than asked is worse than
 * none. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "cli/jail.h"
#include "cli/options.h"

bool jail_wanted(const struct jail_config *j)
{
	return j->uid_set || j->gid_set || j->chroot_dir || j->ncgroup;
}

int jail_parse_id(const char *v, const char *option, unsigned *out, struct kvmini_error *err)
{
	uint64_t n;
	if (parse_u64(v, &n) < 0 || n == 0 || n >= 0xffffffffu)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "invalid value '%s' for --%s: expected a number other than 0 (root)",
				   v, option);
	*out = (unsigned)n;
	return 0;
}

int jail_parse_cgroup(const char *v, struct jail_config *j, struct kvmini_error *err)
{
	const char *eq = strchr(v, '=');
	if (!eq || eq == v || !eq[1] || memchr(v, '/', (size_t)(eq - v)) || v[0] == '.')
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "invalid value '%s' for --cgroup: expected FILE=VALUE, e.g. memory.max=1G",
				   v);
	if (j->ncgroup == JAIL_CGROUP_SETTINGS_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "more than %d --cgroup options",
				   JAIL_CGROUP_SETTINGS_MAX);
	j->cgroup[j->ncgroup++] = v;
	return 0;
}

int jail_check(const struct jail_config *j, struct kvmini_error *err)
{
	if (j->uid_set != j->gid_set)
		return kvmini_fail(err, KVMINI_E_USAGE, "--uid and --gid go together");
	if ((j->chroot_dir || j->ncgroup) && !j->uid_set)
		return kvmini_fail(err, KVMINI_E_USAGE, "--chroot and --cgroup need --uid and --gid");
	return 0;
}

/* ---- cgroup ---- */

#define JAIL_PATH_MAX 4096

/* A path built from parts; a path that does not fit is an error, not a
 * shorter path. */
static int __attribute__((format(printf, 3, 4)))
path_format(char out[JAIL_PATH_MAX], struct kvmini_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, JAIL_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= JAIL_PATH_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "a jail path is too long");
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return w == (ssize_t)len ? 0 : -1;
}

/* "+memory" into the parents' subtree_control, so the VM's cgroup has
 * the controller its settings need. A parent that refuses is not an
 * error here: the setting's own write then fails and says which. */
static void enable_controller(const char *root, const char *setting)
{
	char controller[64], path[JAIL_PATH_MAX];
	struct kvmini_error ignored;
	size_t n = strcspn(setting, ".=");
	if (n == 0 || n >= sizeof(controller) - 1)
		return;
	controller[0] = '+';
	memcpy(controller + 1, setting, n);
	controller[n + 1] = '\0';
	if (path_format(path, &ignored, "%s/cgroup.subtree_control", root) == 0)
		write_file(path, controller);
	if (path_format(path, &ignored, "%s/kvmini/cgroup.subtree_control", root) == 0)
		write_file(path, controller);
}

static int apply_setting(const char *leaf, const char *setting, struct kvmini_error *err)
{
	char file[256], path[JAIL_PATH_MAX];
	size_t n = strcspn(setting, "=");
	if (n >= sizeof(file))
		return kvmini_fail(err, KVMINI_E_USAGE, "--cgroup %s: name too long", setting);
	memcpy(file, setting, n);
	file[n] = '\0';
	if (path_format(path, err, "%s/%s", leaf, file) < 0)
		return -1;
	if (write_file(path, setting + n + 1) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot set cgroup %s to '%s' (%s)",
					 file, setting + n + 1, path);
	return 0;
}

static int make_dir(const char *path, struct kvmini_error *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot create %s", path);
	return 0;
}

int jail_cgroup_join(const char *root, const char *name, const char *const *settings,
		     unsigned n, struct kvmini_error *err)
{
	char dir[JAIL_PATH_MAX], leaf[JAIL_PATH_MAX], pid[32];
	if (path_format(dir, err, "%s/kvmini", root) < 0 ||
	    path_format(leaf, err, "%s/%s.%d", dir, name, (int)getpid()) < 0)
		return -1;
	for (char *c = leaf + strlen(dir) + 1; *c; c++)
		if (*c == '/')
			*c = '_';   /* a VM's name is no path */
	if (make_dir(dir, err) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		enable_controller(root, settings[i]);
	if (make_dir(leaf, err) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (apply_setting(leaf, settings[i], err) < 0)
			return -1;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (path_format(dir, err, "%s/cgroup.procs", leaf) < 0)
		return -1;
	if (write_file(dir, pid) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot move kvmini into %s", leaf);
	return 0;
}

static int cgroup_enter(const struct jail_config *j, const char *name, struct kvmini_error *err)
{
	struct statfs fs;
	if (statfs(JAIL_CGROUP_ROOT, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "--cgroup needs the cgroup v2 hierarchy mounted at %s",
				   JAIL_CGROUP_ROOT);
	return jail_cgroup_join(JAIL_CGROUP_ROOT, name, j->cgroup, j->ncgroup, err);
}

/* ---- device nodes ---- */

static int make_node(const char *dir, const char *node, uid_t uid, gid_t gid,
		     struct kvmini_error *err)
{
	struct stat host, inside;
	char path[JAIL_PATH_MAX];
	if (stat(node, &host) < 0 || !S_ISCHR(host.st_mode))
		return 0;   /* not on this host: nothing to offer inside */
	if (path_format(path, err, "%s%s", dir, node) < 0)
		return -1;
	if (mknod(path, S_IFCHR | 0660, host.st_rdev) < 0 &&
	    !(errno == EEXIST && stat(path, &inside) == 0 && S_ISCHR(inside.st_mode) &&
	      inside.st_rdev == host.st_rdev))
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot create %s", path);
	if (chown(path, uid, gid) < 0 || chmod(path, 0660) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot give %s to %u:%u", path,
					 (unsigned)uid, (unsigned)gid);
	return 0;
}

int jail_make_nodes(const char *dir, uid_t uid, gid_t gid, struct kvmini_error *err)
{
	/* /dev/kvm: a --on-reset restart opens it again, inside. */
	static const char *const nodes[] = { "/dev/kvm", "/dev/urandom", "/dev/null",
					     "/dev/net/tun" };
	char path[JAIL_PATH_MAX];
	if (path_format(path, err, "%s/dev", dir) < 0 || make_dir(path, err) < 0)
		return -1;
	if (access("/dev/net/tun", F_OK) == 0 &&
	    (path_format(path, err, "%s/dev/net", dir) < 0 || make_dir(path, err) < 0))
		return -1;
	for (unsigned i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (make_node(dir, nodes[i], uid, gid, err) < 0)
			return -1;
	return 0;
}

/* ---- the drop ---- */

static int caps_clear(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	memset(data, 0, sizeof(data));
	return (int)syscall(SYS_capset, &hdr, data);
}

static bool caps_empty(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return false;
	return true;
}

/* The bounding set limits what an execve could ever grant: empty it
 * while CAP_SETPCAP is still held. */
static int bounding_clear(void)
{
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	return 0;
}

static int verify_dropped(uid_t uid, gid_t gid, struct kvmini_error *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid ||
	    getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0 || !caps_empty() ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return kvmini_fail(err, KVMINI_E_HOST, "the privilege drop did not hold");
	if (setresuid(0, 0, 0) == 0)
		return kvmini_fail(err, KVMINI_E_HOST, "root could be regained after the drop");
	return 0;
}

int jail_drop(uid_t uid, gid_t gid, struct kvmini_error *err)
{
	if (bounding_clear() < 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
					 "cannot drop capabilities (is kvmini running as root?)");
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot change to group %u",
					 (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot change to user %u",
					 (unsigned)uid);
	if (caps_clear() < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot clear capabilities");
	return verify_dropped(uid, gid, err);
}

static int chroot_enter(const char *dir, uid_t uid, gid_t gid, struct kvmini_error *err)
{
	if (jail_make_nodes(dir, uid, gid, err) < 0)
		return -1;
	if (chroot(dir) < 0 || chdir("/") < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot change root to %s", dir);
	return 0;
}

int jail_enter(const struct jail_config *j, const char *name, struct kvmini_error *err)
{
	if (!jail_wanted(j))
		return 0;
	if (j->ncgroup && cgroup_enter(j, name, err) < 0)
		return -1;
	if (j->chroot_dir && chroot_enter(j->chroot_dir, j->uid, j->gid, err) < 0)
		return -1;
	if (jail_drop(j->uid, j->gid, err) < 0)
		return -1;
	/* A root the new user cannot search leaves kvmini nothing to open
	 * (/dev/kvm for a restart): say so now rather than at a reset. */
	if (j->chroot_dir && access("/dev", X_OK) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
					 "--chroot %s: user %u cannot reach /dev inside",
					 j->chroot_dir, (unsigned)j->uid);
	return 0;
}
