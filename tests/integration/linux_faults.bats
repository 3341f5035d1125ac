#!/usr/bin/env bats
# Disk faults under a real Linux guest (the test kernel, as in
# linux_virtio.bats): what the guest was told is on the disk is there
# after kvmini is killed, and a host I/O error (a full file system, a
# device that fails reads) reaches the guest as an I/O error, one line
# on kvmini's stderr, and nothing worse: kvmini keeps serving, the guest
# powers off, kvmini exits 0, no sanitizer report (helpers.bash).
bats_require_minimum_version 1.5.0
load helpers
load linux_helpers

setup_file() {
	test_kernel_find
}

# kvmini first: the mount and the devices are its disks.
teardown() {
	local status=0
	background_kvmini_teardown || status=$?
	dm_disk_remove || status=1
	[ -z "${MOUNTED:-}" ] || umount "$MOUNTED" || status=1
	return "$status"
}

# kvmini's one line for a disk's first host I/O error
# (blk_io_error(), src/virtio/blk.c): `assert_io_error_line PATH ERROR`.
assert_io_error_line() {
	local line="kvmini: virtio-blk '$1': host I/O error ($2); the guest gets IOERR" n
	n=$(grep -cxF -- "$line" <<<"$stderr" || true)
	[ "$n" -eq 1 ] || { echo "expected once on stderr: $line"; echo "stderr: $stderr"; return 1; }
	n=$(grep -c "host I/O error" <<<"$stderr" || true)
	[ "$n" -eq 1 ] || { echo "host I/O error said $n times: $stderr"; return 1; }
}

# ---- SIGKILL while the guest writes ----

BLOCKS=2048   # 4 KiB blocks: an 8 MiB disk

# Block i of the guest's writes: "kvmini block i\n" repeated, cut at
# 4096 bytes. The guest makes it with yes | head; the host with awk.
patterns_write() {
	awk -v n="$BLOCKS" 'BEGIN {
		for (i = 0; i < n; i++) {
			s = "kvmini block " i "\n"; b = s
			while (length(b) < 4096) b = b s
			printf "%s", substr(b, 1, 4096)
		}
	}' >"$1"
}

# The guest writes block 0, 1, ... in order, each durable (fsync: the
# writes, then a FLUSH) before it says "flushed i".
sigkill_script() {
	cat >"$BATS_TEST_TMPDIR/sigkill.sh" <<-EOF
	#!/bin/sh
	i=0
	while [ \$i -lt $BLOCKS ]; do
		yes "kvmini block \$i" | head -c 4096 >/tmp/block
		dd if=/tmp/block of=/dev/vda bs=4096 seek=\$i conv=notrunc,fsync 2>/dev/null ||
			{ echo "write \$i failed"; exit 1; }
		echo "flushed \$i"
		i=\$((i + 1))
	done
	EOF
	initrd_with "$BATS_TEST_TMPDIR/sigkill.sh"
}

sigkill_image() {
	head -c $((BLOCKS * 4096)) /dev/urandom >"$img"
	cp "$img" "$orig"
}

# After the kill: every block up to LAST (the last "flushed" line the
# console file got) holds its pattern; the blocks right after it may
# hold theirs too (writes the console had not shown yet: the one in
# flight at most, in practice; or those of an attempt boot_until
# retried, whose guest stalled after writing, the next attempt's guest
# writing the same blocks again from block 0); every other byte of the
# image is what it was. So the image must equal the original with blocks 0..N-1
# replaced by their patterns, for the N found: a torn or lost block, or
# a byte changed anywhere else, fails, the first such block named.
assert_blocks() {
	local last=$1 want=$BATS_TEST_TMPDIR/want.img n first
	n=$((last + 1))
	while [ "$n" -lt "$BLOCKS" ] &&
		cmp -s -n 4096 -i $((n * 4096)) "$img" "$BATS_TEST_TMPDIR/patterns"; do
		n=$((n + 1))
	done
	cp "$orig" "$want"
	dd if="$BATS_TEST_TMPDIR/patterns" of="$want" bs=4096 count="$n" conv=notrunc status=none
	if ! cmp -s "$img" "$want"; then
		first=$(cmp "$img" "$want" | sed -n 's/.* byte \([0-9]*\),.*/\1/p')
		echo "the image differs in block $(((first - 1) / 4096)) (flushed: 0..$last; expected: patterns in 0..$((n - 1)), old bytes after)"
		return 1
	fi
	echo "# flushed 0..$last, $((n - 1 - last)) more written, the rest unchanged" >&3
}

