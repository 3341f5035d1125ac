#!/usr/bin/env bats
# A snapshot of the Linux test kernel at its shell prompt (issue 13,
# docs/snapshot.md): boot with the API socket, wait for the prompt,
# pause, snapshot and end that kvmini; `kvmini restore` continues the
# guest, whose shell answers a command typed after the restore and then
# powers off cleanly. With each irqchip model.
bats_require_minimum_version 1.5.0
load helpers
load linux_helpers

setup_file() {
	test_kernel_find
}

teardown() {
	local status=0
	[ -z "${SERVER_PID:-}" ] || kill "$SERVER_PID" 2>/dev/null || true
	background_kvmini_teardown || status=$?
	dm_disk_remove || status=1
	return "$status"
}

# /test.sh: a shell that runs each line COM1 brings; more files for the
# initramfs may follow. `shell_script [FILE...]`
shell_script() {
	cat >"$BATS_TEST_TMPDIR/shell.sh" <<-'EOF'
	#!/bin/sh
	echo "shell ready"
	while read -r line; do eval "$line"; done
	EOF
	initrd_with "$BATS_TEST_TMPDIR/shell.sh" "$@"
}

# One try: boot to the prompt (COM1's input a FIFO held open by the
# test), type $BEFORE and wait for its line $MARK (when set), snapshot,
# kill; restore with COM1 to the same file and its input another FIFO,
# type $AFTER and wait for its line $ANSWER, then `exit`, and wait for
# the power-off. The devices are on $TRANSPORT (default mmio). The
# restore gets RESTORE_OPTS (an array) too; the
# commands BEFORE_HOOK and AFTER_HOOK, when set, run after $BEFORE and
# $AFTER are typed (the host's side of what the guest does).
# `snapshot_attempt IRQCHIP [DEVICE-OPTION...]`.
snapshot_attempt() {
	local d=$BATS_TEST_TMPDIR
	rm -f "$d/snap" "$d/mem"
	IRQCHIP=$1 boot_args "${TRANSPORT:-mmio}" --api-sock "$d/api.sock" --serial "file:$d/serial" "${@:2}"
	BOOT_STDIN=$d/in1 boot_until "$d/serial" "shell ready" || return 1
	if [ -n "${BEFORE:-}" ]; then
		echo "$BEFORE" >&"$held"
		[ -z "${BEFORE_HOOK:-}" ] || $BEFORE_HOOK || return 1
		guest_wait "$d/serial" "$MARK" || return 1
	fi
	"$KVMINI" ctl "$d/api.sock" pause >/dev/null || return 1
	"$KVMINI" ctl "$d/api.sock" put /snapshot/create \
		"{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$d/snap\", \"mem_file_path\": \"$d/mem\"}" \
		>/dev/null || return 1
	kill "$KPID"
	boot_end
	[ "$status" -eq 12 ] || { echo "the first kvmini ended with $status, not 12 (SIGTERM)"; return 1; }
	mv "$d/serial" "$d/serial.before"   # (the restore writes COM1 afresh)
	"$KVMINI" restore --timeout 150 --snapshot "$d/snap" --mem "$d/mem" --serial "file:$d/serial" \
		${RESTORE_OPTS[@]+"${RESTORE_OPTS[@]}"} <"$d/in2" 2>"$d/stderr" &
	KPID=$!
	echo "$AFTER" >&"$typed"
	[ -z "${AFTER_HOOK:-}" ] || $AFTER_HOOK || return 1
	guest_wait "$d/serial" "$ANSWER" || return 1
	echo exit >&"$typed"
	guest_wait "$d/serial" "kvmini-init: status"
}

# `linux_snapshot_test IRQCHIP [DEVICE-OPTION...]`: the attempt until
# done, a clean end, and no second boot.
linux_snapshot_test() {
	local d=$BATS_TEST_TMPDIR held typed
	shell_script ${INITRD_EXTRA:-}
	mkfifo "$d/in1" "$d/in2"
	exec {held}<>"$d/in1" {typed}<>"$d/in2"
	: "${AFTER:=echo answer \$((6 * 7))}" "${ANSWER:=answer 42}"
	attempt_until_done "" snapshot_attempt "$@"
	assert_status 0
	log=$(clean_log <"$d/serial")
	has_line "$ANSWER"
	assert_clean_end
	grep -q "shell ready" <<<"$log" && { echo "the restored run booted again"; return 1; }
	exec {held}>&- {typed}>&-
}

@test "linux snapshot: at the shell prompt, restored, the shell answers (kernel irqchip)" {
	needs_kvm
	linux_snapshot_test kernel
}

