#!/usr/bin/env bats
# A snapshot of the Linux test kernel at its shell prompt (issue 13,
# docs/snapshot.md): boot with the API socket, wait for the prompt,
# pause, snapshot and end that kvmini; `kvmini restore` continues the
# guest, whose shell answers a command typed after the restore and then
# powers off cleanly. With each irqchip model.
bats_require_minimum_version 1.5.0
load helpers
load linux_helpers

setup_file() {
	test_kernel_find
}

teardown() {
	background_kvmini_teardown
}

# /test.sh: a shell that runs each line COM1 brings.
shell_script() {
	cat >"$BATS_TEST_TMPDIR/shell.sh" <<-'EOF'
	#!/bin/sh
	echo "shell ready"
	while read -r line; do eval "$line"; done
	EOF
	initrd_with "$BATS_TEST_TMPDIR/shell.sh"
}

# One try: boot to the prompt (COM1's input a FIFO held open by the
# test), snapshot, kill; restore with COM1 to the same file and its
# input another FIFO, type a command and `exit`, wait for the power-off.
snapshot_attempt() {
	local d=$BATS_TEST_TMPDIR
	rm -f "$d/snap" "$d/mem"
	IRQCHIP=$1 boot_args mmio --api-sock "$d/api.sock" --serial "file:$d/serial"
	BOOT_STDIN=$d/in1 boot_until "$d/serial" "shell ready" || return 1
	"$KVMINI" ctl "$d/api.sock" pause >/dev/null || return 1
	"$KVMINI" ctl "$d/api.sock" put /snapshot/create \
		"{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$d/snap\", \"mem_file_path\": \"$d/mem\"}" \
		>/dev/null || return 1
	kill "$KPID"
	boot_end
	[ "$status" -eq 12 ] || { echo "the first kvmini ended with $status, not 12 (SIGTERM)"; return 1; }
	"$KVMINI" restore --timeout 150 --snapshot "$d/snap" --mem "$d/mem" --serial "file:$d/serial" \
		<"$d/in2" 2>"$d/stderr" &
	KPID=$!
	echo 'echo answer $((6 * 7))' >&"$typed"
	guest_wait "$d/serial" "answer 42" || return 1
	echo exit >&"$typed"
	guest_wait "$d/serial" "kvmini-init: status"
}

linux_snapshot_test() {
	local d=$BATS_TEST_TMPDIR held typed
	shell_script
	mkfifo "$d/in1" "$d/in2"
	exec {held}<>"$d/in1" {typed}<>"$d/in2"
	attempt_until_done "" snapshot_attempt "$1"
	assert_status 0
	log=$(clean_log <"$d/serial")
	has_line "answer 42"
	assert_clean_end
	grep -q "shell ready" <<<"$log" && { echo "the restored run booted again"; return 1; }
	exec {held}>&- {typed}>&-
}

@test "linux snapshot: at the shell prompt, restored, the shell answers (kernel irqchip)" {
	needs_kvm
	linux_snapshot_test kernel
}

@test "linux snapshot: at the shell prompt, restored, the shell answers (--irqchip split)" {
	needs_kvm
	linux_snapshot_test split
}
