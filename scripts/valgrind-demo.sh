#!/usr/bin/env bash
# Run the built-in demo under valgrind: it must print "4" and report no
# leaks and no errors (valgrind's exit code 99 marks either).
# --seccomp off: valgrind does not implement seccomp(2), so no filter
# can be installed under it; the filters have their own tests.
set -euo pipefail
kvmini=${1:-build/kvmini}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
out=$(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --log-file="$log" "$kvmini" run --seccomp off </dev/null) || {
	rc=$?
	cat "$log"
	echo "valgrind: kvmini exited with $rc" >&2
	exit 1
}
if [ "$out" != "4" ]; then
	echo "valgrind: expected the demo to print 4, got: $out" >&2
	exit 1
fi
grep -E "ERROR SUMMARY|definitely lost|in use at exit" "$log" || true
echo "valgrind: demo printed 4; no leaks, no errors"
