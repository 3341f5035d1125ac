#!/usr/bin/env bats
# The display without KVM (docs/display.md): tests/display/vnc_serve
# draws the test pattern into a framebuffer in plain guest memory, saves
# its PNG screenshot and serves it over VNC with an i8042 behind the
# server's keyboard and mouse. Real VNC clients capture the screen
# (gvnccapture from Debian's gvncviewer, and vnc_client on libvncclient)
# and must get the screenshot pixel for pixel; keys and pointer events
# must come out of the i8042's data port as the right scan codes and
# packets; hostile clients must disturb nothing. The same with a guest
# drawing and typing needs KVM (the tests at the end).
bats_require_minimum_version 1.5.0
load helpers
load api_helpers

D=$(dirname "$KVMINI")/display
SERVE=$D/vnc_serve
CLIENT=$D/vnc_client
SAME=$D/png_same

setup() {
	W=$BATS_TEST_TMPDIR
	SOCK=$W/api.sock
	OUT=$W/api.out
	ERR=$W/api.err
	KPID=
	mkfifo "$W/in"
	exec 8<>"$W/in"
}

teardown() {
	if [ -n "${SPID:-}" ]; then
		echo quit >&8 || true
		wait "$SPID" || true
	fi
	exec 8>&- || true
	background_kvmini_teardown
}

# Start vnc_serve on a free display (ADDRESS given: that address) and
# wait for its "ready"; sets SPID, PORT and DISPLAY_NO.
start_server() {
	local d tries=0
	[ -x "$SERVE" ] || skip "$SERVE not built (make integration builds it)"
	command -v gvnccapture >/dev/null || skip "gvnccapture missing: scripts/install-deps.sh test"
	while [ $tries -lt 20 ]; do
		d=$((40 + RANDOM % 60))
		tries=$((tries + 1))
		: >"$W/out"
		"$SERVE" "${1:-127.0.0.1:$d}" "$W/shot.png" ${2:+"$2"} <&8 3>&- >"$W/out" 2>"$W/err" &
		SPID=$!
		while ! grep -q '^ready$' "$W/out" && kill -0 "$SPID" 2>/dev/null; do
			sleep 0.02
		done
		if grep -q '^ready$' "$W/out"; then
			DISPLAY_NO=$d
			PORT=$((5900 + d))
			return 0
		fi
		wait "$SPID" || true
		SPID=
		grep -q 'cannot listen' "$W/err" || { cat "$W/err"; return 1; }
		[ -z "${1:-}" ] || { cat "$W/err"; return 1; }
	done
	return 1
}

@test "display: gvnccapture's capture equals the screenshot pixel for pixel" {
	start_server
	run timeout 60 gvnccapture "127.0.0.1:$DISPLAY_NO" "$W/gvnc.png"
	assert_status 0
	run "$SAME" "$W/shot.png" "$W/gvnc.png"
	assert_status 0
}

@test "display: a libvncclient capture equals the screenshot with raw, zrle and hextile" {
	start_server
	for enc in raw zrle hextile; do
		run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -e "$enc" -c "$W/$enc.png"
		assert_status 0
		run "$SAME" "$W/shot.png" "$W/$enc.png"
		assert_status 0
	done
}

@test "display: a screen the guest painted black no longer equals the screenshot" {
	start_server
	echo "fill 000000" >&8
	echo "bytes" >&8
	wait_for_text "$W/out" "bytes "
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -c "$W/black.png"
	assert_status 0
	run "$SAME" "$W/shot.png" "$W/black.png"
	assert_status 1
	[[ "$stderr$output" == *"differs"* ]]
}

@test "display: a Unix socket serves the same screen and removes itself" {
	start_server "unix:$W/vnc.sock"
	[ -S "$W/vnc.sock" ]
	run timeout 60 "$CLIENT" "$W/vnc.sock" -c "$W/unix.png"
	assert_status 0
	run "$SAME" "$W/shot.png" "$W/unix.png"
	assert_status 0
	echo quit >&8
	wait "$SPID"
	SPID=
	[ ! -e "$W/vnc.sock" ]
}

@test "display: keys typed over VNC become set 1 scan codes at port 0x60" {
	start_server
	# a, Up (0xe0 prefix), Return, F12, '!' (the 1 key)
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -k 61 -k ff52 -k ff0d -k ffc9 -k 21
	assert_status 0
	wait_for_text "$W/out" "kbd " 12
	run grep '^kbd' "$W/out"
	assert_stdout "$(printf 'kbd %s\n' 1e 9e e0 48 e0 c8 1c 9c 58 d8 02 82 | head -c -1)" ||
		{ cat "$W/out"; false; }
}

