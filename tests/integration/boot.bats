#!/usr/bin/env bats
# Booting Linux kernels: the in-repo conformance kernel (guests/bootconf)
# as a bzImage and as a PVH ELF checks every boot-protocol field kvmini
# gives it against what the test asks for in the command line; and every
# malformed kernel, initrd or command line gets a one-line error, status 2.
bats_require_minimum_version 1.5.0
load helpers

DEFAULT_CMDLINE="console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 pci=off"

setup() {
	BZ=$GUESTS/bootconf.bzImage
	PVH=$GUESTS/bootconf_pvh.elf
	PVH64=$GUESTS/bootconf_pvh64.elf
	INITRD=$BATS_TEST_TMPDIR/initrd.img
	head -c 5000 /dev/urandom >"$INITRD"
	INITRD_EXPECT="bootconf.initrd_size=0x1388 bootconf.initrd_crc=$(printf '0x%x' "$(cksum <"$INITRD" | cut -d' ' -f1)")"
}

# The expectation for RAM of the size $1 (as --mem takes it).
mem_expect() {
	printf 'bootconf.mem=0x%x' "$(numfmt --from=iec "$1")"
}

# The kernel ran every check and all passed: debug-exit 0 is status 1.
assert_conformant() {
	assert_status 1
	if [[ "$output" == *FAIL* ]]; then
		echo "failed checks:"; grep FAIL <<<"$output"
		return 1
	fi
	[ "$(tail -n 1 <<<"$output")" = "bootconf: $1 checks, 0 failed" ] || {
		echo "last line: $(tail -n 1 <<<"$output"), want $1 checks"
		return 1
	}
}

assert_line_present() {
	grep -qxF -- "$1" <<<"$output" || { echo "missing line: $1"; echo "$output"; return 1; }
}

# patch FILE OFFSET BYTE... (hex bytes)
patch() {
	local file=$1 offset=$2
	shift 2
	printf "$(printf '\\x%s' "$@")" | dd of="$file" bs=1 seek=$((offset)) conv=notrunc status=none
}

copy_bz() {
	cp "$BZ" "$BATS_TEST_TMPDIR/bz"
	echo "$BATS_TEST_TMPDIR/bz"
}

# ---- bzImage ----

@test "bzImage: default command line, loaded at pref_address, map for 64M, RSDP" {
	expect="$(mem_expect 64M) bootconf.load=0x1000000 bootconf.rsdp=0xe0000 bootconf.end"
	kvmini run --timeout 60 --mem 64M --kernel "$BZ" --append "$expect"
	assert_conformant 42
	assert_line_present "bootconf: cmdline: $DEFAULT_CMDLINE $expect"
	assert_line_present "bootconf: ok cs is __BOOT_CS"
	assert_line_present "bootconf: ok memory map matches --mem"
	assert_line_present "bootconf: map 0x000000000009fc00 0x0000000000100000 reserved"
	assert_line_present "bootconf: ok no initrd: size"
}

@test "bzImage: initrd at the top of RAM with its checksum" {
	expect="$(mem_expect 64M) $INITRD_EXPECT bootconf.end"
	kvmini run --timeout 60 --mem 64M --kernel "$BZ" --initrd "$INITRD" --cmdline "$expect"
	assert_conformant 41
	assert_line_present "bootconf: cmdline: $expect"
	assert_line_present "bootconf: initrd at 0x0000000003ffe000"
	assert_line_present "bootconf: ok initrd checksum (POSIX cksum)"
}

@test "bzImage: 16M is too small for pref_address: relocated to 2 MiB" {
	expect="$(mem_expect 16M) bootconf.load=0x200000 $INITRD_EXPECT bootconf.end"
	kvmini run --timeout 60 --mem 16M --kernel "$BZ" --initrd "$INITRD" --cmdline "$expect"
	assert_conformant 42
	assert_line_present "bootconf: kernel loaded at 0x0000000000200000"
	assert_line_present "bootconf: initrd at 0x0000000000ffe000"
}

@test "bzImage: 4G puts RAM above 4 GiB; the initrd stays below initrd_addr_max" {
	expect="$(mem_expect 4G) $INITRD_EXPECT bootconf.end"
	kvmini run --timeout 60 --mem 4G --kernel "$BZ" --initrd "$INITRD" --cmdline "$expect"
	assert_conformant 41
	assert_line_present "bootconf: map 0x0000000100000000 0x0000000140000000 RAM"
	assert_line_present "bootconf: initrd at 0x000000007fffe000"
}

