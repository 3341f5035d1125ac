# Helpers for the tests that drive kvmini's control API (api.bats,
# snapshot.bats): a background kvmini with --api-sock, curl requests and
# their exact answers. The test's setup() sets SOCK, OUT, ERR and KPID.

# Start kvmini with the API in the background and wait until its socket
# exists (kvmini renames it into place once it listens). Sets KPID.
start_api() {   # [kvmini run options and IMAGE...]
	start_api_cmd run "$@"
}

# The same for any kvmini command that takes --api-sock (restore).
start_api_cmd() {   # COMMAND [options...]
	"$KVMINI" "$1" --api-sock "$SOCK" "${@:2}" >"$OUT" 2>"$ERR" </dev/null &
	KPID=$!
	local limit=$((SECONDS + 60))
	while [ ! -S "$SOCK" ]; do
		if ! kill -0 "$KPID" 2>/dev/null || [ "$SECONDS" -ge "$limit" ]; then
			echo "kvmini did not listen on $SOCK; stderr:"; cat "$ERR"
			return 1
		fi
		sleep 0.02
	done
}

# Wait (bounded) until GET / says the VM runs: a restore's socket
# listens before the snapshot is read and the VM made.
wait_running() {
	local limit=$((SECONDS + 120))
	until api GET / && [[ "$output" == *'"state":"Running"'* ]]; do
		[ "$SECONDS" -lt "$limit" ] || { echo "the VM is not running: $output"; cat "$ERR"; return 1; }
		sleep 0.05
	done
}

# api METHOD PATH [BODY]: $output is "STATUS BODY".
api() {
	local args=(-s --max-time 30 --unix-socket "$SOCK" -X "$1" -w ' %{http_code}')
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
	run curl "${args[@]}" "http://localhost$2"
	[ "$status" -eq 0 ] || { echo "curl failed ($status): $output"; return 1; }
	local code=${output##* } body=${output% *}
	output="$code $body"
}

# The last api call answered exactly this.
assert_api() {   # STATUS BODY
	[ "$output" = "$1 $2" ] || { echo "got:  $output"; echo "want: $1 $2"; return 1; }
}

fault() {   # the body of a Firecracker error
	printf '{"fault_message":"%s"}' "$1"
}

# Raw bytes to the socket; $output is what came back.
raw() {   # PRINTF-FORMAT
	run bash -c "printf '$1' | socat -t 10 - UNIX-CONNECT:'$SOCK'"
}

