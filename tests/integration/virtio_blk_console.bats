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