@test "bzImage: without an irqchip there are no ACPI tables and no RSDP" {
	expect="$(mem_expect 64M) bootconf.rsdp=0x0 bootconf.end"
	kvmini run --timeout 60 --irqchip none --kernel "$BZ" --cmdline "$expect"
	assert_conformant 40
	assert_line_present "bootconf: ok RSDP address"
}

@test "bzImage: a command line of exactly cmdline_size (2047) bytes" {
	head="$(mem_expect 64M) pad="
	tail=" bootconf.end"
	pad=$(printf 'x%.0s' $(seq $((2047 - ${#head} - ${#tail}))))
	line="$head$pad$tail"
	[ ${#line} -eq 2047 ]
	kvmini run --timeout 60 --kernel "$BZ" --cmdline "$line"
	assert_conformant 39
	assert_line_present "bootconf: cmdline: $line"
}

@test "bzImage: the conformance kernel catches a wrong expectation" {
	kvmini run --timeout 60 --mem 32M --kernel "$BZ" --cmdline "$(mem_expect 64M) bootconf.end"
	assert_status 3
	assert_line_present "bootconf: FAIL memory map matches --mem: 0x0000000000000003"
	[ "$(tail -n 1 <<<"$output")" = "bootconf: 39 checks, 1 failed" ]
}

# ---- PVH ----

@test "PVH (ELF32): 64M with an initrd and the default command line" {
	expect="$(mem_expect 64M) $INITRD_EXPECT bootconf.rsdp=0xe0000 bootconf.end"
	kvmini run --timeout 60 --mem 64M --kernel "$PVH" --initrd "$INITRD" --append "$expect"
	assert_conformant 31
	assert_line_present "bootconf: PVH, 32-bit entry"
	assert_line_present "bootconf: cmdline: $DEFAULT_CMDLINE $expect"
	assert_line_present "bootconf: ok cr0: PE only (ET is fixed)"
	assert_line_present "bootconf: ok initrd checksum (POSIX cksum)"
}

@test "PVH (ELF64, as vmlinux): 16M without an initrd" {
	expect="$(mem_expect 16M) bootconf.end"
	kvmini run --timeout 60 --mem 16M --kernel "$PVH64" --cmdline "$expect"
	assert_conformant 22
	assert_line_present "bootconf: ok no initrd: nr_modules"
}

@test "PVH (ELF64): 4G, memory map above 4 GiB, initrd below 3 GiB" {
	expect="$(mem_expect 4G) $INITRD_EXPECT bootconf.end"
	kvmini run --timeout 60 --mem 4G --kernel "$PVH64" --initrd "$INITRD" --cmdline "$expect"
	assert_conformant 29
	assert_line_present "bootconf: map 0x0000000100000000 0x0000000140000000 RAM"
	assert_line_present "bootconf: initrd at 0x00000000bfffe000"
}

@test "PVH: a 5000-byte command line (no cmdline_size limit; kvmini's buffer)" {
	head="$(mem_expect 64M) pad="
	tail=" bootconf.end"
	pad=$(printf 'y%.0s' $(seq $((5000 - ${#head} - ${#tail}))))
	line="$head$pad$tail"
	kvmini run --timeout 60 --kernel "$PVH" --cmdline "$line"
	assert_conformant 22
	assert_line_present "bootconf: cmdline: $line"
}

# ---- malformed kernels, initrds and command lines: status 2, one line ----

assert_rejected() {
	assert_status 2
	assert_one_line_error
	assert_stderr_has "$1"
	[ -z "$output" ] || { echo "stdout: $output"; return 1; }
}

@test "not a bzImage: no HdrS magic" {
	f=$BATS_TEST_TMPDIR/random
	head -c 8192 /dev/zero >"$f"
	kvmini run --kernel "$f"
	assert_rejected "kvmini: $f: not a bzImage: no \"HdrS\" magic at offset 0x202"
}

@test "not a bzImage: a boot sector is too short for a setup header" {
	kvmini run --kernel "$GUESTS/hello_real.bin"
	assert_rejected "kvmini: $GUESTS/hello_real.bin: not a bzImage:"
	assert_stderr_has "bytes is too short for a setup header"
}

@test "bzImage with a boot protocol older than 2.10" {
	f=$(copy_bz)
	patch "$f" 0x206 09 02
	kvmini run --kernel "$f"
	assert_rejected "kvmini: $f: boot protocol 2.09 is too old: kvmini needs 2.10 or later"
}

@test "bzImage without the 64-bit entry (XLF_KERNEL_64 clear)" {
	f=$(copy_bz)
	patch "$f" 0x236 02 00
	kvmini run --kernel "$f"
	assert_rejected "kvmini: $f: no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags 0x0002)"
}

@test "bzImage truncated inside its setup sectors" {
	f=$BATS_TEST_TMPDIR/bz
	head -c 1500 "$BZ" >"$f"
	kvmini run --kernel "$f"
	assert_rejected "kvmini: $f: truncated: setup_sects 0 puts the kernel at offset 0xa00, at or past the end of the file (1500 bytes)"
}

@test "bzImage whose protected-mode kernel is cut short" {
	f=$BATS_TEST_TMPDIR/bz
	size=$(stat -c %s "$BZ")
	head -c $((size - 64)) "$BZ" >"$f"
	kvmini run --kernel "$f"
	assert_rejected "kvmini: $f: truncated: the protected-mode kernel is $((size - 64 - 2560)) bytes, syssize says $((size - 2560))"
}

@test "bzImage larger than RAM (init_size of 256 MiB in 64M)" {
	f=$(copy_bz)
	patch "$f" 0x260 00 00 00 10
	kvmini run --mem 64M --kernel "$f"
	assert_rejected "kvmini: $f: the kernel needs 268435456 bytes (init_size) from a 0x200000-aligned address, more than the RAM from 1 MiB to 0x4000000; raise --mem"
}

@test "an initrd that does not fit above the kernel" {
	big=$BATS_TEST_TMPDIR/big.img
	head -c $((14 << 20)) /dev/zero >"$big"
	kvmini run --mem 16M --kernel "$BZ" --initrd "$big"
	assert_rejected "kvmini: $big: the initrd (14680064 bytes) does not fit between the kernel's end 0x204000 and 0x1000000 (the end of the RAM below 4 GiB); raise --mem"
}

@test "an initrd larger than RAM" {
	big=$BATS_TEST_TMPDIR/big.img
	head -c $((17 << 20)) /dev/zero >"$big"
	kvmini run --mem 16M --kernel "$PVH" --initrd "$big"
	assert_rejected "kvmini: initrd '$big' (17825792 bytes) is larger than guest RAM (16777216 bytes)"
}

@test "a command line longer than the kernel's cmdline_size" {
	line=$(printf 'z%.0s' $(seq 2048))
	kvmini run --kernel "$BZ" --cmdline "$line"
	assert_rejected "kvmini: $BZ: the command line is 2048 bytes, longer than the kernel's cmdline_size (2047 bytes)"
}

@test "a PVH command line longer than kvmini's buffer" {
	line=$(printf 'z%.0s' $(seq 61440))
	kvmini run --kernel "$PVH" --cmdline "$line"
	assert_rejected "kvmini: $PVH: the command line is 61440 bytes, longer than kvmini's command-line buffer (61439 bytes)"
}

@test "an ELF kernel without the PVH note" {
	kvmini run --kernel "$GUESTS/hello_long.elf"
	assert_rejected "kvmini: $GUESTS/hello_long.elf: ELF kernel without a PVH entry (no \"Xen\" note of type 18, XEN_ELFNOTE_PHYS32_ENTRY); run a plain ELF as IMAGE, not --kernel"
}

@test "missing kernel and initrd files" {
	kvmini run --kernel /nonexistent/bzImage
	assert_rejected "kvmini: cannot open kernel '/nonexistent/bzImage': No such file or directory"
	kvmini run --kernel "$BZ" --initrd /nonexistent/initrd
	assert_rejected "kvmini: cannot open initrd '/nonexistent/initrd': No such file or directory"
}

@test "--initrd, --cmdline and --append need --kernel" {
	kvmini run --initrd "$INITRD" "$GUESTS/hello_long.elf"
	assert_rejected "kvmini: --initrd, --cmdline and --append need --kernel (try 'kvmini --help')"
}

# ---- --decompress: kvmini decompresses the payload, enters vmlinux ----
# bootconf_gzip.bzImage and bootconf_xz.bzImage carry the conformance
# kernel twice: flat at offset 0 of the protected-mode part (what the
# plain 64-bit entry runs) and, as an ELF vmlinux linked at
# pref_address, compressed in the payload that payload_offset and
# payload_length locate.

# A copy of $1 whose flat kernel is zeroed: only --decompress can boot it.
without_flat_kernel() {
	local f=$BATS_TEST_TMPDIR/packed
	cp "$1" "$f"
	local offset
	offset=$(od -An -tu4 -j $((0x248)) -N4 "$f" | tr -d ' ')
	dd if=/dev/zero of="$f" bs=1 seek=$((0xa00)) count="$offset" conv=notrunc status=none
	echo "$f"
}

@test "--decompress: the gzip payload's vmlinux, at pref_address, passes every check" {
	f=$(without_flat_kernel "$GUESTS/bootconf_gzip.bzImage")
	expect="$(mem_expect 64M) bootconf.load=0x1000000 bootconf.rsdp=0xe0000 bootconf.end"
	kvmini run --timeout 60 --mem 64M --kernel "$f" --decompress --append "$expect"
	assert_conformant 42
	assert_line_present "bootconf: ok syssize: the flat kernel, then the payload at payload_offset"
	assert_line_present "bootconf: ok code32_start is the load address"
}

@test "--decompress: xz payload, 16M: vmlinux moved to 2 MiB, initrd above it" {
	f=$(without_flat_kernel "$GUESTS/bootconf_xz.bzImage")
	expect="$(mem_expect 16M) bootconf.load=0x200000 $INITRD_EXPECT bootconf.end"
	kvmini run --timeout 60 --mem 16M --kernel "$f" --decompress --initrd "$INITRD" --cmdline "$expect"
	assert_conformant 42
	assert_line_present "bootconf: kernel loaded at 0x0000000000200000"
}

@test "--decompress: the same kernel without it runs the flat copy" {
	expect="$(mem_expect 64M) bootconf.load=0x1000000 bootconf.end"
	kvmini run --timeout 60 --mem 64M --kernel "$GUESTS/bootconf_xz.bzImage" --cmdline "$expect"
	assert_conformant 40
	f=$(without_flat_kernel "$GUESTS/bootconf_xz.bzImage")
	kvmini run --timeout 20 --mem 64M --kernel "$f" --cmdline "$expect"
	# Zeroed code runs into garbage (a triple fault here), never a check.
	[ "$status" -ne 1 ] && [[ "$output" != *bootconf:* ]] ||
		{ echo "status $status, output: $output"; return 1; }
}

@test "--decompress needs --kernel, and a bzImage" {
	kvmini run --decompress "$GUESTS/hello_long.elf"
	assert_rejected "kvmini: --decompress needs --kernel (try 'kvmini --help')"
	kvmini run --kernel "$PVH64" --decompress
	assert_rejected "kvmini: $PVH64: --decompress applies to a bzImage; this is an ELF vmlinux, already uncompressed"
	kvmini run --kernel "$BZ" --decompress
	assert_rejected "kvmini: $BZ: --decompress: the header locates no payload (payload_length is 0)"
}

@test "--decompress: corrupt, cut and unknown payloads" {
	f=$BATS_TEST_TMPDIR/bz
	cp "$GUESTS/bootconf_xz.bzImage" "$f"
	offset=$(od -An -tu4 -j $((0x248)) -N4 "$f" | tr -d ' ')
	length=$(od -An -tu4 -j $((0x24c)) -N4 "$f" | tr -d ' ')
	# Bytes in the middle of the LZMA2 data.
	head -c 64 /dev/zero | tr '\0' '\125' |
		dd of="$f" bs=1 seek=$((0xa00 + offset + length / 2)) conv=notrunc status=none
	kvmini run --kernel "$f" --decompress
	assert_rejected "kvmini: $f: corrupt xz payload: "
	# payload_length one third: the stream ends early.
	cp "$GUESTS/bootconf_xz.bzImage" "$f"
	patch "$f" 0x24c $(printf '%08x' $((length / 3)) | sed -E 's/(..)(..)(..)(..)/\4 \3 \2 \1/')
	kvmini run --kernel "$f" --decompress
	assert_rejected "kvmini: $f: truncated xz payload: the stream ends before its end marker"
	cp "$GUESTS/bootconf_xz.bzImage" "$f"
	patch "$f" $((0xa00 + offset)) 42 5a 68 39
	kvmini run --kernel "$f" --decompress
	assert_rejected "kvmini: $f: the payload is bzip2-compressed: --decompress reads gzip, xz, zstd and lz4 only (boot without --decompress)"
	patch "$f" $((0xa00 + offset)) 00 11 22 33
	kvmini run --kernel "$f" --decompress
	assert_rejected "kvmini: $f: the payload starts with 00 11 22 33: not gzip, xz, zstd or lz4 (boot without --decompress)"
}

@test "--decompress: a payload that decompresses beyond RAM is refused, bounded" {
	bomb=$BATS_TEST_TMPDIR/bomb.gz
	f=$BATS_TEST_TMPDIR/bomb.bzImage
	head -c 100M /dev/zero | gzip -1 >"$bomb"   # about 100 KiB
	"$GUESTS/../tools/mkbzimage" --setup-sects 0 --init-size 0x100000 --payload "$bomb" \
		"$GUESTS/bootconf/payload.bin" "$f"
	kvmini run --mem 16M --kernel "$f" --decompress
	assert_rejected "kvmini: $f: the gzip payload decompresses to more than 16777216 bytes (the guest's RAM below 3 GiB; raise --mem)"
}
