/* The jail, as Firecracker's jailer does it but inside kvmini: started
 * as root with --uid/--gid (and --chroot DIR, --cgroup FILE=VALUE),
 * kvmini opens everything it needs first (/dev/kvm, images, sockets,
 * the serial file), then enters the cgroup, creates the device nodes a
 * later VM rebuild needs inside DIR, changes root, and drops to the
 * given ids with no capability left and no_new_privs set, before any
 * seccomp filter and before the guest's first instruction.
 *
 * A privilege drop is per process: glibc makes every thread that exists
 * (the API's, gdb's, the VNC server's) take the new ids too. */
#ifndef KVMINI_CLI_JAIL_H
#define KVMINI_CLI_JAIL_H

#include <stdbool.h>
#include <sys/types.h>
#include "error.h"

#define JAIL_CGROUP_SETTINGS_MAX 16
#define JAIL_CGROUP_ROOT "/sys/fs/cgroup"

struct jail_config {
	bool uid_set, gid_set;
	uid_t uid;
	gid_t gid;
	const char *chroot_dir;                 /* NULL: no chroot */
	/* "FILE=VALUE", written into the VM's cgroup, e.g. memory.max=1G. */
	const char *cgroup[JAIL_CGROUP_SETTINGS_MAX];
	unsigned ncgroup;
};

/* Whether any of the options asks for a jail. */
bool jail_wanted(const struct jail_config *j);

/* Parse "--uid N", "--gid N" (non-zero numbers), "--cgroup FILE=VALUE". */
int jail_parse_id(const char *v, const char *option, unsigned *out, struct kvmini_error *err);
int jail_parse_cgroup(const char *v, struct jail_config *j, struct kvmini_error *err);
/* --uid and --gid go together; the rest need them. */
int jail_check(const struct jail_config *j, struct kvmini_error *err);

/* Everything, in order: cgroup (under JAIL_CGROUP_ROOT, named after
 * `name`), device nodes, chroot, then the ids. */
int jail_enter(const struct jail_config *j, const char *name, struct kvmini_error *err);

/* The steps, for tests. jail_cgroup_join() writes the settings into
 * root/kvmini/NAME.PID/ and moves this process there (root must be a
 * cgroup v2 hierarchy: jail_enter() checks). */
int jail_cgroup_join(const char *root, const char *name, const char *const *settings,
		     unsigned n, struct kvmini_error *err);
/* dir/dev/kvm, dir/dev/urandom, dir/dev/null, dir/dev/net/tun: each
 * that exists on the host, as the same device, owned by uid:gid. */
int jail_make_nodes(const char *dir, uid_t uid, gid_t gid, struct kvmini_error *err);
/* The drop itself: supplementary groups gone, gid and uid (real,
 * effective, saved) set, every capability set emptied (bounding and
 * ambient too), no_new_privs; then checks none can be regained. */
int jail_drop(uid_t uid, gid_t gid, struct kvmini_error *err);

#endif
