#!/usr/bin/env bats
# The control API (kvmini run --api-sock, docs/api.md), driven with
# Debian's curl --unix-socket as Firecracker's getting-started guide
# drives Firecracker, and with socat for the bytes curl never sends.
# Everything before InstanceStart runs without KVM; the tests that start
# a guest skip (needs_kvm) on a host without /dev/kvm.
bats_require_minimum_version 1.5.0
load helpers
load api_helpers

BATS_TEST_TIMEOUT=120

setup() {
	SOCK="$BATS_TEST_TMPDIR/api.sock"
	OUT="$BATS_TEST_TMPDIR/out"
	ERR="$BATS_TEST_TMPDIR/err"
	KPID=
}

teardown() {
	background_kvmini_teardown
}

not_started='{"id":"anonymous-instance","state":"Not started","vmm_version":"0.1.0","app_name":"kvmini"}'

@test "api: GET / before InstanceStart" {
	start_api
	api GET /
	assert_api 200 "$not_started"
}

@test "api: --name is the instance id" {
	start_api --name web1
	api GET /
	assert_api 200 '{"id":"web1","state":"Not started","vmm_version":"0.1.0","app_name":"kvmini"}'
}

@test "api: machine-config PUT, GET and PATCH" {
	start_api
	api GET /machine-config
	assert_api 200 '{"vcpu_count":1,"mem_size_mib":64,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}'
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "smt": false}'
	assert_api 204 ""
	api PATCH /machine-config '{"mem_size_mib": 128}'
	assert_api 204 ""
	api GET /machine-config
	assert_api 200 '{"vcpu_count":2,"mem_size_mib":128,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}'
}

@test "api: machine-config refusals are Firecracker's 400s and change nothing" {
	start_api
	api PUT /machine-config '{"vcpu_count": 2}'
	assert_api 400 "$(fault 'missing field `mem_size_mib` in the request body.')"
	api PUT /machine-config '{"vcpu_count": "2", "mem_size_mib": 128}'
	assert_api 400 "$(fault '`vcpu_count` must be an integer.')"
	api PUT /machine-config '{"vcpu_count": 64, "mem_size_mib": 128}'
	assert_api 400 "$(fault '`vcpu_count` must be from 1 to 32.')"
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "cpu_count": 2}'
	assert_api 400 "$(fault 'unknown field `cpu_count` in the request body.')"
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "track_dirty_pages": "yes"}'
	assert_api 400 "$(fault '`track_dirty_pages` has the wrong type.')"
	api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128'
	assert_api 400 "$(fault 'The request body is not valid JSON.')"
	api PUT /machine-config '[2, 128]'
	assert_api 400 "$(fault 'The request body must be a JSON object.')"
	api GET /machine-config
	assert_api 200 '{"vcpu_count":1,"mem_size_mib":64,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}'
}

@test "api: boot-source and a start that fails leave the API waiting" {
	start_api
	api PUT /actions '{"action_type": "InstanceStart"}'
	assert_api 400 "$(fault 'Cannot start the microVM without a boot source: PUT /boot-source first.')"
	api PUT /boot-source '{"boot_args": "console=ttyS0"}'
	assert_api 400 "$(fault 'missing field `kernel_image_path` in the request body.')"
	api PUT /boot-source '{"kernel_image_path": ["/k"]}'
	assert_api 400 "$(fault '`kernel_image_path` must be a string.')"
	api PUT /boot-source "{\"kernel_image_path\": \"$BATS_TEST_TMPDIR/missing\", \"boot_args\": \"console=ttyS0\"}"
	assert_api 204 ""
	api PUT /actions '{"action_type": "InstanceStart"}'
	assert_api 400 "$(fault "Cannot start the microVM: cannot open kernel '$BATS_TEST_TMPDIR/missing': No such file or directory")"
	api GET /
	assert_api 200 "$not_started"
}

