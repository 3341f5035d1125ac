#!/usr/bin/env bash
# Give a host without a usable /dev/kvm one: boot Debian's stock kernel
# in QEMU's software emulator (TCG) with AMD SVM turned on, load kvm_amd
# there, and run a command in that VM on this host's own file system
# (shared read-write over virtio-9p and entered with chroot), so the
# command sees the same paths, the same builds and a working /dev/kvm.
# KVM there is hardware-style KVM (SVM with nested paging, emulated by
# QEMU), the design target of kvmini; it runs every guest instruction,
# so it cannot show what a PVM host's emulator does.
#
# Usage: nested-kvm.sh available          status 0 when it can run here
#        nested-kvm.sh run DIR COMMAND    run bash -c COMMAND in DIR inside
# `run` prints COMMAND's output as it comes and exits with its status;
# 125 when the VM could not be started or did not report a status
# (the kernel's console is then printed). The boot initramfs is built
# once and cached by the hash of its inputs (kernel, busybox, this file)
# under ${XDG_CACHE_HOME:-~/.cache}/kvmini/nested/. NESTED_APPEND="WORDS " adds
# WORDS to the VM kernel's command line (MODULE.PARAM=VALUE reach the
# modules it loads).
set -euo pipefail

# The newest installed Debian kernel that has kvm-amd and 9p modules.
kernel_find() {
	local k
	for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -rV); do
		if modprobe -S "$k" --show-depends kvm_amd >/dev/null 2>&1 &&
			modprobe -S "$k" --show-depends 9pnet_virtio >/dev/null 2>&1; then
			echo "$k"
			return 0
		fi
	done
	return 1
}

nested_available() {
	command -v qemu-system-x86_64 >/dev/null &&
		command -v cpio >/dev/null &&
		file -b /bin/busybox 2>/dev/null | grep -q static &&
		kernel_find >/dev/null
}

