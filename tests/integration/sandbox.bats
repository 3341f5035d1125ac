#!/usr/bin/env bats
# Sandbox mode (`kvmini exec`): static programs built in the repo with
# gcc -static and musl-gcc, Debian's busybox-static compared with native
# runs, grants, crashes, limits and the per-call reset.
bats_require_minimum_version 1.5.0
load helpers

SB="$GUESTS/sandbox"
BUSYBOX=/bin/busybox

setup() {
	musl_built
	WORK=$(mktemp -d)
	mkdir -p "$WORK/in" "$WORK/out"
	printf 'banana\napple\ncherry\napple\n' >"$WORK/in/fruit.txt"
	seq 1 200 >"$WORK/in/nums.txt"
	printf 'Hello World\nfoo bar baz\n' >"$WORK/in/text.txt"
	printf 'outside\n' >"$WORK/secret.txt"
	ln -s "$WORK/secret.txt" "$WORK/in/escape"
}

teardown() {
	rm -rf "$WORK"
	sanitizer_teardown
}

# Every test program exists in both builds: `make test` installs
# musl-tools (scripts/install-deps.sh). A missing musl build fails the
# test that needs it, naming the package, rather than dropping its cases.
libcs() {
	echo glibc
	echo musl
}

musl_built() {
	[ -e "$SB/hello.musl" ] ||
		{ echo "no musl builds in $SB: install musl-tools (scripts/install-deps.sh test)"; return 1; }
}

@test "hello world, gcc -static and musl-gcc -static" {
	for libc in $(libcs); do
		kvmini exec "$SB/hello.$libc"
		assert_status 0
		assert_stdout "Hello from the sandbox!"
		[ -z "$stderr" ]
	done
}

@test "argv, environment and auxiliary vector" {
	for libc in $(libcs); do
		kvmini exec --env GREETING=hi --env EMPTY= "$SB/args.$libc" one "two words" exit7
		assert_status 7
		[[ "$output" == *"argc=4"* ]]
		[[ "$output" == *"argv[0]=$SB/args.$libc"* ]]
		[[ "$output" == *"argv[2]=two words"* ]]
		[[ "$output" == *"env GREETING=hi"* ]]
		[[ "$output" == *"env EMPTY="* ]]
		for check in pagesz=4096 random=ok phdr=ok entry=ok "execfn=$SB/args.$libc" stack_aligned=ok; do
			[[ "$output" == *"$check"* ]] || { echo "missing $check: $output"; return 1; }
		done
	done
}

@test "the environment is empty unless given" {
	kvmini exec "$SB/args.glibc"
	assert_status 0
	[[ "$output" != *"env "* ]]
}

@test "a file inside a granted directory can be read, also through mmap" {
	for libc in $(libcs); do
		kvmini exec --dir "$WORK/in:/data" "$SB/files.$libc" cat /data/fruit.txt
		assert_status 0
		assert_stdout "$(cat "$WORK/in/fruit.txt")"
		kvmini exec --dir "$WORK/in:/data" "$SB/files.$libc" mmap /data/text.txt
		assert_status 0
		assert_stdout "$(cat "$WORK/in/text.txt")"
		kvmini exec --dir "$WORK/in:/data" "$SB/files.$libc" ls /data
		assert_stdout "$(printf 'escape\nfruit.txt\nnums.txt\ntext.txt')"
	done
}

@test "access outside the grants is denied and touches no host file" {
	for libc in $(libcs); do
		for path in "$WORK/secret.txt" /data/../secret.txt /etc/passwd /data/escape; do
			kvmini exec --dir "$WORK/in:/data" "$SB/files.$libc" cat "$path"
			assert_status 1
			assert_stdout "open $path: Permission denied"
		done
		kvmini exec --dir "$WORK/in:/data" "$SB/files.$libc" write "$WORK/created.txt" x
		assert_status 1
		[ ! -e "$WORK/created.txt" ]
	done
}

@test "--verbose names the denied path" {
	kvmini exec --verbose --dir "$WORK/in:/data" "$SB/files.glibc" cat /etc/passwd
	assert_status 1
	assert_stderr_has "denied access to '/etc/passwd' (outside the granted directories)"
}

@test "writes only where ,rw was granted" {
	for libc in $(libcs); do
		kvmini exec --dir "$WORK/in:/data" "$SB/files.$libc" write /data/new.txt hello
		assert_status 1
		assert_stdout "open /data/new.txt: Read-only file system"
		[ ! -e "$WORK/in/new.txt" ]
		kvmini exec --dir "$WORK/in:/data" --dir "$WORK/out:/out,rw" "$SB/files.$libc" write /out/new.txt hello
		assert_status 0
		[ "$(cat "$WORK/out/new.txt")" = hello ]
		kvmini exec --dir "$WORK/out:/out,rw" "$SB/files.$libc" append /out/new.txt again
		[ "$(cat "$WORK/out/new.txt")" = "$(printf 'hello\nagain')" ]
		kvmini exec --dir "$WORK/out:/out,rw" "$SB/files.$libc" rm /out/new.txt
		assert_status 0
		[ ! -e "$WORK/out/new.txt" ]
	done
}

