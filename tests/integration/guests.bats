#!/usr/bin/env bats
# Each in-repo guest's exact output and exit status.
bats_require_minimum_version 1.5.0
load helpers

@test "the built-in demo adds 2 and 2 and prints 4" {
	kvmini run
	assert_status 0
	assert_stdout "4"
	[ -z "$stderr" ]
}

@test "the demo built from guests/demo.S gives the same result as the built-in one" {
	kvmini run "$GUESTS/demo.bin"
	assert_status 0
	assert_stdout "4"
}

@test "hello in real mode" {
	kvmini run "$GUESTS/hello_real.bin"
	assert_status 0
	assert_stdout "Hello from real mode!"
}

@test "hello in protected mode (ELF32 detected automatically)" {
	kvmini run "$GUESTS/hello_protected.elf"
	assert_status 0
	assert_stdout "Hello from protected mode!"
}

@test "hello in long mode (ELF64, C guest)" {
	kvmini run "$GUESTS/hello_long.elf"
	assert_status 0
	assert_stdout "Hello from long mode!"
}

@test "an ELF given as --format elf with --mode long explicitly" {
	kvmini run --format elf --mode long "$GUESTS/hello_long.elf"
	assert_status 0
	assert_stdout "Hello from long mode!"
}

@test "a raw real-mode image at a chosen load address (cs:ip = 2000:0000)" {
	kvmini run --load-addr 0x20000 "$GUESTS/demo.bin"
	assert_status 0
	assert_stdout "4"
}

@test "a raw long-mode image at a chosen load address and entry" {
	# hello_long.bin is hello_long.elf flattened: its bytes start at 1 MiB.
	entry=$(readelf -h "$GUESTS/hello_long.elf" | awk '/Entry point/ {print $4}')
	kvmini run --format raw --mode long --load-addr 0x100000 --entry "$entry" "$GUESTS/hello_long.bin"
	assert_status 0
	assert_stdout "Hello from long mode!"
}

@test "debug-exit: value 42 ends with status 85" {
	kvmini run "$GUESTS/exit_code_42.bin"
	assert_status 85
	assert_stdout ""
}

@test "debug-exit: value 0 ends with status 1" {
	kvmini run "$GUESTS/exit_code_0.bin"
	assert_status 1
}

@test "debug-exit: value 200 ends with status (401 & 255) = 145" {
	kvmini run "$GUESTS/exit_code_200.bin"
	assert_status 145
}

@test "debug-exit reason is reported with --verbose" {
	kvmini run --verbose "$GUESTS/exit_code_42.bin"
	assert_status 85
	assert_stderr_has "guest wrote 0x2a to the debug-exit port"
}

@test "debug console on port 0xe9 (and string I/O to it)" {
	kvmini run "$GUESTS/debugcon.bin"
	assert_status 0
	assert_stdout "debugcon ok"
}

@test "string I/O: rep outsb, and rep insw from an unclaimed port" {
	kvmini run "$GUESTS/outs.bin"
	assert_status 0
	assert_stdout "string I/O works
ff"
}

@test "a triple fault stops the VM with status 6 and a register dump" {
	kvmini run "$GUESTS/triple_fault.elf"
	assert_status 6
	assert_stdout ""
	assert_stderr_has "guest triple-faulted (KVM_EXIT_SHUTDOWN)"
	assert_stderr_has "vCPU 0 registers:"
	assert_stderr_has "rip="
	assert_stderr_has "cr0="
	assert_stderr_has "efer="
	if grep -qm1 AuthenticAMD /proc/cpuinfo; then
		# KVM on AMD reinitialises the VMCB at a shutdown: reset values.
		assert_stderr_has " cs  sel=f000"
		assert_stderr_has "(AMD: KVM reinitialises the VMCB at a shutdown: these are reset values)"
	else
		assert_stderr_has " cs  sel=0008"
	fi
}

@test "--timeout ends a looping guest with status 8" {
	# timeout(1) only bounds a hang (status 124); kvmini must end it first.
	run_checked timeout 120 "$KVMINI" run --timeout 0.5 "$GUESTS/loop.bin" </dev/null
	assert_status 8
	assert_stderr_has "guest still running after the 0.5-second timeout"
}

@test "unclaimed port reads are all-ones and writes are ignored" {
	kvmini run "$GUESTS/unclaimed.bin"
	assert_status 0
	assert_stdout "ff"
	[ -z "$stderr" ]
}

@test "--verbose reports unclaimed port accesses" {
	kvmini run --verbose "$GUESTS/unclaimed.bin"
	assert_status 0
	assert_stderr_has "unclaimed port read 0x81 (1 byte(s))"
	assert_stderr_has "unclaimed port write 0x80 (1 byte(s))"
}