@test "linux snapshot: at the shell prompt, restored, the shell answers (--irqchip split)" {
	needs_kvm
	linux_snapshot_test split
}

# A disk write in flight (issue 13): the guest copies 4 MiB of random
# bytes to /dev/vda with an fsync, and the snapshot is taken as the
# copy starts. The disk is a device-mapper `delay` target that holds
# every I/O for 3 s and kvmini opens it O_DIRECT, so the writes are in
# kvmini's hands when it is asked for the snapshot: it waits for them
# and answers them first. The restored guest then finishes the copy.
# Nothing lost, nothing torn: the guest reads back what it wrote, and
# so does the host from the image; the rest of the image is untouched.
# virtio-rng answers the restored guest too.
blk_in_flight_test() {
	local d=$BATS_TEST_TMPDIR want all
	truncate -s 16M "$d/disk.img"
	modprobe -q dm_delay 2>/dev/null || true
	dm_disk "$d/disk.img" '0 32768 delay %s 0 3000\n'
	BEFORE='head -c 4194304 /dev/urandom >/src; echo "src $(sha256sum </src)"; echo "writ""ing"; dd if=/src of=/dev/vda bs=64k conv=fsync 2>/dev/null; echo "wrote $?"'
	MARK=writing
	AFTER='echo "vda $(head -c 4194304 /dev/vda | sha256sum)"; echo "rng""bytes $(head -c 64 /dev/hwrng | od -An -tx1 -v | tr -d " \n")"; echo "after""done"'
	ANSWER=afterdone   # (split in the typed line: COM1 echoes it)
	linux_snapshot_test "$1" --disk "$DM_DEV,cache=none" --rng
	all=$(clean_log <"$d/serial.before")$'\n'$log
	want=$(sed -n 's/^src \([0-9a-f]*\) .*/\1/p' <<<"$all")
	[ -n "$want" ] || { echo "no src line"; return 1; }
	log=$all has_line "wrote 0"
	if grep -qxF "wrote 0" <<<"$log"; then
		echo "# the copy ended after the restore: its writes were in flight at the snapshot" >&3
	else
		echo "# the copy ended before the snapshot (a slow host): no write was in flight" >&3
	fi
	has_line "vda $want  -"
	sync
	[ "$(head -c 4194304 "$d/disk.img" | sha256sum)" = "$want  -" ] ||
		{ echo "the image's first 4 MiB are not what the guest wrote"; return 1; }
	cmp -s <(tail -c +4194305 "$d/disk.img") <(head -c 12582912 /dev/zero) ||
		{ echo "the image changed past 4 MiB"; return 1; }
	grep -qxE 'rngbytes [0-9a-f]{128}' <<<"$log" || { echo "no 64 random bytes"; return 1; }
}

@test "linux snapshot: virtio-blk writes in flight and virtio-rng, restored (mmio, kernel irqchip)" {
	needs_kvm
	blk_in_flight_test kernel
}

@test "linux snapshot: virtio-blk writes in flight and virtio-rng, restored (mmio, --irqchip split)" {
	needs_kvm
	blk_in_flight_test split
}

# virtio-net on the user-mode network and virtio-console (issue 13):
# before the snapshot the guest configures eth0, fetches a file from a
# host server through the gateway and writes a line to hvc0; the
# restored guest (a new user-mode network, the console's output to a
# new file given with --vconsole) fetches it again and writes another.
net_console_test() {
	local d=$BATS_TEST_TMPDIR file want sport
	file=$d/payload
	head -c 256K /dev/urandom >"$file"
	want=$(sha256sum <"$file")
	sport=$(free_port)
	socat -U "TCP-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" "OPEN:$file,rdonly" &
	SERVER_PID=$!
	wait_listening "$sport"
	BEFORE="ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2; echo \"fetch1 \$(nc 10.0.2.2 $sport </dev/null | sha256sum)\"; echo before >/dev/hvc0; echo mark\"\"ed"
	MARK=marked
	AFTER="echo \"fetch2 \$(nc 10.0.2.2 $sport </dev/null | sha256sum)\"; echo after >/dev/hvc0; echo after\"\"done"
	ANSWER=afterdone
	RESTORE_OPTS=(--vconsole "file:$d/hvc0.after")
	linux_snapshot_test "$1" --net user --vconsole "file:$d/hvc0"
	has_line "fetch2 $want"
	log=$(clean_log <"$d/serial.before") has_line "fetch1 $want"
	[ "$(tr -d '\r' <"$d/hvc0")" = before ] || { echo "hvc0 before: $(od -c "$d/hvc0")"; return 1; }
	[ "$(tr -d '\r' <"$d/hvc0.after")" = after ] ||
		{ echo "hvc0 after: $(od -c "$d/hvc0.after")"; return 1; }
}

