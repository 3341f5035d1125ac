#!/usr/bin/env bats
# kvmini's own test kernel (scripts/build-test-kernel.sh: Debian's
# linux-source-6.1, tinyconfig + tests/kernel/config.fragment, the
# syscall patch PVM hosts need, a busybox initramfs) boots to /init,
# runs the commands given in kvmini_run= and powers off with status 0,
# under both interrupt-controller models, with 1 and 2 vCPUs.
#
# The kernel is built on first use and cached outside the clone (about
# 16 minutes on 2 cores the first time); on a host without KVM every
# test skips before anything is built.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	test_kernel_find
}

# The fbcon tests start kvmini in the background (KPID).
teardown() {
	background_kvmini_teardown
}

CMDLINE='console=ttyS0 panic=-1'
SCRIPT='echo hello from busybox; echo cpus $(grep -c ^processor /proc/cpuinfo); uname -sr'

# Boot the test kernel as a PVH ELF: boot_test_kernel IRQCHIP CPUS.
boot_test_kernel() {
	kvmini_boot --verbose --timeout 150 --irqchip "$1" --cpus "$2" --mem 256M \
		--kernel "$TEST_KERNEL/vmlinux" --initrd "$TEST_KERNEL/initramfs.cpio.gz" \
		--cmdline "$CMDLINE kvmini_run=\"$SCRIPT\""
	log=$(tr -d '\r' <<<"$output" | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //')
}

has_line() {
	grep -qxF -- "$1" <<<"$log" || { echo "missing line: $1"; echo "$log" | tail -n 40; return 1; }
}

# /init ran the script with its output, then a clean power-off: the
# kernel's own "reboot: Power down" (a panic with panic=-1 would reset).
assert_clean_run() {
	assert_status 0
	has_line "kvmini-init: start"
	has_line "hello from busybox"
	has_line "cpus $1"
	grep -qE '^Linux 6\.1\.' <<<"$log" || { echo "no uname line"; return 1; }
	has_line "kvmini-init: status 0"
	has_line "reboot: Power down"
	assert_stderr_has "guest powered off (ACPI S5)"
}

@test "test kernel: /init and power-off, --irqchip kernel, 1 vCPU" {
	needs_kvm
	boot_test_kernel kernel 1
	assert_clean_run 1
}

@test "test kernel: /init and power-off, --irqchip split, 1 vCPU" {
	needs_kvm
	boot_test_kernel split 1
	assert_clean_run 1
}

@test "test kernel: /init and power-off, --irqchip kernel, 2 vCPUs" {
	needs_kvm
	boot_test_kernel kernel 2
	assert_clean_run 2
}

@test "test kernel: /init and power-off, --irqchip split, 2 vCPUs" {
	needs_kvm
	boot_test_kernel split 2
	assert_clean_run 2
}

# ---- fbcon on kvmini's display (docs/display.md) ----

D=$(dirname "$KVMINI")/display

# True when the PNG is WIDTHxHEIGHT (`png_not_black FILE WxH`) and
# holds a pixel that is not black. PNG's row filters map an all-zero
# image to all-zero bytes and any other to some non-zero byte, so the
# inflated data need not be unfiltered.
png_not_black() {
	python3 - "$1" "$2" <<-'PY'
	import struct, sys, zlib
	data = open(sys.argv[1], "rb").read()
	pos, idat, width, height = 8, b"", 0, 0
	while pos < len(data):
	    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
	    if kind == b"IHDR":
	        width, height = struct.unpack(">II", data[pos + 8:pos + 16])
	    if kind == b"IDAT":
	        idat += data[pos + 8:pos + 8 + n]
	    pos += 12 + n
	if "%dx%d" % (width, height) != sys.argv[2]:
	    print("the screen is %dx%d" % (width, height))
	    sys.exit(1)
	raw = zlib.decompress(idat)
	row = 1 + 3 * width
	sys.exit(0 if any(raw[i] for i in range(len(raw)) if i % row) else 1)
	PY
}

# Start the bzImage in the background (KPID) with DISPLAY and fbcon on
# tty0; /init quiets the console (dmesg -n 1), says "fbcon-42" (not in
# the command line the kernel prints first) and waits for a line on
# COM1 (fd 8). `fbcon_boot DISPLAY [CMDLINE...]`
fbcon_boot() {
	: >"$W/serial"
	"$KVMINI" run --display "$1" --vnc "unix:$W/vnc.sock" --api-sock "$W/api.sock" \
		--timeout 300 --mem 256M --kernel "$TEST_KERNEL/bzImage" \
		--initrd "$TEST_KERNEL/initramfs.cpio.gz" \
		--cmdline "console=tty0 console=ttyS0 panic=-1 vt.global_cursor_default=0 ${*:2} kvmini_run=\"dmesg -n 1; echo fbcon-\$((6 * 7)); read x\"" \
		<&8 >"$W/serial" 2>"$W/kerr" &
	KPID=$!
}

# `fbcon_check DISPLAY SIZE [CMDLINE...]`: boot as above, then compare a
# VNC capture with a screenshot over the API; both must be SIZE and
# show more than black. COM1's output is left in $W/serial. In the
# nested KVM VM a boot that stalls is tried again, as kvmini_boot does
# (helpers.bash, docs/testing.md).
fbcon_check() {
	local try
	W=$BATS_TEST_TMPDIR
	mkfifo "$W/in"
	exec 8<>"$W/in"
	for try in $(seq 1 "$BOOT_ATTEMPTS"); do
		rm -f "$W/vnc.sock" "$W/api.sock"
		fbcon_boot "$1" "${@:3}"
		wait_for_text "$W/serial" "fbcon-42" && break
		kill "$KPID" 2>/dev/null || true
		wait "$KPID" || true
		KPID=
		if [ "${KVMINI_NESTED:-}" != 1 ] || [ "$try" -eq "$BOOT_ATTEMPTS" ]; then
			tail -n 30 "$W/serial"
			return 1
		fi
		echo "# nested KVM VM: the boot stalled; attempt $((try + 1)) of $BOOT_ATTEMPTS" >&3
	done
	run_checked "$KVMINI" ctl "$W/api.sock" screenshot "$W/shot.png"
	assert_status 0
	run timeout 60 "$D/vnc_client" "$W/vnc.sock" -c "$W/live.png"
	assert_status 0
	run "$D/png_same" "$W/shot.png" "$W/live.png"
	assert_status 0
	png_not_black "$W/shot.png" "$2" || { echo "the screen is black or not $2"; return 1; }
	echo x >&8
	wait "$KPID" && status=0 || status=$?
	KPID=
	assert_status 0
	grep -q "kvmini-init: status 0" "$W/serial"
	sanitizer_check "$(cat "$W/kerr")"
	exec 8>&-
}

@test "test kernel: fbcon shows the kernel's messages on --display; VNC shows the same" {
	needs_kvm
	fbcon_check 640x480 640x480
}

# Linux's own driver: the bochs DRM driver reads the EDID, takes the
# framebuffer from the firmware one (screen_info's) and sets a mode
# through DISPI (640x480, asked for with video=, not the first
# 800x600), which the screenshot and VNC follow; fbcon runs on its
# fbdev emulation.
@test "test kernel: Linux's bochs DRM driver sets a mode on bochs-display; fbcon on it" {
	needs_kvm
	fbcon_check 800x600,bochs-display 640x480 video=Virtual-1:640x480
	grep -q "Found bochs VGA, ID 0xb0c5" "$W/serial" || { cat "$W/serial"; return 1; }
	grep -q "bochs-drmdrmfb" "$W/serial"
}
