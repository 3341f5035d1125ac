#!/usr/bin/env bats
# The hostile-guest suite (issue 14, docs/security.md): guests/hostile.c
# sweeps the ports, hammers kvmini's MMIO devices (IOAPIC, HPET,
# virtio-mmio windows, PCI config space and BARs, fw_cfg DMA), floods
# string I/O, storms interrupts and fills virtqueues with garbage, all
# from fixed seeds. kvmini (the sanitizer build under `make test`) must
# let it finish: the exact debug-exit status the guest chooses, its log
# ending with "hostile: survived", no sanitizer report. --timeout is
# only a bound; the guest takes 20-30 s in the nested test VM.
bats_require_minimum_version 1.5.0
load helpers

teardown() {
	background_kvmini_teardown
}

# A disk whose bytes are all 0xff: what the guest's garbage requests read
# back into its memory never looks like an address in low RAM.
make_disk() {
	head -c 1048576 /dev/zero | tr '\0' '\377' >"$BATS_TEST_TMPDIR/disk.img"
}

# `run_hostile IRQCHIP TRANSPORT`: the guest with every virtio device
# kvmini has on TRANSPORT (rng, a block device, a console, user-mode
# networking, vsock); COM1 and the virtio console to files, since the
# sweep and the garbage write there.
run_hostile() {
	needs_kvm
	make_disk
	local t=$BATS_TEST_TMPDIR
	kvmini run --irqchip "$1" --transport "$2" --mem 64M --rng \
		--disk "$t/disk.img" --vconsole "file:$t/vconsole" --net user \
		--vsock "cid=3,uds=$t/vsock" --serial "file:$t/serial" \
		--timeout 300 "$GUESTS/hostile.elf"
	local log
	log=$(grep -a '^hostile: ' "$t/serial" || true)
	if [ "$status" -ne 85 ] || [ "$(tail -n 1 "$t/serial")" != "hostile: survived" ]; then
		echo "status $status (want 85: debug-exit 0x2a)"
		echo "$log"
		echo "stderr: $stderr"
		return 1
	fi
	# Every phase ran, and the virtio phases found the devices.
	local want="ports storm mmio lapic string virtio virtio-pci end" p
	for p in $want; do
		grep -q "^hostile: phase $p, seed " <<<"$log" || { echo "no phase $p"; echo "$log"; false; }
	done
	local mmio=0 pci=0
	if [ "$2" = mmio ]; then mmio=5; else pci=5; fi
	grep -qx "hostile: virtio done, $mmio devices" <<<"$log" || { echo "$log"; false; }
	grep -q "^hostile: virtio-pci done, $pci devices, [0-9]* interrupts$" <<<"$log" || { echo "$log"; false; }
	echo "$log" | grep -a "lapic done\|virtio-pci slot\|interrupts\|Mticks" >&3 || true
}

@test "the hostile guest survives under --irqchip kernel with virtio-mmio" {
	run_hostile kernel mmio
}

@test "the hostile guest survives under --irqchip split with virtio-mmio" {
	run_hostile split mmio
}

@test "the hostile guest survives under --irqchip split with virtio-pci" {
	run_hostile split pci
}

@test "the hostile guest survives under --irqchip kernel with virtio-pci" {
	run_hostile kernel pci
}

# The same guest's endless interrupt storm (hostile_storm.elf: every
# timer at its fastest, every line open, for ever) still ends at kvmini's
# own stops. The endless output floods are guests.bats's.
@test "an endless interrupt storm still ends at --timeout (status 8)" {
	needs_kvm
	for chip in kernel split; do
		kvmini run --irqchip "$chip" --timeout 5 "$GUESTS/hostile_storm.elf"
		assert_status 8
		[[ "$output" == *"hostile: endless storm"* ]] || { echo "$chip: $output"; false; }
	done
}

@test "an endless interrupt storm still ends on SIGTERM (status 12)" {
	needs_kvm
	"$KVMINI" run --irqchip split "$GUESTS/hostile_storm.elf" </dev/null \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	KPID=$!
	wait_for_text "$BATS_TEST_TMPDIR/out" "hostile: endless storm"
	kill -TERM "$KPID"
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 12 ] || { echo "status $status"; cat "$BATS_TEST_TMPDIR/err"; false; }
	grep -q "stopped by the user" "$BATS_TEST_TMPDIR/err"
}

# ---- reset storm (guests/reset_storm.c) ----

# `reset_storm ARGS...`: 40 boots, each reset through the next of five
# paths with every timer running; kvmini restarts the VM each time
# (there is no restart limit: --timeout only bounds a hang) and ends
# with the guest's own status after the last boot.
reset_storm() {
	needs_kvm
	kvmini run --on-reset restart --timeout 300 "$@" "$GUESTS/reset_storm.elf"
	local boots
	boots=$(grep -c '^boot [0-9]*: RAM fresh$' <<<"$output" || true)
	if [ "$status" -ne 81 ] || [ "$boots" -ne 40 ]; then
		echo "status $status (want 81), $boots fresh boots (want 40)"
		echo "$output" | tail -n 20
		echo "stderr: $stderr"
		return 1
	fi
	local path
	for path in "port 0xcf9" "the i8042" "a triple fault" "port 0x92" "the ACPI reset register"; do
		[ "$(grep -c "^resetting through $path\$" <<<"$output")" -ge 7 ] ||
			{ echo "too few resets through $path"; echo "$output"; false; }
	done
	! grep -q "did not happen\|RAM kept\|no ACPI reset" <<<"$output"
}

@test "a reset storm under --on-reset restart, --irqchip kernel, 2 vCPUs" {
	reset_storm --irqchip kernel --cpus 2 --rng
}

