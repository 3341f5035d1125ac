/* The gdb stub over a real socket against a real VM (needs /dev/kvm):
 * each test starts a VM through the public API with the stub on a Unix
 * socket, speaks the remote protocol to it as a minimal client, and
 * checks the replies and how the VM ends. Hostile input, abrupt
 * disconnects and two vCPUs are covered here, where they can be driven
 * precisely; tests/integration/gdb.bats drives Debian's gdb itself.
 *
 * The guest is 28 bytes of long-mode code at 0x100000:
 *   0x100000  incq counter           counter at 0x101000
 *   0x100007  mov limit, %rax        limit at 0x101008
 *   0x10000e  cmp %rax, counter
 *   0x100015  jne 0x100000
 *   0x100017  mov $7, %al; out %al, $0xf4 (debug exit: status 15); hlt */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/logging.h>
#include <criterion/options.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "kvmini.h"
#include "kvmini_gdb.h"
#include "gdb/packet.h"
#include "gdb/probe.h"
#include "gdb/socket.h"
#include "kvm_skip.h"

#define CODE 0x100000ULL
#define COUNTER 0x101000ULL
#define LIMIT 0x101008ULL
#define EXIT_STATUS 15
#define RIP_HEX_OFFSET (16 * 8 * 2)   /* rip follows 16 64-bit registers in 'g' */

static const uint8_t guest_code[] = {
	0x48, 0xff, 0x05, 0xf9, 0x0f, 0x00, 0x00,
	0x48, 0x8b, 0x05, 0xfa, 0x0f, 0x00, 0x00,
	0x48, 0x39, 0x05, 0xeb, 0x0f, 0x00, 0x00,
	0x75, 0xe9,
	0xb0, 0x07, 0xe6, 0xf4, 0xf4,
};

struct fixture {
	char dir[64], sock[96];
	uint8_t image[0x1010];
	struct kvmini_vm *vm;
	struct kvmini_gdb *gdb;
	pthread_t runner;
	bool running;
	struct kvmini_result result;
	int status;
	int fd;
	struct gdb_decoder dec;
	char reply[GDB_PACKET_MAX * 2 + 1];
	size_t reply_len;
};

static struct fixture f;

/* One test at a time: each runs VMs with several threads, and
 * Criterion 2.4's runner leaks when such tests run in parallel. */
ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
	(void)tests;
	criterion_options.jobs = 1;
}

static void *run_vm(void *arg)
{
	(void)arg;
	f.status = kvmini_vm_run(f.vm, &f.result);
	return NULL;
}

static void connect_client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.sock);
	f.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(f.fd, 0);
	cr_assert_eq(connect(f.fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %s", f.sock);
	gdb_decoder_init(&f.dec);
}

/* Real mode, at 0x7c00 (cs = 0): incw 0x7e00; jmp 0x7c00 */
#define REAL_CODE 0x7c00ULL
static const uint8_t real_code[] = { 0xff, 0x06, 0x00, 0x7e, 0xeb, 0xfa };

static void start_image(unsigned cpus, bool wait, const struct kvmini_image *img);

/* A VM running the guest with `limit` loop rounds, served on a socket. */
static void start(unsigned cpus, bool wait, uint64_t limit)
{
	memset(&f, 0, sizeof(f));
	memcpy(f.image, guest_code, sizeof(guest_code));
	memcpy(f.image + (LIMIT - CODE), &limit, 8);
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_RAW, .path = "test guest", .data = f.image,
		.size = sizeof(f.image), .mode_set = true, .mode = KVMINI_MODE_LONG,
		.load_addr_set = true, .load_addr = CODE,
	};
	start_image(cpus, wait, &img);
}

static void start_real(void)
{
	memset(&f, 0, sizeof(f));
	memcpy(f.image, real_code, sizeof(real_code));
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_RAW, .path = "real-mode test guest", .data = f.image,
		.size = 0x400, .mode_set = true, .mode = KVMINI_MODE_REAL,
		.load_addr_set = true, .load_addr = REAL_CODE,
	};
	start_image(1, true, &img);
}

