# Shared by the bats files that boot the Linux test kernel with a test's
# own commands (linux_virtio.bats, linux_net.bats): the initramfs with
# /test.sh, the kvmini command line, the boot in the background and the
# checks of the guest's console.
#
# A test's guest commands reach the initramfs as /test.sh in a cpio
# archive appended to it (the kernel unpacks concatenated archives), so
# the cached kernel is never rebuilt for a test.

# The test kernel's initramfs with SCRIPT as /test.sh and each FILE in
# its root: `initrd_with SCRIPT [FILE...]` writes $BATS_TEST_TMPDIR/initrd.gz.
initrd_with() {
	local dir=$BATS_TEST_TMPDIR/extra f
	mkdir -p "$dir"
	install -m 755 "$1" "$dir/test.sh"
	for f in "${@:2}"; do install -m 755 "$f" "$dir/"; done
	(cd "$dir" && ls -A | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0 | gzip -n) >"$dir.cpio.gz"
	cat "$TEST_KERNEL/initramfs.cpio.gz" "$dir.cpio.gz" >"$BATS_TEST_TMPDIR/initrd.gz"
}

# The kvmini command line that boots it, the devices appended:
# `boot_args TRANSPORT DEVICE-OPTION...` sets the array BOOT ($IRQCHIP:
# kernel unless a test says split).
boot_args() {
	BOOT=(run --verbose --timeout 150 --irqchip "${IRQCHIP:-kernel}" --mem 256M --transport "$1"
		--kernel "$TEST_KERNEL/vmlinux" --initrd "$BATS_TEST_TMPDIR/initrd.gz"
		--cmdline 'console=ttyS0 panic=-1' "${@:2}")
}

# The guest's console lines (COM1), without the kernel's timestamps.
clean_log() {
	tr -d '\r' | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //'
}

has_line() {
	grep -qxF -- "$1" <<<"$log" || { echo "missing line: $1"; echo "$log" | tail -n 40; return 1; }
}

# /test.sh ended with status 0 and the kernel powered off cleanly.
assert_clean_end() {
	has_line "kvmini-init: status 0"
	has_line "reboot: Power down"
}

