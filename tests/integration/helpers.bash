# Shared set-up for the integration tests: $KVMINI is the binary under
# test (the sanitizer build in `make test`), $GUESTS the built guests.
: "${KVMINI:=$BATS_TEST_DIRNAME/../../build/san/kvmini}"
: "${GUESTS:=$BATS_TEST_DIRNAME/../../build/guests}"

# ---- sanitizer reports fail the test, however kvmini was started ----
#
# Every sanitizer stops at its first report with a status no guest or
# kvmini gives (SANITIZER_EXIT, scripts/test-lib.sh) and writes the
# report to a file in this test's own directory: a report from a process
# run in the background or with its stderr redirected is found as surely
# as one from `run`. The `kvmini` helper checks right after each run;
# teardown checks whatever else ran.
. "$BATS_TEST_DIRNAME/../../scripts/test-lib.sh"
SANITIZER_LOG_DIR=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}}/sanitizer
mkdir -p "$SANITIZER_LOG_DIR" 2>/dev/null || true
sanitizer_env "$SANITIZER_LOG_DIR/report"

# Fail (status 1, the report printed) when a sanitizer reported anything
# in this test so far: in a log file, or in the text given (stderr).
# Reports stay on disk, so teardown fails the test too even where a
# caller ignored this function's status; sanitizer_forget() is only for
# the harness's own self-test.
sanitizer_check() {
	local found=0 f
	if [ -n "${1:-}" ] && grep -Eq "$SANITIZER_PATTERN" <<<"$1"; then
		echo "sanitizer report on stderr:"
		printf '%s\n' "$1"
		found=1
	fi
	for f in "$SANITIZER_LOG_DIR"/report*; do
		[ -e "$f" ] || continue
		echo "sanitizer report ($f):"
		cat "$f"
		found=1
	done
	[ "$found" -eq 0 ]
}

sanitizer_forget() {
	rm -f "$SANITIZER_LOG_DIR"/report*
}

# Every test file's teardown ends here (files with a teardown of their
# own call it last).
teardown() {
	sanitizer_teardown
}

sanitizer_teardown() {
	sanitizer_check "" || return 1
}

# Teardown for files that start kvmini in the background with its pid in
# KPID: end it if the test left it running, reap it, check for reports.
background_kvmini_teardown() {
	if [ -n "${KPID:-}" ] && kill -0 "$KPID" 2>/dev/null; then
		kill "$KPID" 2>/dev/null || true
	fi
	[ -z "${KPID:-}" ] || wait "$KPID" 2>/dev/null || true
	sanitizer_teardown
}

# Run kvmini with stdin closed off, capturing stdout and stderr apart;
# a sanitizer report fails the test at once.
kvmini() {
	run --separate-stderr "$KVMINI" "$@" </dev/null
	sanitizer_check "$stderr" || return 1
	skip_if_kvm_was_missing
}

# Boot a Linux kernel, or a bare-metal guest that waits for interrupts
# in `sti; hlt`: `kvmini_boot [--before FUNC] ARGS...` is
# `kvmini run ARGS...` (FUNC run first, e.g. to make fresh disk images),
# except in the nested KVM VM (KVMINI_NESTED=1), where a boot that hits
# its --timeout (status 8), or whose kernel panics with a fatal exception
# in an interrupt, is tried up to six times more, FUNC first each time, each
# retry said on the TAP stream. There QEMU's emulated SVM now and then
# delivers an external interrupt a second time inside its own handler,
# with IF clear (a delivery kvmini never makes: docs/testing.md has the
# evidence): Linux's handler then spins on the lock it holds, or, when
# the second delivery lands before the entry code's swapgs, faults on
# its own per-CPU data until its exception stack overflows; a bare
# guest's interrupt can land inside sti's shadow, before its hlt, which
# then waits for good. Anywhere else, and for any other outcome, the
# first run counts.
# Seven: under CI's load (two nested VMs on two cores) one boot in
# several stalls, and one test once stalled five times running.
BOOT_ATTEMPTS=7

kvmini_boot() {
	local before=: try
	if [ "$1" = --before ]; then
		before=$2
		shift 2
	fi
	"$before"
	kvmini run "$@"
	for try in $(seq 2 "$BOOT_ATTEMPTS"); do
		boot_retry_due "$status" "$try" "$output" || return 0
		"$before"
		kvmini run "$@"
	done
}

# `boot_retry_due STATUS TRY LOG`: true, said on the TAP stream, when a
# Linux boot that ended with STATUS and printed LOG on its console is to
# be tried again as attempt TRY (of BOOT_ATTEMPTS): only in the nested KVM VM, only
# after a --timeout (8) or the panic above (see kvmini_boot).
boot_retry_due() {
	local why
	[ "${KVMINI_NESTED:-}" = 1 ] && [ "$2" -le "$BOOT_ATTEMPTS" ] || return 1
	if [ "$1" -eq 8 ]; then
		why="the boot timed out"
	elif grep -qF "Kernel panic - not syncing: Fatal exception in interrupt" <<<"$3"; then
		why="the guest kernel panicked in an interrupt"
	else
		return 1
	fi
	echo "# nested KVM VM: $why; attempt $2 of $BOOT_ATTEMPTS (docs/testing.md)" >&3
}

