# Shared set-up for the integration tests: $KVMINI is the binary under
# test (the sanitizer build in `make test`), $GUESTS the built guests.
: "${KVMINI:=$BATS_TEST_DIRNAME/../../build/san/kvmini}"
: "${GUESTS:=$BATS_TEST_DIRNAME/../../build/guests}"

# Run kvmini with stdin closed off, capturing stdout and stderr apart.
kvmini() {
	run --separate-stderr "$KVMINI" "$@" </dev/null
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
