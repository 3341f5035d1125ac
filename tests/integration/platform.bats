#!/usr/bin/env bats
# The PC platform devices: the CMOS real-time clock (ports 0x70/0x71),
# the three reset paths (i8042 0xfe, port 0x92, port 0xcf9) and
# --on-reset exit|restart.
bats_require_minimum_version 1.5.0
load helpers

# "LABEL YYYY-MM-DD HH:MM:SS" must be within a couple of seconds of
# [before, after] (host UTC seconds).
assert_time_line() {
	local line=$1 label=$2 before=$3 after=$4
	local re="^${label} ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})\$"
	if ! [[ "$line" =~ $re ]]; then
		echo "not a '$label YYYY-MM-DD HH:MM:SS' line: $line"
		return 1
	fi
	local t
	t=$(date -u -d "${BASH_REMATCH[1]}" +%s)
	if [ "$t" -lt $((before - 2)) ] || [ "$t" -gt $((after + 2)) ]; then
		echo "guest time ${BASH_REMATCH[1]} ($t) is not within 2 s of the host's $before..$after"
		return 1
	fi
}

@test "RTC: the guest reads the host's UTC date and time in BCD and in binary mode" {
	before=$(date -u +%s)
	kvmini run --timeout 60 "$GUESTS/rtc.elf"
	after=$(date -u +%s)
	assert_status 1
	mapfile -t lines <<<"$output"
	[ "${#lines[@]}" -eq 3 ] || { echo "expected 3 lines, got: $output"; false; }
	assert_time_line "${lines[0]}" "bcd:   " "$before" "$after"
	assert_time_line "${lines[1]}" "binary:" "$before" "$after"
	[ "$stderr" = "" ] || { echo "stderr: $stderr"; false; }
}

rtc_memory() {
	kvmini run --mem "$1" --timeout 60 "$GUESTS/rtc.elf"
	assert_status 1
	mapfile -t lines <<<"$output"
	[ "${lines[2]}" = "memory: $2" ] || { echo "got: ${lines[2]}"; false; }
}

@test "RTC: memory-size bytes for 2 MiB of RAM" {
	rtc_memory 2M "base 640 KiB, extended 1024 KiB (1024 KiB at 0x30), above 16 MiB 0 x 64 KiB, above 4 GiB 0 x 64 KiB"
}

@test "RTC: memory-size bytes for 64 MiB of RAM" {
	rtc_memory 64M "base 640 KiB, extended 64512 KiB (64512 KiB at 0x30), above 16 MiB 768 x 64 KiB, above 4 GiB 0 x 64 KiB"
}

@test "RTC: memory-size bytes for 1 GiB of RAM saturate at 65535 KiB" {
	rtc_memory 1G "base 640 KiB, extended 65535 KiB (65535 KiB at 0x30), above 16 MiB 16128 x 64 KiB, above 4 GiB 0 x 64 KiB"
}

@test "RTC: memory-size bytes for 4 GiB of RAM count the 1 GiB above 4 GiB" {
	rtc_memory 4G "base 640 KiB, extended 65535 KiB (65535 KiB at 0x30), above 16 MiB 48896 x 64 KiB, above 4 GiB 16384 x 64 KiB"
}

reset_run() {
	local path=$1 first_line=$2 reason=$3
	kvmini run --timeout 60 "$GUESTS/reset_$path.elf"
	assert_status 0
	assert_stdout "$first_line"
	[ "$stderr" = "" ] || { echo "without --verbose a reset is silent; stderr: $stderr"; false; }
	kvmini run --verbose --timeout 60 "$GUESTS/reset_$path.elf"
	assert_status 0
	assert_stdout "$first_line"
	[ "$stderr" = "kvmini: $reason" ] || { echo "stderr: $stderr"; false; }
}

@test "reset through the i8042 (command 0xfe) ends kvmini with status 0" {
	reset_run i8042 "resetting through the i8042" "guest reset through the i8042 (0xfe)"
}

@test "reset through port 0x92 (bit 0 rising) ends kvmini with status 0" {
	reset_run port92 "resetting through port 0x92 (A20 on)" "guest reset through port 0x92 (fast reset)"
}

@test "reset through port 0xcf9 (bit 2) ends kvmini with status 0" {
	reset_run cf9 "resetting through port 0xcf9" "guest reset through port 0xcf9 (0x06)"
}

@test "--on-reset exit: the boot-count guest ends at its first reset" {
	kvmini run --on-reset exit --verbose --timeout 60 "$GUESTS/boot_count.elf"
	assert_status 0
	assert_stdout "boot 1: RAM fresh
asking for a reset"
	assert_stderr_has "kvmini: guest reset through the i8042 (0xfe)"
}

