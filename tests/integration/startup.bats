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