# The modules the VM loads, in dependency order, each once.
modules_list() {
	local m
	for m in virtio_pci 9pnet_virtio 9p kvm_amd tun; do
		modprobe -S "$1" --show-depends "$m" 2>/dev/null
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# What the VM runs as /init (busybox sh). The host's / is mounted at
# /mnt; kvmini.run= names the run folder holding cmd.sh and dir, where
# the command's status is written back.
init_script() {
	cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
# Module parameters come from the command line (NAME.PARAM=VALUE), as
# modprobe would pass them.
for m in $(cat /modules); do
	name=$(echo "${m%%.ko*}" | tr - _)
	insmod "/modules.d/$m" $(tr ' ' '\n' </proc/cmdline | sed -n "s/^$name\.//p") ||
		echo "nested: insmod $m failed"
done
run=$(sed -n 's/.*kvmini\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
report() { echo "kvmini-nested-status=$1"; echo "$1" > "/mnt$run/status"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose host /mnt || { echo "nested: no 9p root"; poweroff -f; }
mount -t proc proc /mnt/proc; mount -t sysfs sys /mnt/sys
mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup 2>/dev/null
mount -t devtmpfs dev /mnt/dev
mkdir -p /mnt/dev/pts /mnt/dev/shm /mnt/dev/net
mount -t devpts devpts /mnt/dev/pts; mount -t tmpfs -o size=1g shm /mnt/dev/shm
# Unix sockets cannot live on 9p, and some programs put theirs in /tmp
# whatever TMPDIR says (Criterion): /tmp is a tmpfs, with the run folder
# and the command's folder bound into it where they are under /tmp.
dir=$(cat "/mnt$run/dir")
mkdir -p /host-tmp; mount --bind /mnt/tmp /host-tmp
mount -t tmpfs -o size=3g tmp /mnt/tmp
for p in "$run" "$dir"; do
	case "$p" in /tmp/*) mkdir -p "/mnt$p"; mount --bind "/host-tmp/${p#/tmp/}" "/mnt$p" ;; esac
done
ln -sf /proc/self/fd /mnt/dev/fd
ln -sf /proc/self/fd/0 /mnt/dev/stdin; ln -sf /proc/self/fd/1 /mnt/dev/stdout; ln -sf /proc/self/fd/2 /mnt/dev/stderr
[ -e /mnt/dev/kvm ] || { echo "nested: no /dev/kvm in the VM"; report 125; }
ip link set lo up 2>/dev/null; hostname kvmini-nested
stty -F /dev/ttyS1 raw -echo
chroot /mnt /usr/bin/env -u TMPDIR HOME=/root KVMINI_NESTED=1 /bin/bash -c \
	'cd "$1" && exec bash "$0/cmd.sh"' "$run" "$dir" </dev/null >/dev/ttyS1 2>&1
report $?
EOF
}

# Build (or find) the cached initramfs; prints its path.
initramfs_get() {
	local k=$1 key dir mods tmp part
	mods=$(modules_list "$k")
	key=$( { echo "$k"; sha256sum /bin/busybox "$0"; for f in $mods; do sha256sum "$f"; done; } |
		sha256sum | cut -c1-16)
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/kvmini/nested/$key
	if [ ! -s "$dir/initrd.gz" ]; then
		tmp=$(mktemp -d)
		mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/mnt" "$tmp/modules.d"
		cp /bin/busybox "$tmp/bin/"
		for f in $mods; do
			cp "$f" "$tmp/modules.d/"
			basename "$f" >> "$tmp/modules"
		done
		init_script > "$tmp/init"
		chmod +x "$tmp/init"
		mkdir -p "$dir"
		# Two VMs may start at once (scripts/run-tests.sh): each builds
		# its own file and renames it into place, atomically.
		part=$(mktemp "$dir/initrd.XXXXXX")
		(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1 >"$part")
		mv "$part" "$dir/initrd.gz"
		rm -rf "$tmp"
	fi
	echo "$dir/initrd.gz"
}

nested_run() {
	local dir=$1 cmd=$2 k initrd run status
	k=$(kernel_find) || { echo "nested-kvm: no kernel with kvm-amd and 9p modules in /boot" >&2; return 125; }
	initrd=$(initramfs_get "$k")
	run=$(mktemp -d)
	trap 'rm -rf "$run"' RETURN
	printf '%s\n' "$cmd" > "$run/cmd.sh"
	(cd "$dir" && pwd) > "$run/dir"
	# 2 vCPUs on one thread: multi-threaded TCG lost a wake-up and hung
	# the whole VM (soft lockups) in a few test runs. RAM for a sanitizer-built kvmini
	# and its guests; ttyS0 is the kernel's console (kept in a file),
	# ttyS1 carries the command's output.
	timeout "${NESTED_TIMEOUT:-5400}" qemu-system-x86_64 \
		-accel tcg,thread=single -smp 2 -cpu max,+svm -m 6G \
		-display none -monitor none -no-reboot \
		-serial "file:$run/console.log" -serial stdio \
		-kernel "/boot/vmlinuz-$k" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 mitigations=off ${NESTED_APPEND:-}kvmini.run=$run" \
		-virtfs "local,path=/,mount_tag=host,security_model=passthrough,id=host,multidevs=remap" \
		</dev/null 2> >(grep -v 'Multiple devices\|9p: ' >&2) || true
	status=$(cat "$run/status" 2>/dev/null || true)
	if [ -z "$status" ]; then
		echo "nested-kvm: the VM reported no status; its console:" >&2
		cat "$run/console.log" >&2 || true
		return 125
	fi
	return "$status"
}

case "${1:-}" in
available) nested_available ;;
run)
	[ $# -eq 3 ] || { echo "usage: $0 run DIR COMMAND" >&2; exit 2; }
	nested_run "$2" "$3"
	;;
*)
	echo "usage: $0 available | run DIR COMMAND" >&2
	exit 2
	;;
esac
