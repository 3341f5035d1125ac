#!/usr/bin/env bats
# kvmini's virtio devices under a real Linux guest: the test kernel
# (scripts/build-test-kernel.sh, its stock virtio drivers built in)
# boots with kvmini's disks, entropy source, virtio console and a
# user-mode network card, on both transports (--transport mmio and pci),
# and its busybox does real work that each test checks from the host:
# the bytes of the image files, the console's file, a lease, bytes
# through a TCP connection each way.
#
# A test's guest commands reach the initramfs as /test.sh in a cpio
# archive appended to it (the kernel unpacks concatenated archives), so
# the cached kernel is never rebuilt for a test. One boot per transport
# and device group: a boot costs 10-60 s where KVM is nested.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	test_kernel_find
}

teardown() {
	[ -z "${SERVER_PID:-}" ] || kill "$SERVER_PID" 2>/dev/null || true
	background_kvmini_teardown
}

# The test kernel's initramfs with FILE as /test.sh:
# `initrd_with FILE` writes $BATS_TEST_TMPDIR/initrd.gz.
initrd_with() {
	local dir=$BATS_TEST_TMPDIR/extra
	mkdir -p "$dir"
	install -m 755 "$1" "$dir/test.sh"
	(cd "$dir" && echo test.sh | cpio --quiet -o -H newc --owner=0:0 | gzip -n) >"$dir.cpio.gz"
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

# ---- virtio-blk, virtio-rng and virtio-console: one boot ----

PATTERN_OFFSET=512000   # block 1000 of vda
PATTERN='kvmini wrote this through virtio-blk'

storage_script() {
	cat >"$BATS_TEST_TMPDIR/storage.sh" <<-EOF
	#!/bin/sh
	echo "vda \$(sha256sum </dev/vda)"
	echo "vdb \$(sha256sum </dev/vdb)"
	printf '%s' '$PATTERN' | dd of=/dev/vda bs=512 seek=$((PATTERN_OFFSET / 512)) conv=notrunc,fsync 2>/dev/null &&
		echo "vda write ok"
	if dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then
		echo "vdb write ok"
	else
		echo "vdb write refused"
	fi
	echo "rng_current \$(cat /sys/class/misc/hw_random/rng_current)"
	echo "hwrng \$(head -c 64 /dev/hwrng | od -An -tx1 -v | tr -d ' \\n')"
	echo "hello from hvc0" >/dev/hvc0 && echo "hvc0 written"
	EOF
	initrd_with "$BATS_TEST_TMPDIR/storage.sh"
}

# Two images of known random content, fresh for each boot: a 4 MiB disk
# the guest reads whole and writes PATTERN into, a 1 MiB read-only one it
# cannot write (sets storage_test's rw_sum and ro_sum).
storage_images() {
	head -c 4M /dev/urandom >"$rw"
	head -c 1M /dev/urandom >"$ro"
	cp "$rw" "$want"
	printf '%s' "$PATTERN" | dd of="$want" bs=1 seek=$PATTERN_OFFSET conv=notrunc 2>/dev/null
	rw_sum=$(sha256sum <"$rw") ro_sum=$(sha256sum <"$ro")
	rm -f "$BATS_TEST_TMPDIR/hvc0"
}

# The images, the boot, and every outcome checked from the host.
storage_test() {
	local rw=$BATS_TEST_TMPDIR/rw.img ro=$BATS_TEST_TMPDIR/ro.img want=$BATS_TEST_TMPDIR/want.img
	local rw_sum ro_sum
	storage_script
	boot_args "$1" --disk "$rw" --disk "$ro,ro" --rng --vconsole "file:$BATS_TEST_TMPDIR/hvc0"
	kvmini_boot --before storage_images "${BOOT[@]:1}"
	assert_status 0
	log=$(clean_log <<<"$output")
	# What the guest read is what the host wrote.
	has_line "vda $rw_sum"
	has_line "vdb $ro_sum"
	has_line "vda write ok"
	has_line "vdb write refused"
	has_line "rng_current virtio_rng.0"
	grep -qxE 'hwrng [0-9a-f]{128}' <<<"$log" || { echo "no 64 random bytes"; echo "$log" | tail -n 20; return 1; }
	if grep -qx 'hwrng 0\{128\}' <<<"$log"; then echo "hwrng gave zeros"; return 1; fi
	has_line "hvc0 written"
	assert_clean_end
	# After kvmini: exactly PATTERN changed in the writable image, and
	# nothing in the read-only one.
	[ "$(sha256sum <"$rw")" = "$(sha256sum <"$want")" ] ||
		{ echo "rw.img is not the original with PATTERN at $PATTERN_OFFSET"; cmp "$rw" "$want" | head; return 1; }
	[ "$(sha256sum <"$ro")" = "$ro_sum" ] || { echo "the read-only image changed"; return 1; }
	[ "$(tr -d '\r' <"$BATS_TEST_TMPDIR/hvc0")" = "hello from hvc0" ] ||
		{ echo "hvc0 file: $(od -c "$BATS_TEST_TMPDIR/hvc0" | head)"; return 1; }
}

@test "linux virtio mmio: sha256 of /dev/vda, a write reaches the image, ro disk refuses, hwrng, hvc0" {
	needs_kvm
	storage_test mmio
}

@test "linux virtio pci: sha256 of /dev/vda, a write reaches the image, ro disk refuses, hwrng, hvc0" {
	needs_kvm
	storage_test pci
}

# kvmini's own IOAPIC: MMIO lines are edges pulsed through it, PCI's
# MSI-X goes to KVM's local APICs.
@test "linux virtio mmio, --irqchip split: the same disks, hwrng and hvc0" {
	needs_kvm
	IRQCHIP=split storage_test mmio
}

@test "linux virtio pci, --irqchip split: the same disks, hwrng and hvc0" {
	needs_kvm
	IRQCHIP=split storage_test pci
}

# ---- virtio-net on the user-mode network (slirp) ----

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

# The guest takes a DHCP lease, fetches FILE from a host server through
# the gateway 10.0.2.2, then listens on port 8080 for the host's
# connection through hostfwd, answers it and prints what it got.
net_script() {
	cat >"$BATS_TEST_TMPDIR/net.sh" <<-EOF
	#!/bin/sh
	ip link set eth0 up
	udhcpc -i eth0 -n -q -t 5 -T 1 -s /bin/true || exit 1
	ip addr add 10.0.2.15/24 dev eth0
	ip route add default via 10.0.2.2
	echo "fetched \$(nc 10.0.2.2 $1 </dev/null | sha256sum)"
	echo "guest says hi" | nc -l -p 8080 >/tmp/got &
	while ! netstat -ltn | grep -q ':8080 '; do usleep 10000; done
	echo "guest listens"
	wait
	echo "guest got: \$(cat /tmp/got)"
	EOF
	initrd_with "$BATS_TEST_TMPDIR/net.sh"
}

# Start kvmini (KPID) and wait for the guest to listen. In the nested KVM
# VM only, a boot that times out (status 8) or panics before that is
# tried up to BOOT_ATTEMPTS times in all, as kvmini_boot does (helpers.bash,
# docs/testing.md);
# the host's server forks per connection and opens the file in each
# child (-U: listener first), so every attempt's fetch gets it whole.
net_boot() {
	local serial=$1 try=1 status
	while :; do
		rm -f "$serial"
		"$KVMINI" "${BOOT[@]}" 2>"$BATS_TEST_TMPDIR/stderr" </dev/null &
		KPID=$!
		guest_wait "$serial" "guest listens" && return 0
		status=0
		wait "$KPID" || status=$?
		KPID=
		sanitizer_check "$(cat "$BATS_TEST_TMPDIR/stderr")" || return 1
		try=$((try + 1))
		boot_retry_due "$status" "$try" "$(cat "$serial")" || return 1
	done
}

net_test() {
	local file=$BATS_TEST_TMPDIR/payload serial=$BATS_TEST_TMPDIR/serial sport fport reply conn
	head -c 256K /dev/urandom >"$file"
	sport=$(free_port) && fport=$(free_port)
	[ "$sport" != "$fport" ]
	socat -U "TCP-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" "OPEN:$file,rdonly" &
	SERVER_PID=$!
	wait_listening "$sport"
	net_script "$sport"
	boot_args "$1" --net "user,hostfwd=tcp:127.0.0.1:$fport-:8080" --serial "file:$serial"
	net_boot "$serial"
	# (bats owns fd 3: the connection gets a descriptor of its own)
	exec {conn}<>"/dev/tcp/127.0.0.1/$fport"
	echo "host says hi" >&"$conn"
	read -r -t 120 reply <&"$conn"
	exec {conn}>&-
	status=0
	wait "$KPID" || status=$?
	KPID=
	stderr=$(cat "$BATS_TEST_TMPDIR/stderr")
	sanitizer_check "$stderr"
	assert_status 0
	[ "$reply" = "guest says hi" ] || { echo "host read: '$reply'"; return 1; }
	log=$(clean_log <"$serial")
	has_line "udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2, lease time 86400"
	has_line "fetched $(sha256sum <"$file")"
	has_line "guest got: host says hi"
	assert_clean_end
}

@test "linux virtio mmio: --net user: DHCP lease, a fetch from the host, a hostfwd connection" {
	needs_kvm
	net_test mmio
}

@test "linux virtio pci: --net user: DHCP lease, a fetch from the host, a hostfwd connection" {
	needs_kvm
	net_test pci
}
