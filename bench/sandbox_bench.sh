#!/usr/bin/env bash
# Sandbox-mode figures (issue 6): run from the repository root after
# `make all`. Usage: bench/sandbox_bench.sh [BUILD_DIR]
#  (a) a compute-bound program in the sandbox vs natively
#  (b) whole-process time of hello: native, kvmini exec, qemu-x86_64
#  (c) per-call latency of the serve loop with reset, and VM exits per call
set -euo pipefail
B=${1:-build}
K=$B/kvmini
SB=$B/guests/sandbox
for f in "$K" "$SB/hash.glibc" "$SB/hello.glibc" "$SB/serve.glibc"; do
	[ -x "$f" ] || { echo "sandbox_bench: $f missing: run make all" >&2; exit 2; }
done

now() { date +%s.%N; }
# Best of three wall-clock seconds for one command.
best_of_3() {
	local best=""
	for _ in 1 2 3; do
		local t0 t1
		t0=$(now)
		"$@" >/dev/null
		t1=$(now)
		best=$(echo "$t1 - $t0" | bc -l | awk -v b="$best" '{ print (b == "" || $1 < b) ? $1 : b }')
	done
	echo "$best"
}
# Mean microseconds per run over n runs.
per_run_us() {
	local n=$1; shift
	local t0 t1
	t0=$(now)
	for _ in $(seq "$n"); do "$@" >/dev/null; done
	t1=$(now)
	echo "($t1 - $t0) * 1000000 / $n" | bc -l | xargs printf '%.0f'
}

echo "== (a) compute-bound: $SB/hash.glibc 200 (16 MiB buffer, 200 rounds)"
native=$(best_of_3 "$SB/hash.glibc" 200)
sandbox=$(best_of_3 "$K" exec "$SB/hash.glibc" 200)
printf 'native %.3f s   sandbox %.3f s   ratio %.3f\n' "$native" "$sandbox" \
	"$(echo "$sandbox / $native" | bc -l)"

echo "== (b) whole process: hello world (mean of 50 runs)"
printf 'native          %6s us\n' "$(per_run_us 50 "$SB/hello.glibc")"
printf 'kvmini exec     %6s us\n' "$(per_run_us 50 "$K" exec "$SB/hello.glibc")"
if command -v qemu-x86_64 >/dev/null; then
	printf 'qemu-x86_64     %6s us\n' "$(per_run_us 50 qemu-x86_64 "$SB/hello.glibc")"
else
	echo "qemu-x86_64     (not installed: apt-get install qemu-user)"
fi

echo "== (c) serve calls with reset (10000 calls)"
in=$(mktemp)
seq 1 10000 >"$in"
t0=$(now)
stats=$("$K" exec --serve --verbose "$SB/serve.glibc" <"$in" 2>&1 >/dev/null | tail -n 1)
t1=$(now)
rm -f "$in"
echo "$stats"
calls=$(echo "$stats" | awk '{print $2}')
exits=$(echo "$stats" | awk '{print $4}')
pages=$(echo "$stats" | awk '{print $6}')
printf 'per call: %.1f us, %.2f VM exits, %.1f pages restored (CLI line I/O included)\n' \
	"$(echo "($t1 - $t0) * 1000000 / $calls" | bc -l)" \
	"$(echo "$exits / $calls" | bc -l)" "$(echo "$pages / $calls" | bc -l)"