# A TCP port of 127.0.0.1 nothing listens on (a collision with a socket
# bound but not yet listening is possible, and only fails the test).
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		(exec {fd}<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# Wait until something listens on 127.0.0.1:PORT (bounded).
wait_listening() {
	local limit=$((SECONDS + 60))
	until ss -Hltn "sport = :$1" | grep -q .; do
		[ "$SECONDS" -lt "$limit" ] || { echo "nothing listens on port $1"; return 1; }
		sleep 0.02
	done
}

# Wait until the guest's console FILE has a line with TEXT, while
# kvmini (KPID) runs; bounded like the boot itself (a loaded host can
# take minutes to boot the guest where KVM is nested).
guest_wait() {
	local limit=$((SECONDS + 600))
	until grep -qF -- "$2" "$1" 2>/dev/null; do
		kill -0 "$KPID" 2>/dev/null || { echo "kvmini ended before '$2'"; tail -n 30 "$1"; return 1; }
		[ "$SECONDS" -lt "$limit" ] || { echo "no '$2' after 600 s"; return 1; }
		sleep 0.05
	done
}

# Start kvmini with BOOT in the background (KPID), COM1 in the file
# SERIAL, and wait for the guest's line READY. In the nested KVM VM
# only, a boot that times out (status 8) or panics before that is tried
# up to BOOT_ATTEMPTS times in all, as kvmini_boot does (helpers.bash,
# docs/testing.md). RUN_IN, when set, is the command kvmini runs under
# (a network namespace's `ip netns exec NS`); BOOT_STDIN, when set, the
# file its stdin reads (COM1's input; default /dev/null).
boot_until() {
	local serial=$1 ready=$2 try=1 status
	while :; do
		rm -f "$serial"
		${RUN_IN[@]+"${RUN_IN[@]}"} "$KVMINI" "${BOOT[@]}" 2>"$BATS_TEST_TMPDIR/stderr" \
			<"${BOOT_STDIN:-/dev/null}" &
		KPID=$!
		guest_wait "$serial" "$ready" && return 0
		status=0
		wait "$KPID" || status=$?
		KPID=
		sanitizer_check "$(cat "$BATS_TEST_TMPDIR/stderr")" || return 1
		try=$((try + 1))
		boot_retry_due "$status" "$try" "$(cat "$serial")" || return 1
	done
}

# Wait for the background kvmini to end; its stderr is checked for a
# sanitizer report and its status left in $status.
boot_end() {
	status=0
	wait "$KPID" || status=$?
	KPID=
	stderr=$(cat "$BATS_TEST_TMPDIR/stderr")
	sanitizer_check "$stderr"
}

# For a test whose guest works on after boot_until's line READY: run
# ATTEMPT ARGS... (a function that boots with boot_until and does the
# host's side, each step `|| return 1`, up to the guest's last line)
# and then wait for kvmini's end (boot_end, leaving $status). In the
# nested KVM VM only, an attempt whose guest panicked in an interrupt
# or stalled (status 8) after READY is tried again, as boot_until does
# for the boot, up to BOOT_ATTEMPTS in all (docs/testing.md); so is
# one that succeeded but whose guest then panicked so before its
# power-off. ATTEMPT
# runs with errexit off (bash ignores it under `if`), hence the
# explicit returns; the test's checks come after this, with it on.
attempt_until_done() {
	local ready=$1 try=1 serial=$BATS_TEST_TMPDIR/serial
	shift
	while :; do
		if "$@"; then
			boot_end
			# The flaw can also strike after the guest's last awaited
			# line, before its power-off (the panic reboots: status 0).
			boot_retry_due "$status" $((try + 1)) "$(cat "$serial")" || return 0
			try=$((try + 1))
			continue
		fi
		[ -z "${KPID:-}" ] || kill "$KPID" 2>/dev/null || true
		[ -z "${KPID:-}" ] || boot_end
		try=$((try + 1))
		# (READY "" retries wherever the panic or stall came)
		grep -qF -- "$ready" "$serial" 2>/dev/null &&
			boot_retry_due "${status:-0}" "$try" "$(cat "$serial")" || return 1
	done
}

# A device-mapper device over a loop device on FILE: `dm_disk FILE
# TABLE`, TABLE in dmsetup's format with %s for the loop device. Sets
# LOOP, DM_NAME and DM_DEV, or skips with the reason (no loop device or
# device-mapper target here); dm_disk_remove (in teardown) undoes it.
dm_disk() {
	local err=$BATS_TEST_TMPDIR/dm.err
	modprobe -q loop 2>/dev/null || true
	modprobe -q dm_mod 2>/dev/null || true
	LOOP=$(losetup --find --show "$1" 2>"$err") ||
		skip "no loop device here ($(head -n 1 "$err")): the test's disk is built on one"
	DM_NAME=kvmini-test-$$
	# (the table is printf's format: its %s is the loop device)
	if ! printf "$2" "$LOOP" | dmsetup create "$DM_NAME" 2>"$err"; then
		DM_NAME=
		skip "dmsetup cannot create a device here ($(head -n 1 "$err")): the test's disk is one"
	fi
	# Without udev, libdevmapper makes the node itself; mknodes makes sure.
	dmsetup mknodes "$DM_NAME" 2>/dev/null || true
	DM_DEV=/dev/mapper/$DM_NAME
	[ -b "$DM_DEV" ] || { echo "no block device $DM_DEV"; return 1; }
}

dm_disk_remove() {
	local status=0
	[ -z "${DM_NAME:-}" ] || dmsetup remove "$DM_NAME" || status=1
	[ -z "${LOOP:-}" ] || losetup -d "$LOOP" || status=1
	DM_NAME= LOOP=
	return "$status"
}
