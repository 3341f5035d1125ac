#!/usr/bin/env bats
# kvmini's virtio devices under a real Linux guest: the test kernel
# (scripts/build-test-kernel.sh, its stock virtio drivers built in)
# boots with kvmini's disks, entropy source, virtio console and a
# user-mode network card, on both transports (--transport mmio and pci),
# and its busybox does real work that each test checks from the host:
# the bytes of the image files, the console's file, a lease, bytes
# through a TCP connection each way.
#
# A test's guest commands reach the initramfs as /test.sh
# (linux_helpers.bash). One boot per transport and device group: a boot
# costs 10-60 s where KVM is nested.
bats_require_minimum_version 1.5.0
load helpers
load linux_helpers

setup_file() {
	test_kernel_find
}

teardown() {
	[ -z "${SERVER_PID:-}" ] || kill "$SERVER_PID" 2>/dev/null || true
	background_kvmini_teardown
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

net_test() {
	local file=$BATS_TEST_TMPDIR/payload serial=$BATS_TEST_TMPDIR/serial sport fport reply conn
	head -c 256K /dev/urandom >"$file"
	sport=$(free_port) && fport=$(free_port)
	[ "$sport" != "$fport" ]
	# The server forks per connection and opens the file in each child
	# (-U: listener first), so the fetch of every boot attempt gets it whole.
	socat -U "TCP-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" "OPEN:$file,rdonly" &
	SERVER_PID=$!
	wait_listening "$sport"
	net_script "$sport"
	boot_args "$1" --net "user,hostfwd=tcp:127.0.0.1:$fport-:8080" --serial "file:$serial"
	boot_until "$serial" "guest listens"
	# (bats owns fd 3: the connection gets a descriptor of its own)
	exec {conn}<>"/dev/tcp/127.0.0.1/$fport"
	echo "host says hi" >&"$conn"
	read -r -t 120 reply <&"$conn"
	exec {conn}>&-
	boot_end
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
