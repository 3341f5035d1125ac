#!/usr/bin/env bats
# --net and --vsock on the command line (docs/networking.md). The
# devices themselves are tested in tests/unit/test_virtio_net.c and
# test_virtio_vsock.c; these need no /dev/kvm: bad values stop kvmini
# before any VM exists.
bats_require_minimum_version 1.5.0
load helpers

@test "--net with an unknown backend is refused" {
	kvmini run --net bridge=br0
	assert_status 2
	assert_stderr_has "invalid value 'bridge=br0' for --net: expected tap=NAME"
	assert_one_line_error
}

@test "--net user with a bad MAC is refused" {
	kvmini run --net user,mac=01:00:5e:00:00:01
	assert_status 2
	assert_stderr_has "mac= wants a unicast address"
	assert_one_line_error
}

@test "--vsock with the host's CID is refused" {
	kvmini run --vsock cid=2,uds=/tmp/kvmini-never.sock
	assert_status 2
	assert_stderr_has "invalid value 'cid=2,uds=/tmp/kvmini-never.sock' for --vsock"
	assert_one_line_error
}

@test "--help lists --net and --vsock" {
	kvmini --help
	assert_status 0
	[[ "$output" == *"--net tap=NAME|user"* ]]
	[[ "$output" == *"--vsock cid=N,uds=PATH"* ]]
}
