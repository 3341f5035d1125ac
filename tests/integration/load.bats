#!/usr/bin/env bats
# Load: many kvmini processes at once (the library's 200 VMs in one
# process, and the leak counts without KVM, are tests/unit/test_load.c).
bats_require_minimum_version 1.5.0
load helpers

BATS_TEST_TIMEOUT=600

setup() {
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	sanitizer_teardown
}

# count DIR: entries in a /proc directory.
count() {
	find "$1" -mindepth 1 -maxdepth 1 | wc -l
}

@test "load: 50 kvmini run at once all start, hold the same fds and threads, and end on SIGTERM" {
	needs_kvm
	local d=$BATS_TEST_TMPDIR i p status fds threads n=50
	if [ "${KVMINI_NESTED:-}" = 1 ]; then
		# 50 spinning guests on QEMU's emulator would take an hour.
		n=8
		echo "# nested KVM VM (scripts/nested-kvm.sh): $n VMs, not 50" >&3
	fi
	for i in $(seq "$n"); do
		"$KVMINI" run --name "load$i" "$GUESTS/loop_ready.bin" >"$d/out$i" 2>"$d/err$i" </dev/null &
		PIDS+=($!)
	done
	for i in $(seq "$n"); do
		wait_for_text "$d/out$i" ready
	done
	fds=$(count /proc/"${PIDS[0]}"/fd)
	threads=$(count /proc/"${PIDS[0]}"/task)
	for p in "${PIDS[@]}"; do
		[ "$(count /proc/"$p"/fd)" -eq "$fds" ] || { echo "$p: fds differ"; return 1; }
		[ "$(count /proc/"$p"/task)" -eq "$threads" ] || { echo "$p: threads differ"; return 1; }
	done
	kill -TERM "${PIDS[@]}"
	for i in $(seq "$n"); do
		status=0
		wait "${PIDS[$((i - 1))]}" || status=$?
		[ "$status" -eq 12 ] || { echo "load$i: status $status"; cat "$d/err$i"; return 1; }
	done
	PIDS=()
	! pgrep -x 'load[0-9]*' >/dev/null
}