@test "a reset storm under --on-reset restart, --irqchip split" {
	reset_storm --irqchip split --rng --transport pci
}

# ---- the host stays idle while the guest waits in hlt ----

# The CPU time (utime + stime, in clock ticks) of process $1 so far:
# fields 14 and 15 of /proc/PID/stat, counted after the command name.
# Fails once the process is gone or a zombie.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	[ "$1" != Z ] || return 1
	echo $((${12} + ${13}))
}

# `idle_check IRQCHIP GUEST`: from the guest's "halt: waiting" line to
# kvmini's end at --timeout, kvmini (every thread: vCPU, event loop,
# signals) may use under 10% of one CPU. A VMM that spun on the halt
# would use ~100%; an idle one uses ~0 (one clock tick is 10 ms). The
# bound is generous for the nested test VM, where a halted L2 vCPU is
# an L1 thread asleep in KVM as on bare metal, but L1's own timer
# ticks run under QEMU's TCG. CPU time is sampled until the process
# ends (the sampling pause only sets the resolution, it decides nothing).
idle_check() {
	needs_kvm
	local out=$BATS_TEST_TMPDIR/out c0 c t0 t1 c1
	"$KVMINI" run --irqchip "$1" --timeout 10 "$GUESTS/$2" </dev/null >"$out" \
		2>"$BATS_TEST_TMPDIR/err" &
	KPID=$!
	wait_for_text "$out" "halt: waiting in"
	c0=$(cpu_ticks "$KPID")
	t0=$EPOCHREALTIME
	c1=$c0 t1=$t0
	while c=$(cpu_ticks "$KPID"); do
		c1=$c t1=$EPOCHREALTIME
		sleep 0.2
	done
	status=0
	wait "$KPID" || status=$?
	KPID=
	[ "$status" -eq 8 ] || { echo "status $status (want 8)"; cat "$BATS_TEST_TMPDIR/err"; false; }
	local hz verdict
	hz=$(getconf CLK_TCK)
	verdict=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {
		wall = t1 - t0; cpu = c / hz; share = (wall > 0) ? 100 * cpu / wall : 0
		verdict = (wall >= 2 && cpu < 0.1 * wall) ? "ok" : "FAIL"
		printf "%s: %.2f s CPU in %.2f s halted (%.1f%%)\n", verdict, cpu, wall, share
	}')
	echo "$1 $2: $verdict" >&3
	[[ "$verdict" == ok:* ]] || { echo "$verdict"; false; }
}

@test "the host stays idle while a guest waits in cli; hlt (kernel and split irqchips)" {
	idle_check kernel halt_idle.elf
	idle_check split halt_idle.elf
}

@test "the host stays idle while a guest waits in sti; hlt with nothing to wake it" {
	idle_check kernel halt_idle_sti.elf
	idle_check split halt_idle_sti.elf
}

# ---- SMP storm (hostile.c built with -DSMP_STORM) ----

# `smp_storm IRQCHIP`: three vCPUs hit the UART, CMOS, PIT, i8042, port
# 0x61 and virtio-rng's kicks, ISR and resets at once, 6000 accesses
# each, while the boot CPU also runs garbage virtqueue rounds on it.
smp_storm() {
	needs_kvm
	kvmini run --irqchip "$1" --cpus 3 --rng --mem 64M --timeout 300 "$GUESTS/hostile_smp.elf"
	if [ "$status" -ne 85 ] || ! grep -qx "hostile: smp storm on 3 cpus, 1 virtio-mmio devices" <<<"$output" ||
		! grep -qx "hostile: smp storm done, 18000 accesses" <<<"$output" ||
		[ "$(tail -n 1 <<<"$output")" != "hostile: survived" ]; then
		echo "status $status (want 85)"
		grep -a "^hostile" <<<"$output"
		echo "stderr: $stderr"
		return 1
	fi
}

@test "an SMP storm on the shared devices under --irqchip kernel" {
	smp_storm kernel
}

@test "an SMP storm on the shared devices under --irqchip split" {
	smp_storm split
}

# ---- resets with the virtio-pci devices at work (-DRESET_STORM) ----

# `busy_reset IRQCHIP`: 14 resets (0xcf9, the i8042, a triple fault,
# port 0x92 in turn), each right after every queue of every virtio-pci
# device was set up, MSI-X vectors made live and every queue kicked;
# kvmini tears each boot down with requests in flight (blk I/O, frames,
# vsock packets) and restarts it; the 15th boot ends the run.
busy_reset() {
	needs_kvm
	make_disk
	local t=$BATS_TEST_TMPDIR
	kvmini run --on-reset restart --irqchip "$1" --transport pci --mem 64M --rng \
		--disk "$t/disk.img" --vconsole "file:$t/vconsole" --net user \
		--vsock "cid=3,uds=$t/vsock" --timeout 300 "$GUESTS/hostile_reset.elf"
	local busy
	busy=$(grep -cx "hostile: 5 virtio-pci devices busy, resetting" <<<"$output" || true)
	if [ "$status" -ne 85 ] || [ "$busy" -ne 14 ] ||
		[ "$(tail -n 1 <<<"$output")" != "hostile: survived" ]; then
		echo "status $status (want 85), $busy busy resets (want 14)"
		grep -a "^hostile" <<<"$output"
		echo "stderr: $stderr"
		return 1
	fi
}

@test "resets with every virtio-pci device at work, --irqchip kernel" {
	busy_reset kernel
}

@test "resets with every virtio-pci device at work, --irqchip split" {
	busy_reset split
}