@test "display: pointer events over VNC become PS/2 mouse packets" {
	start_server
	# Press left at (10,10), move right 20 and up 5 with it held, release.
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -m 10,10,1 -m 30,5,1 -m 30,5,0 -m 30,5,4
	assert_status 0
	wait_for_text "$W/out" "aux " 12
	run grep '^aux' "$W/out"
	# buttons|0x08, dx, dy (up positive); right is RFB's bit 2, PS/2's bit 1
	assert_stdout "$(printf 'aux %s\n' 09 00 00 09 14 05 08 00 00 0a 00 00 | head -c -1)"
}

@test "display: garbage from a client and a client gone mid-update disturb nothing" {
	start_server
	# Not RFB at all.
	head -c 4096 /dev/urandom | timeout 10 socat -u - "TCP:127.0.0.1:$PORT" || true
	# A valid version, then nonsense messages.
	printf 'RFB 003.008\n\001\377\377\377\377\377\377\377\377' |
		timeout 10 socat -u - "TCP:127.0.0.1:$PORT" || true
	# Ask for the whole screen and leave without reading it, many times.
	for i in 1 2 3 4 5; do
		printf 'RFB 003.008\n\001\001\003\000\000\000\001\100\000\310' |
			timeout 10 socat -u - "TCP:127.0.0.1:$PORT" || true
	done
	kill -0 "$SPID"
	run timeout 60 gvnccapture "127.0.0.1:$DISPLAY_NO" "$W/after.png"
	assert_status 0
	run "$SAME" "$W/shot.png" "$W/after.png"
	assert_status 0
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -k 61
	assert_status 0
	wait_for_text "$W/out" "kbd 9e"
}

@test "display: with a password only a client that knows it gets the screen" {
	start_server "" "s3cret"
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -p wrong -c "$W/wrong.png"
	[ "$status" -ne 0 ]
	[ ! -e "$W/wrong.png" ]
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -p s3cret -c "$W/right.png"
	assert_status 0
	run "$SAME" "$W/shot.png" "$W/right.png"
	assert_status 0
}

@test "display: an update is sent only for what changed" {
	start_server
	echo bytes >&8
	wait_for_text "$W/out" "bytes 0"
	run timeout 60 "$CLIENT" "127.0.0.1:$PORT" -e raw -c "$W/cap.png"
	assert_status 0
	echo bytes >&8
	wait_for_text "$W/out" "bytes " 2
	full=$(grep '^bytes' "$W/out" | tail -1 | cut -d' ' -f2)
	# 320 x 200 x 4 bytes of raw pixels, and a little framing
	[ "$full" -ge 256000 ] && [ "$full" -lt 260000 ] || { echo "full: $full"; false; }
}

# ---- kvmini's options (no guest runs: each fails before the VM) ----

@test "display: --vnc and --screenshot-on-exit need --display" {
	kvmini run --vnc :1
	assert_status 2
	assert_stderr_has "--vnc needs --display WIDTHxHEIGHT"
	kvmini run --screenshot-on-exit "$W/x.png"
	assert_status 2
	assert_stderr_has "--screenshot-on-exit needs --display WIDTHxHEIGHT"
	kvmini run --display 640x480 --vnc-password-file "$W/pw"
	assert_status 2
	assert_stderr_has "--vnc-password-file needs --vnc"
}

@test "display: --display refuses sizes it cannot map" {
	for size in 8x8 640 640x 0x480 4097x16 2560x2048 -640x480; do
		kvmini run --display "$size"
		assert_status 2
		assert_stderr_has "display"
		assert_one_line_error
	done
}

