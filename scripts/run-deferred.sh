#!/usr/bin/env bash
# Run, where /dev/kvm works (inside scripts/nested-kvm.sh's VM), the
# bats tests a run without it deferred, then the demo under valgrind.
# Prints bats TAP; the demo's result is one more TAP line.
# Usage: run-deferred.sh BUILD_DIR DEFER_LIST
# DEFER_LIST holds "FILE<TAB>TEST NAME" lines (skip_without_kvm in
# tests/integration/helpers.bash writes them).
set -uo pipefail
B=$1 list=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/test-lib.sh"
sanitizer_env
export KVMINI=$PWD/$B/san/kvmini GUESTS=$PWD/$B/guests
echo "# KVM here: $(grep -m1 -o -w 'svm\|vmx' /proc/cpuinfo) in $(uname -r), $(nproc) CPUs"

# One bats run per file, selecting its deferred tests by exact name.
cut -f1 "$list" | awk '!seen[$0]++' | while IFS= read -r file; do
	names=$(awk -F'\t' -v f="$file" '$1 == f { print $2 }' "$list" |
		sed 's/[][\\.*^$(){}?+|/]/\\&/g' | paste -sd'|')
	bats --tap -f "^($names)\$" "$file"
done

if scripts/valgrind-demo.sh "$B/kvmini" >&2; then
	echo "ok 1 the demo under valgrind"
else
	echo "not ok 1 the demo under valgrind"
fi
