#!/usr/bin/env bats
# Seccomp filters per thread and the jail (docs/security.md), from the
# outside: what /proc says of a running kvmini's threads, the test
# build's forbidden call in a vCPU thread, the drop to other ids. The
# control API's thread runs before any guest, so its filter is checked
# on every host; the rest needs KVM (needs_kvm).
bats_require_minimum_version 1.5.0
load helpers

BATS_TEST_TIMEOUT=120

setup() {
	OUT="$BATS_TEST_TMPDIR/out"
	ERR="$BATS_TEST_TMPDIR/err"
	KPID=
}

teardown() {
	background_kvmini_teardown
}

# start_kvmini WAIT_FILE WAIT_TEXT ARGS...: kvmini run in the background
# until WAIT_FILE holds WAIT_TEXT (the guest's "ready", or the API's
# socket when WAIT_TEXT is "-socket-"). Sets KPID.
start_kvmini() {
	local file=$1 text=$2
	shift 2
	"$KVMINI" run "$@" >"$OUT" 2>"$ERR" </dev/null &
	KPID=$!
	if [ "$text" = -socket- ]; then
		local limit=$((SECONDS + 60))
		until [ -S "$file" ]; do
			kill -0 "$KPID" 2>/dev/null && [ "$SECONDS" -lt "$limit" ] ||
				{ echo "no socket $file; stderr:"; cat "$ERR"; return 1; }
			sleep 0.02
		done
	else
		wait_for_text "$file" "$text"
	fi
}

# LeakSanitizer reads /proc/self/task at exit, which a process that
# dropped to other ids can no longer do (it is not dumpable: the jail
# wants that): "LeakSanitizer has encountered a fatal error". ASan and
# UBSan still watch these runs; leaks are checked by every other test.
no_leak_check_after_drop() {
	export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
}

# thread_lines KEY: "NAME VALUE" for each thread of $KPID, e.g. Seccomp.
thread_lines() {
	local t
	for t in /proc/"$KPID"/task/*; do
		echo "$(cat "$t/comm") $(awk -v k="$1:" '$1 == k { print $2 }' "$t/status")"
	done | sort
}

@test "hardening: --seccomp takes kill, log or off; the jail's options go together" {
	kvmini run --seccomp maybe
	assert_status 2
	assert_stderr_has "invalid value 'maybe' for --seccomp: expected kill, log or off"
	kvmini run --uid 1000
	assert_status 2
	assert_stderr_has "--uid and --gid go together"
	kvmini run --chroot "$BATS_TEST_TMPDIR"
	assert_status 2
	assert_stderr_has "--chroot and --cgroup need --uid and --gid"
	kvmini run --uid 0 --gid 0
	assert_status 2
	assert_stderr_has "expected a number other than 0 (root)"
	kvmini exec --seccomp maybe /bin/true
	assert_status 2
}

@test "hardening: the control API's thread is filtered before its first client" {
	start_kvmini "$BATS_TEST_TMPDIR/api.sock" -socket- --api-sock "$BATS_TEST_TMPDIR/api.sock"
	run curl -s --max-time 30 --unix-socket "$BATS_TEST_TMPDIR/api.sock" http://localhost/
	[ "$status" -eq 0 ]
	[[ "$output" == *'"state":"Not started"'* ]]
	run thread_lines Seccomp
	# The API's thread is filtered; the main thread installs its own only
	# when a VM is about to run.
	[[ "$output" == *"api 2"* ]] || { echo "$output"; return 1; }
	run thread_lines NoNewPrivs
	[[ "$output" == *"api 1"* ]] || { echo "$output"; return 1; }
	kill -TERM "$KPID"
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$ERR"; return 1; }
}

@test "hardening: --no-seccomp leaves the API's thread unfiltered" {
	start_kvmini "$BATS_TEST_TMPDIR/api.sock" -socket- --no-seccomp \
		--api-sock "$BATS_TEST_TMPDIR/api.sock"
	run thread_lines Seccomp
	[[ "$output" == *"api 0"* ]] || { echo "$output"; return 1; }
}

@test "hardening: every thread of a running kvmini is filtered (Seccomp: 2)" {
	needs_kvm
	# stdin a pipe with a writer: the console's watch starts the event
	# loop's thread, which a guest that arms no timer would not need.
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"
	"$KVMINI" run --irqchip split --name sec \
		--gdb "unix:$BATS_TEST_TMPDIR/gdb.sock" --display 64x48 \
		--vnc "unix:$BATS_TEST_TMPDIR/vnc.sock" "$GUESTS/loop_ready.bin" \
		>"$OUT" 2>"$ERR" <"$BATS_TEST_TMPDIR/in" &
	KPID=$!
	exec 4>&-
	wait_for_text "$OUT" ready
	run thread_lines Seccomp
	echo "$output"
	[ "$(grep -c ' 2$' <<<"$output")" -eq 5 ]   # sec, vcpu0, evloop, gdb, vnc
	for name in sec vcpu0 evloop gdb vnc; do
		grep -qx "$name 2" <<<"$output"
	done
	kill -TERM "$KPID"
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 12 ]
}

@test "hardening: a forbidden call in a vCPU thread kills kvmini with the thread and call named" {
	needs_kvm
	# The test build alone carries the hook (KVMINI_TEST_HOOKS).
	run --separate-stderr env KVMINI_TEST_VCPU_FORBIDDEN_CALL=1 "$KVMINI" run </dev/null
	assert_status 159   # 128 + SIGSYS
	[ -z "$output" ]    # the guest never ran
	[ "$stderr" = "kvmini: seccomp: thread vcpu0 (role vcpu) made a forbidden system call: socket (41); killing kvmini" ]
}

@test "hardening: the demo runs alike under kill, log and off" {
	needs_kvm
	for mode in kill log off; do
		kvmini run --seccomp "$mode"
		assert_status 0
		assert_stdout "4"
	done
}

@test "hardening: kvmini exec's program runs under the exec filter" {
	needs_kvm
	for mode in kill off; do
		kvmini exec --seccomp "$mode" "$GUESTS/sandbox/hello.glibc"
		assert_status 0
		[ -n "$output" ]
	done
}

@test "hardening: as root, --uid/--gid/--chroot drop everything before the guest runs" {
	needs_kvm
	[ "$(id -u)" -eq 0 ] || skip "the jail needs root"
	local root=$BATS_TEST_TMPDIR/jail
	mkdir -m 0755 "$root"
	no_leak_check_after_drop
	start_kvmini "$OUT" ready --uid 65534 --gid 65534 --chroot "$root" "$GUESTS/loop_ready.bin"
	grep -q '^Uid:.65534.65534.65534.65534$' /proc/"$KPID"/status
	grep -q '^CapEff:.0000000000000000$' /proc/"$KPID"/status
	grep -q '^CapPrm:.0000000000000000$' /proc/"$KPID"/status
	grep -q '^NoNewPrivs:.1$' /proc/"$KPID"/status
	[ "$(readlink /proc/"$KPID"/root)" = "$root" ]
	[ -c "$root/dev/kvm" ]
	kill -TERM "$KPID"
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 12 ]
}

@test "hardening: a restart inside the jail opens /dev/kvm there" {
	needs_kvm
	[ "$(id -u)" -eq 0 ] || skip "the jail needs root"
	local root=$BATS_TEST_TMPDIR/jail
	mkdir -m 0755 "$root"
	no_leak_check_after_drop
	kvmini run --uid 65534 --gid 65534 --chroot "$root" --on-reset restart \
		"$GUESTS/boot_count.elf"
	assert_status 5
}
