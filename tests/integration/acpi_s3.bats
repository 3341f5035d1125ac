#!/usr/bin/env bats
# ACPI S3 (issue 15): a guest suspends to RAM through PM1_CNT (SLP_TYP 3,
# the DSDT's \_S3), the RTC alarm wakes it (RTC_EN), and it resumes in
# real mode at the FACS waking vector with its RAM and PM1_STS.WAK_STS
# and RTC_STS set (guests/acpi_s3.c checks each; any mismatch ends it
# with status 5). A guest that enabled no wake source sleeps until kvmini
# is stopped. Unit tests of the PM1 decoding: tests/unit/test_acpi_pm.c.
bats_require_minimum_version 1.5.0
load helpers
load api_helpers

WANT="entering S3
woke at 0800:0000
PM1_STS: WAK_STS 1, RTC_STS 1
RAM kept: magic ok"

teardown() {
	background_kvmini_teardown
}

@test "S3 round trip: the RTC alarm wakes the guest at the FACS waking vector (kernel irqchip)" {
	needs_kvm
	kvmini run --irqchip kernel --timeout 60 "$GUESTS/acpi_s3.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "S3 round trip: the RTC alarm wakes the guest at the FACS waking vector (split irqchip)" {
	needs_kvm
	kvmini run --irqchip split --timeout 60 "$GUESTS/acpi_s3.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "S3 round trip with 2 vCPUs: the AP is put back to wait for INIT/SIPI" {
	needs_kvm
	kvmini run --irqchip kernel --cpus 2 --timeout 60 "$GUESTS/acpi_s3.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "S3 without a wake source: the alarm does not wake it, --timeout still ends it" {
	needs_kvm
	kvmini run --irqchip kernel --verbose --timeout 4 "$GUESTS/acpi_s3_nowake.elf"
	assert_status 8
	assert_stdout "entering S3"
	assert_stderr_has "kvmini: guest suspended to RAM (ACPI S3)"
	assert_stderr_has "guest still running after the 4-second timeout"
}

@test "S3 without a wake source: SIGTERM stops the suspended guest with status 12" {
	needs_kvm
	"$KVMINI" run --irqchip split --verbose "$GUESTS/acpi_s3_nowake.elf" </dev/null >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" &
	KPID=$!
	wait_for_text "$BATS_TEST_TMPDIR/err" "guest suspended to RAM (ACPI S3)"
	kill -TERM "$KPID"
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -q "stopped by the user" "$BATS_TEST_TMPDIR/err"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "entering S3" ]
}

# Snapshots keep the sleep (docs/snapshot.md): pause the sleeping guest,
# snapshot it, end that kvmini, restore.
s3_snapshot() {   # GUEST
	SOCK=$BATS_TEST_TMPDIR/api.sock OUT=$BATS_TEST_TMPDIR/out ERR=$BATS_TEST_TMPDIR/err
	start_api --irqchip kernel --verbose "$GUESTS/$1"
	wait_for_text "$ERR" "guest suspended to RAM (ACPI S3)"
	api PATCH /vm '{"state": "Paused"}'
	assert_api 204 ""
	api PUT /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$BATS_TEST_TMPDIR/snap\", \"mem_file_path\": \"$BATS_TEST_TMPDIR/mem\"}"
	assert_api 204 ""
	kill -TERM "$KPID"
	wait "$KPID" || true
	KPID=
}

@test "S3: a snapshot of a guest asleep without a wake source restores asleep" {
	needs_kvm
	s3_snapshot acpi_s3_nowake.elf
	kvmini restore --timeout 4 --verbose --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_status 8
	[ -z "$output" ] || { echo "the restored guest ran on: $output"; false; }
	assert_stderr_has "guest still running after the 4-second timeout"
}

# The RTC alarm is due 2 s after the guest armed it, any minute: it
# wakes the restored guest within a minute. Should it have come before
# the pause, the snapshot holds a woken guest, and the output is the same.
@test "S3: a snapshot of a sleeping guest restores asleep, and the RTC alarm wakes it" {
	needs_kvm
	s3_snapshot acpi_s3.elf
	kvmini restore --timeout 120 --verbose --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_status 1
	[ "$(cat "$OUT"; printf '%s\n' "$output")" = "$WANT" ] ||
		{ echo "first: $(cat "$OUT")"; echo "restored: $output"; false; }
	if grep -q "guest woke from ACPI S3" <<<"$stderr"; then
		echo "# the restored guest woke at its alarm" >&3
	else
		echo "# the alarm came before the pause: the snapshot held a woken guest" >&3
	fi
}
