#!/usr/bin/env bats
# kvmini's network devices under the Linux test kernel, beyond the
# user-mode network of linux_virtio.bats:
# - virtio-net on a tap device in a network namespace the test makes:
#   ping, a TCP transfer each way with its sha256 checked on both sides,
#   then the tap deleted under the running guest (its link goes down,
#   kvmini carries on and ends cleanly);
# - virtio-vsock with Firecracker's host side: streams both ways, several
#   at once, a few MiB each with their sha256 checked, a host peer killed
#   mid-stream, a guest connect to a port nobody listens on.
# The guest's end of a vsock stream is tests/linux/vsock_pipe.c (busybox
# has no AF_VSOCK), put into the initramfs beside /test.sh.
bats_require_minimum_version 1.5.0
load helpers
load linux_helpers

setup_file() {
	test_kernel_find
}

teardown() {
	local p
	for p in ${HOST_PIDS:-}; do kill "$p" 2>/dev/null || true; done
	background_kvmini_teardown
	[ -z "${NETNS:-}" ] || ip netns del "$NETNS" 2>/dev/null || true
}

# Run a host program in the background, killed by teardown if it is
# still there.
host_bg() {
	"$@" &
	HOST_PIDS="${HOST_PIDS:-} $!"
}

# ---- virtio-net on a tap device ----

TAP_HOST=192.168.77.1
TAP_GUEST=192.168.77.2

# A network namespace holding tap0 with the host's address, up; kvmini
# and the host's programs run in it (RUN_IN), so the test touches none
# of the machine's own interfaces.
tap_namespace() {
	NETNS=kvmini-t$$-$BATS_TEST_NUMBER
	ip netns add "$NETNS" 2>/dev/null ||
		skip "cannot make a network namespace here (ip netns add needs root)"
	RUN_IN=(ip netns exec "$NETNS")
	"${RUN_IN[@]}" ip link set lo up
	"${RUN_IN[@]}" ip tuntap add dev tap0 mode tap
	"${RUN_IN[@]}" ip addr add "$TAP_HOST/24" dev tap0
	"${RUN_IN[@]}" ip link set tap0 up
}

# The guest pings the host, sends it a file over TCP (port 7000), then
# takes one on port 7001; then it waits for its link to go down (the
# host deletes the tap) and finds the host gone.
tap_script() {
	cat >"$BATS_TEST_TMPDIR/tap.sh" <<-EOF
	#!/bin/sh
	ip link set eth0 up
	ip addr add $TAP_GUEST/24 dev eth0
	ping -c 3 -W 10 $TAP_HOST | grep 'packets transmitted'
	head -c 3M /dev/urandom >/tmp/out
	echo "guest sends \$(sha256sum </tmp/out)"
	nc $TAP_HOST 7000 </tmp/out && echo "guest sent"
	nc -l -p 7001 >/tmp/in &
	while ! netstat -ltn | grep -q ':7001 '; do usleep 10000; done
	echo "guest listens"
	wait
	echo "guest got \$(sha256sum </tmp/in)"
	while [ "\$(cat /sys/class/net/eth0/carrier)" = 1 ]; do usleep 10000; done
	echo "carrier lost"
	ping -c 1 -W 1 $TAP_HOST >/dev/null 2>&1 || echo "no answer without the tap"
	EOF
	initrd_with "$BATS_TEST_TMPDIR/tap.sh"
}

# One try: the namespace (made afresh), the host's server, the boot,
# the host's transfer, the tap deleted, the guest's last line.
tap_attempt() {
	local serial=$BATS_TEST_TMPDIR/serial
	[ -z "${NETNS:-}" ] || ip netns del "$NETNS" 2>/dev/null
	tap_namespace || return 1
	host_bg "${RUN_IN[@]}" socat -u "TCP-LISTEN:7000,bind=$TAP_HOST,reuseaddr" "CREATE:$got"
	boot_args "$1" --net tap=tap0 --serial "file:$serial"
	boot_until "$serial" "guest listens" || return 1
	"${RUN_IN[@]}" socat -u "OPEN:$send,rdonly" "TCP:$TAP_GUEST:7001" || return 1
	guest_wait "$serial" "guest got" || return 1
	"${RUN_IN[@]}" ip link del tap0 || return 1
	guest_wait "$serial" "kvmini-init: status"
}

tap_test() {
	local send=$BATS_TEST_TMPDIR/to_guest got=$BATS_TEST_TMPDIR/from_guest
	tap_script
	head -c 3M /dev/urandom >"$send"
	attempt_until_done "guest listens" tap_attempt "$1"
	assert_status 0
	log=$(clean_log <"$BATS_TEST_TMPDIR/serial")
	has_line "3 packets transmitted, 3 packets received, 0% packet loss"
	has_line "guest sends $(sha256sum <"$got")"
	has_line "guest sent"
	has_line "guest got $(sha256sum <"$send")"
	has_line "carrier lost"
	has_line "no answer without the tap"
	assert_clean_end
}

@test "linux virtio mmio: --net tap: ping, 3 MiB over TCP each way, the tap deleted under the guest" {
	needs_kvm
	tap_test mmio
}

@test "linux virtio pci: --net tap: ping, 3 MiB over TCP each way, the tap deleted under the guest" {
	needs_kvm
	tap_test pci
}

# ---- virtio-vsock ----

