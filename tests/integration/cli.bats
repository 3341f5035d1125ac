#!/usr/bin/env bats
# The command line: help, version, info, and every error path. Each
# error is one line on stderr with its documented exit status.
bats_require_minimum_version 1.5.0
load helpers

@test "--help prints usage on stdout and exits 0" {
	kvmini --help
	assert_status 0
	[[ "$output" == *"usage: kvmini run [options] [IMAGE]"* ]]
	[[ "$output" == *"--timeout SECONDS"* ]]
}

@test "--version prints the version" {
	kvmini --version
	assert_status 0
	assert_stdout "kvmini 0.1.0"
}

@test "no arguments: usage on stderr, status 2" {
	kvmini
	assert_status 2
	assert_stderr_has "usage: kvmini run"
}

@test "info shows the API version and the capability table" {
	kvmini info
	assert_status 0
	[[ "$output" == *"KVM API version: 12"* ]]
	[[ "$output" == *"KVM_CAP_USER_MEMORY"*"(required)"* ]]
	[[ "$output" == *"KVM_CAP_SPLIT_IRQCHIP"* ]]
}

@test "info says whether this host needs instruction completion" {
	kvmini info
	assert_status 0
	if [ -e /sys/module/kvm_pvm ]; then
		[[ "$output" == *"instruction completion: needed (PVM"* ]]
	elif grep -qwE 'vmx|svm' /proc/cpuinfo; then
		[[ "$output" == *"instruction completion: rarely needed"* ]]
	else
		[[ "$output" == *"instruction completion: likely needed"* ]]
	fi
}

@test "info with an argument is a usage error" {
	kvmini info extra
	assert_status 2
	assert_one_line_error
}

@test "an unknown command" {
	kvmini frobnicate
	assert_status 2
	assert_stderr_has "unknown command 'frobnicate' (try 'kvmini --help')"
	assert_one_line_error
}

@test "an unknown option" {
	kvmini run --bogus
	assert_status 2
	assert_stderr_has "unknown option '--bogus'"
	assert_one_line_error
}

@test "an option without its value" {
	kvmini run --mem
	assert_status 2
	assert_stderr_has "option '--mem' needs a value"
	assert_one_line_error
}

@test "bad option values" {
	for args in "--mem lots" "--mem 12Q" "--mem -5" "--mode turbo" "--format exe" \
		    "--timeout 0" "--timeout -1" "--timeout soon" "--serial pty" \
		    "--serial file:" "--load-addr 0xzz" "--entry -1"; do
		# shellcheck disable=SC2086
		kvmini run $args
		assert_status 2
		assert_stderr_has "invalid value"
		assert_one_line_error
	done
}

@test "memory sizes out of range or not page-sized" {
	kvmini run --mem 4K
	assert_status 2
	assert_stderr_has "out of range"
	kvmini run --mem 65G
	assert_status 2
	assert_stderr_has "out of range"
	kvmini run --mem 100000
	assert_status 2
	assert_stderr_has "not a multiple of 4 KiB"
}

@test "image options without an image" {
	kvmini run --mode long
	assert_status 2
	assert_stderr_has "need an IMAGE"
}

@test "two images" {
	kvmini run "$GUESTS/demo.bin" "$GUESTS/demo.bin"
	assert_status 2
	assert_stderr_has "unexpected argument"
}

@test "a missing image file" {
	kvmini run /nonexistent/guest.bin
	assert_status 2
	assert_stderr_has "cannot open image '/nonexistent/guest.bin': No such file or directory"
	assert_one_line_error
}

@test "a directory as the image" {
	kvmini run "$BATS_TEST_TMPDIR"
	assert_status 2
	assert_stderr_has "is not a regular file"
}

@test "a FIFO as the image or the initrd is refused at once, not waited on" {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	# timeout(1) only bounds a hang (status 124): open() must not block.
	run_checked timeout 60 "$KVMINI" run "$BATS_TEST_TMPDIR/fifo" </dev/null
	assert_status 2
	assert_stderr_has "kvmini: image '$BATS_TEST_TMPDIR/fifo' is not a regular file"
	assert_one_line_error
	: >"$BATS_TEST_TMPDIR/kernel"
	run_checked timeout 60 "$KVMINI" run --kernel "$BATS_TEST_TMPDIR/kernel" \
		--initrd "$BATS_TEST_TMPDIR/fifo" </dev/null
	assert_status 2
	assert_stderr_has "kvmini: initrd '$BATS_TEST_TMPDIR/fifo' is not a regular file"
	assert_one_line_error
}