@test "--on-reset restart: CMOS survives, RAM starts fresh, the second boot ends" {
	kvmini run --on-reset restart --verbose --timeout 60 "$GUESTS/boot_count.elf"
	assert_status 5
	assert_stdout "boot 1: RAM fresh
asking for a reset
boot 2: RAM fresh"
	assert_stderr_has "kvmini: guest reset through the i8042 (0xfe); restarting the VM (boot 2)"
	assert_stderr_has "kvmini: guest wrote 0x2 to the debug-exit port"
}

@test "--on-reset restart with the in-kernel irqchip and 2 vCPUs" {
	kvmini run --on-reset restart --irqchip kernel --cpus 2 --timeout 60 "$GUESTS/boot_count.elf"
	assert_status 5
	assert_stdout "boot 1: RAM fresh
asking for a reset
boot 2: RAM fresh"
}

@test "--on-reset restart: --timeout ends a reset loop and counts every boot" {
	# timeout(1) only bounds a hang (status 124); kvmini must end it first.
	run_checked timeout 120 "$KVMINI" run --on-reset restart --timeout 2 "$GUESTS/reset_cf9.elf" </dev/null
	assert_status 8
	assert_stderr_has "guest still running after the 2-second timeout"
	boots=$(grep -c '^resetting through port 0xcf9$' <<<"$output" || true)
	[ "$boots" -ge 2 ] || { echo "only $boots boots: $output"; false; }
}

@test "--on-reset restart: SIGTERM ends a reset loop with status 12" {
	needs_kvm
	"$KVMINI" run --on-reset restart "$GUESTS/reset_port92.elf" </dev/null \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	# the second boot's line: the reset loop is under way
	wait_for_text "$BATS_TEST_TMPDIR/out" 'resetting through port 0x92' 2
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -q "stopped by the user" "$BATS_TEST_TMPDIR/err"
}

@test "--on-reset restart: Ctrl-A x on a terminal ends a reset loop" {
	needs_kvm
	local guest=$BATS_TEST_TMPDIR/guest
	# typed once the first boot has printed: the guest runs, the terminal is raw
	on_pty "$guest" 'resetting through the i8042' '\001x' \
		"$KVMINI run --on-reset restart $GUESTS/reset_i8042.elf >$guest; echo status=\$?"
	[[ "$output" == *"stopped by the user"* ]] || { echo "$output"; false; }
	[[ "$output" == *"status=12"* ]] || { echo "$output"; false; }
}

@test "--on-reset with a bad value" {
	kvmini run --on-reset reboot
	assert_status 2
	assert_stderr_has "invalid value 'reboot' for --on-reset: expected exit or restart"
	assert_one_line_error
}

@test "--on-reset needs a value" {
	kvmini run --on-reset
	assert_status 2
	assert_stderr_has "option '--on-reset' needs a value"
	assert_one_line_error
}

@test "--on-reset restart cannot be combined with --gdb" {
	kvmini run --on-reset restart --gdb tcp:127.0.0.1:0 "$GUESTS/boot_count.elf"
	assert_status 2
	assert_stderr_has "the gdb stub cannot follow a restart: use --on-reset exit with --gdb"
	assert_one_line_error
}

@test "ACPI S5 through the PM1a control block powers off with status 0" {
	kvmini run --verbose "$GUESTS/acpi_poweroff.elf"
	assert_status 0
	assert_stdout "entering S5"
	assert_stderr_has "guest powered off (ACPI S5)"
	kvmini run --irqchip kernel "$GUESTS/acpi_poweroff.elf"
	assert_status 0
	assert_stdout "entering S5"
}

@test "--on-reset restart: a triple fault restarts the VM, CMOS counts the boots" {
	kvmini run --on-reset restart --verbose --timeout 60 "$GUESTS/boot_count_triple.elf"
	assert_status 5
	assert_stdout "boot 1: RAM fresh
triple-faulting
boot 2: RAM fresh"
	assert_stderr_has "kvmini: vCPU 0: guest triple-faulted (KVM_EXIT_SHUTDOWN); restarting the VM (boot 2)"
}

@test "--on-reset exit: a triple fault still ends the run with status 6" {
	kvmini run --on-reset exit --timeout 60 "$GUESTS/boot_count_triple.elf"
	assert_status 6
	assert_stdout "boot 1: RAM fresh
triple-faulting"
	assert_stderr_has "kvmini: vCPU 0: guest triple-faulted (KVM_EXIT_SHUTDOWN)"
	assert_stderr_has "vCPU 0 registers:"
}

@test "--on-reset restart: --timeout ends a triple-fault loop" {
	run_checked timeout 120 "$KVMINI" run --on-reset restart --timeout 2 "$GUESTS/triple_fault.elf" </dev/null
	assert_status 8
	assert_stderr_has "guest still running after the 2-second timeout"
}