sigkill_test() {
	local img=$BATS_TEST_TMPDIR/disk.img orig=$BATS_TEST_TMPDIR/orig.img
	local serial=$BATS_TEST_TMPDIR/serial last
	patterns_write "$BATS_TEST_TMPDIR/patterns"
	sigkill_script
	sigkill_image
	boot_args "$1" --disk "$img" --serial "file:$serial"
	boot_until "$serial" "flushed 8"
	kill -KILL "$KPID"
	boot_end
	assert_status 137
	log=$(clean_log <"$serial")
	last=$(sed -n 's/^flushed \([0-9][0-9]*\)$/\1/p' <<<"$log" | tail -n 1)
	[ "$last" -ge 8 ] && [ "$last" -lt $((BLOCKS - 1)) ] ||
		{ echo "the kill did not land while the guest wrote (last flushed: $last)"; return 1; }
	assert_blocks "$last"
}

@test "linux faults mmio: SIGKILL while the guest writes: every block it flushed is on the image, nothing else changed" {
	needs_kvm
	sigkill_test mmio
}

@test "linux faults pci: SIGKILL while the guest writes: every block it flushed is on the image, nothing else changed" {
	needs_kvm
	sigkill_test pci
}

# ---- a full host file system (ENOSPC) ----

# A 16 MiB sparse image on a 2 MiB tmpfs, its last 256 KiB written
# (random) by the host, which leaves room for less than 2 MiB more.
FULL_TAIL=$((15 * 1024 * 1024))

full_image() {
	rm -f "$img"
	truncate -s 16M "$img"
	head -c 256K /dev/urandom | dd of="$img" bs=64K seek=$((FULL_TAIL / 65536)) conv=notrunc 2>/dev/null
	tail_sum=$(dd if="$img" bs=64K skip=$((FULL_TAIL / 65536)) count=4 2>/dev/null | sha256sum)
}

# The guest writes 4 MiB (more than fits) and syncs: dd must fail. Then
# it reads the host's tail past its own cache (O_DIRECT): the disk still
# serves after the error.
full_script() {
	cat >"$BATS_TEST_TMPDIR/full.sh" <<-EOF
	#!/bin/sh
	if dd if=/dev/zero of=/dev/vda bs=65536 count=64 conv=notrunc,fsync 2>/dev/null; then
		echo "write ok"
	else
		echo "write failed"
	fi
	echo "tail \$(dd if=/dev/vda bs=65536 skip=$((FULL_TAIL / 65536)) count=4 iflag=direct 2>/dev/null | sha256sum)"
	EOF
	initrd_with "$BATS_TEST_TMPDIR/full.sh"
}

@test "linux faults mmio: a full host file system: the guest's write fails, reads go on, clean power-off, one stderr line" {
	needs_kvm
	local dir=$BATS_TEST_TMPDIR/full img tail_sum
	mkdir -p "$dir"
	mount -t tmpfs -o size=2M kvmini-full "$dir" 2>"$BATS_TEST_TMPDIR/mount.err" ||
		skip "cannot mount a 2 MiB tmpfs here ($(head -n 1 "$BATS_TEST_TMPDIR/mount.err")): the full disk lives on one"
	MOUNTED=$dir
	img=$dir/disk.img
	full_script
	boot_args mmio --disk "$img"
	kvmini_boot --before full_image "${BOOT[@]:1}"
	assert_status 0
	log=$(clean_log <<<"$output")
	has_line "write failed"
	has_line "tail $tail_sum"
	assert_clean_end
	assert_io_error_line "$img" "No space left on device"
}

# ---- a device that fails reads (EIO) ----

# A 2 MiB block device: 1 MiB of random bytes (a loop device), then a
# device-mapper `error` target for the second MiB. Sets LOOP, DM_NAME,
# DM_DEV and good_sum, or skips with the reason.
error_disk() {
	local good=$BATS_TEST_TMPDIR/good.img
	head -c 1M /dev/urandom >"$good"
	good_sum=$(sha256sum <"$good")
	dm_disk "$good" '0 2048 linear %s 0\n2048 2048 error\n'
}

# Every read O_DIRECT, so each one reaches kvmini: the good MiB, a block
# of the failing one, the good MiB again after the error.
error_script() {
	cat >"$BATS_TEST_TMPDIR/error.sh" <<-'EOF'
	#!/bin/sh
	echo "good $(dd if=/dev/vda bs=65536 count=16 iflag=direct 2>/dev/null | sha256sum)"
	if dd if=/dev/vda of=/dev/null bs=4096 skip=384 count=1 iflag=direct 2>/dev/null; then
		echo "read ok"
	else
		echo "read failed"
	fi
	echo "good again $(dd if=/dev/vda bs=65536 count=16 iflag=direct 2>/dev/null | sha256sum)"
	EOF
	initrd_with "$BATS_TEST_TMPDIR/error.sh"
}

@test "linux faults pci: a disk whose second MiB fails reads (dm error): that read fails, the rest reads right, clean end" {
	needs_kvm
	local good_sum
	error_disk
	error_script
	boot_args pci --disk "$DM_DEV"
	kvmini_boot "${BOOT[@]:1}"
	assert_status 0
	log=$(clean_log <<<"$output")
	has_line "good $good_sum"
	has_line "read failed"
	has_line "good again $good_sum"
	assert_clean_end
	assert_io_error_line "$DM_DEV" "Input/output error"
}