@test "--strict-io makes an unclaimed port access fatal (status 10)" {
	kvmini run --strict-io "$GUESTS/unclaimed.bin"
	assert_status 10
	assert_stdout ""
	assert_stderr_has "read of 1 byte(s) at unclaimed port address 0x81 (--strict-io)"
}

@test "unclaimed MMIO reads are all-ones and writes are ignored" {
	kvmini run "$GUESTS/mmio.elf"
	assert_status 1
	assert_stdout "mmio read 0x00000000ffffffff
mmio write done"
}

@test "--strict-io makes an unclaimed MMIO access fatal" {
	kvmini run --strict-io "$GUESTS/mmio.elf"
	assert_status 10
	assert_stderr_has "unclaimed MMIO address 0xd0000000"
}

@test "--serial file:PATH writes COM1 output to the file" {
	out="$BATS_TEST_TMPDIR/serial.txt"
	kvmini run --serial "file:$out"
	assert_status 0
	assert_stdout ""
	[ "$(od -An -c "$out" | tr -s ' ')" = " 4 \n" ]
}

@test "memfd-backed and pre-faulted memory run the demo" {
	kvmini run --mem-shared
	assert_status 0
	assert_stdout "4"
	kvmini run --mem-prefault --mem 128M
	assert_status 0
	assert_stdout "4"
	kvmini run --mem-shared --mem-prefault
	assert_status 0
	assert_stdout "4"
}

@test "long mode with more than 3 GiB of RAM (memory above 4 GiB)" {
	kvmini run --mem 5G "$GUESTS/hello_long.elf"
	assert_status 0
	assert_stdout "Hello from long mode!"
}

@test "COM1 input from a pipe reaches a polling guest" {
	run_checked "$KVMINI" run "$GUESTS/echo.bin" < <(printf 'hello, guest\n')
	assert_status 0
	assert_stdout "hello, guest"
}

@test "every UART register behaves as a 16550A's (guest-side checks)" {
	kvmini run "$GUESTS/uart_regs.elf"
	assert_status 1
	[[ "$output" == *"uart: all checks passed"* ]] || { echo "$output"; false; }
}

@test "SIGTERM stops a running guest with status 12" {
	needs_kvm
	"$KVMINI" run "$GUESTS/loop_ready.bin" </dev/null >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for_text "$BATS_TEST_TMPDIR/out" ready   # the guest runs: kvmini handles signals
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -q "stopped by the user" "$BATS_TEST_TMPDIR/err"
}