@test "the working directory follows the host's inside a grant" {
	cd "$WORK/in"
	kvmini exec --dir "$WORK/in:/data" "$SB/files.glibc" cwd
	assert_stdout /data
	kvmini exec --dir "$WORK/in:/data" "$SB/files.glibc" cat fruit.txt
	assert_stdout "$(cat fruit.txt)"
	kvmini exec --dir "$WORK/in:/data" --cwd / "$SB/files.glibc" cwd
	assert_stdout /
}

@test "a malloc-heavy program gives the native result" {
	for libc in $(libcs); do
		kvmini exec "$SB/malloc.$libc"
		assert_status 0
		assert_stdout "$("$SB/malloc.$libc")"
	done
}

@test "crashes end like native ones: signal name, address, 128+signal" {
	for libc in $(libcs); do
		kvmini exec "$SB/crash.$libc" segv
		assert_status 139
		assert_stderr_has "program killed by SIGSEGV: invalid read at address 0x10 (not mapped)"
		assert_one_line_error
		kvmini exec "$SB/crash.$libc" write-text
		assert_status 139
		assert_stderr_has "SIGSEGV: invalid write at address 0x"
		assert_stderr_has "(protection)"
		kvmini exec "$SB/crash.$libc" ill
		assert_status 132
		assert_stderr_has "program killed by SIGILL: invalid instruction at rip 0x"
		kvmini exec "$SB/crash.$libc" fpe
		assert_status 136
		assert_stderr_has "program killed by SIGFPE: integer divide error"
		kvmini exec "$SB/crash.$libc" abort
		assert_status 134
		assert_stderr_has "program killed by SIGABRT"
		kvmini exec "$SB/crash.$libc" stack
		assert_status 139
		assert_stderr_has "SIGSEGV: invalid write"
	done
}

@test "an infinite loop is ended by --timeout" {
	for libc in $(libcs); do
		# timeout(1) bounds a hang with 137 (KILL); kvmini must end it first.
		run_checked timeout -s KILL 120 "$KVMINI" exec --timeout 0.5 "$SB/loop.$libc" </dev/null
		assert_status 124
		assert_stderr_has "program still running after the 0.5-second timeout"
	done
}

@test "a system-call flood" {
	for libc in $(libcs); do
		kvmini exec "$SB/flood.$libc" 20000
		assert_status 0
		assert_stdout "20000 calls"
	done
}

@test "--mem bounds what the program can allocate" {
	kvmini exec --mem 4M "$SB/malloc.glibc"
	assert_status 1
	assert_stdout "malloc failed"
	kvmini exec --mem 4G "$SB/hello.glibc"
	assert_status 2
	assert_stderr_has "limited to 3 GiB"
}

@test "--max-files caps open files" {
	kvmini exec --max-files 3 --dir "$WORK/in:/data" "$SB/files.glibc" cat /data/fruit.txt
	assert_status 1
	assert_stdout "open /data/fruit.txt: Too many open files"
}

@test "--trace prints every system call; --verbose reports unsupported ones" {
	kvmini exec --trace "$SB/hello.glibc"
	assert_status 0
	assert_stderr_has "[sandbox] write(1, 0x"
	assert_stderr_has "[sandbox] exit_group(0) = 0"
	kvmini exec --verbose "$SB/hello.glibc"
	assert_status 0
	assert_stderr_has "program exited with status 0"
	kvmini exec --verbose "$BUSYBOX" sh -c 'echo hi | cat'
	assert_stderr_has "unsupported system call"
}

@test "bad programs and options: one line, status 2" {
	kvmini exec
	assert_status 2
	assert_one_line_error
	kvmini exec "$WORK/missing"
	assert_status 2
	assert_stderr_has "cannot open program"
	kvmini exec "$WORK/in/fruit.txt"
	assert_status 2
	assert_stderr_has "not an ELF file (bad magic)"
	kvmini exec /bin/true
	assert_status 2
	assert_stderr_has "dynamically linked"
	assert_one_line_error
	kvmini exec --dir "$WORK/nope" "$SB/hello.glibc"
	assert_status 2
	assert_stderr_has "cannot grant directory"
	kvmini exec --bogus "$SB/hello.glibc"
	assert_status 2
	assert_stderr_has "unknown option '--bogus'"
	kvmini exec --help
	assert_status 0
	[[ "$output" == *"usage: kvmini exec"* ]]
}

