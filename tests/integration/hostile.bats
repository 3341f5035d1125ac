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

# `run_hostile IRQCHIP TRANSPORT`: the guest with virtio-rng and
# virtio-blk on TRANSPORT; COM1 to a file, since the sweep writes garbage.
run_hostile() {
	needs_kvm
	make_disk
	kvmini run --irqchip "$1" --transport "$2" --mem 64M --rng \
		--disk "$BATS_TEST_TMPDIR/disk.img" --serial "file:$BATS_TEST_TMPDIR/serial" \
		--timeout 240 "$GUESTS/hostile.elf"
	local log
	log=$(grep -a '^hostile: ' "$BATS_TEST_TMPDIR/serial" || true)
	if [ "$status" -ne 85 ] || [ "$(tail -n 1 "$BATS_TEST_TMPDIR/serial")" != "hostile: survived" ]; then
		echo "status $status (want 85: debug-exit 0x2a)"
		echo "$log"
		echo "stderr: $stderr"
		return 1
	fi
	# Every phase ran, and the virtio phase found its devices.
	local want="ports storm mmio string virtio end" p
	for p in $want; do
		grep -q "^hostile: phase $p, seed " <<<"$log" || { echo "no phase $p"; echo "$log"; false; }
	done
	if [ "$2" = mmio ]; then
		grep -qx "hostile: virtio done, 2 devices" <<<"$log" || { echo "$log"; false; }
	fi
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
