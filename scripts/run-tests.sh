#!/usr/bin/env bash
# Run every test kvmini has — unit (Criterion), integration (bats), the
# demo under valgrind — and end with one line: "N passed, N failed".
# Usage: run-tests.sh BUILD_DIR   (after `make all build/san/kvmini`)
set -uo pipefail
B=${1:-build}
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit tests (Criterion, ASan + UBSan)"
for t in "$B"/san/tests/test_*; do
	[ -x "$t" ] || continue
	"$t" 2>&1 | tee "$log"
	line=$(grep -a 'Synthesis:' "$log" | tail -n 1)
	p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
	f=$(sed -n 's/.*Failing: \([0-9]*\).*Crashing: \([0-9]*\).*/\1 \2/p' <<<"$line")
	if [ -z "$p" ]; then
		echo "$t: no Criterion summary (crashed?)"
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + p))
	for n in $f; do failed=$((failed + n)); done
done

echo "== integration tests (bats, ASan + UBSan kvmini)"
KVMINI=$PWD/$B/san/kvmini GUESTS=$PWD/$B/guests bats --tap tests/integration 2>&1 | tee "$log"
passed=$((passed + $(grep -c '^ok ' "$log")))
failed=$((failed + $(grep -c '^not ok ' "$log")))

echo "== the demo under valgrind"
if scripts/valgrind-demo.sh "$B/kvmini"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

echo
echo "kvmini tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
