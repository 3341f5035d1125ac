#!/usr/bin/env bats
# Snapshots (docs/snapshot.md): pause, snapshot, kill, restore, resume,
# driven through the API as Firecracker's snapshot guide does, and
# `kvmini restore`. The guest prints a deterministic sequence; what the
# first run printed and what the restored run prints must together be a
# prefix of an uninterrupted run's output, byte for byte. The refusals
# of bad snapshot files run without KVM; the rest skip without it.
bats_require_minimum_version 1.5.0
load helpers
load api_helpers

BATS_TEST_TIMEOUT=300

setup() {
	SOCK="$BATS_TEST_TMPDIR/api.sock"
	OUT="$BATS_TEST_TMPDIR/out"
	ERR="$BATS_TEST_TMPDIR/err"
	KPID=
}

teardown() {
	background_kvmini_teardown
}

# An uninterrupted run's first N lines (after "ready").
reference() {   # N [run options...]
	local n=$1
	shift
	"$KVMINI" run --timeout 120 "$@" "$GUESTS/sequence.elf" >"$BATS_TEST_TMPDIR/ref" 2>/dev/null </dev/null &
	local pid=$!
	wait_for_text "$BATS_TEST_TMPDIR/ref" "$((n + 5)) " || { kill $pid; return 1; }
	kill $pid; wait $pid || true
	sed -n "2,$((n + 1))p" "$BATS_TEST_TMPDIR/ref" > "$BATS_TEST_TMPDIR/ref.lines"
}

# Run the guest under the API, let it print, pause and snapshot it,
# and end that kvmini. Leaves the printed bytes in $BATS_TEST_TMPDIR/first.
snapshot_midway() {   # [run options...]
	start_api --timeout 120 "$@" "$GUESTS/sequence.elf"
	wait_for_text "$OUT" "200 "
	api PATCH /vm '{"state": "Paused"}'
	assert_api 204 ""
	api PUT /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$BATS_TEST_TMPDIR/snap\", \"mem_file_path\": \"$BATS_TEST_TMPDIR/mem\"}"
	assert_api 204 ""
	kill "$KPID"; wait "$KPID" || true; KPID=
	cp "$OUT" "$BATS_TEST_TMPDIR/first"
}

# Restore in the background, wait until line TARGET printed, stop it.
restore_until() {   # TARGET restore options...
	local target=$1
	shift
	"$KVMINI" restore --timeout 120 "$@" >"$BATS_TEST_TMPDIR/second" 2>"$ERR" </dev/null &
	KPID=$!
	wait_for_text "$BATS_TEST_TMPDIR/second" "$target " || { cat "$ERR"; return 1; }
	kill "$KPID"; wait "$KPID" || true; KPID=
}

# first + second, cut to whole lines, is the reference's beginning.
assert_continues() {
	cat "$BATS_TEST_TMPDIR/first" "$BATS_TEST_TMPDIR/second" | sed -n '2,$p' | head -n 1000 \
		> "$BATS_TEST_TMPDIR/combined"
	head -n 1000 "$BATS_TEST_TMPDIR/ref.lines" > "$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/combined"
}

@test "snapshot: restore refuses what is not a snapshot, with status 2" {
	kvmini restore
	assert_status 2
	[[ "$stderr" == "kvmini: restore needs --snapshot FILE and --mem FILE"* ]]
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/none" --mem "$BATS_TEST_TMPDIR/m"
	assert_status 2
	[ "$stderr" = "kvmini: cannot open snapshot '$BATS_TEST_TMPDIR/none': No such file or directory" ]
	printf 'not a snapshot at all, but long enough for a header' > "$BATS_TEST_TMPDIR/s"
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/s" --mem "$BATS_TEST_TMPDIR/m"
	assert_status 2
	[ "$stderr" = "kvmini: not a kvmini snapshot (bad magic)" ]
	# A good file cut short, and one with a flipped byte.
	local good=tests/fuzz/corpus/snapshot/one_vcpu size
	size=$(stat -c %s "$good")
	head -c $((size - 1)) "$good" > "$BATS_TEST_TMPDIR/s"
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/s" --mem "$BATS_TEST_TMPDIR/m"
	assert_status 2
	[ "$stderr" = "kvmini: snapshot is $((size - 1)) bytes, its header says $size: truncated or extended" ]
	cp "$good" "$BATS_TEST_TMPDIR/s"
	printf 'X' | dd of="$BATS_TEST_TMPDIR/s" bs=1 seek=100 conv=notrunc 2>/dev/null
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/s" --mem "$BATS_TEST_TMPDIR/m"
	assert_status 2
	[[ "$stderr" == "kvmini: snapshot section 1 (VCPU) is corrupted (checksum mismatch)" ]] || { echo "$stderr"; false; }
	# A good snapshot with the wrong memory file: refused before KVM.
	truncate -s 1M "$BATS_TEST_TMPDIR/m"
	kvmini restore --snapshot "$good" --mem "$BATS_TEST_TMPDIR/m"
	assert_status 2
	[ "$stderr" = "kvmini: memory file '$BATS_TEST_TMPDIR/m' is not the snapshot's 67108864-byte RAM" ]
	kvmini restore --snapshot "$good" --mem "$BATS_TEST_TMPDIR/m" --paused
	assert_status 2
	[[ "$stderr" == "kvmini: --paused needs --api-sock (to resume it)"* ]]
}

