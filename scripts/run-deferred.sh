#!/usr/bin/env bash
# Run, where /dev/kvm works (inside scripts/nested-kvm.sh's VM), the
# bats and unit tests a run without it deferred, and with --demo the
# demo under valgrind. Prints TAP: one line per test, and the demo's.
# Usage: run-deferred.sh BUILD_DIR DEFER_LIST [--demo]
# DEFER_LIST holds "FILE<TAB>TEST NAME" lines (skip_without_kvm in
# tests/integration/helpers.bash writes them) and "unit<TAB>BIN<TAB>
# SUITE/TEST" lines (defer_unit in scripts/test-lib.sh).
set -uo pipefail
B=$1 list=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/test-lib.sh"
sanitizer_env
export KVMINI=$PWD/$B/san/kvmini GUESTS=$PWD/$B/guests
echo "# KVM here: $(grep -m1 -o -w 'svm\|vmx' /proc/cpuinfo) in $(uname -r), $(nproc) CPUs"

# A deferred unit test, run alone; its result as one TAP line.
unit_tap() {   # BIN SUITE/TEST
	local log rc=0 reason name=${2%%/*}::${2#*/}
	log=$(mktemp)
	"$1" --verbose --filter "$2" >"$log" 2>&1 || rc=$?
	# Criterion lists the filtered-out tests as skipped too: only NAME's lines count.
	reason=$(grep -aF "[SKIP] $name: " "$log" | head -n 1 | sed 's/^[^:]*::[^:]*: //')
	if grep -Eaq "$SANITIZER_PATTERN" "$log" || { [ "$rc" -ne 0 ] && [ -z "$reason" ]; } ||
		! grep -aqF -e "[PASS] $name" -e "[SKIP] $name: " "$log"; then
		echo "not ok 1 $1 $2 (status $rc)"
		sed 's/^/# /' "$log"
	elif [ -n "$reason" ]; then
		echo "ok 1 $1 $2 # skip $reason"
	else
		echo "ok 1 $1 $2"
	fi
	rm -f "$log"
}

awk -F'\t' '$1 == "unit" { print $2 "\t" $3 }' "$list" | while IFS=$'\t' read -r bin t; do
	unit_tap "$bin" "$t"
done

# One bats run per file, selecting its deferred tests by exact name.
grep -v '^unit	' "$list" | cut -f1 | awk '!seen[$0]++' | while IFS= read -r file; do
	names=$(awk -F'\t' -v f="$file" '$1 == f { print $2 }' "$list" |
		sed 's/[][\\.*^$(){}?+|/]/\\&/g' | paste -sd'|')
	bats --tap -f "^($names)\$" "$file"
done

[ "${3:-}" = --demo ] || exit 0
if scripts/valgrind-demo.sh "$B/kvmini" >&2; then
	echo "ok 1 the demo under valgrind"
else
	echo "not ok 1 the demo under valgrind"
fi
