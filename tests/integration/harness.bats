#!/usr/bin/env bats
# The test harness tests itself: planted bugs (tests/harness/*.c, built
# with the sanitizer flags the tests use) must be counted as failures.
# If the harness is ever weakened — a sanitizer report let through
# because the exit status looked right, a unit binary's exit status
# ignored, a skip counted as a pass — a test here fails.
bats_require_minimum_version 1.5.0
load helpers

HARNESS=${HARNESS:-$(dirname "$KVMINI")/harness}

setup() {
	for p in use_after_free signed_overflow unit_exits_nonzero unit_skips; do
		[ -x "$HARNESS/$p" ] || { echo "missing $HARNESS/$p: run make test"; return 1; }
	done
}

# Run the helper every kvmini invocation goes through on a planted
# program; it must fail, with the sanitizer's exit status and report.
expect_helper_to_fail() {   # PROGRAM PATTERN
	local helper_status=0
	KVMINI=$HARNESS/$1 kvmini run >"$BATS_TEST_TMPDIR/said" || helper_status=$?
	sanitizer_forget   # the planted report is expected: do not fail teardown
	[ "$helper_status" -ne 0 ] || { echo "the helper let a report through"; return 1; }
	[ "$status" -eq "$SANITIZER_EXIT" ] || { echo "status $status"; return 1; }
	[ "$output" = 4 ] || { echo "stdout: $output"; return 1; }
	grep -Eq "$2" "$BATS_TEST_TMPDIR/said" || { cat "$BATS_TEST_TMPDIR/said"; return 1; }
}

@test "harness: a use-after-free at exit fails a run whose output looks like a pass" {
	expect_helper_to_fail use_after_free 'ERROR: AddressSanitizer: heap-use-after-free'
}

@test "harness: a signed overflow (UBSan) fails the run" {
	expect_helper_to_fail signed_overflow 'runtime error: signed integer overflow'
}

@test "harness: a report from a background run with stderr redirected is found" {
	"$HARNESS/use_after_free" >/dev/null 2>/dev/null &
	wait $! || true
	local check_status=0
	sanitizer_check "" >"$BATS_TEST_TMPDIR/said" || check_status=$?
	sanitizer_forget
	[ "$check_status" -ne 0 ]
	grep -q 'heap-use-after-free' "$BATS_TEST_TMPDIR/said"
}

@test "harness: a unit binary that passes every test but exits non-zero is a failure" {
	. "$BATS_TEST_DIRNAME/../../scripts/test-lib.sh"
	passed=0 failed=0 skipped=0
	count_unit "$HARNESS/unit_exits_nonzero" "$BATS_TEST_TMPDIR/log" >"$BATS_TEST_TMPDIR/said"
	[ "$passed" -eq 1 ] && [ "$failed" -eq 1 ] && [ "$skipped" -eq 0 ] ||
		{ echo "passed=$passed failed=$failed skipped=$skipped"; cat "$BATS_TEST_TMPDIR/said"; return 1; }
	grep -q 'exit status 3 with no failing test' "$BATS_TEST_TMPDIR/said"
}

@test "harness: a unit skip is a skip with its reason, a sanitizer report a failure" {
	. "$BATS_TEST_DIRNAME/../../scripts/test-lib.sh"
	passed=0 failed=0 skipped=0 failures=
	sanitizer_env
	count_unit "$HARNESS/unit_skips" "$BATS_TEST_TMPDIR/log" >"$BATS_TEST_TMPDIR/said"
	sanitizer_forget
	# the crashing test, and the binary's sanitizer report
	[ "$passed" -eq 1 ] && [ "$failed" -eq 2 ] && [ "$skipped" -eq 1 ] ||
		{ echo "passed=$passed failed=$failed skipped=$skipped"; cat "$BATS_TEST_TMPDIR/said"; return 1; }
	grep -q 'planted::skips: the planted reason' "$BATS_TEST_TMPDIR/said"
	grep -q 'a sanitizer report' "$BATS_TEST_TMPDIR/said"
	# both failures named in the list run-tests.sh prints last
	[ "$(printf %s "$failures" | wc -l)" -eq 2 ] && grep -q 'unit_skips: a sanitizer report' <<<"$failures" ||
		{ printf 'failures:\n%s' "$failures"; return 1; }
}

@test "harness: a bats skip counts as a skip, with its reason, never as a pass" {
	. "$BATS_TEST_DIRNAME/../../scripts/test-lib.sh"
	printf '%s\n' '1..3' 'ok 1 passes' 'ok 2 needs a widget # skip no widget here' \
		'not ok 3 fails' >"$BATS_TEST_TMPDIR/tap"
	passed=0 failed=0 skipped=0
	count_tap "$BATS_TEST_TMPDIR/tap" >"$BATS_TEST_TMPDIR/said"
	[ "$passed" -eq 1 ] && [ "$failed" -eq 1 ] && [ "$skipped" -eq 1 ]
	grep -q 'needs a widget # skip no widget here' "$BATS_TEST_TMPDIR/said"
	[ "$failures" = "  fails"$'\n' ]   # named in the list run-tests.sh prints last
}

@test "harness: a deferred skip counts nowhere; the split keeps a bats file in one list" {
	. "$BATS_TEST_DIRNAME/../../scripts/test-lib.sh"
	printf '%s\n' '1..2' 'ok 1 runs a guest # skip deferred: no usable /dev/kvm on this host' \
		'ok 2 passes' >"$BATS_TEST_TMPDIR/tap"
	passed=0 failed=0 skipped=0
	count_tap "$BATS_TEST_TMPDIR/tap" >"$BATS_TEST_TMPDIR/said"
	[ "$passed" -eq 1 ] && [ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ] ||
		{ echo "passed=$passed failed=$failed skipped=$skipped"; return 1; }
	grep -qx 'deferred to the nested KVM VM: 1' "$BATS_TEST_TMPDIR/said"
	local l=$BATS_TEST_TMPDIR/list
	printf 'a.bats\tone\na.bats\ttwo\na.bats\tthree\nb.bats\tfour\nunit\tbin\ts/x\nunit\tbin\ts/y\n' >"$l"
	split_deferred "$l" "$l.1" "$l.2"
	[ "$(cat "$l.1" "$l.2" | sort)" = "$(sort "$l")" ]   # nothing lost or doubled
	[ "$(grep -c '^a.bats' "$l.1")" -eq 3 ] || [ "$(grep -c '^a.bats' "$l.2")" -eq 3 ]
}
