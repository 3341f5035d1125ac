#!/usr/bin/env bash
# Snapshot figures (issue "Control API ... snapshots"), each next to a
# baseline measured in the same run. Run from the repository root after
# `make all`; needs /dev/kvm (on a host without it, in the nested KVM VM:
# scripts/nested-kvm.sh run . 'bench/snapshot_bench.sh').
#   Usage: bench/snapshot_bench.sh [BUILD_DIR] [--quick]
# For 64 MiB and 1 GiB guests, with little memory touched
# (guests/sequence.c) and every page touched (sequence_touch.elf):
#  (s1) snapshot latency: PUT /snapshot/create of the paused VM, against
#       copying its memory file (cp --sparse=always) and against a no-op
#       request (GET /) through the same client;
#  (s2) sizes: the snapshot file, the memory file's length and the
#       blocks it really takes;
#  (s3) time from `kvmini restore` to the guest's first output byte,
#       against a fresh `kvmini run` of the same guest to its first byte;
#  (s4) memory per clone: N clones restored from one snapshot of the
#       touched 64 MiB guest, each printing (so running), their private
#       memory (Private_Clean + Private_Dirty from smaps_rollup) against
#       one freshly booted VM's.
set -euo pipefail
B=build
QUICK=0
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	*) B=$a ;;
	esac
done
K=$B/kvmini
G=$B/guests
for f in "$K" "$G/sequence.elf" "$G/sequence_touch.elf"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "snapshot_bench: $f missing: run make all" >&2; exit 2; }
done
[ -c /dev/kvm ] || { echo "snapshot_bench: skipped: no /dev/kvm here (run it in the nested VM: scripts/nested-kvm.sh run . 'bench/snapshot_bench.sh')"; exit 0; }
REPS=5
CLONES=100
((QUICK == 0)) || { REPS=3; CLONES=20; }
W=$(mktemp -d "${TMPDIR:-/tmp}/snapbench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

now_ns() { date +%s%N; }
ms() { echo "scale=3; $1 / 1000000" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Wait until FILE holds at least N lines.
wait_lines() {
	while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do sleep 0.05; done
}

# Boot GUEST with MEM under the API, let it print, pause it. Sets VM_PID.
start_paused() {   # MEM GUEST
	rm -f "$W/api.sock" "$W/out"
	"$K" run --api-sock "$W/api.sock" --mem "$1" "$2" >"$W/out" 2>"$W/err" </dev/null &
	VM_PID=$!
	PIDS+=("$VM_PID")
	wait_lines "$W/out" 20
	"$K" ctl "$W/api.sock" pause >/dev/null
}

stop_vm() {
	kill "$VM_PID" 2>/dev/null || true
	wait "$VM_PID" 2>/dev/null || true
}

# Nanoseconds of one command.
time_ns() {
	local t0
	t0=$(now_ns)
	"$@" >/dev/null
	echo $(($(now_ns) - t0))
}

# Nanoseconds from starting a kvmini command to its first output byte
# (read from a FIFO: no polling), then the command is stopped.
first_byte_ns() {
	local t0 t pid fifo=$W/fifo
	rm -f "$fifo"
	mkfifo "$fifo"
	t0=$(now_ns)
	"$@" 2>/dev/null </dev/null >"$fifo" &
	pid=$!
	IFS= read -r -N 1 _ <"$fifo"
	t=$(($(now_ns) - t0))
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "$t"
}

snapshot_to() {   # SNAP MEMFILE
	"$K" ctl "$W/api.sock" put /snapshot/create \
		"{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$1\", \"mem_file_path\": \"$2\"}"
}

# (s1)-(s3) for one guest size and kind.
measure() {   # MEM GUEST LABEL
	local mem=$1 guest=$2 label=$3 snap mf i
	: >"$W/t.snap"; : >"$W/t.cp"; : >"$W/t.noop"; : >"$W/t.restore"; : >"$W/t.boot"
	for i in $(seq "$REPS"); do
		snap=$W/snap.$i mf=$W/mem.$i
		start_paused "$mem" "$guest"
		time_ns "$K" ctl "$W/api.sock" info >>"$W/t.noop"
		time_ns snapshot_to "$snap" "$mf" >>"$W/t.snap"
		stop_vm
		time_ns cp --sparse=always "$mf" "$W/copy" >>"$W/t.cp"
		rm -f "$W/copy"
		first_byte_ns "$K" restore --snapshot "$snap" --mem "$mf" >>"$W/t.restore"
		first_byte_ns "$K" run --mem "$mem" "$guest" >>"$W/t.boot"
		[ "$i" -eq "$REPS" ] || rm -f "$snap" "$mf"
	done
	local s c n r b
	s=$(median <"$W/t.snap") c=$(median <"$W/t.cp") n=$(median <"$W/t.noop")
	r=$(median <"$W/t.restore") b=$(median <"$W/t.boot")
	printf '%-22s snapshot %9.1f ms  cp of its memory %8.1f ms  ratio %6.2f  no-op request %6.1f ms\n' \
		"$label" "$(ms "$s")" "$(ms "$c")" "$(echo "$s / $c" | bc -l)" "$(ms "$n")"
	printf '%-22s sizes: snapshot %s B, memory file %s MiB long, %s KiB on disk\n' "" \
		"$(stat -c %s "$snap")" "$(($(stat -c %s "$mf") >> 20))" \
		"$(($(stat -c %b "$mf") * $(stat -c %B "$mf") >> 10))"
	printf '%-22s restore to first byte %8.1f ms  fresh boot %8.1f ms  ratio %6.2f\n' "" \
		"$(ms "$r")" "$(ms "$b")" "$(echo "$r / $b" | bc -l)"
	rm -f "$snap" "$mf"
}

# Private memory of a process in KiB.
private_kib() {
	awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$1/smaps_rollup"
}

clones() {
	local snap=$W/clone.snap mf=$W/clone.mem i pid sum=0 one
	start_paused 64M "$G/sequence_touch.elf"
	snapshot_to "$snap" "$mf" >/dev/null
	stop_vm
	local pids=()
	for i in $(seq "$CLONES"); do
		"$K" restore --snapshot "$snap" --mem "$mf" >"$W/clone.$i" 2>/dev/null </dev/null &
		pids+=($!)
		PIDS+=($!)
	done
	for i in $(seq "$CLONES"); do wait_lines "$W/clone.$i" 2; done
	for pid in "${pids[@]}"; do sum=$((sum + $(private_kib "$pid"))); done
	for pid in "${pids[@]}"; do kill "$pid"; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	"$K" run --mem 64M "$G/sequence_touch.elf" >"$W/one" 2>/dev/null </dev/null &
	pid=$!
	PIDS+=("$pid")
	wait_lines "$W/one" 2
	one=$(private_kib "$pid")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	printf '%d clones of a touched 64 MiB guest: %.1f MiB private each; one booted VM: %.1f MiB; ratio %.3f\n' \
		"$CLONES" "$(echo "$sum / $CLONES / 1024" | bc -l)" "$(echo "$one / 1024" | bc -l)" \
		"$(echo "$sum / $CLONES / $one" | bc -l)"
}

echo "kvmini snapshot bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs; medians of $REPS"
echo "== (s1)-(s3) snapshot latency, sizes, restore to the guest's first byte"
for mem in 64M 1G; do
	measure "$mem" "$G/sequence.elf" "$mem little touched"
	measure "$mem" "$G/sequence_touch.elf" "$mem all touched"
done
echo "== (s4) memory per clone"
clones
