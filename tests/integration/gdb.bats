#!/usr/bin/env bats
# Debian's gdb, in batch mode, against kvmini's gdb stub (kvmini run
# --gdb) and guests/gdb_target.c, an ELF guest with symbols. Every test
# is bounded: kvmini gets --timeout, gdb runs under timeout(1), and bats
# stops any test after BATS_TEST_TIMEOUT seconds. Ports are picked by the
# kernel (--gdb tcp:127.0.0.1:0; kvmini prints the one it got).
#
# What this host's KVM cannot do is said in the TAP output ("# ..."):
# the stub probes it at start and prints what it works around.
bats_require_minimum_version 1.5.0
load helpers

BATS_TEST_TIMEOUT=120

setup() {
	needs_kvm
	GUEST="$GUESTS/gdb_target.elf"
	OUT="$BATS_TEST_TMPDIR/out"
	ERR="$BATS_TEST_TMPDIR/err"
	KPID=
}

teardown() {
	background_kvmini_teardown
}

# Start kvmini in the background with the stub on a free port, waiting for
# gdb before the guest's first instruction. Sets KPID and PORT.
start_kvmini() {   # [kvmini run options...] [--image FILE]
	local image="$GUEST"
	local args=()
	while [ $# -gt 0 ]; do
		if [ "$1" = --image ]; then image=$2; shift 2; else args+=("$1"); shift; fi
	done
	: >"$ERR"   # exists before the background shell opens it, for sed below
	"$KVMINI" run --gdb tcp:127.0.0.1:0 --gdb-wait --timeout 60 "${args[@]}" "$image" \
		>"$OUT" 2>"$ERR" </dev/null &
	KPID=$!
	PORT=
	for _ in $(seq 200); do
		PORT=$(sed -n 's/.*listening on tcp:127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$ERR")
		[ -n "$PORT" ] && return 0
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "kvmini did not start listening; stderr:"
	cat "$ERR"
	return 1
}

# A test that plants a breakpoint: skipped where this host's KVM delivers
# neither int3 nor debug-register breakpoints to a debugger (QEMU's TCG
# emulating SVM, in scripts/nested-kvm.sh's VM): kvmini then refuses
# breakpoints and says so as it starts.
needs_breakpoints() {
	local why
	why=$(grep -o 'int3 does not reach the debugger here.*breakpoints are refused' "$ERR") ||
		return 0
	skip "this host's KVM cannot stop a guest at a breakpoint: $why"
}

# Run gdb in batch mode; each argument is one gdb command. Output in $output.
gdb_batch() {
	local cmds=(-ex 'set pagination off' -ex 'set confirm off'
		    -ex "file ${GDB_FILE-$GUEST}" -ex "target remote ${GDB_TARGET:-127.0.0.1:$PORT}")
	for c in "$@"; do
		cmds+=(-ex "$c")
	done
	run timeout 60 gdb -batch -nx "${cmds[@]}"
}

# Wait for kvmini to end; its exit status in KSTATUS, output in KOUT.
wait_kvmini() {
	KSTATUS=0
	wait "$KPID" || KSTATUS=$?
	KPID=
	KOUT=$(cat "$OUT")
}

assert_has() {   # TEXT NEEDLE
	if [[ "$1" != *"$2"* ]]; then
		echo "expected to find: $2"
		echo "in: $1"
		return 1
	fi
}

assert_gdb_has() {
	assert_has "$output" "$1"
}

assert_kvmini() {   # STATUS STDOUT
	if [ "$KSTATUS" -ne "$1" ] || [ "$KOUT" != "$2" ]; then
		echo "kvmini: status $KSTATUS (want $1)"
		echo "stdout: $KOUT"
		echo "want:   $2"
		echo "stderr: $(cat "$ERR")"
		return 1
	fi
}

NORMAL_OUTPUT="gdb_target: start
value 1
value 11
value 21
gdb_target: done"
# What the guest prints when gdb sets `spin` before its first loop.
SPIN_OUTPUT="gdb_target: start
gdb_target: spinning
${NORMAL_OUTPUT#gdb_target: start
}"

@test "gdb: break on a function, continue, read a register and a local variable" {
	start_kvmini
	needs_breakpoints
	gdb_batch 'break compute' 'continue' 'print n' 'print $rdi' 'info registers rip' \
		'next' 'print local' 'bt' 'detach'
	assert_gdb_has "Breakpoint 1, compute (n=n@entry=0) at guests/gdb_target.c:29"
	assert_gdb_has '$1 = 0'
	assert_gdb_has '$2 = 0'
	assert_gdb_has '<compute>'
	assert_gdb_has '$3 = 1'                  # local = 0 * 10 + 1
	assert_gdb_has "#1  0x"
	assert_gdb_has "in main () at guests/gdb_target.c"
	assert_gdb_has "[Inferior 1 (Remote target) detached]"
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: continue to the second call and read its argument" {
	start_kvmini
	needs_breakpoints
	gdb_batch 'break compute' 'continue' 'continue' 'print n' 'info breakpoints' 'detach'
	assert_gdb_has "Breakpoint 1, compute (n=n@entry=1)"
	assert_gdb_has "breakpoint already hit 2 times"
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: single-step by instruction and by line" {
	start_kvmini
	needs_breakpoints
	gdb_batch 'break compute' 'continue' 'print $pc' 'stepi' 'print $pc' 'stepi' 'print $pc' \
		'next' 'info line *$pc' 'detach'
	# three distinct program counters: each stepi moved exactly one instruction on
	local pcs
	pcs=$(grep -o '^\$[1-3] = (void (\*)()) 0x[0-9a-f]*' <<<"$output" | awk '{print $NF}' | sort -u | wc -l)
	[ "$pcs" -eq 3 ] || { echo "stepi did not advance: $output"; return 1; }
	assert_gdb_has 'Line 30 of "guests/gdb_target.c"'
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: a watchpoint stops the guest where it writes" {
	start_kvmini
	gdb_batch 'watch counter' 'continue' 'continue' 'info watchpoints' 'delete' 'detach'
	assert_gdb_has "Hardware watchpoint 1: counter"
	assert_gdb_has "Old value = 0
New value = 1"
	assert_gdb_has "Old value = 1
New value = 2"
	assert_gdb_has "compute (n=n@entry=1) at guests/gdb_target.c:31"
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
	if grep -q "raises no data breakpoints" "$ERR"; then
		echo "# this host's KVM raises no data breakpoints: the watchpoint was emulated by single-stepping" >&3
		echo "# $(grep -o 'KVM_GUESTDBG_USE_HW_BP, DR7 write slot: KVM_RUN gave [A-Z_]*' "$ERR")" >&3
	fi
}

@test "gdb: read and access watchpoints are refused where data breakpoints do not exist" {
	start_kvmini
	gdb_batch 'rwatch counter' 'continue' 'detach'
	if grep -q "raises no data breakpoints" "$ERR"; then
		assert_gdb_has "Could not insert hardware watchpoint 1."
		echo "# rwatch/awatch unavailable here: KVM raised no data breakpoint (see the stub's note)" >&3
	else
		assert_gdb_has "Hardware read watchpoint 1: counter"
		assert_gdb_has "Value = 0"
	fi
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: changing a variable changes the guest's output" {
	start_kvmini
	needs_breakpoints
	gdb_batch 'break compute' 'continue' 'set var scale = 100' 'print scale' 'delete' 'continue'
	assert_gdb_has '$1 = 100'
	assert_gdb_has "[Inferior 1 (Remote target) exited with code 01]"
	wait_kvmini
	assert_kvmini 1 "gdb_target: start
value 1
value 101
value 201
gdb_target: done"
}

@test "gdb: a hardware breakpoint" {
	start_kvmini
	needs_breakpoints
	gdb_batch 'hbreak compute' 'continue' 'print n' 'continue' 'print n' 'info breakpoints' 'detach'
	assert_gdb_has "Hardware assisted breakpoint 1 at"
	assert_gdb_has "Breakpoint 1, compute (n=n@entry=0)"
	assert_gdb_has "Breakpoint 1, compute (n=n@entry=1)"
	assert_gdb_has "hw breakpoint  keep y"
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: Ctrl-C interrupts a looping guest, which then finishes" {
	start_kvmini
	# gdb passes a SIGINT on to the target as Ctrl-C (0x03) while it runs
	timeout 600 gdb -batch -nx -ex 'set pagination off' -ex "file $GUEST" \
		-ex "target remote 127.0.0.1:$PORT" -ex 'set var spin = 1' -ex 'continue' \
		-ex 'bt' -ex 'set var spin = 0' -ex 'continue' >"$BATS_TEST_TMPDIR/gdb" 2>&1 &
	local gdb_pid=$! limit=$((SECONDS + 600)) status=0
	# Only once the guest spins is gdb inside `continue`: a SIGINT before
	# that would end gdb itself. (Bounded generously: CI's loaded host
	# once took longer than the 30 s this waited before.)
	until grep -q "gdb_target: spinning" "$OUT"; do
		[ "$SECONDS" -lt "$limit" ] || { echo "the guest never spun"; cat "$BATS_TEST_TMPDIR/gdb"; return 1; }
		sleep 0.05
	done
	kill -INT "$gdb_pid"
	wait "$gdb_pid" || status=$?
	[ "$status" -eq 0 ] || { echo "gdb ended with $status"; cat "$BATS_TEST_TMPDIR/gdb"; return 1; }
	output=$(cat "$BATS_TEST_TMPDIR/gdb")
	assert_gdb_has "Program received signal SIGINT, Interrupt."
	assert_gdb_has "wait_while_spinning () at guests/gdb_target.c"
	assert_gdb_has "[Inferior 1 (Remote target) exited with code 01]"
	wait_kvmini
	assert_kvmini 1 "$SPIN_OUTPUT"
}

@test "gdb: kill stops the VM" {
	start_kvmini
	needs_breakpoints
	gdb_batch 'break compute' 'continue' 'kill'
	assert_gdb_has "[Inferior 1 (Remote target) killed]"
	wait_kvmini
	[ "$KSTATUS" -eq 12 ] || { echo "status $KSTATUS; stderr: $(cat "$ERR")"; return 1; }
	grep -q "killed from gdb" "$ERR"
}

@test "gdb: info threads lists the vCPU" {
	start_kvmini
	gdb_batch 'info threads' 'detach'
	assert_gdb_has "* 1    Thread 1 (vCPU 0)"
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: info threads lists each of several vCPUs" {
	start_kvmini --cpus 2 --irqchip kernel
	gdb_batch 'info threads' 'thread 2' 'print/x $pc' 'thread 1' 'detach'
	assert_gdb_has "Thread 1 (vCPU 0)"
	assert_gdb_has "Thread 2 (vCPU 1)"
	assert_gdb_has '$1 = 0xfff0'          # the second vCPU waits at the reset vector
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
}

@test "gdb: with two running vCPUs, a watchpoint on what the second one writes" {
	# guests/smp.c: the application processor checks in by incrementing
	# smp_checked_in while the boot processor polls it
	# Unexplained: in scripts/nested-kvm.sh's VM (QEMU's TCG emulating
	# SVM) the application processor's write is never seen by the
	# single-stepped watch, while the one-vCPU watchpoint test passes.
	[ "${KVMINI_NESTED:-}" != 1 ] ||
		skip "nested KVM VM: a stepped watchpoint misses the second vCPU's write (not understood)"
	start_kvmini --cpus 2 --irqchip kernel --image "$GUESTS/smp.elf"
	GDB_FILE="$GUESTS/smp.elf" gdb_batch 'watch smp_checked_in' 'continue' 'info threads' \
		'delete' 'continue'
	assert_gdb_has "Old value = 0
New value = 1"
	assert_gdb_has "Thread 1 (vCPU 0)"
	assert_gdb_has "Thread 2 (vCPU 1)"
	assert_gdb_has "[Inferior 1 (Remote target) exited with code 01]"
	wait_kvmini
	assert_kvmini 1 "smp: 2 of 2 cpus checked in, apic id mask 0x0000000000000003"
	# Stepped watchpoints (no data breakpoints here) credit the vCPU that
	# saw the change first, usually but not always the writer.
	echo "# the hit was reported on: $(grep -o 'Thread [0-9] hit' <<<"$output" || echo 'the current thread')" >&3
}

@test "gdb: over a Unix socket" {
	local sock="$BATS_TEST_TMPDIR/gdb.sock"
	"$KVMINI" run --gdb "unix:$sock" --gdb-wait --timeout 60 "$GUEST" >"$OUT" 2>"$ERR" </dev/null &
	KPID=$!
	for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
	needs_breakpoints
	GDB_TARGET="$sock" gdb_batch 'break compute' 'continue' 'print n' 'delete' 'continue'
	assert_gdb_has "Breakpoint 1, compute (n=n@entry=0)"
	assert_gdb_has "[Inferior 1 (Remote target) exited with code 01]"
	wait_kvmini
	assert_kvmini 1 "$NORMAL_OUTPUT"
	[ ! -e "$sock" ]
}

@test "gdb: a protected-mode guest is debugged as i386" {
	start_kvmini --image "$GUESTS/hello_protected.elf"
	GDB_FILE="$GUESTS/hello_protected.elf" gdb_batch 'show architecture' 'info registers eip' \
		'stepi' 'stepi' 'info registers eip' 'print/x $cr0' 'detach'
	assert_gdb_has '(currently "i386")'
	assert_gdb_has "eip            0x100000"
	assert_gdb_has "eip            0x100009"
	assert_gdb_has '= 0x33'                # PE, MP, ET, NE
	wait_kvmini
	assert_kvmini 0 "Hello from protected mode!"
}

@test "gdb: a real-mode guest stops at a breakpoint" {
	start_kvmini --verbose --image "$GUESTS/hello_real.bin"
	needs_breakpoints
	# no symbols: break on the address of the "out" that prints each byte
	GDB_FILE="" gdb_batch 'break *0x7c17' 'continue' 'print/x $eip' 'print/c $al' 'continue' \
		'print/c $al' 'delete' 'continue'
	assert_gdb_has "Breakpoint 1, 0x00007c17 in ?? ()"
	assert_gdb_has "\$1 = 0x7c17"
	assert_gdb_has "\$2 = 72 'H'"
	assert_gdb_has "\$3 = 101 'e'"
	assert_gdb_has "[Inferior 1 (Remote target) exited normally]"
	wait_kvmini
	assert_kvmini 0 "Hello from real mode!"
	if grep -q "int3 does not reach" "$ERR"; then
		echo "# int3 never leaves a real-mode guest here: the breakpoint used a debug register" >&3
	fi
}

@test "gdb: a broken client is dropped, the guest runs on, the next client works" {
	start_kvmini
	gdb_batch 'set var spin = 1' 'detach'     # the guest now loops until spin is 0
	assert_gdb_has "[Inferior 1 (Remote target) detached]"
	# garbage, a bad checksum, half a packet, then gone
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'junk\x03$g#00$qSupported:xyz#00$m1000' >&5
	exec 5>&-
	gdb_batch 'bt' 'set var spin = 0' 'continue'
	assert_gdb_has "wait_while_spinning () at guests/gdb_target.c"
	assert_gdb_has "[Inferior 1 (Remote target) exited with code 01]"
	wait_kvmini
	assert_kvmini 1 "$SPIN_OUTPUT"
}

@test "gdb: bad --gdb options are usage errors" {
	kvmini run --gdb-wait "$GUEST"
	assert_status 2
	assert_stderr_has "--gdb-wait needs --gdb"
	kvmini run --gdb serial:/dev/ttyS0 "$GUEST"
	assert_status 2
	assert_stderr_has "expected tcp:HOST:PORT or unix:PATH"
	kvmini run --gdb tcp:127.0.0.1:99999 "$GUEST"
	assert_status 2
	assert_stderr_has "invalid gdb address"
	kvmini run --gdb "unix:$BATS_TEST_TMPDIR" "$GUEST"
	assert_status 2
	assert_stderr_has "exists and is not a socket"
}