# The same for any command line that starts kvmini itself (a pipeline,
# a pty through script(1), timeout(1)): `run_checked CMD...`.
run_checked() {
	run --separate-stderr "$@"
	sanitizer_check "$stderr" || return 1
	skip_if_kvm_was_missing
}

# Assert the last command's exit status, showing its output on failure.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit status $1, got $status"
		echo "stdout: $output"
		echo "stderr: $stderr"
		return 1
	fi
}

assert_stdout() {
	if [ "$output" != "$1" ]; then
		echo "expected stdout: $(printf '%q' "$1")"
		echo "got stdout:      $(printf '%q' "$output")"
		echo "stderr: $stderr"
		return 1
	fi
}

assert_stderr_has() {
	if [[ "$stderr" != *"$1"* ]]; then
		echo "expected stderr to contain: $1"
		echo "got stderr: $stderr"
		return 1
	fi
}

# The error message must be one line.
assert_one_line_error() {
	local lines
	lines=$(printf '%s' "$stderr" | grep -c '' || true)
	if [ "$lines" -ne 1 ]; then
		echo "expected a one-line error, got $lines lines: $stderr"
		return 1
	fi
}

# After a run: when kvmini stopped because this host has no /dev/kvm
# (and the test did not point KVMINI_DEV elsewhere on purpose), the test
# needed a guest it cannot have here: skip it with that reason. On a
# host with /dev/kvm this never skips.
skip_if_kvm_was_missing() {
	[ -z "${KVMINI_DEV:-}" ] && [ ! -e /dev/kvm ] && [ "$status" -eq 4 ] &&
		[[ "$stderr$output" == *"/dev/kvm does not exist"* ]] &&
		skip_without_kvm /dev/kvm
	return 0
}

# A test that runs a guest needs KVM. On a host without /dev/kvm (or
# where it cannot be opened) it is skipped with the reason, and counted
# as a skip, never as a pass.
needs_kvm() {
	local dev=${KVMINI_DEV:-/dev/kvm}
	[ -r "$dev" ] && [ -w "$dev" ] || skip_without_kvm "$dev"
}

# Skip a test that needs the KVM device DEV. With KVMINI_DEFER_LIST set
# (scripts/run-tests.sh, when a nested KVM VM will run the test
# instead), the test is listed there and skipped as "deferred", which
# counts nowhere until it runs in that VM (scripts/run-deferred.sh).
skip_without_kvm() {
	if [ -n "${KVMINI_DEFER_LIST:-}" ]; then
		printf '%s\t%s\n' "$BATS_TEST_FILENAME" "$BATS_TEST_DESCRIPTION" >>"$KVMINI_DEFER_LIST"
		skip "deferred: no usable $1 on this host; runs in the nested KVM VM"
	fi
	skip "no usable $1 on this host: this test runs a guest"
}

# Wait, bounded (120 s), until FILE holds COUNT (default 1) lines with
# TEXT: tests wait for what they need to see, never for a guessed time.
# `wait_for_text FILE TEXT [COUNT]`
wait_for_text() {
	local limit=$((SECONDS + 120)) want=${3:-1} n
	while :; do
		n=$(grep -cF -- "$2" "$1" 2>/dev/null || true)
		[ "${n:-0}" -ge "$want" ] && return 0
		if [ "$SECONDS" -ge "$limit" ]; then
			echo "only ${n:-0} of $want lines with '$2' in $1 after 120 s"
			return 1
		fi
		sleep 0.02
	done
}

# Run a shell command line on a pseudo-terminal (script(1)) and type
# INPUT (a printf format) at it once FILE holds a line with TEXT, a line
# the guest prints once it runs, and so once the terminal is in raw
# mode (guests/ready.h prints "ready"): `on_pty FILE TEXT INPUT CMDLINE`.
# Sets $output (what the terminal showed) and $status (script's).
on_pty() {
	local file=$1 text=$2 input=$3 cmd=$4 log=$BATS_TEST_TMPDIR/pty
	: >"$log"
	status=0
	timeout 120 script -qfec "$cmd" /dev/null \
		< <(wait_for_text "$file" "$text" >/dev/null; printf "$input") >"$log" 2>&1 || status=$?
	output=$(cat "$log")
	sanitizer_check "" || return 1
}

# setup_file of the files that boot kvmini's test kernel: TEST_KERNEL,
# its cache folder. Checked before the build: a host that cannot run a
# guest builds nothing, and each test's needs_kvm skips or defers it.
test_kernel_find() {
	local dev=${KVMINI_DEV:-/dev/kvm}
	if [ -r "$dev" ] && [ -w "$dev" ]; then
		TEST_KERNEL=$("$BATS_TEST_DIRNAME/../../scripts/build-test-kernel.sh")
		export TEST_KERNEL
	fi
}