# The names of a running kvmini's threads, sorted, on one line.
thread_names() {
	cat /proc/"$1"/task/*/comm | LC_ALL=C sort | tr '\n' ' '
}

# Wait, bounded (120 s), until process PID's threads are named NAMES
# (sorted, each followed by a space): threads name themselves as they
# start, so the test waits for that event rather than a time.
wait_for_thread_names() {
	local limit=$((SECONDS + 120))
	names=$(thread_names "$1")
	while [ "$names" != "$2" ] && [ "$SECONDS" -lt "$limit" ]; do
		sleep 0.02
		names=$(thread_names "$1")
	done
}

@test "threads: the process carries --name, the vCPUs are vcpu0 and vcpu1" {
	needs_kvm
	"$KVMINI" run --name web1 --cpus 2 "$GUESTS/loop_ready.bin" </dev/null \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for_text "$BATS_TEST_TMPDIR/out" ready
	wait_for_thread_names "$pid" "vcpu0 vcpu1 web1 "
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$names" = "vcpu0 vcpu1 web1 " ] || { echo "threads: $names"; false; }
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -qF "kvmini[web1]: stopped by the user" "$BATS_TEST_TMPDIR/err"
}

@test "threads: without --name the process is named after the image" {
	needs_kvm
	"$KVMINI" run "$GUESTS/loop_ready.bin" </dev/null >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for_text "$BATS_TEST_TMPDIR/out" ready
	wait_for_thread_names "$pid" "loop_ready vcpu0 "
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$names" = "loop_ready vcpu0 " ] || { echo "threads: $names"; false; }
	grep -qF "kvmini: stopped by the user" "$BATS_TEST_TMPDIR/err"
}

# The event loop's thread starts when something needs it
# (src/event_loop.h): here the console, watching a pipe on stdin. The
# guest and the other threads are the test above's, which had none.
@test "threads: the event loop's thread (evloop) starts once the console watches stdin" {
	needs_kvm
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 4<>"$BATS_TEST_TMPDIR/in"   # a writer that stays: no end of input
	"$KVMINI" run "$GUESTS/loop_ready.bin" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for_text "$BATS_TEST_TMPDIR/out" ready
	wait_for_thread_names "$pid" "evloop loop_ready vcpu0 "
	kill -TERM "$pid"
	wait "$pid" || true
	exec 4>&-
	[ "$names" = "evloop loop_ready vcpu0 " ] || { echo "threads: $names"; false; }
}

@test "on a terminal, Ctrl-A x quits with status 12 and restores the terminal" {
	needs_kvm
	# script(1) gives kvmini a pseudo-terminal fed from our pipe; stty
	# prints the terminal's settings after kvmini has gone.
	on_pty "$BATS_TEST_TMPDIR/pty" ready '\001x' \
		"stty -a | grep -o -- '-\\?icanon'; $KVMINI run $GUESTS/loop_ready.bin; echo status=\$?; stty -a | grep -o -- '-\\?icanon'"
	[[ "$output" == *"stopped by the user"* ]] || { echo "$output"; false; }
	[[ "$output" == *"status=12"* ]] || { echo "$output"; false; }
	# canonical mode (icanon) before and after: raw mode did not leak out
	[ "$(printf '%s\n' "$output" | grep -c '^icanon')" -eq 2 ] || { echo "$output"; false; }
}

@test "on a terminal, Ctrl-A Ctrl-A sends one Ctrl-A to the guest" {
	needs_kvm
	local guest=$BATS_TEST_TMPDIR/guest
	on_pty "$guest" ready 'a\001\001b\n' "$KVMINI run $GUESTS/echo_ready.bin >$guest"
	[ "$status" -eq 0 ] || { echo "status $status: $output"; false; }
	[[ "$(od -An -c "$guest")" == *"a 001   b"* ]] || { od -An -c "$guest"; false; }
}

@test "an instruction KVM cannot emulate is completed by kvmini, or runs natively" {
	kvmini run --verbose "$GUESTS/emulation_failure.elf"
	assert_status 1
	assert_stdout "cmpxchg16b ran"
	if grep -qwE 'vmx|svm' /proc/cpuinfo; then
		# Hardware virtualization runs guest kernel code natively.
		echo "# host has vmx/svm: cmpxchg16b ran natively" >&3
	else
		# PVM emulates guest kernel code, and its emulator has no
		# cmpxchg16b: kvmini completed it (src/completion.c).
		echo "# host has no vmx/svm (PVM): cmpxchg16b completed by kvmini" >&3
		assert_stderr_has "kvmini: instructions completed in user space: cmpxchg8b/16b 1"
	fi
}

# ---- a guest cannot stall kvmini through its output ----

# A test that failed half-way leaves its background kvmini (and the
# stuck reader) running; they hold bats' output open, so the whole run
# would wait on them. A failed test's kvmini is killed outright: it may
# be the wedged one.
teardown() {
	local p
	[ -n "${BATS_TEST_COMPLETED:-}" ] ||
	for p in ${KPID:-} ${READER:-} ${pid:-}; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	sanitizer_teardown
}

# Start kvmini in the background with its stdout on a FIFO that a process
# holds open and never reads (a full pipe nobody drains). Sets KPID.
start_with_stuck_reader() {
	local fifo=$BATS_TEST_TMPDIR/stuck
	mkfifo "$fifo"
	sleep 1000 <"$fifo" &
	READER=$!
	"$KVMINI" "$@" >"$fifo" 2>"$BATS_TEST_TMPDIR/err" </dev/null &
	KPID=$!
}

# Wait, bounded, for kvmini to end; sets status. A kvmini still running
# after 60 s is wedged: it is killed and the test fails.
wait_for_kvmini() {
	local limit=$((SECONDS + 60))
	while kill -0 "$KPID" 2>/dev/null && [ "$SECONDS" -lt "$limit" ]; do
		sleep 0.05
	done
	if kill -0 "$KPID" 2>/dev/null; then
		kill -KILL "$KPID" "$READER" 2>/dev/null
		echo "kvmini is wedged: still running 60 s later"
		return 1
	fi
	status=0
	wait "$KPID" || status=$?
	kill "$READER" 2>/dev/null || true
}

@test "a guest flooding COM1 while nobody reads still ends at --timeout (status 8)" {
	needs_kvm
	start_with_stuck_reader run --timeout 2 "$GUESTS/outs_flood_com1.bin"
	wait_for_kvmini
	[ "$status" -eq 8 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -q "guest still running after the 2-second timeout" "$BATS_TEST_TMPDIR/err"
}

@test "a guest flooding the debug console while nobody reads still ends on SIGTERM" {
	needs_kvm
	start_with_stuck_reader run "$GUESTS/outs_flood_debugcon.bin"
	# Its vCPU thread exists once the guest runs: kvmini handles SIGTERM
	# from then on.
	local limit=$((SECONDS + 60))
	until cat /proc/$KPID/task/*/comm 2>/dev/null | grep -qx vcpu0; do
		[ "$SECONDS" -lt "$limit" ] || { echo "kvmini never started its vCPU"; false; }
		sleep 0.02
	done
	kill -TERM "$KPID"
	wait_for_kvmini
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
}