@test "linux snapshot: virtio-net (user) and virtio-console, restored (mmio, kernel irqchip)" {
	needs_kvm
	net_console_test kernel
}

@test "linux snapshot: virtio-net (user) and virtio-console, restored (mmio, --irqchip split)" {
	needs_kvm
	net_console_test split
}

# virtio-vsock (issue 13): connections are not saved, as in Firecracker;
# the restored guest is told so (a TRANSPORT_RESET event) and its
# listening sockets stay. Before the snapshot the guest listens on
# vsock ports 5200 and 5201 and a host program connects to 5200 through
# the Unix socket and sends a line, and keeps the stream open. After the
# restore the guest's end of that stream ends, and a host program
# connects to 5201 through the restored kvmini's socket and sends 1 MiB,
# which the guest receives whole.
vsock_before() {
	local d=$BATS_TEST_TMPDIR
	guest_wait "$d/serial" "listening 5201" || return 1
	rm -f "$d/v_in"
	mkfifo "$d/v_in" || return 1
	socat - "UNIX-CONNECT:$d/v.sock" <"$d/v_in" >"$d/v_out" &
	SERVER_PID=$!   # (ends with the first kvmini; else teardown kills it)
	exec {vw}<>"$d/v_in"
	printf 'CONNECT 5200\nbefore\n' >&"$vw"
}

vsock_after() {
	local d=$BATS_TEST_TMPDIR
	guest_wait "$d/serial" "held stream ended" || return 1
	{ printf 'CONNECT 5201\n'; cat "$d/h5201"; } | socat -t 600 - "UNIX-CONNECT:$d/v.sock" >"$d/ok5201"
}

vsock_snapshot_test() {
	local d=$BATS_TEST_TMPDIR vw
	head -c 1M /dev/urandom >"$d/h5201"
	INITRD_EXTRA=$GUESTS/linux/vsock_pipe
	# (Each line the test waits for is split in the typed command: COM1
	# echoes it.)
	BEFORE='/vsock_pipe -r listen 5200 >/tmp/in5200 2>/tmp/e5200 & p0=$!; /vsock_pipe -r listen 5201 >/tmp/in5201 2>/tmp/e5201 & p1=$!; until grep -q "^listening" /tmp/e5200 && grep -q "^listening" /tmp/e5201; do usleep 10000; done; echo "listen""ing 5201"; until grep -q before /tmp/in5200; do usleep 10000; done; echo "got"" before"'
	MARK="got before"
	BEFORE_HOOK=vsock_before
	AFTER='wait $p0; echo "held"" stream ended"; wait $p1; echo "5201 status $? $(sha256sum </tmp/in5201)"; echo after""done'
	AFTER_HOOK=vsock_after
	ANSWER=afterdone
	linux_snapshot_test "$1" --vsock "cid=3,uds=$d/v.sock"
	exec {vw}>&-
	grep -qxE 'OK [0-9]+' "$d/ok5201" || { echo "the host read '$(head -c 80 "$d/ok5201")'"; return 1; }
	has_line "5201 status 0 $(sha256sum <"$d/h5201")"
	has_line "held stream ended"
}

@test "linux snapshot: virtio-vsock, its streams reset and its listeners kept (mmio, kernel irqchip)" {
	needs_kvm
	vsock_snapshot_test kernel
}

@test "linux snapshot: virtio-vsock, its streams reset and its listeners kept (mmio, --irqchip split)" {
	needs_kvm
	vsock_snapshot_test split
}

# The same three on virtio-pci: the functions' config space (BARs and
# command), their MSI-X tables and the vectors the driver assigned come
# back with them (Linux uses MSI-X here, and INTx only without it).
@test "linux snapshot: virtio-blk writes in flight and virtio-rng, restored (pci, kernel irqchip)" {
	needs_kvm
	TRANSPORT=pci blk_in_flight_test kernel
}

@test "linux snapshot: virtio-net (user) and virtio-console, restored (pci, --irqchip split)" {
	needs_kvm
	TRANSPORT=pci net_console_test split
}

@test "linux snapshot: virtio-vsock, its streams reset and its listeners kept (pci, kernel irqchip)" {
	needs_kvm
	TRANSPORT=pci vsock_snapshot_test kernel
}