static void start_image(unsigned cpus, bool wait, const struct kvmini_image *img)
{
	f.fd = -1;
	snprintf(f.dir, sizeof(f.dir), "/tmp/kvmini-gdb-XXXXXX");
	cr_assert_not_null(mkdtemp(f.dir));
	snprintf(f.sock, sizeof(f.sock), "%s/gdb.sock", f.dir);

	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.cpus = cpus;
	cfg.irqchip = cpus > 1 ? KVMINI_IRQCHIP_KERNEL : KVMINI_IRQCHIP_NONE;
	cfg.serial_in_fd = -1;
	cfg.timeout = 30;
	cfg.log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);   /* the stub's notes: see host_debug_support */
	struct kvmini_error err;
	char address[128];
	snprintf(address, sizeof(address), "unix:%s", f.sock);
	f.vm = kvmini_vm_create(&cfg, &err);
	cr_assert_not_null(f.vm, "%s", err.msg);
	cr_assert_eq(kvmini_vm_load(f.vm, img, &err), 0, "%s", err.msg);
	f.gdb = kvmini_gdb_listen(f.vm, address, wait, &err);
	cr_assert_not_null(f.gdb, "%s", err.msg);
	cr_assert_eq(pthread_create(&f.runner, NULL, run_vm, NULL), 0);
	f.running = true;
	connect_client();
}

/* Close the connection, wait for the VM to end, return its status. */
static int finish(void)
{
	if (f.fd >= 0)
		close(f.fd);
	f.fd = -1;
	if (f.running)
		pthread_join(f.runner, NULL);
	f.running = false;
	kvmini_gdb_close(f.gdb);
	f.gdb = NULL;
	kvmini_vm_destroy(f.vm);
	f.vm = NULL;
	rmdir(f.dir);
	return f.status;
}

static void send_bytes(const void *data, size_t len)
{
	ssize_t n = send(f.fd, data, len, MSG_NOSIGNAL);
	cr_assert_eq(n, (ssize_t)len, "send of %.20s: %s", (const char *)data,
		     n < 0 ? strerror(errno) : "short");
}

static void send_packet(const char *payload, size_t len)
{
	static char framed[GDB_PACKET_MAX * 2 + 8];
	size_t n = gdb_frame(framed, sizeof(framed), payload, len, false);
	cr_assert_gt(n, 0);
	send_bytes(framed, n);
}

/* The next input from the stub: a packet (acknowledged, RLE expanded,
 * left in f.reply) or an ack byte. Fails the test after 20 seconds. */
static enum gdb_input next_input(void)
{
	static uint8_t buf[4096];
	static size_t have, used;
	for (;;) {
		while (used < have) {
			enum gdb_input what;
			used += gdb_decoder_feed(&f.dec, buf + used, have - used, &what);
			if (what == GDB_IN_PACKET) {
				/* after D the stub hangs up: a lost ack is fine */
				(void)!send(f.fd, "+", 1, MSG_NOSIGNAL);
				f.reply_len = gdb_rle_decode(f.reply, sizeof(f.reply) - 1, f.dec.buf, f.dec.len);
				cr_assert_neq(f.reply_len, SIZE_MAX, "bad run-length encoding");
				f.reply[f.reply_len] = '\0';
			}
			if (what != GDB_IN_NONE)
				return what;
		}
		struct pollfd p = { .fd = f.fd, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, 20000), 1, "no answer from the stub in 20 s");
		ssize_t n = recv(f.fd, buf, sizeof(buf), 0);
		cr_assert_gt(n, 0, "the stub closed the connection");
		have = (size_t)n;
		used = 0;
	}
}

static const char *reply(void)
{
	while (next_input() != GDB_IN_PACKET)
		;
	return f.reply;
}

static const char *ask(const char *payload)
{
	send_packet(payload, strlen(payload));
	return reply();
}

static void expect(const char *payload, const char *want)
{
	const char *got = ask(payload);
	cr_assert_str_eq(got, want, "'%s' answered '%s', want '%s'", payload, got, want);
}

