#!/usr/bin/env bash
# Run every test kvmini has — unit (Criterion), integration (bats), the
# demo under valgrind — and end with one line:
#   kvmini tests: N passed, N failed, N skipped
# Usage: run-tests.sh BUILD_DIR   (after `make all build/san/kvmini`)
# Exit status 0 only when nothing failed. A skip prints its reason and
# never counts as a pass; how each result is counted: scripts/test-lib.sh.
set -uo pipefail
B=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/test-lib.sh"
passed=0 failed=0 skipped=0 failures=
log=$(mktemp)
trap 'rm -f "$log"' EXIT
sanitizer_env

# Without a usable /dev/kvm, the tests that run a guest are deferred to
# a VM that has one (scripts/nested-kvm.sh), when this host can start it.
defer=
if { [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; } && [ "${KVMINI_NO_NESTED:-}" != 1 ] &&
	"$here/nested-kvm.sh" available; then
	# In the build folder: the VM sees the project's folder, not /tmp.
	defer=$PWD/$B/deferred-tests
	: >"$defer"
fi

echo "== unit tests (Criterion, ASan + UBSan)"
units=0
for t in "$B"/san/tests/test_*; do
	[ -x "$t" ] || continue
	echo "-- $t"
	count_unit "$t" "$log"
	[ -z "$defer" ] || defer_unit "$t" "$log" "$defer"
	units=$((units + 1))
done
if [ "$units" -eq 0 ]; then
	count_failure "no unit-test binary in $B/san/tests"
fi

echo "== integration tests (bats, ASan + UBSan kvmini)"
KVMINI=$PWD/$B/san/kvmini GUESTS=$PWD/$B/guests KVMINI_DEFER_LIST=$defer \
	bats --tap tests/integration 2>&1 | tee "$log"
bats_rc=${PIPESTATUS[0]}
count_tap "$log"
if [ "$bats_rc" -ne 0 ] && ! grep -qa '^not ok ' "$log"; then
	count_failure "bats exited with status $bats_rc and no failing test"
fi

echo "== fuzz targets, ${FUZZ_TEST_SECONDS:=10} s each on their saved corpus (make fuzz runs longer)"
for src in tests/fuzz/fuzz_*.c; do
	name=${src#tests/fuzz/fuzz_}
	if scripts/fuzz.sh "$B" "${name%.c}" "$FUZZ_TEST_SECONDS"; then
		passed=$((passed + 1))
	else
		note_failure "fuzz target ${name%.c}"
		failed=$((failed + 1))
	fi
done

if [ -n "$defer" ]; then
	echo "== the $(wc -l <"$defer") deferred tests and the valgrind demo, in nested KVM VMs"
	echo "   (scripts/nested-kvm.sh: QEMU TCG with AMD SVM, Debian's kernel with kvm_amd)"
	# The test kernel is built here: building it in the VM would be slow.
	"$here/build-test-kernel.sh" >/dev/null
	# Two VMs, one per host core, each with whole files of the list.
	split_deferred "$defer" "$defer.1" "$defer.2"
	"$here/nested-kvm.sh" run . "scripts/run-deferred.sh $B $defer.1 --demo" >"$log.1" 2>&1 &
	first=$!
	"$here/nested-kvm.sh" run . "scripts/run-deferred.sh $B $defer.2" >"$log.2" 2>&1
	second=$?
	wait "$first"
	first=$?
	cat "$log.1" "$log.2" | tee "$log"
	before=$((passed + failed + skipped))
	count_tap "$log"
	ran=$((passed + failed + skipped - before))
	if [ "$ran" -ne $(($(wc -l <"$defer") + 1)) ]; then
		count_failure "$(wc -l <"$defer") deferred tests and the demo, but $ran results (VM statuses $first, $second)"
	elif [ "$first" -ne 0 ] || [ "$second" -ne 0 ]; then
		count_failure "a nested VM exited with status $first / $second"
	fi
	rm -f "$log.1" "$log.2"
elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "== the demo under valgrind"
	echo "skip: no usable /dev/kvm on this host: the demo runs a guest"
	skipped=$((skipped + 1))
elif echo "== the demo under valgrind" && scripts/valgrind-demo.sh "$B/kvmini"; then
	passed=$((passed + 1))
else
	note_failure "the demo under valgrind"
	failed=$((failed + 1))
fi

echo
[ -z "$failures" ] || printf 'failed:\n%s' "$failures"
echo "kvmini tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
