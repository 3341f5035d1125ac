# How scripts/run-tests.sh counts: sourced by it and by the harness's
# own self-test (tests/integration/harness.bats), so the counting that
# decides whether `make test` passes is itself tested.
#
# Each function adds to the globals passed, failed and skipped, and
# names each failure in the global failures (one line each), which
# run-tests.sh prints last: a CI log's tail then says what failed.

# note_failure WHAT: add one line to the list of failures.
note_failure() {
	failures="${failures:-}  $*"$'\n'
}

# count_failure WHAT: a failure no test reported itself: said now,
# counted and listed.
count_failure() {
	echo "FAIL: $*"
	note_failure "$*"
	failed=$((failed + 1))
}

# The lines that start a sanitizer report.
SANITIZER_PATTERN='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer'

# Sanitizers stop at the first report with this status, one that no
# guest (odd statuses), kvmini (even statuses up to 12, 124, 128+signal)
# or test program produces: a report can never pass for a guest's
# success, as ASan's default status 1 did.
SANITIZER_EXIT=222
# sanitizer_env [LOG_PREFIX]: export the options; with LOG_PREFIX,
# reports go to files LOG_PREFIX.PID instead of stderr.
sanitizer_env() {
	local opts="halt_on_error=1:exitcode=$SANITIZER_EXIT"
	[ -z "${1:-}" ] || opts="$opts:log_path=$1"
	export ASAN_OPTIONS="$opts:detect_leaks=1:abort_on_error=0"
	export UBSAN_OPTIONS="$opts:print_stacktrace=1"
	export LSAN_OPTIONS="$opts"
}

# count_unit BIN LOG: run one Criterion binary, its output to LOG and,
# without the per-test RUN/PASS lines, to stdout. Its tests count as
# passed, failed (failing or crashing) and skipped (each with its
# reason). The binary as a whole counts one failure more when it exits
# non-zero, prints no summary, or prints a sanitizer report: Criterion
# itself can pass every test and still exit non-zero.
count_unit() {
	local bin=$1 log=$2 rc=0 line p f c s
	"$bin" --verbose >"$log" 2>&1 || rc=$?
	grep -av '^\[RUN \]\|^\[PASS\]' "$log" || true
	line=$(grep -a 'Synthesis:' "$log" | tail -n 1)
	p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
	f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
	c=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
	s=$(grep -ac '^\[SKIP\]' "$log" || true)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${c:-0}))
	skipped=$((skipped + s))
	while IFS= read -r line; do
		note_failure "$bin ${line#\[FAIL\] }"
	done < <(grep -a '^\[FAIL\]' "$log")
	if [ -z "$p" ]; then
		count_failure "$bin: no Criterion summary (exit status $rc)"
	elif grep -Eaq "$SANITIZER_PATTERN" "$log"; then
		count_failure "$bin: a sanitizer report"
	elif [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && [ "${c:-0}" -eq 0 ]; then
		count_failure "$bin: exit status $rc with no failing test"
	fi
}

# count_tap LOG: a bats --tap log. "ok N ... # skip REASON" is a skip,
# printed with its reason; "not ok" a failure; any other "ok" a pass.
# A skip whose reason starts with "deferred" counts nowhere: the test
# runs again where KVM works (scripts/nested-kvm.sh) and counts there.
count_tap() {
	local log=$1 p f s d line
	d=$(grep -Eac '^ok [0-9]+ .* # skip deferred' "$log" || true)
	s=$(grep -Eac '^ok [0-9]+ .* # skip' "$log" || true)
	p=$(grep -Eac '^ok [0-9]+ ' "$log" || true)
	f=$(grep -Eac '^not ok [0-9]+ ' "$log" || true)
	passed=$((passed + p - s))
	failed=$((failed + f))
	skipped=$((skipped + s - d))
	while IFS= read -r line; do
		note_failure "${line#not ok [0-9]* }"
	done < <(grep -Ea '^not ok [0-9]+ ' "$log")
	if [ "$s" -gt "$d" ]; then
		echo "skipped:"
		grep -Ea '^ok [0-9]+ .* # skip' "$log" | grep -v '# skip deferred' | sed 's/^ok [0-9]* /  /'
	fi
	[ "$d" -eq 0 ] || echo "deferred to the nested KVM VM: $d"
}

# The skip reason of a test that runs a guest where /dev/kvm is missing
# (tests/unit/kvm_skip.h, tests/integration/helpers.bash).
KVM_SKIP_PATTERN='no usable [^ ]* on this host: this test runs a guest'

# defer_unit BIN LOG LIST: after count_unit, the tests of BIN that
# skipped for want of KVM go to LIST as "unit<TAB>BIN<TAB>suite/test"
# (scripts/run-deferred.sh runs them where KVM works) and leave the
# skip count: they count where they run.
defer_unit() {
	local n
	n=$(grep -Eac "^\[SKIP\] .*: $KVM_SKIP_PATTERN" "$2" || true)
	[ "$n" -gt 0 ] || return 0
	grep -Ea "^\[SKIP\] .*: $KVM_SKIP_PATTERN" "$2" |
		sed 's/^\[SKIP\] \([^:]*\)::\([^:]*\):.*/\1\/\2/' |
		while IFS= read -r t; do printf 'unit\t%s\t%s\n' "$1" "$t"; done >>"$3"
	skipped=$((skipped - n))
	echo "deferred to the nested KVM VM: $n"
}

# split_deferred LIST A B: the deferred tests in two lists of about the
# same running time, a bats file's tests never split (one bats run per
# file); unit tests are spread one by one. In the nested VM a test that
# boots the Linux test kernel (tests/integration/linux*.bats) takes a
# minute or more and one that boots Debian's kernel (test_kernel.bats)
# several, the others seconds: they weigh 20 and 40.
split_deferred() {
	# Heaviest first, each to the lighter list (longest processing time
	# first); equal weights keep the list's order.
	awk -F'\t' -v a="$2" -v b="$3" '
		{ key = ($1 == "unit") ? "unit" NR : $1; if (!(key in n)) order[++k] = key
		  n[key] += ($1 ~ /\/linux[^\/]*\.bats$/) ? 20 : ($1 ~ /\/test_kernel\.bats$/) ? 40 : 1
		  lines[key] = lines[key] $0 "\n" }
		END { printf "" > a; printf "" > b
		      for (i = 1; i <= k; i++)
			for (j = i; j > 1 && n[order[j]] > n[order[j - 1]]; j--) {
				t = order[j]; order[j] = order[j - 1]; order[j - 1] = t }
		      for (i = 1; i <= k; i++) {
			key = order[i]
			if (na <= nb) { printf "%s", lines[key] > a; na += n[key] }
			else { printf "%s", lines[key] > b; nb += n[key] } } }' "$1"
}