@test "snapshot: the API refuses a snapshot of a VM that is not paused or not started" {
	start_api
	api PUT /snapshot/create "{\"snapshot_path\": \"$BATS_TEST_TMPDIR/s\", \"mem_file_path\": \"$BATS_TEST_TMPDIR/m\"}"
	assert_api 400 "$(fault 'Cannot create a snapshot: the microVM must be paused (PATCH /vm {\"state\": \"Paused\"}).')"
	api PUT /snapshot/create "{\"snapshot_type\": \"Half\", \"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}"
	assert_api 400 "$(fault "unknown \`snapshot_type\` 'Half': expected Full or Diff.")"
	api PUT /snapshot/load "{\"snapshot_path\": \"$BATS_TEST_TMPDIR/s\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"/u\"}}"
	assert_api 400 "$(fault '`backend_type` Uffd is not supported by kvmini: only File.')"
	api PUT /snapshot/load "{\"snapshot_path\": \"$BATS_TEST_TMPDIR/none\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$BATS_TEST_TMPDIR/m\"}}"
	assert_api 400 "$(fault "Cannot load the snapshot: cannot open snapshot '$BATS_TEST_TMPDIR/none': No such file or directory")"
	api PUT /boot-source '{"kernel_image_path": "/k"}'
	assert_api 204 ""
	api PUT /snapshot/load "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}"
	assert_api 400 "$(fault 'Loading a snapshot is not allowed after configuring boot-specific resources.')"
}

@test "snapshot: full snapshot mid-run, restore, and the sequence continues exactly" {
	needs_kvm
	reference 3000
	snapshot_midway
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
}

@test "snapshot: the same with 2 vCPUs and the in-kernel irqchip" {
	needs_kvm
	reference 3000 --cpus 2 --irqchip kernel
	snapshot_midway --cpus 2 --irqchip kernel
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
}

@test "snapshot: the same with --irqchip split" {
	needs_kvm
	reference 3000 --irqchip split
	snapshot_midway --irqchip split
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
}

@test "snapshot: the same with 2 vCPUs and --irqchip split" {
	needs_kvm
	reference 3000 --cpus 2 --irqchip split
	snapshot_midway --cpus 2 --irqchip split
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
}

# kvmini's own PIC and PIT across a snapshot: the guest counts timer
# interrupts; the restored VM must count on to the end, every number
# once (guests/pit_ticks.c).
@test "snapshot: PIT interrupts under --irqchip split count on after a restore" {
	needs_kvm
	start_api --timeout 120 --irqchip split "$GUESTS/pit_ticks.elf"
	wait_for_text "$OUT" "tick 300"
	api PATCH /vm '{"state": "Paused"}'
	assert_api 204 ""
	api PUT /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$BATS_TEST_TMPDIR/snap\", \"mem_file_path\": \"$BATS_TEST_TMPDIR/mem\"}"
	assert_api 204 ""
	kill "$KPID"; wait "$KPID" || true; KPID=
	kvmini restore --timeout 120 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_status 1   # main() returned 0, through debug-exit
	{ echo ready; seq -f 'tick %.0f' 1 3000; echo done; } > "$BATS_TEST_TMPDIR/want"
	{ cat "$OUT"; printf '%s\n' "$output"; } > "$BATS_TEST_TMPDIR/combined"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/combined"
}

@test "snapshot: load through the API, paused, then resumed" {
	needs_kvm
	reference 3000
	snapshot_midway
	rm -f "$SOCK"
	start_api
	api PUT /snapshot/load "{\"snapshot_path\": \"$BATS_TEST_TMPDIR/snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$BATS_TEST_TMPDIR/mem\"}, \"resume_vm\": false}"
	assert_api 204 ""
	api GET /
	assert_api 200 '{"id":"anonymous-instance","state":"Paused","vmm_version":"0.1.0","app_name":"kvmini"}'
	api PATCH /vm '{"state": "Resumed"}'
	assert_api 204 ""
	wait_for_text "$OUT" "2000 "
	cp "$OUT" "$BATS_TEST_TMPDIR/second"
	assert_continues
}

@test "snapshot: a chain of diff snapshots over a full one restores exactly" {
	needs_kvm
	reference 4000
	start_api --timeout 120 --track-dirty-pages "$GUESTS/sequence.elf"
	local n
	for n in 1 2 3; do
		wait_for_text "$OUT" "$((n * 300)) "
		api PATCH /vm '{"state": "Paused"}'
		assert_api 204 ""
		local type=Diff
		[ $n -eq 1 ] && type=Full
		api PUT /snapshot/create "{\"snapshot_type\": \"$type\", \"snapshot_path\": \"$BATS_TEST_TMPDIR/snap$n\", \"mem_file_path\": \"$BATS_TEST_TMPDIR/mem$n\"}"
		assert_api 204 ""
		[ $n -eq 3 ] || { api PATCH /vm '{"state": "Resumed"}'; assert_api 204 ""; }
	done
	kill "$KPID"; wait "$KPID" || true; KPID=
	cp "$OUT" "$BATS_TEST_TMPDIR/first"
	# The diffs hold only what changed: far less than the full file.
	[ "$(du -k "$BATS_TEST_TMPDIR/mem3" | cut -f1)" -lt "$(du -k "$BATS_TEST_TMPDIR/mem1" | cut -f1)" ]
	restore_until 2500 --snapshot "$BATS_TEST_TMPDIR/snap3" --mem "$BATS_TEST_TMPDIR/mem1" \
		--mem "$BATS_TEST_TMPDIR/mem2" --mem "$BATS_TEST_TMPDIR/mem3"
	assert_continues
}

@test "snapshot: a diff snapshot without dirty tracking is refused" {
	needs_kvm
	start_api --timeout 120 "$GUESTS/sequence.elf"
	wait_for_text "$OUT" "10 "
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$BATS_TEST_TMPDIR/s\", \"mem_file_path\": \"$BATS_TEST_TMPDIR/m\"}"
	assert_api 400 "$(fault 'Cannot create the snapshot: diff snapshots need dirty page tracking (track_dirty_pages)')"
	[ ! -e "$BATS_TEST_TMPDIR/s" ]
}

# The VIRT section: the disk and rng come back from the snapshot on
# the same windows (the guest does not drive them: the Linux test in
# linux_snapshot.bats does), and a restore that names devices itself
# is refused.
@test "snapshot: a VM with a virtio disk and rng on mmio continues exactly; restore takes no devices" {
	needs_kvm
	truncate -s 1M "$BATS_TEST_TMPDIR/disk.img"
	reference 3000 --irqchip kernel --disk "$BATS_TEST_TMPDIR/disk.img" --rng
	snapshot_midway --irqchip kernel --disk "$BATS_TEST_TMPDIR/disk.img" --rng
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem" --rng
	assert_status 2
	[ "$stderr" = "kvmini: unknown option '--rng' (try 'kvmini --help')" ]
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem" \
		--vconsole "file:$BATS_TEST_TMPDIR/hvc0"
	assert_status 2
	[ "$stderr" = "kvmini: the snapshot has no virtio console for --vconsole" ]
	rm "$BATS_TEST_TMPDIR/disk.img"
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_status 2
	[[ "$stderr" == "kvmini: "*"disk.img"* ]]
}

# A network card on the user-mode network, a console and vsock come back
# from the snapshot too; the console's ends are the restore's own --vconsole,
# which the restore must give exactly when the snapshot has a console.
# (linux_snapshot.bats drives them across a restore.)
@test "snapshot: a VM with virtio-net, a console, rng and vsock continues exactly; --vconsole as saved" {
	needs_kvm
	local opts=(--irqchip kernel --net user --vconsole "file:$BATS_TEST_TMPDIR/hvc0" --rng
		--vsock "cid=3,uds=$BATS_TEST_TMPDIR/v.sock")
	reference 3000 "${opts[@]}"
	snapshot_midway "${opts[@]}"
	kvmini restore --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_status 2
	[ "$stderr" = "kvmini: the snapshot has a virtio console: give its ends with --vconsole" ]
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem" \
		--vconsole "file:$BATS_TEST_TMPDIR/hvc1"
	assert_continues
	[ -e "$BATS_TEST_TMPDIR/hvc1" ]
	[ ! -e "$BATS_TEST_TMPDIR/v.sock" ]   # each kvmini removed its listener
}

# The same on virtio-pci: the functions' config space, their MSI-X
# state and the host bridge come back too (the Linux guests of
# linux_snapshot.bats drive them).
@test "snapshot: a VM with virtio devices on PCI continues exactly; restore takes no devices" {
	needs_kvm
	truncate -s 1M "$BATS_TEST_TMPDIR/disk.img"
	local opts=(--irqchip kernel --transport pci --disk "$BATS_TEST_TMPDIR/disk.img" --net user
		--rng --vsock "cid=3,uds=$BATS_TEST_TMPDIR/v.sock")
	reference 3000 "${opts[@]}"
	snapshot_midway "${opts[@]}"
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
}

# pci-testdev's bus comes back with it (its registers: test_pci_testdev.c).
@test "snapshot: a --testdev VM continues exactly; restore takes the device from the snapshot" {
	needs_kvm
	reference 3000 --irqchip kernel --testdev
	snapshot_midway --irqchip kernel --testdev
	restore_until 2000 --snapshot "$BATS_TEST_TMPDIR/snap" --mem "$BATS_TEST_TMPDIR/mem"
	assert_continues
}