@test "api: other actions, unknown paths, and resources kvmini does not have yet" {
	start_api
	api PUT /actions '{"action_type": "SendCtrlAltDel"}'
	assert_api 400 "$(fault 'The microVM is not running: SendCtrlAltDel needs a started guest.')"
	api PUT /actions '{"action_type": "Reboot"}'
	assert_api 400 "$(fault "unknown \`action_type\` 'Reboot': expected InstanceStart, SendCtrlAltDel or FlushMetrics.")"
	api GET /nothing
	assert_api 400 "$(fault 'Invalid request method and/or path: GET /nothing.')"
	api DELETE /machine-config
	assert_api 400 "$(fault 'Invalid request method and/or path: DELETE /machine-config.')"
	api PUT /mmds '{}'
	assert_api 400 "$(fault 'PUT /mmds is not supported by kvmini yet.')"
}

@test "api: drives, interfaces, vsock, logger and metrics are configured before the start" {
	start_api
	api PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/r.ext4", "is_root_device": true}'
	assert_api 204 ""
	api PUT /drives/other '{"drive_id": "other", "path_on_host": "/o", "is_root_device": true}'
	assert_api 400 "$(fault 'A root block device already exists!')"
	api PUT /drives/x '{"drive_id": "y", "path_on_host": "/o", "is_root_device": false}'
	assert_api 400 "$(fault 'The id from the path does not match the id from the body!')"
	api PATCH /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/r2.ext4"}'
	assert_api 204 ""
	api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}'
	assert_api 204 ""
	api PUT /vsock '{"guest_cid": 3, "uds_path": "/tmp/v.sock"}'
	assert_api 204 ""
	api PATCH /vm '{"state": "Paused"}'
	assert_api 400 "$(fault 'The microVM is not running: it cannot be paused.')"
	: > "$BATS_TEST_TMPDIR/metrics"
	api PUT /metrics "{\"metrics_path\": \"$BATS_TEST_TMPDIR/metrics\"}"
	assert_api 204 ""
	api PUT /actions '{"action_type": "FlushMetrics"}'
	assert_api 204 ""
	# The flush counts the 8 requests before it, 3 of them refused.
	run cat "$BATS_TEST_TMPDIR/metrics"
	[[ "$output" == '{"utc_timestamp_ms":'*',"api_server":{"requests":8,"faults":3},"vmm":{"state":"Not started"}}' ]] || { echo "$output"; false; }
}

@test "api: malformed HTTP is answered and the connection closed" {
	start_api
	raw 'PUT /actions HTTP/1.1\r\nContent-Length: 99999\r\n\r\n'
	[[ "$output" == "HTTP/1.1 413 Payload Too Large"* ]] || { echo "$output"; false; }
	[[ "$output" == *'{"fault_message":"request body too large"}' ]] || { echo "$output"; false; }
	raw 'PUT /actions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
	[[ "$output" == "HTTP/1.1 501 Not Implemented"* ]] || { echo "$output"; false; }
	raw 'PUT /actions HTTP/1.1\r\nContent-Length: 1y\r\n\r\n'
	[[ "$output" == "HTTP/1.1 400 Bad Request"* ]] || { echo "$output"; false; }
	raw 'hello\r\n\r\n'
	[[ "$output" == *'{"fault_message":"malformed request line: bad method"}' ]] || { echo "$output"; false; }
	raw '\x16\x03\x01\x02\x00'
	[[ "$output" == *'{"fault_message":"invalid byte in request head"}' ]] || { echo "$output"; false; }
	# More than HTTP_HEAD_MAX (8192) bytes and no blank line: kvmini
	# answers, then reads and drops the rest, so socat can read the answer.
	head -c 20000 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/long"
	run bash -c "{ printf 'GET / HTTP/1.1\r\nX: '; cat '$BATS_TEST_TMPDIR/long'; } | socat -t 10 - UNIX-CONNECT:'$SOCK'"
	[[ "$output" == "HTTP/1.1 431 Request Header Fields Too Large"* ]] || { echo "$output"; false; }
	api GET /
	assert_api 200 "$not_started"
}

@test "api: a body over 64 KiB is refused with 413, and curl reads the answer" {
	start_api
	{ printf '{"kernel_image_path": "'; head -c 70000 /dev/zero | tr '\0' k; printf '"}'; } \
		>"$BATS_TEST_TMPDIR/big.json"
	api PUT /boot-source @"$BATS_TEST_TMPDIR/big.json"
	assert_api 413 "$(fault 'request body too large')"
	api GET /
	assert_api 200 "$not_started"
}

@test "api: keep-alive answers requests in order on one connection" {
	start_api
	raw 'GET /machine-config HTTP/1.1\r\n\r\nPUT /machine-config HTTP/1.1\r\nContent-Length: 34\r\n\r\n{"vcpu_count":3,"mem_size_mib":96}GET / HTTP/1.1\r\nConnection: close\r\n\r\n'
	[ "$(grep -o 'HTTP/1.1 [0-9]*' <<<"$output" | tr '\n' ,)" = "HTTP/1.1 200,HTTP/1.1 204,HTTP/1.1 200," ] ||
		{ echo "$output"; false; }
	api GET /machine-config
	assert_api 200 '{"vcpu_count":3,"mem_size_mib":96,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}'
}

@test "api: a client with half a request, or gone mid-request, disturbs no one" {
	start_api
	mkfifo "$BATS_TEST_TMPDIR/in"
	socat -t 10 UNIX-CONNECT:"$SOCK" - <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/slow" &
	local slow=$!
	exec 5>"$BATS_TEST_TMPDIR/in"   # (bats keeps 3 for itself)
	printf 'GET /machine-config HT' >&5
	api GET /
	assert_api 200 "$not_started"
	raw 'PUT /machine-config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"vcpu_count":'
	[ -z "$output" ]   # the body never came: nothing to answer
	printf 'TP/1.1\r\nConnection: close\r\n\r\n' >&5
	exec 5>&-
	wait "$slow"
	grep -q '^HTTP/1.1 200 OK' "$BATS_TEST_TMPDIR/slow" || { cat "$BATS_TEST_TMPDIR/slow"; false; }
	api GET /machine-config
	assert_api 200 '{"vcpu_count":1,"mem_size_mib":64,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}'
}

@test "api: SIGTERM before InstanceStart ends kvmini (status 12) and removes the socket" {
	start_api
	kill -TERM "$KPID"
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$ERR"; false; }
	[ ! -e "$SOCK" ]
}

@test "api: an existing --api-sock path is refused (status 2)" {
	touch "$SOCK"
	kvmini run --api-sock "$SOCK"
	assert_status 2
	assert_stderr_has "--api-sock '$SOCK' already exists"
}

# ---- with a guest: KVM hosts only ----

@test "api: configure and start the conformance kernel, which sees the configuration" {
	needs_kvm
	start_api
	expect="bootconf.mem=0x8000000 bootconf.end"
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
	assert_api 204 ""
	api PUT /boot-source "{\"kernel_image_path\": \"$GUESTS/bootconf.bzImage\", \"boot_args\": \"console=ttyS0 $expect\"}"
	assert_api 204 ""
	api PUT /actions '{"action_type": "InstanceStart"}'
	assert_api 204 ""
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 1 ] || { echo "status $status"; cat "$OUT" "$ERR"; false; }
	grep -qxF "bootconf: cmdline: console=ttyS0 $expect" "$OUT" || { cat "$OUT"; false; }
	grep -q '^bootconf: [0-9]* checks, 0 failed$' "$OUT" || { cat "$OUT"; false; }
}

@test "api: with an IMAGE the VM runs at once; configuration is then refused" {
	needs_kvm
	start_api --timeout 60 "$GUESTS/loop_ready.bin"
	wait_for_text "$OUT" ready
	api GET /
	assert_api 200 '{"id":"anonymous-instance","state":"Running","vmm_version":"0.1.0","app_name":"kvmini"}'
	api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
	assert_api 400 "$(fault 'The requested operation is not supported after starting the microVM.')"
	api PUT /actions '{"action_type": "InstanceStart"}'
	assert_api 400 "$(fault 'The requested operation is not supported after starting the microVM.')"
}

@test "api: PATCH /vm pauses and resumes a running guest" {
	needs_kvm
	start_api --timeout 60 "$GUESTS/loop_ready.bin"
	wait_for_text "$OUT" ready
	api PATCH /vm '{"state": "Paused"}'
	assert_api 204 ""
	api GET /
	assert_api 200 '{"id":"anonymous-instance","state":"Paused","vmm_version":"0.1.0","app_name":"kvmini"}'
	api PATCH /vm '{"state": "Resumed"}'
	assert_api 204 ""
	api GET /
	assert_api 200 '{"id":"anonymous-instance","state":"Running","vmm_version":"0.1.0","app_name":"kvmini"}'
}

@test "api: kvmini ctl configures and queries the API, with documented statuses" {
	start_api
	kvmini ctl "$SOCK" info
	assert_status 0
	[ "$output" = "$not_started" ] || { echo "$output"; false; }
	kvmini ctl "$SOCK" put /machine-config '{"vcpu_count": 2, "mem_size_mib": 96}'
	assert_status 0
	[ -z "$output" ]
	kvmini ctl "$SOCK" get /machine-config
	[ "$output" = '{"vcpu_count":2,"mem_size_mib":96,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}' ] || { echo "$output"; false; }
	kvmini ctl "$SOCK" pause
	assert_status 2
	[ "$stderr" = '{"fault_message":"The microVM is not running: it cannot be paused."}
kvmini: PATCH /vm: HTTP 400' ] || { echo "$stderr"; false; }
	kvmini ctl "$BATS_TEST_TMPDIR/none.sock" info
	assert_status 4
	[ "$stderr" = "kvmini: cannot connect to '$BATS_TEST_TMPDIR/none.sock': No such file or directory" ]
	kvmini ctl "$SOCK" reboot
	assert_status 2
	[[ "$stderr" == "kvmini: unknown ctl command 'reboot'"* ]]
}

@test "api: --config-file errors name the section and exit 2" {
	local c="$BATS_TEST_TMPDIR/c.json"
	printf '{"drives": [{"drive_id": "a", "path_on_host": "/x", "is_root_device": 3}], "boot-source": {"kernel_image_path": "/k"}}' > "$c"
	kvmini run --config-file "$c"
	assert_status 2
	[ "$stderr" = "kvmini: config file '$c': drives[0]: \`is_root_device\` must be a boolean." ] || { echo "$stderr"; false; }
	printf '{"balloon": {}}' > "$c"
	kvmini run --config-file "$c"
	assert_status 2
	[ "$stderr" = "kvmini: config file '$c': unknown or unsupported section \`balloon\`" ]
	printf '{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}' > "$c"
	kvmini run --config-file "$c"
	assert_status 2
	[ "$stderr" = "kvmini: config file '$c': the file has no \`boot-source\`" ]
	printf '{"boot-source": {"kernel_image_path": "%s/missing"}}' "$BATS_TEST_TMPDIR" > "$c"
	kvmini run --config-file "$c"
	assert_status 2
	[ "$stderr" = "kvmini: cannot open kernel '$BATS_TEST_TMPDIR/missing': No such file or directory" ]
	kvmini run --config-file "$c" "$GUESTS/loop.bin"
	assert_status 2
	[[ "$stderr" == "kvmini: --config-file names the kernel: no IMAGE or --kernel with it"* ]]
	kvmini run --config-file "$BATS_TEST_TMPDIR/nothing.json"
	assert_status 2
}

@test "api: --config-file boots the conformance kernel with the file's configuration" {
	needs_kvm
	expect="bootconf.mem=0x8000000 bootconf.end"
	printf '{"machine-config": {"vcpu_count": 1, "mem_size_mib": 128}, "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0 %s"}}' \
		"$GUESTS/bootconf.bzImage" "$expect" > "$BATS_TEST_TMPDIR/c.json"
	kvmini run --config-file "$BATS_TEST_TMPDIR/c.json"
	assert_status 1
	[[ "$output" == *"bootconf: cmdline: console=ttyS0 $expect"* ]] || { echo "$output"; false; }
	[[ "$output" =~ bootconf:\ [0-9]+\ checks,\ 0\ failed ]] || { echo "$output"; false; }
}