@test "display: kvmini ctl screenshot before the VM runs is refused, and says why" {
	start_api --display 320x200
	kvmini ctl "$SOCK" screenshot "$W/early.png"
	assert_status 2
	[ "$stderr" = '{"fault_message":"Cannot take the screenshot: the VM is not running"}
kvmini: PUT /screenshot: HTTP 400' ] || { echo "$stderr"; false; }
	api PUT /screenshot '{"path": "x.png", "extra": 1}'
	[[ "$output" == "400 "*"extra"* ]] || { echo "$output"; false; }
	kvmini ctl "$SOCK" screenshot
	assert_status 2
	assert_stderr_has "ctl screenshot takes a FILE.png"
	[ ! -e "$W/early.png" ]
}

# ---- with KVM: a bare-metal guest draws and types (guests/display.c) ----

# Start kvmini with the display guest in the background on a free VNC
# display and wait for the guest's "ready"; sets KPID and DISPLAY_NO.
start_guest() {
	local d tries=0
	while [ $tries -lt 20 ]; do
		d=$((40 + RANDOM % 60))
		tries=$((tries + 1))
		: >"$W/serial"
		"$KVMINI" run --display 320x200 --vnc "127.0.0.1:$d" \
			--screenshot-on-exit "$W/exit.png" --timeout 300 "$@" "$GUESTS/display.elf" \
			</dev/null 3>&- >"$W/serial" 2>"$W/kerr" &
		KPID=$!
		while ! grep -q '^ready$' "$W/serial" && kill -0 "$KPID" 2>/dev/null; do
			sleep 0.02
		done
		if grep -q '^ready$' "$W/serial"; then
			DISPLAY_NO=$d
			return 0
		fi
		wait "$KPID" || true
		KPID=
		grep -q 'cannot listen' "$W/kerr" || { cat "$W/kerr"; return 1; }
	done
	return 1
}

# The guest ends on Escape, and kvmini's VNC server with it: the client
# may lose its connection before it hears back, so its status says
# nothing; the guest's exit status (waited for next) does.
press_escape() {
	timeout 60 "$CLIENT" "127.0.0.1:$((5900 + DISPLAY_NO))" -k ff1b || true
}

expected_pattern() {
	echo quit | "$SERVE" "unix:$W/pattern.sock" "$W/expected.png" >/dev/null
}

@test "display (KVM): the guest's drawing is what VNC shows and what the screenshot holds" {
	needs_kvm
	command -v gvnccapture >/dev/null || skip "gvnccapture missing: scripts/install-deps.sh test"
	expected_pattern
	start_guest
	run timeout 60 gvnccapture "127.0.0.1:$DISPLAY_NO" "$W/live.png"
	assert_status 0
	run "$SAME" "$W/expected.png" "$W/live.png"
	assert_status 0
	# Escape ends the guest (debug-exit 0: status 1); the screenshot follows.
	press_escape
	wait "$KPID" && status=0 || status=$?
	KPID=
	assert_status 1
	run "$SAME" "$W/expected.png" "$W/exit.png"
	assert_status 0
	sanitizer_check "$(cat "$W/kerr")"
}

@test "display (KVM): keys typed over VNC reach the guest as set 1 scan codes" {
	needs_kvm
	start_guest
	run timeout 60 "$CLIENT" "127.0.0.1:$((5900 + DISPLAY_NO))" -k 61 -k ff52 -m 5,5,1
	assert_status 0
	press_escape
	wait "$KPID" && status=0 || status=$?
	KPID=
	assert_status 1
	run cat "$W/serial"
	assert_stdout "$(printf '%s\n' ready 'kbd 1e' 'kbd 9e' 'kbd e0' 'kbd 48' 'kbd e0' 'kbd c8' \
		'aux 09' 'aux 00' 'aux 00' 'kbd 01' | head -c -1)"
}

@test "display (KVM): kvmini ctl screenshot saves what the guest drew" {
	needs_kvm
	expected_pattern
	start_api --display 320x200 --timeout 300 "$GUESTS/display.elf"
	wait_for_text "$OUT" ready
	kvmini ctl "$SOCK" screenshot "$W/ctl.png"
	assert_status 0
	run "$SAME" "$W/expected.png" "$W/ctl.png"
	assert_status 0
}

# Once the guest started with start_api says "ready": pause, snapshot,
# end that kvmini, restore under the API, and the restored VM's
# screenshot is the test pattern.
snapshot_restored_is_the_pattern() {
	wait_for_text "$OUT" ready
	api PATCH /vm '{"state": "Paused"}'
	assert_api 204 ""
	api PUT /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$W/snap\", \"mem_file_path\": \"$W/mem\"}"
	assert_api 204 ""
	kill "$KPID"; wait "$KPID" || true; KPID=
	rm -f "$SOCK"
	start_api_cmd restore --timeout 300 --snapshot "$W/snap" --mem "$W/mem"
	wait_running
	kvmini ctl "$SOCK" screenshot "$W/restored.png"
	assert_status 0
	run "$SAME" "$W/expected.png" "$W/restored.png"
	assert_status 0
}

# The display's video memory is not RAM: a snapshot carries it in its
# DISP section, and the restored VM shows what the guest had drawn
# (it does not draw again), through the API and to a VNC viewer.
@test "display (KVM): a snapshot keeps the screen: the restored VM's screenshot is the drawing" {
	needs_kvm
	expected_pattern
	start_api --display 320x200 --timeout 300 "$GUESTS/display.elf"
	snapshot_restored_is_the_pattern
	kill "$KPID"; wait "$KPID" || true; KPID=
	# A restore that asks for another display is refused.
	rm -f "$SOCK"
	start_api --display 640x480
	api PUT /snapshot/load "{\"snapshot_path\": \"$W/snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/mem\"}}"
	assert_api 400 "$(fault "Cannot load the snapshot: the snapshot's display is not the one asked for (320x200 saved)")"
}

@test "display (KVM): the API's SendCtrlAltDel types Ctrl+Alt+Del at the guest" {
	needs_kvm
	start_api --display 320x200 --timeout 300 "$GUESTS/display.elf"
	wait_for_text "$OUT" ready
	kvmini ctl "$SOCK" ctrl-alt-del
	assert_status 0
	wait_for_text "$OUT" "kbd 9d"
	run grep '^kbd' "$OUT"
	assert_stdout "$(printf 'kbd %s\n' 1d 38 e0 53 e0 d3 b8 9d | head -c -1)"
}

@test "display (KVM): a viewer that sends garbage leaves the guest running" {
	needs_kvm
	start_guest
	head -c 4096 /dev/urandom | timeout 10 socat -u - "TCP:127.0.0.1:$((5900 + DISPLAY_NO))" || true
	kill -0 "$KPID"
	press_escape
	wait "$KPID" && status=0 || status=$?
	KPID=
	assert_status 1
}

# ---- QEMU's bochs-display (--display WxH,bochs-display) ----

@test "bochs-display: --display takes only bochs-display after the size" {
	kvmini run --display 320x200,vga "$GUESTS/hello_long.elf"
	assert_status 2
	assert_stderr_has "the only device is bochs-display"
	kvmini run --display 8x8,bochs-display "$GUESTS/hello_long.elf"
	assert_status 2
	assert_stderr_has "each side must be 16 to 4096 pixels"
}

# What guests/bochs_display.c prints when every check passed.
BOCHS_LINES="bochs-display found, video memory moved
edid ok
refusals ok
mode 320x200 set
drawn
ready"

@test "bochs-display (KVM): a guest finds 1234:1111, sets 320x200 and the screenshot is its drawing" {
	needs_kvm
	expected_pattern
	# The guest ends at the byte on COM1, which waits in the UART.
	run_checked bash -c "printf x | \"\$0\" run --display 640x480,bochs-display \
		--screenshot-on-exit \"\$1\" --timeout 300 \"\$2\"" \
		"$KVMINI" "$W/exit.png" "$GUESTS/bochs_display.elf"
	assert_status 1
	assert_stdout "$BOCHS_LINES"
	run "$SAME" "$W/expected.png" "$W/exit.png"
	assert_status 0
}

# The Bochs display's registers, BARs and video memory are saved too:
# the restored VM shows the guest's 320x200 mode (not the first 640x480)
# with its drawing.
@test "bochs-display (KVM): a snapshot keeps the mode and the drawing" {
	needs_kvm
	expected_pattern
	start_api --display 640x480,bochs-display --timeout 300 "$GUESTS/bochs_display.elf"
	snapshot_restored_is_the_pattern
}

# Start the bochs-display guest in the background on a free VNC display
# and wait for its "ready"; sets KPID and DISPLAY_NO. A byte written to
# fd 8 ends it.
start_bochs_guest() {
	local d tries=0
	while [ $tries -lt 20 ]; do
		d=$((40 + RANDOM % 60))
		tries=$((tries + 1))
		: >"$W/serial"
		"$KVMINI" run --display 640x480,bochs-display --vnc "127.0.0.1:$d" \
			--screenshot-on-exit "$W/exit.png" --timeout 300 "$GUESTS/bochs_display.elf" \
			<&8 >"$W/serial" 2>"$W/kerr" &
		KPID=$!
		while ! grep -q '^ready$' "$W/serial" && kill -0 "$KPID" 2>/dev/null; do
			sleep 0.02
		done
		if grep -q '^ready$' "$W/serial"; then
			DISPLAY_NO=$d
			return 0
		fi
		wait "$KPID" || true
		KPID=
		grep -q 'cannot listen' "$W/kerr" || { cat "$W/serial" "$W/kerr"; return 1; }
	done
	return 1
}

@test "bochs-display (KVM): VNC shows the guest's 320x200 mode, not the first 640x480" {
	needs_kvm
	command -v gvnccapture >/dev/null || skip "gvnccapture missing: scripts/install-deps.sh test"
	expected_pattern
	start_bochs_guest
	run timeout 60 gvnccapture "127.0.0.1:$DISPLAY_NO" "$W/live.png"
	assert_status 0
	run "$SAME" "$W/expected.png" "$W/live.png"
	assert_status 0
	run timeout 60 "$CLIENT" "127.0.0.1:$((5900 + DISPLAY_NO))" -c "$W/client.png"
	assert_status 0
	run "$SAME" "$W/expected.png" "$W/client.png"
	assert_status 0
	echo x >&8
	wait "$KPID" && status=0 || status=$?
	KPID=
	assert_status 1
	run "$SAME" "$W/expected.png" "$W/exit.png"
	assert_status 0
	sanitizer_check "$(cat "$W/kerr")"
}
