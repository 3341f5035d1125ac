#!/usr/bin/env bash
# Run one libFuzzer target (built by `make fuzz-build`) for a while.
#   fuzz.sh BUILD_DIR NAME SECONDS
# The corpus it starts from: tests/fuzz/corpus/NAME (saved in the repo),
# build/fuzz/corpus/NAME (what earlier runs found) and seeds made from
# the guests the build makes (real ELF files and kernels). New inputs go
# to build/fuzz/corpus/NAME; a crash to build/fuzz/crash-NAME-*, and the
# status is non-zero. Prints one line: the target, runs, corpus size.
set -euo pipefail
B=$1 name=$2 seconds=$3
bin=$B/fuzz/$name
[ -x "$bin" ] || { echo "fuzz: $bin is not built: run make fuzz-build" >&2; exit 2; }
corpus=$B/fuzz/corpus/$name
seeds=$B/fuzz/seeds/$name
saved=tests/fuzz/corpus/$name
mkdir -p "$corpus" "$seeds"

# Seeds from the build: a real input reaches deep on the first run.
make_seeds() {
	local f
	case "$name" in
	elf)
		for f in "$B"/guests/*.elf; do [ -e "$f" ] && cp "$f" "$seeds/"; done ;;
	linux)   # the target reads its options from the last byte
		for f in "$B"/guests/bootconf*.bzImage "$B"/guests/bootconf_pvh*.elf; do
			[ -e "$f" ] || continue
			{ cat "$f"; printf '\0'; } >"$seeds/$(basename "$f").opt0"
			{ cat "$f"; printf '\3'; } >"$seeds/$(basename "$f").opt3"
		done ;;
	multiboot)   # options from the last byte: none, and initrd plus modules
		for f in "$B"/guests/multiboot.elf "$B"/guests/multiboot_kludge.bin; do
			[ -e "$f" ] || continue
			{ cat "$f"; printf '\0'; } >"$seeds/$(basename "$f").opt0"
			{ cat "$f"; printf '\3'; } >"$seeds/$(basename "$f").opt3"
		done ;;
	api)   # one client's requests (the first byte: piece size, start outcome)
		printf '\x80GET / HTTP/1.1\r\n\r\nGET /machine-config HTTP/1.1\r\n\r\n' >"$seeds/get"
		printf '\x05PUT /machine-config HTTP/1.1\r\nContent-Length: 34\r\n\r\n{"vcpu_count":2,"mem_size_mib":96}' >"$seeds/machine"
		printf '\x81PUT /boot-source HTTP/1.1\r\nContent-Length: 66\r\n\r\n{"kernel_image_path":"/k","initrd_path":"/i","boot_args":"a b=c"}PUT /actions HTTP/1.1\r\nContent-Length: 31\r\n\r\n{"action_type":"InstanceStart"}' >"$seeds/start"
		printf '\x10PATCH /machine-config HTTP/1.1\r\nConnection: close\r\nContent-Length: 41\r\n\r\n{"smt":false,"huge_pages":"None","x":[1]}' >"$seeds/patch" ;;
	decompress)
		f=$B/guests/hello_long.elf
		[ -e "$f" ] || return 0
		gzip -9c "$f" >"$seeds/hello.gz"
		xz -9c --check=crc32 "$f" >"$seeds/hello.xz"
		! command -v zstd >/dev/null || zstd -qc "$f" >"$seeds/hello.zst"
		! command -v lz4 >/dev/null || lz4 -lqc "$f" >"$seeds/hello.lz4" ;;
	esac
}
make_seeds

dirs=("$corpus" "$seeds")
[ -d "$saved" ] && dirs+=("$saved")
log=$B/fuzz/$name.log
status=0
"$bin" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 \
	-artifact_prefix="$B/fuzz/crash-$name-" -print_final_stats=1 "${dirs[@]}" >"$log" 2>&1 ||
	status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
size=$(find "${dirs[@]}" -type f | wc -l)
if [ "$status" -ne 0 ]; then
	echo "fuzz $name: FAILED after ${runs:-?} runs (status $status); see $log"
	grep -E 'ERROR|runtime error|SUMMARY|crash-|Test unit written' "$log" | head -n 20
	exit 1
fi
echo "fuzz $name: ${runs:-?} runs in ${seconds} s, no crash (corpus: $size inputs)"
