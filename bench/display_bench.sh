#!/usr/bin/env bash
# The display's figures (issue 17), without KVM: run from the repository
# root after `make all`. Usage: bench/display_bench.sh [BUILD_DIR]
# tests/display/vnc_serve (a 320x200 framebuffer in plain guest memory)
# serves a libvncclient viewer (tests/display/vnc_client):
#  (a) bytes sent for a full-screen update, raw and ZRLE
#  (b) bytes sent for a one-character change (an 8x16 block), raw and ZRLE
#  (c) the server's CPU time while one viewer is connected and the screen
#      is idle (no dirty log here: the damage scan compares the whole
#      framebuffer with its shadow copy 25 times a second; with KVM's log
#      an idle screen skips every band without reading it)
#  (d) frames per second a viewer receives, raw and ZRLE, while the whole
#      screen changes without pause and while one character moves (the
#      server paces updates at 25 a second at most)
set -euo pipefail
B=${1:-build}
SERVE=$B/display/vnc_serve
CLIENT=$B/san/display/vnc_client
for f in "$SERVE" "$CLIENT"; do
	[ -x "$f" ] || { echo "display_bench: $f missing: make $f" >&2; exit 2; }
done
W=$(mktemp -d)
mkfifo "$W/in"
exec 8<>"$W/in"
"$SERVE" "unix:$W/sock" "$W/shot.png" <&8 >"$W/out" 2>"$W/err" 8>&- &
SPID=$!
trap 'echo quit >&8; wait $SPID; rm -rf "$W"' EXIT
until grep -q '^ready$' "$W/out"; do kill -0 $SPID; sleep 0.02; done

# The server's running count of bytes sent.
bytes_sent() {
	local n
	n=$(grep -c '^bytes' "$W/out" || true)
	echo bytes >&8
	until [ "$(grep -c '^bytes' "$W/out" || true)" -gt "$n" ]; do sleep 0.01; done
	grep '^bytes' "$W/out" | tail -1 | cut -d' ' -f2
}

cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

x=100
for enc in raw zrle; do
	before=$(bytes_sent)
	"$CLIENT" "$W/sock" -e "$enc" -c "$W/full.png" -w captured >"$W/client" &
	CPID=$!
	until grep -q captured "$W/client"; do sleep 0.01; done
	full=$(( $(bytes_sent) - before ))
	mid=$(bytes_sent)
	echo "char $x 100" >&8   # a new place each time: the same block again changes nothing
	x=$((x + 40))
	wait $CPID
	char=$(( $(bytes_sent) - mid ))
	echo "(a) full-screen update, $enc: $full bytes (320x200x4 = 256000 raw pixels)"
	echo "(b) one-character change, $enc: $char bytes (8x16x4 = 512 raw pixels)"
done
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks $SPID)
"$CLIENT" "$W/sock" -i 5
t1=$(cpu_ticks $SPID)
echo "(c) idle screen, one viewer, 5 s: $(( (t1 - t0) * 1000 / hz )) ms of server CPU"

# (d): the viewer counts for 4 s while the server draws for 5.
for what in full char; do
	for enc in raw zrle; do
		"$CLIENT" "$W/sock" -e "$enc" -f 4 >"$W/frames" &
		CPID=$!
		echo "animate 5 $what" >&8
		wait $CPID
		n=$(sed -n 's/^frames //p' "$W/frames")
		echo "(d) $([ $what = full ] && echo "the whole screen changing" || echo "one character moving"), $enc: $n frames in 4 s ($((n / 4)) per second)"
		bytes_sent >/dev/null   # the server has read the animation's line and is idle again
	done
done
