#!/usr/bin/env bats
# Start-up: what every run pays before the guest. The compression
# libraries are opened only by --decompress, never linked.
bats_require_minimum_version 1.5.0
load helpers

@test "kvmini links none of the compression libraries" {
	run readelf -dW "$KVMINI"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"(NEEDED)"*"libc.so"* ]] || { echo "$output"; false; }
	for lib in libz. liblzma. libzstd. liblz4.; do
		[[ "$output" != *"Shared library: [$lib"* ]] || { echo "links $lib: $output"; false; }
	done
}

@test "kvmini links no libseccomp: it writes its filters' programs itself" {
	run readelf -dW "$KVMINI"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"(NEEDED)"*"libc.so"* ]] || { echo "$output"; false; }
	[[ "$output" != *"Shared library: [libseccomp."* ]] || { echo "$output"; false; }
}

@test "kvmini links no libpng (nor its libz and libm): a display opens it" {
	run readelf -dW "$KVMINI"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"(NEEDED)"*"libc.so"* ]] || { echo "$output"; false; }
	for lib in libpng libz. libm.; do
		[[ "$output" != *"Shared library: [$lib"* ]] || { echo "links $lib: $output"; false; }
	done
}

@test "kvmini links neither cJSON nor liburing: the API opens cJSON, liburing is static" {
	run readelf -dW "$KVMINI"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"(NEEDED)"*"libc.so"* ]] || { echo "$output"; false; }
	for lib in libcjson. liburing.; do
		[[ "$output" != *"Shared library: [$lib"* ]] || { echo "links $lib: $output"; false; }
	done
}

# Run "$@" with libcjson.so.1 unloadable (an empty file mounted over it,
# in a mount namespace of its own).
without_cjson() {
	local lib
	lib=$(ldconfig -p | awk '/libcjson\.so\.1 /{ print $NF; exit }')
	[ -n "$lib" ] || { echo "ldconfig knows no libcjson.so.1"; return 1; }
	run --separate-stderr unshare --mount --propagation private \
		sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$lib" "$@" </dev/null
	sanitizer_check "$stderr"
}

@test "without a loadable cJSON, --version runs and --config-file fails in one line" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount over libcjson.so.1 (unshare --mount)"
	without_cjson "$KVMINI" --version
	assert_status 0
	[[ "$output" == "kvmini "* ]] || { echo "$output"; false; }
	local c="$BATS_TEST_TMPDIR/c.json"
	printf '{"boot-source": {"kernel_image_path": "/k"}}' > "$c"
	without_cjson "$KVMINI" run --config-file "$c"
	assert_status 4
	[[ "$stderr" == "kvmini: config file '$c': JSON (the control API, --config-file) needs libcjson.so.1, which cannot be loaded ("*"): install Debian's package libcjson1" ]] ||
		{ echo "$stderr"; false; }
	[ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ] || { echo "$stderr"; false; }
	without_cjson "$KVMINI" run --api-sock "$BATS_TEST_TMPDIR/api.sock"
	assert_status 4
	[[ "$stderr" == "kvmini: JSON (the control API, --config-file) needs libcjson.so.1"* ]] ||
		{ echo "$stderr"; false; }
}
