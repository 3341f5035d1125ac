#!/usr/bin/env bats
# --disk and --vconsole on the command line: each malformed value is a
# one-line usage error (status 2) before any KVM work, so these run on
# every host. What the devices do is tested without a guest in
# tests/unit/test_virtio_blk.c and test_virtio_console.c.
bats_require_minimum_version 1.5.0
load helpers

@test "--help describes --disk and --vconsole" {
	kvmini --help
	assert_status 0
	[[ "$output" == *"--disk PATH[,ro][,serial=ID][,cache=none|writeback]"* ]]
	[[ "$output" == *"--vconsole stdio|file:PATH|unix:PATH"* ]]
}

@test "malformed --disk values are usage errors" {
	local spec
	for spec in "" ",ro" "a.img,rw" "a.img,ro," "a.img,cache=unsafe" \
		    "a.img,serial=123456789012345678901" "a.img,serial="; do
		kvmini run --disk "$spec"
		assert_status 2
		assert_stderr_has "--disk"
		assert_one_line_error
	done
}

@test "more than eight disks is a usage error" {
	local args=() i
	for i in 1 2 3 4 5 6 7 8 9; do args+=(--disk "d$i.img"); done
	kvmini run "${args[@]}"
	assert_status 2
	assert_stderr_has "more than 8 --disk options"
	assert_one_line_error
}

@test "malformed --vconsole values are usage errors" {
	local spec
	for spec in pty file: unix: "tcp:1:2"; do
		kvmini run --vconsole "$spec"
		assert_status 2
		assert_stderr_has "invalid value '$spec' for --vconsole: expected stdio, file:PATH or unix:PATH"
		assert_one_line_error
	done
}

# ---- a guest on two disks (guests/virtio_blk.c, virtio-mmio) ----

# disk.img: 64 KiB of zeros; ro.img: "RO-IMAGE" then zeros.
make_images() {
	head -c 65536 /dev/zero >"$BATS_TEST_TMPDIR/disk.img"
	{ printf 'RO-IMAGE'; head -c 65528 /dev/zero; } >"$BATS_TEST_TMPDIR/ro.img"
	cp "$BATS_TEST_TMPDIR/ro.img" "$BATS_TEST_TMPDIR/ro.orig"
}

blk_guest() {
	needs_kvm
	make_images
	kvmini run --irqchip "$1" --timeout 60 \
		--disk "$BATS_TEST_TMPDIR/disk.img,serial=KVMINI-TEST" \
		--disk "$BATS_TEST_TMPDIR/ro.img,ro" "$GUESTS/virtio_blk.elf"
	assert_status 1
	assert_stdout "virtio-blk 0: 128 sectors, wrote and read back sector 2, flushed, id KVMINI-TEST
virtio-blk 1: read-only, sector 0 starts RO-IMAGE, write refused"
	# The guest's sector 2 is in the host's file; the read-only image is untouched.
	[ "$(head -c $((2 * 512 + 26)) "$BATS_TEST_TMPDIR/disk.img" | tail -c 26)" = \
	  "kvmini virtio-blk sector 2" ]
	cmp "$BATS_TEST_TMPDIR/ro.img" "$BATS_TEST_TMPDIR/ro.orig"
}

@test "a guest writes, reads back, flushes and reads the serial of a disk; a read-only disk refuses its write" {
	blk_guest none
}

@test "the same guest with --irqchip kernel" {
	blk_guest kernel
}

@test "the same guest with virtio-blk on I/O threads (no io_uring)" {
	needs_kvm
	KVMINI_BLK_ENGINE=threads blk_guest none
}

@test "an image another process holds locked is refused" {
	needs_kvm
	make_images
	exec 9>>"$BATS_TEST_TMPDIR/disk.img"
	flock -x 9
	kvmini run --timeout 60 --disk "$BATS_TEST_TMPDIR/disk.img" "$GUESTS/virtio_blk.elf"
	exec 9>&-
	assert_status 2
	assert_stderr_has "is in use"
}

# ---- a guest on virtio-console (guests/virtio_console.c, virtio-mmio) ----

@test "a guest's line on hvc0 and its emergency write reach --vconsole file:" {
	needs_kvm
	kvmini run --timeout 60 --vconsole "file:$BATS_TEST_TMPDIR/hvc0.txt" \
		"$GUESTS/virtio_console.elf"
	assert_status 1
	assert_stdout "virtio-console: sent"
	[ "$(cat "$BATS_TEST_TMPDIR/hvc0.txt")" = $'hello from hvc0\nE' ]
}

@test "with --vconsole stdio, hvc0 and COM1 both reach stdout" {
	needs_kvm
	kvmini run --timeout 60 --vconsole stdio "$GUESTS/virtio_console.elf"
	assert_status 1
	[[ "$output" == *"hello from hvc0"* ]]
	[[ "$output" == *"virtio-console: sent"* ]]
}