# Guest ports: 5000 takes 4 MiB from the host and 5001-5003 1 MiB each,
# at once; on 5100 the guest sends without end until the host's program
# is killed. Then the guest sends to the host's listeners on 6000 (4 MiB)
# and 6001-6003 (1 MiB each), at once, and connects to 6999 where
# nothing listens.
vsock_script() {
	cat >"$BATS_TEST_TMPDIR/vsock.sh" <<-'EOF'
	#!/bin/sh
	for p in 5000 5001 5002 5003; do
		/vsock_pipe -r listen $p >/tmp/in$p 2>/tmp/err$p &
		eval pid$p=$!
	done
	/vsock_pipe listen 5100 </dev/zero >/dev/null 2>/tmp/err5100 &
	pid5100=$!
	for p in 5000 5001 5002 5003 5100; do
		while ! grep -q "^listening $p" /tmp/err$p; do usleep 10000; done
	done
	echo "guest listens"
	for p in 5000 5001 5002 5003; do
		eval wait \$pid$p
		echo "from host $p status $? $(sha256sum </tmp/in$p)"
	done
	wait $pid5100
	echo "cut stream status $? $(grep -v '^listening' /tmp/err5100)"
	head -c 4M /dev/urandom >/tmp/out6000
	for p in 6001 6002 6003; do head -c 1M /dev/urandom >/tmp/out$p; done
	for p in 6000 6001 6002 6003; do
		echo "to host $p $(sha256sum </tmp/out$p)"
		/vsock_pipe -s connect 2 $p </tmp/out$p &
		eval pid$p=$!
	done
	for p in 6000 6001 6002 6003; do
		eval wait \$pid$p
		echo "sent $p status $?"
	done
	/vsock_pipe -s connect 2 6999 </dev/null 2>/tmp/err6999
	echo "6999 status $? $(cat /tmp/err6999)"
	EOF
	initrd_with "$BATS_TEST_TMPDIR/vsock.sh" "$GUESTS/linux/vsock_pipe"
}

# Wait until FILE holds at least BYTES (bounded, like guest_wait).
file_wait_size() {
	local limit=$((SECONDS + 600))
	until [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]; do
		[ "$SECONDS" -lt "$limit" ] || { echo "$1 has not reached $2 bytes"; return 1; }
		sleep 0.05
	done
}

# One try: the host's listeners, the boot, a host program killed
# mid-stream, four host-to-guest streams, the guest's last line.
vsock_attempt() {
	local serial=$BATS_TEST_TMPDIR/serial uds=$BATS_TEST_TMPDIR/v.sock p cut w pids=
	for p in ${HOST_PIDS:-}; do kill "$p" 2>/dev/null; done
	rm -f "$uds" "${uds}"_* "$d/cut_in"
	# Guest-to-host streams reach PATH_PORT: one listener each.
	for p in 6000 6001 6002 6003; do host_bg socat -u "UNIX-LISTEN:${uds}_$p" "CREATE:$d/g$p"; done
	boot_args "$1" --vsock "cid=3,uds=$uds" --serial "file:$serial"
	boot_until "$serial" "guest listens" || return 1
	# A host program that reads a little of an endless stream, then is
	# killed (its input, a FIFO, stays open until then).
	mkfifo "$d/cut_in" || return 1
	socat - "UNIX-CONNECT:$uds" <"$d/cut_in" >"$d/cut" &
	cut=$!
	HOST_PIDS="${HOST_PIDS:-} $cut"
	exec {w}>"$d/cut_in"
	printf 'CONNECT 5100\n' >&"$w"
	file_wait_size "$d/cut" 65536 || return 1
	kill -KILL "$cut"
	exec {w}>&-
	# Four host-to-guest streams at once; each program ends when the
	# guest's end closes, and reads nothing but kvmini's OK line.
	for p in 5000 5001 5002 5003; do
		{ printf 'CONNECT %s\n' "$p"; cat "$d/h$p"; } | socat -t 600 - "UNIX-CONNECT:$uds" >"$d/ok$p" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p" || return 1; done
	guest_wait "$serial" "kvmini-init: status"
}

vsock_test() {
	local d=$BATS_TEST_TMPDIR p
	head -c 4M /dev/urandom >"$d/h5000"
	for p in 5001 5002 5003; do head -c 1M /dev/urandom >"$d/h$p"; done
	vsock_script
	attempt_until_done "guest listens" vsock_attempt "$1"
	assert_status 0
	log=$(clean_log <"$d/serial")
	[ "$(head -c 3 "$d/cut")" = "OK " ] || { echo "the killed program read no OK line"; return 1; }
	for p in 5000 5001 5002 5003; do
		grep -qxE 'OK [0-9]+' "$d/ok$p" || { echo "port $p: the host read '$(head -c 80 "$d/ok$p")'"; return 1; }
		has_line "from host $p status 0 $(sha256sum <"$d/h$p")"
	done
	grep -qE '^cut stream status 1 vsock_pipe: write: (Connection reset by peer|Broken pipe)$' <<<"$log" ||
		{ echo "the guest's endless stream did not end with a reset"; grep '^cut stream' <<<"$log"; return 1; }
	for p in 6000 6001 6002 6003; do
		has_line "sent $p status 0"
		has_line "to host $p $(sha256sum <"$d/g$p")"
	done
	has_line "6999 status 1 vsock_pipe: connect: Connection reset by peer"
	assert_clean_end
}

@test "linux virtio mmio: --vsock: 4+3 streams each way at once, sha256 both sides, a peer killed mid-stream" {
	needs_kvm
	vsock_test mmio
}

@test "linux virtio pci: --vsock: 4+3 streams each way at once, sha256 both sides, a peer killed mid-stream" {
	needs_kvm
	vsock_test pci
}