static uint64_t hex_le(const char *hex, unsigned bytes)
{
	uint8_t b[8];
	cr_assert_eq(gdb_hex_decode(b, sizeof(b), hex, 2 * bytes), 0, "not hex: %.16s", hex);
	uint64_t v = 0;
	for (unsigned i = bytes; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

static uint64_t rip(void)
{
	return hex_le(ask("p10"), 8);
}

static uint64_t counter(void)
{
	return hex_le(ask("m101000,8"), 8);
}

static struct gdb_host_debug host;
static bool probed;   /* each test runs in its own process: once per test */

static void probe(void)
{
	struct kvmini_error err;
	if (probed)
		return;
	cr_assert_eq(gdb_probe_host(&host, &err), 0, "%s", err.msg);
	probed = true;
}

/* kvmini's stub refuses breakpoints (E26) on a host whose KVM delivers
 * neither int3 nor debug-register breakpoints to a debugger. */
static bool breakpoints_refused(void)
{
	probe();
	return host.int3 == GDB_INT3_OTHER && !host.exec_breakpoints;
}

static bool in_nested_vm(void)
{
	const char *nested = getenv("KVMINI_NESTED");
	return nested && strcmp(nested, "1") == 0;
}

/* For a test whose subject is stopping at breakpoints. Only in
 * scripts/nested-kvm.sh's VM: QEMU's TCG, emulating SVM, intercepts
 * neither int3 nor DR7 execute breakpoints for KVM, a limit of that host
 * and not of kvmini. Anywhere else such a host is a failure. */
#define needs_breakpoints()                                                          \
	do {                                                                         \
		if (in_nested_vm() && breakpoints_refused())                         \
			cr_skip_test("nested KVM VM: this host's KVM cannot stop a " \
				     "guest at a breakpoint (%s; %s)", host.int3_note, \
				     host.exec_note);                                \
	} while (0)

/* ---- tests ---- */

Test(gdb_stub, host_debug_support, .timeout = 30)
{
	skip_without_kvm();
	probe();
	/* Findings, printed on every run (cr_log_warn would fail the run). */
	fprintf(stderr, "host debug probe: %s\nhost debug probe: %s\nhost debug probe: %s\n"
		"host debug probe: %s\nhost debug probe: %s\n", host.single_step_note,
		host.exec_note, host.data_note, host.int3_note, host.int3_real_note);
	cr_expect(host.single_step, "single-step is required: %s", host.single_step_note);
	/* The nested VM's own limit (see needs_breakpoints), printed above. */
	if (in_nested_vm() && host.int3 == GDB_INT3_OTHER && !host.exec_breakpoints)
		cr_skip_test("nested KVM VM: QEMU's TCG delivers neither int3 (%s) nor DR7 "
			     "execute breakpoints (%s) to KVM", host.int3_note, host.exec_note);
	cr_expect(host.exec_breakpoints, "hardware breakpoints: %s", host.exec_note);
	if (!host.data_breakpoints)
		fprintf(stderr, "NOTE: this host raises no data breakpoints (%s): the stub single-steps "
			    "to watch writes; read/access watchpoints are unavailable\n", host.data_note);
	if (host.int3 == GDB_INT3_EMULATION_FAILURE)
		fprintf(stderr, "NOTE: int3 is an emulation failure here (%s): the stub recognizes its "
			    "own int3s in KVM_EXIT_INTERNAL_ERROR\n", host.int3_note);
	if (!host.int3_real_mode)
		fprintf(stderr, "NOTE: int3 does not reach the debugger in real mode (%s): the stub "
			"serves real-mode software breakpoints from debug registers\n",
			host.int3_real_note);
	cr_expect_neq(host.int3, GDB_INT3_OTHER, "%s", host.int3_note);
}

Test(gdb_stub, real_mode_breakpoints_and_steps, .timeout = 60)
{
	skip_without_kvm();
	needs_breakpoints();
	start_real();
	ask("qSupported:swbreak+;hwbreak+");
	const char *r = ask("qXfer:features:read:target.xml:0,3fff");
	cr_assert(strstr(r, "<architecture>i386<"), "%.80s", r);
	expect("p8", "007c0000");                     /* eip, register 8 of i386 */
	expect("Z0,7c04,1", "OK");
	expect("m7c04,2", "ebfa");
	expect("vCont;c", "T05thread:1;swbreak:;");
	expect("p8", "047c0000");
	expect("m7e00,2", "0100");
	expect("vCont;s:1", "T05thread:1;swbreak:;");  /* jmp is under the breakpoint: */
	expect("p8", "047c0000");                     /* gdb steps over it with z0 first */
	expect("z0,7c04,1", "OK");
	expect("vCont;s:1", "T05thread:1;");
	expect("p8", "007c0000");
	expect("Z1,7c04,1", "OK");
	expect("vCont;c", "T05thread:1;hwbreak:;");
	expect("m7e00,2", "0200");
	expect("D", "OK");
	kvmini_vm_stop(f.vm, KVMINI_E_STOPPED);
	cr_assert_eq(finish(), KVMINI_E_STOPPED);
}

Test(gdb_stub, queries_and_initial_stop, .timeout = 60)
{
	skip_without_kvm();
	start(1, true, 100);
	const char *r = ask("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
	cr_assert(strstr(r, "PacketSize=4000") && strstr(r, "qXfer:features:read+") &&
		  strstr(r, "swbreak+"), "%s", r);
	expect("?", "T05thread:1;");
	expect("qAttached", "1");
	expect("qC", "QC1");
	expect("qfThreadInfo", "m1");
	expect("qsThreadInfo", "l");
	expect("qThreadExtraInfo,1", "764350552030");   /* "vCPU 0" */
	expect("vCont?", "vCont;c;C;s;S");
	expect("vMustReplyEmpty", "");
	expect("qNothingLikeThis", "");
	r = ask("qXfer:features:read:target.xml:0,3fff");
	cr_assert((r[0] == 'l' || r[0] == 'm') && strstr(r, "<architecture>i386:x86-64<"), "%.80s", r);
	r = ask("g");
	cr_assert_eq(strlen(r), 2 * (16 * 8 + 8 + 4 + 6 * 4 + 80 + 32 + 256 + 4 + 16 + 48));
	cr_assert_eq(hex_le(r + RIP_HEX_OFFSET, 8), CODE);
	cr_assert_eq(rip(), CODE);
	/* --gdb-wait: not one instruction has run */
	cr_assert_eq(counter(), 0);
	expect("m100000,7", "48ff05f90f0000");
	expect("D", "OK");
	cr_assert_eq(finish(), EXIT_STATUS);
}

Test(gdb_stub, breakpoints_steps_and_watchpoints, .timeout = 120)
{
	skip_without_kvm();
	needs_breakpoints();
	probe();
	start(1, true, 100);
	ask("qSupported:swbreak+;hwbreak+");
	expect("Z0,100007,1", "OK");
	expect("m100007,1", "48");                 /* the int3 is invisible */
	expect("vCont;c", "T05thread:1;swbreak:;");
	cr_assert_eq(rip(), 0x100007);
	cr_assert_eq(counter(), 1);
	expect("z0,100007,1", "OK");
	expect("vCont;s:1", "T05thread:1;");
	cr_assert_eq(rip(), 0x10000e);
	expect("Z1,100015,1", "OK");
	expect("vCont;c", "T05thread:1;hwbreak:;");
	cr_assert_eq(rip(), 0x100015);
	expect("z1,100015,1", "OK");
	expect("Z2,101000,8", "OK");
	expect("vCont;c", "T05thread:1;watch:101000;");
	cr_assert_eq(rip(), 0x100007);             /* just after the incq */
	cr_assert_eq(counter(), 2);
	expect("z2,101000,8", "OK");
	const char *r = ask("Z3,101000,8");
	if (host.data_breakpoints) {
		cr_assert_str_eq(r, "OK");
		expect("z3,101000,8", "OK");
	} else {
		cr_assert_str_eq(r, "", "read watchpoints need data breakpoints");
	}
	expect("vCont;c", "W0f");                  /* the guest ran to its end */
	cr_assert_eq(finish(), EXIT_STATUS);
}

Test(gdb_stub, memory_and_register_writes, .timeout = 60)
{
	skip_without_kvm();
	needs_breakpoints();
	start(1, true, 100);
	ask("qSupported:swbreak+");
	expect("M101008,8:0300000000000000", "OK");      /* limit = 3 */
	expect("m101008,8", "0300000000000000");
	expect("X101009,1:}]", "OK");                    /* binary '}' (0x7d), escaped */
	expect("m101008,2", "037d");
	expect("X101009,1:\x00", "E16");                 /* length mismatch: NUL is data */
	expect("M101009,1:00", "OK");
	expect("Z0,100017,1", "OK");
	expect("c", "T05thread:1;swbreak:;");
	cr_assert_eq(counter(), 3);
	cr_assert_eq(rip(), 0x100017);
	/* jump back into the loop with P, and count two more rounds */
	expect("M101008,8:0500000000000000", "OK");
	expect("P10=0000100000000000", "OK");
	expect("c", "T05thread:1;swbreak:;");
	cr_assert_eq(counter(), 5);
	/* G writes back what g read */
	char regs[4096];
	snprintf(regs, sizeof(regs), "G%s", ask("g"));
	expect(regs, "OK");
	regs[10] = '\0';
	expect(regs, "E16");
	expect("z0,100017,1", "OK");
	expect("c", "W0f");
	cr_assert_eq(finish(), EXIT_STATUS);
}

static void pause_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

Test(gdb_stub, interrupt_then_kill, .timeout = 60)
{
	skip_without_kvm();
	start(1, true, 0);                  /* limit 0: loops for ever */
	send_packet("vCont;c", 7);
	pause_ms(300);
	expect("g", "E10");                 /* registers of a running vCPU: refused */
	send_bytes("\x03", 1);
	cr_assert_str_eq(reply(), "T02thread:1;");
	cr_assert_gt(counter(), 10);
	uint64_t before = counter();
	pause_ms(100);
	cr_assert_eq(counter(), before, "stopped means stopped");
	send_packet("k", 1);
	cr_assert_eq(finish(), KVMINI_E_STOPPED);
	cr_assert_str_eq(f.result.message, "killed from gdb");
}

Test(gdb_stub, attaching_stops_a_running_guest, .timeout = 60)
{
	skip_without_kvm();
	start(1, false, 0);
	expect("?", "T05thread:1;");
	uint64_t before = counter();
	pause_ms(100);
	cr_assert_eq(counter(), before);
	expect("vKill;1", "OK");
	cr_assert_eq(finish(), KVMINI_E_STOPPED);
}

Test(gdb_stub, a_client_that_speaks_no_protocol_never_stops_the_guest, .timeout = 60)
{
	skip_without_kvm();
	start(1, false, 200000);            /* about half a second of guest time */
	send_bytes("GET / HTTP/1.0\r\n\r\n$g#00\x7f\xff", 25);   /* junk, a bad checksum */
	while (next_input() != GDB_IN_NACK)
		;
	/* still connected, yet the guest runs to its end */
	pthread_join(f.runner, NULL);
	f.running = false;
	cr_assert_eq(finish(), EXIT_STATUS);
}

Test(gdb_stub, a_dropped_connection_detaches, .timeout = 60)
{
	skip_without_kvm();
	/* Refused breakpoints (the nested VM) leave only the detach to check. */
	const char *planted = breakpoints_refused() ? "E26" : "OK";
	start(1, true, 1000);
	expect("Z0,100007,1", planted);
	expect("Z1,100015,1", planted);
	send_bytes("$m10000", 7);           /* half a packet, then gone */
	close(f.fd);
	f.fd = -1;
	/* breakpoints removed, the guest resumed: it runs to its end */
	pthread_join(f.runner, NULL);
	f.running = false;
	cr_assert_eq(finish(), EXIT_STATUS);
}

Test(gdb_stub, a_new_client_after_a_detach, .timeout = 60)
{
	skip_without_kvm();
	start(1, true, 0);
	expect("D", "OK");
	close(f.fd);
	pause_ms(100);
	connect_client();                   /* the loop never ends: stop it again */
	expect("?", "T05thread:1;");
	cr_assert_gt(counter(), 0);
	expect("M101008,8:ffffffffffffffff", "OK");
	expect("M101000,8:feffffffffffffff", "OK");
	expect("vCont;c", "W0f");
	cr_assert_eq(finish(), EXIT_STATUS);
}

Test(gdb_stub, the_vm_stopping_ends_the_session, .timeout = 60)
{
	skip_without_kvm();
	start(1, true, 0);
	kvmini_vm_stop(f.vm, KVMINI_E_STOPPED);
	pthread_join(f.runner, NULL);
	f.running = false;
	char c;
	struct pollfd p = { .fd = f.fd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 10000), 1);
	ssize_t n = recv(f.fd, &c, 1, 0);
	cr_assert(n == 0 || (n < 0 && errno == ECONNRESET), "the stub hangs up: %zd", n);
	cr_assert_eq(finish(), KVMINI_E_STOPPED);
}

Test(gdb_stub, hostile_input, .timeout = 120)
{
	skip_without_kvm();
	probe();   /* the answers to Z depend on what this host delivers */
	start(1, true, 100);
	send_bytes("garbage\r\n#00+++---", 18);
	send_bytes("$g#00", 5);             /* bad checksum */
	while (next_input() != GDB_IN_NACK)
		;
	expect("", "");
	const char *r = ask("m0,ffffffffffffffff");     /* clamped to what fits */
	cr_assert_eq(strlen(r), GDB_PACKET_MAX);
	expect("m1ffffffffffffffff,1", "E16");
	expect("mffff000000000000,10", "E0e");          /* not canonical */
	expect("m7fffffff0000,10", "E0e");              /* not mapped */
	expect("m100000", "E16");
	expect("M100000,4:zz", "E16");
	expect("M100000,2:00", "E16");
	expect("Mffffffffffffff00,1:00", "E0e");
	expect("X100000,1:}", "E16");
	expect("X100000,ffffffffffffffff:", "E16");
	expect("Z9,0,0", "E16");
	/* A refusing host refuses before looking at the address. */
	expect("Z0,7fffffff0000,1", breakpoints_refused() ? "E26" : "E0e");
	expect("Z2,101001,8", host.data_breakpoints ? "E16" : "OK");
	expect("z2,101001,8", "OK");
	expect("Hgffff", "E16");
	expect("Hx1", "E16");
	expect("T5", "E16");
	expect("p999", "E16");
	expect("P0=00", "E16");
	expect("P10=zzzzzzzzzzzzzzzz", "E16");
	expect("vCont;x", "E16");
	expect("vCont;c:9", "E16");
	expect("vCont", "E16");
	expect("c1;2", "E16");
	expect("qXfer:features:read:other.xml:0,10", "E00");
	expect("qXfer:features:read:target.xml:ffffffffffff,10", "l");
	expect("qXfer:features:read:target.xml:0,0", "l");
	expect("qThreadExtraInfo,9", "E16");
	/* too long: summed correctly, then refused */
	static char big[GDB_PACKET_MAX + 100];
	memset(big, 'm', sizeof(big));
	send_packet(big, sizeof(big));
	cr_assert_str_eq(reply(), "E1c");
	/* a barrage of random, correctly framed packets */
	static const char letters[] = "gpmHTqZz?xyQ!";
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	for (int i = 0; i < 3000; i++) {
		char pkt[64];
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		int n = snprintf(pkt, sizeof(pkt), "%c%llx,%llx,%x", letters[seed % (sizeof(letters) - 1)],
				 (unsigned long long)(seed >> 8), (unsigned long long)(seed >> 40) & 0xff,
				 (unsigned)(seed >> 20) & 0xf);
		if (seed & 1)
			pkt[1] = (char)('0' + (seed >> 3) % 5);   /* Z/z types 0-4 */
		send_packet(pkt, (size_t)n);
		reply();
	}
	expect("?", "T05thread:1;");
	expect("D", "OK");                  /* removes whatever Z planted */
	cr_assert_eq(finish(), EXIT_STATUS);
}

Test(gdb_stub, two_vcpus_are_two_threads, .timeout = 60)
{
	skip_without_kvm();
	probe();   /* before the VM: the stub's answer to Z0 depends on it */
	start(2, true, 100);
	expect("qfThreadInfo", "m1,2");
	expect("qsThreadInfo", "l");
	expect("T2", "OK");
	expect("T3", "E16");
	expect("qThreadExtraInfo,2", "764350552031");   /* "vCPU 1" */
	expect("Hg2", "OK");
	cr_assert_eq(rip(), 0xfff0, "vCPU 1 waits at the reset vector");
	expect("Hg1", "OK");
	cr_assert_eq(rip(), CODE);
	expect("vCont;s:1", "T05thread:1;");             /* vCPU 1 stays stopped */
	cr_assert_eq(rip(), 0x100007);
	expect("Hg2", "OK");
	cr_assert_eq(rip(), 0xfff0);
	expect("Hg1", "OK");
	if (breakpoints_refused()) {   /* the nested VM: both vCPUs run to the end */
		expect("Z0,100017,1", "E26");
		expect("vCont;c", "W0f");
		cr_assert_eq(finish(), EXIT_STATUS);
		return;
	}
	expect("Z0,100017,1", "OK");
	expect("vCont;c", "T05thread:1;");                /* gdb did not ask for swbreak */
	cr_assert_eq(counter(), 100);
	expect("D", "OK");
	cr_assert_eq(finish(), EXIT_STATUS);
}

/* ---- addresses (no VM needed) ---- */

static enum kvmini_status listen_error(const char *address)
{
	struct gdb_listener l;
	struct kvmini_error err;
	if (gdb_listen(address, &l, &err) == 0) {
		gdb_listener_close(&l);
		return KVMINI_OK;
	}
	return err.code;
}

Test(gdb_socket, malformed_addresses_are_usage_errors)
{
	const char *bad[] = {
		"", "tcp:", "tcp:127.0.0.1", "tcp::1234", "tcp:127.0.0.1:", "tcp:127.0.0.1:65536",
		"tcp:127.0.0.1:-1", "tcp:127.0.0.1:12x", "udp:127.0.0.1:1", "unix:", "127.0.0.1:1",
		"tcp:no-such-host.invalid:1",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(listen_error(bad[i]), KVMINI_E_USAGE, "'%s'", bad[i]);
	char longpath[200] = "unix:/tmp/";
	memset(longpath + 10, 'x', 150);
	longpath[160] = '\0';
	cr_assert_eq(listen_error(longpath), KVMINI_E_USAGE);
}

Test(gdb_socket, tcp_port_zero_picks_a_port)
{
	struct gdb_listener l;
	struct kvmini_error err;
	cr_assert_eq(gdb_listen("tcp:127.0.0.1:0", &l, &err), 0, "%s", err.msg);
	cr_assert(strncmp(l.where, "tcp:127.0.0.1:", 14) == 0);
	cr_assert_neq(atoi(l.where + 14), 0, "%s", l.where);
	char again[sizeof(l.where)];
	snprintf(again, sizeof(again), "%s", l.where);
	cr_assert_eq(listen_error(again), KVMINI_E_HOST, "the port is taken");
	gdb_listener_close(&l);
}

Test(gdb_socket, unix_paths)
{
	char dir[] = "/tmp/kvmini-sock-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[64], address[80];
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(address, sizeof(address), "unix:%s", path);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(listen_error(address), KVMINI_E_USAGE, "a regular file is not ours to replace");
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	unlink(path);
	struct gdb_listener l;
	struct kvmini_error err;
	cr_assert_eq(gdb_listen(address, &l, &err), 0, "%s", err.msg);
	int stale = dup(l.fd);           /* keep the socket file as a stale one */
	l.unix_path[0] = '\0';
	gdb_listener_close(&l);
	cr_assert_eq(gdb_listen(address, &l, &err), 0, "a stale socket is replaced: %s", err.msg);
	close(stale);
	gdb_listener_close(&l);
	cr_assert_neq(stat(path, &st), 0, "the socket file is removed");
	rmdir(dir);
}
