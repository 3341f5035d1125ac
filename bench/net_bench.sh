#!/usr/bin/env bash
# Network figures (issue 12): host-to-guest TCP throughput and one-byte
# request/response latency over a tap device, over the user-mode network
# (slirp, through a hostfwd port) and over vsock, with the Linux test
# kernel in one kvmini; next to the same transfers over the host's
# loopback in the same run, with the same server programs (busybox nc),
# as the ratio's baseline. Run from the repository root after `make all`,
# as root (the tap lives in a network namespace the script makes).
# Usage: bench/net_bench.sh [BUILD_DIR]
#   NET_BENCH_BYTES   bytes per transfer (default 32 MiB)
#   NET_BENCH_RR      round trips per latency figure (default 500)
set -euo pipefail
B=${1:-build}
K=$B/kvmini
BYTES=${NET_BENCH_BYTES:-33554432}
RR=${NET_BENCH_RR:-500}
[ -x "$K" ] && [ -x "$B/guests/linux/vsock_pipe" ] || { echo "net_bench: run make all first" >&2; exit 2; }
echo "== guest<->host networking (Linux test kernel): host to guest $((BYTES >> 20)) MiB, median of 3; $RR one-byte round trips, median"
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "  skipped: no usable /dev/kvm (where KVM is nested: scripts/nested-kvm.sh run . 'bench/net_bench.sh')"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "  skipped: the tap's network namespace needs root"
	exit 0
fi
TEST_KERNEL=$(scripts/build-test-kernel.sh)
PROBE=$B/bench/net_probe
mkdir -p "$B/bench"
${CC:-gcc} -std=gnu11 -Wall -Wextra -Werror -O2 -o "$PROBE" bench/tools/net_probe.c

D=$(mktemp -d)
NS=kvmini-bench-$$
KPID=
cleanup() {
	[ -z "$KPID" ] || kill "$KPID" 2>/dev/null || true
	[ -z "$KPID" ] || wait "$KPID" 2>/dev/null || true
	jobs -p | xargs -r kill 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT
ip netns add "$NS"
IN=(ip netns exec "$NS")
"${IN[@]}" ip link set lo up
"${IN[@]}" ip tuntap add dev tap0 mode tap
"${IN[@]}" ip addr add 192.168.77.1/24 dev tap0
"${IN[@]}" ip link set tap0 up

# The guest: eth0 on the tap, eth1 on slirp; an echo server and a sink on
# TCP 7002/7003 and on vsock 5002/5003, each restarted after every
# connection.
cat >"$D/test.sh" <<'EOF'
#!/bin/sh
ip link set eth0 up && ip addr add 192.168.77.2/24 dev eth0
ip link set eth1 up && ip addr add 10.0.2.15/24 dev eth1
serve() { while :; do "$@"; done; }
serve nc -l -p 7002 -e cat &
serve nc -l -p 7003 >/dev/null &
serve /vsock_pipe -e listen 5002 2>/dev/null &
serve /vsock_pipe -r listen 5003 >/dev/null 2>/dev/null &
while [ "$(netstat -ltn | grep -cE ':700[23] ')" != 2 ]; do usleep 10000; done
echo "guest ready"
exec sleep 1000000
EOF
chmod 755 "$D/test.sh"
cp "$B/guests/linux/vsock_pipe" "$D/"
(cd "$D" && printf '%s\n' test.sh vsock_pipe | cpio --quiet -o -H newc --owner=0:0 | gzip -n) >"$D/extra.cpio.gz"
cat "$TEST_KERNEL/initramfs.cpio.gz" "$D/extra.cpio.gz" >"$D/initrd.gz"

"${IN[@]}" "$K" run --mem 256M --kernel "$TEST_KERNEL/vmlinux" --initrd "$D/initrd.gz" \
	--cmdline 'console=ttyS0 panic=-1 quiet' --serial "file:$D/serial" \
	--net tap=tap0 --net user,hostfwd=tcp:127.0.0.1:17002-:7002,hostfwd=tcp:127.0.0.1:17003-:7003 \
	--vsock "cid=3,uds=$D/v.sock" </dev/null 2>"$D/stderr" &
KPID=$!
limit=$((SECONDS + 900))
until grep -q "guest ready" "$D/serial" 2>/dev/null; do
	kill -0 "$KPID" 2>/dev/null || { echo "net_bench: kvmini ended: $(tail -n 3 "$D/stderr")" >&2; exit 1; }
	[ "$SECONDS" -lt "$limit" ] || { echo "net_bench: the guest was not ready in 900 s" >&2; exit 1; }
	sleep 0.1
done
# The baseline's servers, on the namespace's loopback.
"${IN[@]}" bash -c 'while :; do busybox nc -l -p 8002 -e cat; done' &
"${IN[@]}" bash -c 'while :; do busybox nc -l -p 8003 >/dev/null </dev/null; done' &
"${IN[@]}" bash -c 'until [ "$(ss -Hltn "( sport = :8002 or sport = :8003 )" | wc -l)" = 2 ]; do sleep 0.05; done'

median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
# probe ADDRESS MODE N: a guest's server restarts after each connection,
# so a probe that finds none listening yet is tried again (up to 30 s).
probe() {
	local out
	for _ in $(seq 300); do
		out=$("${IN[@]}" "$PROBE" "$@" 2>/dev/null) && { echo "$out"; return 0; }
		sleep 0.1
	done
	echo "net_bench: net_probe $* kept failing" >&2
	exit 1
}
# figures ECHO_ADDRESS SINK_ADDRESS: "MB/s RTT_µs"
figures() {
	local t1 t2 t3 rtt
	t1=$(probe "$2" send "$BYTES")
	t2=$(probe "$2" send "$BYTES")
	t3=$(probe "$2" send "$BYTES")
	rtt=$(probe "$1" rr "$RR")
	echo "$(median3 "$t1" "$t2" "$t3") $rtt"
}
read -r lo_mbs lo_rtt <<<"$(figures tcp:127.0.0.1:8002 tcp:127.0.0.1:8003)"
printf '  %-34s %10s %8s %10s %8s\n' path MB/s ratio "rtt µs" ratio
row() {   # row LABEL ECHO SINK
	local mbs rtt
	read -r mbs rtt <<<"$(figures "$2" "$3")"
	printf '  %-34s %10s %8s %10s %8s\n' "$1" "$mbs" "$(awk -v a="$mbs" -v b="$lo_mbs" 'BEGIN { printf "%.3f", a / b }')" \
		"$rtt" "$(awk -v a="$rtt" -v b="$lo_rtt" 'BEGIN { printf "%.1f", a / b }')"
}
printf '  %-34s %10s %8s %10s %8s\n' "host loopback (baseline)" "$lo_mbs" 1 "$lo_rtt" 1
row "tap (virtio-net, IFF_VNET_HDR)" tcp:192.168.77.2:7002 tcp:192.168.77.2:7003
row "user (slirp, hostfwd)" tcp:127.0.0.1:17002 tcp:127.0.0.1:17003
row "vsock (Firecracker's Unix socket)" "vsock:$D/v.sock:5002" "vsock:$D/v.sock:5003"
if grep -qwE 'vmx|svm' /proc/cpuinfo && ! grep -q hypervisor /proc/cpuinfo; then
	echo "  (hardware virtualization: guest and host code run natively)"
else
	echo "  (KVM nested or PVM here: the guest kernel's share is emulated, so the ratios overstate its cost)"
fi