@test "an empty image" {
	: > "$BATS_TEST_TMPDIR/empty.bin"
	kvmini run "$BATS_TEST_TMPDIR/empty.bin"
	assert_status 2
	assert_stderr_has "empty.bin"
	assert_one_line_error
}

@test "an image larger than RAM" {
	head -c 2M /dev/zero > "$BATS_TEST_TMPDIR/big.bin"
	kvmini run --mem 1M "$BATS_TEST_TMPDIR/big.bin"
	assert_status 2
	assert_stderr_has "larger than guest RAM"
}

@test "a raw image that does not fit at its load address" {
	head -c 8K /dev/zero > "$BATS_TEST_TMPDIR/8k.bin"
	kvmini run --mem 1M --load-addr 0xff000 "$BATS_TEST_TMPDIR/8k.bin"
	assert_status 2
	assert_stderr_has "8k.bin"
	assert_one_line_error
}

@test "a raw long-mode image over the VMM's page tables" {
	kvmini run --mode long --load-addr 0x2000 "$GUESTS/demo.bin"
	assert_status 2
	assert_stderr_has "demo.bin"
	assert_one_line_error
}

@test "a truncated ELF" {
	head -c 40 "$GUESTS/hello_long.elf" > "$BATS_TEST_TMPDIR/trunc.elf"
	kvmini run "$BATS_TEST_TMPDIR/trunc.elf"
	assert_status 2
	assert_stderr_has "trunc.elf"
	assert_one_line_error
}

@test "an ELF whose program headers are cut off" {
	head -c 100 "$GUESTS/hello_long.elf" > "$BATS_TEST_TMPDIR/cut.elf"
	kvmini run "$BATS_TEST_TMPDIR/cut.elf"
	assert_status 2
	assert_stderr_has "cut.elf"
	assert_one_line_error
}

@test "an ELF for another machine" {
	cp "$GUESTS/hello_long.elf" "$BATS_TEST_TMPDIR/arm.elf"
	printf '\xb7\x00' | dd of="$BATS_TEST_TMPDIR/arm.elf" bs=1 seek=18 conv=notrunc 2>/dev/null
	kvmini run "$BATS_TEST_TMPDIR/arm.elf"
	assert_status 2
	assert_stderr_has "arm.elf"
	assert_one_line_error
}

@test "--format elf on a file that is not ELF" {
	kvmini run --format elf "$GUESTS/demo.bin"
	assert_status 2
	assert_stderr_has "demo.bin"
	assert_one_line_error
}

@test "an ELF64 image with --mode real" {
	kvmini run --mode real "$GUESTS/hello_long.elf"
	assert_status 2
	assert_stderr_has "hello_long.elf"
	assert_one_line_error
}

@test "an ELF whose segment lies outside RAM" {
	kvmini run --mem 1M "$GUESTS/hello_long.elf"
	assert_status 2
	assert_stderr_has "hello_long.elf"
	assert_one_line_error
}

@test "a serial output file that cannot be created" {
	kvmini run --serial file:/nonexistent/dir/out.txt
	assert_status 2
	assert_stderr_has "cannot open serial output file '/nonexistent/dir/out.txt'"
	assert_one_line_error
}

@test "no KVM device" {
	KVMINI_DEV=/nonexistent/kvm kvmini run
	assert_status 4
	assert_stderr_has "/nonexistent/kvm does not exist"
	assert_one_line_error
}

@test "a device that is not KVM" {
	KVMINI_DEV=/dev/null kvmini run
	assert_status 4
	assert_stderr_has "/dev/null is not a KVM device"
	assert_one_line_error
}

@test "permission denied on the KVM device names the kvm group" {
	if [ "$(id -u)" -ne 0 ]; then
		skip "needs root to drop to another user (this run is not root)"
	fi
	# A directory every user can enter, holding a root-only "device".
	dir=$(mktemp -d /tmp/kvmini-perm.XXXXXX)
	chmod 755 "$dir"
	dev="$dir/kvm"
	: > "$dev"
	chmod 000 "$dev"
	cp "$KVMINI" "$dir/kvmini"
	chmod 755 "$dir/kvmini"
	run_checked setpriv --reuid=65534 --regid=65534 --clear-groups \
		env KVMINI_DEV="$dev" "$dir/kvmini" run </dev/null
	rm -rf "$dir"
	assert_status 4
	assert_stderr_has "permission denied opening $dev: add your user to the 'kvm' group"
	assert_one_line_error
}