# ---- Debian's busybox-static, byte for byte against native runs ----

# The applets docs/sandbox.md lists as working; each line: a command for
# busybox run in $WORK/in.
busybox_cases() {
	cat <<'EOF'
echo hello world
cat fruit.txt text.txt
wc fruit.txt nums.txt
sort fruit.txt
sort -u -r fruit.txt
uniq -c fruit.txt
sha256sum fruit.txt nums.txt
sha1sum text.txt
sha512sum text.txt
md5sum fruit.txt
cksum fruit.txt
head -n 3 nums.txt
tail -n 3 nums.txt
tr a-z A-Z
seq 3 2 11
expr 6 * 7
cut -d ' ' -f2 text.txt
grep -n an fruit.txt
sed s/a/A/g fruit.txt
awk {s+=$1}END{print(s)} nums.txt
od -c text.txt
hexdump -C text.txt
base64 text.txt
printf %05d-%s\n 42 x
basename /a/b/c.txt .txt
dirname /a/b/c.txt
nl fruit.txt
rev text.txt
fold -w 5 text.txt
paste fruit.txt fruit.txt
comm fruit.txt fruit.txt
cmp fruit.txt text.txt
diff fruit.txt text.txt
tac fruit.txt
factor 360
ls
stat -c %s-%n fruit.txt
du -s .
find . -name *.txt
test 3 -gt 2
true
false
EOF
}

@test "busybox applets: output and status identical to native runs" {
	needs_kvm
	# make test installs busybox-static (scripts/install-deps.sh): its absence is a failure
	[ -x "$BUSYBOX" ] || { echo "busybox-static is not installed"; false; }
	file "$BUSYBOX" | grep -q 'statically linked' || { echo "$BUSYBOX is not static"; false; }
	cd "$WORK/in"
	local failed=0 count=0
	# Standard input is text.txt for both runs (tr reads it).
	while read -r -u 3 -a cmd; do
		count=$((count + 1))
		local want got
		want=$("$BUSYBOX" "${cmd[@]}" 2>&1 <text.txt; echo "status $?")
		got=$("$KVMINI" exec --dir "$WORK/in" "$BUSYBOX" "${cmd[@]}" 2>&1 <text.txt; echo "status $?")
		if [ "$want" != "$got" ]; then
			echo "busybox ${cmd[*]}: want $(printf '%q' "$want") got $(printf '%q' "$got")"
			failed=$((failed + 1))
		fi
	done 3< <(busybox_cases)
	[ "$count" -ge 40 ]
	[ "$failed" -eq 0 ]
}

@test "busybox reads standard input and writes into a pipe that closes" {
	[ -x "$BUSYBOX" ] || { echo "busybox-static is not installed"; false; }
	run_checked bash -c "printf 'b\na\n' | '$KVMINI' exec '$BUSYBOX' sort"
	assert_status 0
	assert_stdout "$(printf 'a\nb')"
	run_checked bash -c "'$KVMINI' exec '$BUSYBOX' yes | head -n 2"
	assert_status 0
	assert_stdout "$(printf 'y\ny')"
	[ -z "$stderr" ]
}

# ---- the per-call reset ----

@test "10,000 serve calls give the native results and leak no state" {
	for libc in $(libcs); do
		seq 1 10000 | sed 's/^/input-/' >"$WORK/inputs"
		"$SB/serve.$libc" <"$WORK/inputs" | sed 's/$/ calls=1 clean=1/' >"$WORK/want"
		run_checked bash -c "'$KVMINI' exec --serve --verbose '$SB/serve.$libc' <'$WORK/inputs' >'$WORK/got'"
		assert_status 0
		assert_stderr_has "10000 calls"
		cmp "$WORK/want" "$WORK/got"
	done
}

@test "serve calls match fresh runs of the same program" {
	needs_kvm
	printf 'alpha\nbeta\n\ngamma delta\n' >"$WORK/inputs"
	run_checked bash -c "'$KVMINI' exec --serve '$SB/serve.glibc' <'$WORK/inputs' | cut -d' ' -f1"
	assert_status 0
	local served="$output" fresh=""
	while IFS= read -r line; do
		fresh+=$(printf '%s\n' "$line" | "$KVMINI" exec "$SB/serve.glibc")$'\n'
	done <"$WORK/inputs"
	[ "$served" = "${fresh%$'\n'}" ]
}

@test "--serve with a program that never serves" {
	kvmini exec --serve "$SB/hello.glibc"
	assert_status 6
	assert_stderr_has "program exited with status 0"
}
