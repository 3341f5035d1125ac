#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "thread.h"
#include "thread_name.h"
#include "gdb/packet.h"
#include "gdb/probe.h"
#include "gdb/regs.h"
#include "gdb/socket.h"
#include "gdb/stub.h"
#include "gdb/target.h"

#define SIGNAL_INT  2
#define SIGNAL_TRAP 5
#define MAX_VCONT_ACTIONS 64
#define THREADS_PER_REPLY 256
#define MAX_RETRANSMITS 8
#define XML_MAX 16384

/* Error replies carry an errno-like number, in hex as gdb expects. */
#define E_IO     0x05
#define E_FAULT  0x0e
#define E_BUSY   0x10
#define E_INVAL  0x16
#define E_NOSPC  0x1c
#define E_NOSYS  0x26

enum outcome { REPLY, NO_REPLY, END_SESSION };

/* One client connection; only the server thread touches it. */
struct session {
	int fd;
	bool ok;                  /* the connection still works */
	bool attached;            /* spoke the protocol: the guest is stopped for it */
	bool no_ack;              /* QStartNoAckMode */
	bool running;             /* vCPUs run; gdb waits for a stop reply */
	bool swbreak, hwbreak;    /* gdb understands these stop reasons */
	unsigned g_cpu;           /* Hg: registers and memory */
	long c_tid;               /* Hc: old-style c and s */
	unsigned resumed_cpu;     /* a Ctrl-C is reported on this vCPU */
	unsigned thread_cursor;   /* qsThreadInfo continues from here */
	unsigned retransmits;
	const struct gdb_arch *arch;
	char stop_reply[96];
	size_t xml_len;
	size_t reply_len;
	bool reply_overflow;
	size_t frame_len;
	struct gdb_decoder dec;
	char reply[GDB_PACKET_MAX];
	char frame[GDB_PACKET_MAX + 8];
	uint8_t bin[GDB_PACKET_MAX];
	char xml[XML_MAX];
};

struct gdb_stub {
	struct vm *vm;
	struct gdb_listener listener;
	int wake_fd;
	bool target_ready;
	bool thread_started;
	bool quit;                /* atomic: gdb_stub_destroy() was called */
	pthread_t thread;
	struct gdb_target target;
	enum gdb_action *actions; /* scratch, one per vCPU */
	struct session s;
};

/* ---- replies ---- */

static void reply_add(struct session *s, const char *data, size_t n)
{
	if (n > sizeof(s->reply) - s->reply_len) {
		s->reply_overflow = true;
		return;
	}
	memcpy(s->reply + s->reply_len, data, n);
	s->reply_len += n;
}

static void reply_str(struct session *s, const char *text)
{
	reply_add(s, text, strlen(text));
}

static void reply_fmt(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reply_fmt(struct session *s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		s->reply_overflow = true;
	else
		reply_add(s, buf, (size_t)n);
}

static void reply_hex(struct session *s, const uint8_t *bytes, size_t n)
{
	if (n > (sizeof(s->reply) - s->reply_len) / 2) {
		s->reply_overflow = true;
		return;
	}
	gdb_hex_encode(s->reply + s->reply_len, bytes, n);
	s->reply_len += 2 * n;
}

static enum outcome reply_error(struct session *s, int code)
{
	s->reply_len = 0;
	reply_fmt(s, "E%02x", code);
	return REPLY;
}

static void send_raw(struct session *s, const char *data, size_t len)
{
	while (s->ok && len > 0) {
		ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->ok = false;   /* gone, or stopped reading (send timeout) */
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* Frame and send the reply; kept for retransmission on a '-'. Hex
 * replies are run-length encoded; binary ones never are. */
static void send_reply(struct session *s, bool rle)
{
	if (s->reply_overflow)
		reply_error(s, E_NOSPC);
	s->frame_len = gdb_frame(s->frame, sizeof(s->frame), s->reply, s->reply_len, rle);
	s->retransmits = 0;
	send_raw(s, s->frame, s->frame_len);
	s->reply_len = 0;
	s->reply_overflow = false;
}

/* ---- stop replies ---- */

static void format_stop(const struct session *s, const struct gdb_event *ev, char *out, size_t cap)
{
	int sig = ev->kind == GDB_STOP_INTERRUPT ? SIGNAL_INT : SIGNAL_TRAP;
	int n = snprintf(out, cap, "T%02xthread:%x;", sig, ev->cpu + 1);
	const char *watch = ev->kind == GDB_STOP_WATCH ? "watch"
			  : ev->kind == GDB_STOP_RWATCH ? "rwatch"
			  : ev->kind == GDB_STOP_AWATCH ? "awatch" : NULL;
	if (n < 0 || (size_t)n >= cap)
		return;
	if (watch)
		snprintf(out + n, cap - (size_t)n, "%s:%llx;", watch, (unsigned long long)ev->addr);
	else if (ev->kind == GDB_STOP_SWBREAK && s->swbreak)
		snprintf(out + n, cap - (size_t)n, "swbreak:;");
	else if (ev->kind == GDB_STOP_HWBREAK && s->hwbreak)
		snprintf(out + n, cap - (size_t)n, "hwbreak:;");
}

static void report_stop(struct session *s, const struct gdb_event *ev)
{
	format_stop(s, ev, s->stop_reply, sizeof(s->stop_reply));
	s->g_cpu = ev->cpu;
	s->running = false;
	reply_str(s, s->stop_reply);
	send_reply(s, false);
}

/* The VM stopped while gdb waited: W with the exit status for a guest
 * that ended itself, X with a signal that says how it was stopped. */
static void report_exit(struct gdb_stub *g)
{
	struct session *s = &g->s;
	pthread_mutex_lock(&g->vm->lock);
	struct kvmini_result r = g->vm->result;
	pthread_mutex_unlock(&g->vm->lock);
	if (r.status == KVMINI_OK)
		reply_fmt(s, "W%02x", r.exit_status & 0xff);
	else
		reply_fmt(s, "X%02x", r.status == KVMINI_E_GUEST ? 11      /* SIGSEGV */
				    : r.status == KVMINI_E_TIMEOUT ? 14  /* SIGALRM */
				    : r.status == KVMINI_E_STOPPED ? 9   /* SIGKILL */
				    : 6);                                /* SIGABRT */
	send_reply(s, false);
	s->running = false;
}

/* ---- registers ---- */

static enum outcome cmd_read_regs(struct gdb_stub *g)
{
	struct session *s = &g->s;
	struct gdb_x86_state st;
	if (gdb_target_get_regs(&g->target, s->g_cpu, &st) < 0)
		return reply_error(s, E_IO);
	uint8_t value[16];
	for (unsigned n = 0; n < gdb_arch_nregs(s->arch); n++) {
		int size = gdb_reg_get(s->arch, n, &st, value);
		if (size > 0) {
			reply_hex(s, value, (size_t)size);
		} else {   /* unavailable: as many 'x' as hex digits */
			for (unsigned i = 0; i < gdb_arch_reg(s->arch, n)->bits / 4; i++)
				reply_add(s, "x", 1);
		}
	}
	return REPLY;
}

static enum outcome cmd_write_regs(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	size_t size = gdb_arch_regs_size(s->arch);
	struct gdb_x86_state st;
	if ((size_t)(a->end - a->p) != 2 * size ||
	    gdb_hex_decode(s->bin, sizeof(s->bin), a->p, 2 * size) < 0)
		return reply_error(s, E_INVAL);
	if (gdb_target_get_regs(&g->target, s->g_cpu, &st) < 0)
		return reply_error(s, E_IO);
	size_t offset = 0;
	for (unsigned n = 0; n < gdb_arch_nregs(s->arch); n++) {
		gdb_reg_set(s->arch, n, &st, s->bin + offset);   /* unavailable ones: ignored */
		offset += gdb_arch_reg(s->arch, n)->bits / 8;
	}
	if (gdb_target_set_regs(&g->target, s->g_cpu, &st) < 0)
		return reply_error(s, E_IO);
	reply_str(s, "OK");
	return REPLY;
}

static enum outcome cmd_read_reg(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t n;
	struct gdb_x86_state st;
	if (gdb_args_hex(a, &n) < 0 || !gdb_args_done(a) || n >= gdb_arch_nregs(s->arch))
		return reply_error(s, E_INVAL);
	if (gdb_target_get_regs(&g->target, s->g_cpu, &st) < 0)
		return reply_error(s, E_IO);
	uint8_t value[16];
	int size = gdb_reg_get(s->arch, (unsigned)n, &st, value);
	if (size > 0) {
		reply_hex(s, value, (size_t)size);
	} else {
		for (unsigned i = 0; i < gdb_arch_reg(s->arch, (unsigned)n)->bits / 4; i++)
			reply_add(s, "x", 1);
	}
	return REPLY;
}

static enum outcome cmd_write_reg(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t n;
	struct gdb_x86_state st;
	if (gdb_args_hex(a, &n) < 0 || gdb_args_expect(a, '=') < 0 ||
	    n >= gdb_arch_nregs(s->arch))
		return reply_error(s, E_INVAL);
	size_t size = gdb_arch_reg(s->arch, (unsigned)n)->bits / 8;
	uint8_t value[16];
	if ((size_t)(a->end - a->p) != 2 * size ||
	    gdb_hex_decode(value, sizeof(value), a->p, 2 * size) < 0)
		return reply_error(s, E_INVAL);
	if (gdb_target_get_regs(&g->target, s->g_cpu, &st) < 0 ||
	    gdb_reg_set(s->arch, (unsigned)n, &st, value) < 0 ||
	    gdb_target_set_regs(&g->target, s->g_cpu, &st) < 0)
		return reply_error(s, E_IO);
	reply_str(s, "OK");
	return REPLY;
}

/* ---- memory ---- */

static enum outcome cmd_read_mem(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t addr, len;
	if (gdb_parse_addr_len(a, &addr, &len) < 0 || !gdb_args_done(a))
		return reply_error(s, E_INVAL);
	/* A hostile length is cut to what a reply can carry; gdb accepts
	 * short reads and asks again. */
	if (len > sizeof(s->reply) / 2)
		len = sizeof(s->reply) / 2;
	uint64_t got = gdb_target_read(&g->target, s->g_cpu, addr, s->bin, len);
	if (len > 0 && got == 0)
		return reply_error(s, E_FAULT);
	reply_hex(s, s->bin, (size_t)got);
	return REPLY;
}

static enum outcome write_mem(struct gdb_stub *g, uint64_t addr, uint64_t len)
{
	if (len > 0 && gdb_target_write(&g->target, g->s.g_cpu, addr, g->s.bin, len) < 0)
		return reply_error(&g->s, E_FAULT);
	reply_str(&g->s, "OK");
	return REPLY;
}

static enum outcome cmd_write_mem_hex(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t addr, len;
	if (gdb_parse_addr_len(a, &addr, &len) < 0 || gdb_args_expect(a, ':') < 0 ||
	    len > sizeof(s->bin) || (uint64_t)(a->end - a->p) != 2 * len ||
	    gdb_hex_decode(s->bin, sizeof(s->bin), a->p, (size_t)(2 * len)) < 0)
		return reply_error(s, E_INVAL);
	return write_mem(g, addr, len);
}

static enum outcome cmd_write_mem_bin(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t addr, len;
	if (gdb_parse_addr_len(a, &addr, &len) < 0 || gdb_args_expect(a, ':') < 0)
		return reply_error(s, E_INVAL);
	size_t got = gdb_unescape(s->bin, sizeof(s->bin), a->p, (size_t)(a->end - a->p));
	if (got == SIZE_MAX || got != len)
		return reply_error(s, E_INVAL);
	return write_mem(g, addr, len);
}

/* ---- breakpoints ---- */

static enum outcome cmd_point(struct gdb_stub *g, bool insert, struct gdb_args *a)
{
	struct session *s = &g->s;
	struct gdb_point pt;
	if (gdb_parse_point(a, &pt) < 0)
		return reply_error(s, E_INVAL);
	int r = insert ? gdb_target_insert(&g->target, s->g_cpu, &pt)
		       : gdb_target_remove(&g->target, &pt);
	switch (r) {
	case GDB_BP_OK: reply_str(s, "OK"); return REPLY;
	case 1: return REPLY;   /* empty: this type is unsupported here */
	case GDB_BP_FULL: return reply_error(s, E_NOSPC);
	case GDB_BP_FAULT: return reply_error(s, E_FAULT);
	case GDB_BP_UNAVAILABLE: return reply_error(s, E_NOSYS);
	default: return reply_error(s, E_INVAL);
	}
}

/* ---- threads ---- */

static bool valid_tid(struct gdb_stub *g, long tid)
{
	return tid >= 1 && (unsigned long)tid <= g->vm->ncpus;
}

static enum outcome cmd_set_thread(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	long tid;
	if (a->p >= a->end)
		return reply_error(s, E_INVAL);
	char op = *a->p++;
	if ((op != 'g' && op != 'c') || gdb_parse_thread_id(a, &tid) < 0 || !gdb_args_done(a) ||
	    (tid != GDB_TID_ALL && tid != GDB_TID_ANY && !valid_tid(g, tid)))
		return reply_error(s, E_INVAL);
	if (op == 'c')
		s->c_tid = tid;
	else if (valid_tid(g, tid))
		s->g_cpu = (unsigned)(tid - 1);
	reply_str(s, "OK");
	return REPLY;
}

static enum outcome cmd_thread_alive(struct gdb_stub *g, struct gdb_args *a)
{
	long tid;
	if (gdb_parse_thread_id(a, &tid) < 0 || !gdb_args_done(a) || !valid_tid(g, tid))
		return reply_error(&g->s, E_INVAL);
	reply_str(&g->s, "OK");
	return REPLY;
}

static void reply_thread_list(struct gdb_stub *g)
{
	struct session *s = &g->s;
	if (s->thread_cursor >= g->vm->ncpus) {
		reply_str(s, "l");
		return;
	}
	reply_str(s, "m");
	for (unsigned n = 0; n < THREADS_PER_REPLY && s->thread_cursor < g->vm->ncpus; n++)
		reply_fmt(s, n ? ",%x" : "%x", ++s->thread_cursor);
}

static enum outcome query_thread_extra(struct gdb_stub *g, struct gdb_args *a)
{
	long tid;
	if (gdb_parse_thread_id(a, &tid) < 0 || !valid_tid(g, tid))
		return reply_error(&g->s, E_INVAL);
	char text[32];
	int n = snprintf(text, sizeof(text), "vCPU %ld", tid - 1);
	reply_hex(&g->s, (const uint8_t *)text, (size_t)n);
	return REPLY;
}

/* ---- resuming ---- */

static enum outcome resume(struct gdb_stub *g)
{
	struct session *s = &g->s;
	struct gdb_event ev;
	struct kvmini_error err;
	int r = gdb_target_resume(&g->target, g->actions, &ev, &err);
	if (r < 0) {
		vm_log(g->vm, "kvmini: gdb: cannot resume: %s\n", err.msg);
		return reply_error(s, E_IO);
	}
	if (r == 1) {
		report_stop(s, &ev);
		return NO_REPLY;
	}
	s->running = true;
	return NO_REPLY;
}

static int set_pc(struct gdb_stub *g, unsigned cpu, uint64_t pc)
{
	struct gdb_x86_state st;
	if (gdb_target_get_regs(&g->target, cpu, &st) < 0)
		return -1;
	st.regs.rip = pc;
	st.dirty = GDB_DIRTY_REGS;
	return gdb_target_set_regs(&g->target, cpu, &st);
}

/* Old-style c, s, C sig, S sig, each with an optional address: c runs
 * every vCPU, s steps the Hc thread (or the current one) alone. */
static enum outcome cmd_resume_legacy(struct gdb_stub *g, char op, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t sig, addr;
	bool has_addr = false;
	if (op == 'C' || op == 'S') {
		if (gdb_args_hex(a, &sig) < 0)
			return reply_error(s, E_INVAL);
		if (gdb_args_expect(a, ';') == 0)
			has_addr = true;
	} else {
		has_addr = !gdb_args_done(a);
	}
	if ((has_addr && gdb_args_hex(a, &addr) < 0) || !gdb_args_done(a))
		return reply_error(s, E_INVAL);
	bool step = op == 's' || op == 'S';
	unsigned cpu = step && valid_tid(g, s->c_tid) ? (unsigned)(s->c_tid - 1) : s->g_cpu;
	if (has_addr && set_pc(g, cpu, addr) < 0)
		return reply_error(s, E_IO);
	for (unsigned i = 0; i < g->vm->ncpus; i++)
		g->actions[i] = !step ? GDB_ACT_CONTINUE : i == cpu ? GDB_ACT_STEP : GDB_ACT_STOP;
	s->resumed_cpu = cpu;
	return resume(g);
}

/* The action of vCPU `cpu`: the leftmost that names it or names no
 * thread ("0", any thread, means the current one); NULL if none does. */
static const struct gdb_vcont_action *action_for(const struct session *s, unsigned cpu,
						  const struct gdb_vcont_action *acts, int n)
{
	for (int k = 0; k < n; k++) {
		long tid = acts[k].tid == GDB_TID_ANY ? (long)s->g_cpu + 1 : acts[k].tid;
		if (tid == GDB_TID_ALL || tid == (long)cpu + 1)
			return &acts[k];
	}
	return NULL;
}

/* vCont: vCPUs no action names stay stopped. A later Ctrl-C is reported
 * on the first vCPU named alone (or stepped), else on the current one. */
static enum outcome cmd_vcont(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	struct gdb_vcont_action acts[MAX_VCONT_ACTIONS];
	int n = gdb_parse_vcont(a, acts, MAX_VCONT_ACTIONS);
	if (n < 0)
		return reply_error(s, E_INVAL);
	bool any = false, named = false;
	s->resumed_cpu = s->g_cpu;
	for (unsigned i = 0; i < g->vm->ncpus; i++) {
		const struct gdb_vcont_action *act = action_for(s, i, acts, n);
		g->actions[i] = !act ? GDB_ACT_STOP
			      : act->action == 's' ? GDB_ACT_STEP : GDB_ACT_CONTINUE;
		if (act && !named && (act->action == 's' || act->tid != GDB_TID_ALL)) {
			s->resumed_cpu = i;
			named = true;
		}
		any = any || act;
	}
	if (!any)
		return reply_error(s, E_INVAL);
	return resume(g);
}

static enum outcome kill_vm(struct gdb_stub *g)
{
	vm_request_stop(g->vm, KVMINI_E_STOPPED, KVMINI_E_STOPPED, "killed from gdb");
	return END_SESSION;
}

static enum outcome cmd_v(struct gdb_stub *g, const char *pkt, size_t len)
{
	struct gdb_args a = gdb_args_of(pkt, len);
	if (len == 6 && memcmp(pkt, "vCont?", 6) == 0) {
		reply_str(&g->s, "vCont;c;C;s;S");
		return REPLY;
	}
	if (gdb_args_literal(&a, "vCont") == 0 && (gdb_args_done(&a) || *a.p == ';'))
		return cmd_vcont(g, &a);
	if (gdb_args_literal(&a, "vKill") == 0) {
		reply_str(&g->s, "OK");
		send_reply(&g->s, false);
		return kill_vm(g);
	}
	return REPLY;   /* vMustReplyEmpty and the rest: unsupported */
}

/* ---- queries ---- */

static bool is_query(const char *pkt, size_t len, const char *name, struct gdb_args *rest)
{
	size_t n = strlen(name);
	if (len < n || memcmp(pkt, name, n) != 0)
		return false;
	if (len > n && pkt[n] != ':' && pkt[n] != ',' && pkt[n] != ';')
		return false;
	*rest = gdb_args_of(pkt + n, len - n);
	return true;
}

static bool has_feature(const struct gdb_args *a, const char *feature)
{
	size_t n = strlen(feature);
	for (const char *p = a->p; p + n <= a->end; p++)
		if ((p == a->p || p[-1] == ':' || p[-1] == ';') && memcmp(p, feature, n) == 0 &&
		    (p + n == a->end || p[n] == ';'))
			return true;
	return false;
}

static enum outcome query_supported(struct gdb_stub *g, const struct gdb_args *a)
{
	struct session *s = &g->s;
	s->swbreak = has_feature(a, "swbreak+");
	s->hwbreak = has_feature(a, "hwbreak+");
	reply_fmt(s, "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;"
		  "QStartNoAckMode+;vContSupported+", GDB_PACKET_MAX);
	return REPLY;
}

/* qXfer:features:read:ANNEX:OFFSET,LENGTH */
static enum outcome query_features(struct gdb_stub *g, struct gdb_args *a)
{
	struct session *s = &g->s;
	uint64_t offset, len;
	if (gdb_args_literal(a, ":read:") < 0)
		return REPLY;
	if (gdb_args_literal(a, "target.xml:") < 0)
		return reply_error(s, 0);
	if (gdb_parse_addr_len(a, &offset, &len) < 0 || !gdb_args_done(a))
		return reply_error(s, E_INVAL);
	if (offset >= s->xml_len || len == 0) {
		reply_str(s, "l");
		return REPLY;
	}
	uint64_t room = sizeof(s->reply) - 1;
	size_t used;
	size_t want = (size_t)(len < room ? len : room);
	size_t avail = s->xml_len - (size_t)offset;
	char *out = s->reply + 1;
	size_t n = gdb_escape(out, want, (const uint8_t *)s->xml + offset,
			      want < avail ? want : avail, &used);
	s->reply[0] = used < avail ? 'm' : 'l';
	s->reply_len = 1 + n;
	return REPLY;
}

static enum outcome cmd_query(struct gdb_stub *g, const char *pkt, size_t len)
{
	struct session *s = &g->s;
	struct gdb_args a;
	if (is_query(pkt, len, "qSupported", &a))
		return query_supported(g, &a);
	if (is_query(pkt, len, "qXfer:features", &a))
		return query_features(g, &a);
	if (is_query(pkt, len, "qAttached", &a)) {
		reply_str(s, "1");   /* detach, not kill, when gdb quits */
	} else if (is_query(pkt, len, "qC", &a)) {
		reply_fmt(s, "QC%x", s->g_cpu + 1);
	} else if (is_query(pkt, len, "qfThreadInfo", &a)) {
		s->thread_cursor = 0;
		reply_thread_list(g);
	} else if (is_query(pkt, len, "qsThreadInfo", &a)) {
		reply_thread_list(g);
	} else if (is_query(pkt, len, "qThreadExtraInfo", &a) && gdb_args_expect(&a, ',') == 0) {
		return query_thread_extra(g, &a);
	}
	return REPLY;
}

/* ---- dispatch ---- */

static enum outcome dispatch_stopped(struct gdb_stub *g, const char *pkt, size_t len)
{
	struct session *s = &g->s;
	struct gdb_args a = gdb_args_of(pkt + 1, len - 1);
	switch (pkt[0]) {
	case '?': reply_str(s, s->stop_reply); return REPLY;
	case 'g': return cmd_read_regs(g);
	case 'G': return cmd_write_regs(g, &a);
	case 'p': return cmd_read_reg(g, &a);
	case 'P': return cmd_write_reg(g, &a);
	case 'm': return cmd_read_mem(g, &a);
	case 'M': return cmd_write_mem_hex(g, &a);
	case 'X': return cmd_write_mem_bin(g, &a);
	case 'Z': return cmd_point(g, true, &a);
	case 'z': return cmd_point(g, false, &a);
	case 'H': return cmd_set_thread(g, &a);
	case 'T': return cmd_thread_alive(g, &a);
	case 'c': case 's': case 'C': case 'S': return cmd_resume_legacy(g, pkt[0], &a);
	case 'v': return cmd_v(g, pkt, len);
	case 'q': return cmd_query(g, pkt, len);
	case 'D':
		reply_str(s, "OK");
		send_reply(s, false);
		return END_SESSION;
	case 'k': return kill_vm(g);
	case 'Q':
		if (len == 15 && memcmp(pkt, "QStartNoAckMode", 15) == 0) {
			s->no_ack = true;   /* this packet was acknowledged already */
			reply_str(s, "OK");
		}
		return REPLY;
	default: return REPLY;  /* empty: unsupported */
	}
}

static void dispatch(struct gdb_stub *g, const char *pkt, size_t len)
{
	struct session *s = &g->s;
	/* While vCPUs run only Ctrl-C means anything; a confused client
	 * gets an error instead of registers from a moving target. */
	enum outcome o = len == 0 ? REPLY
		       : s->running ? reply_error(s, E_BUSY)
		       : dispatch_stopped(g, pkt, len);
	if (o == REPLY)
		send_reply(s, pkt[0] == 'g' || pkt[0] == 'm' || pkt[0] == 'p');
	else if (o == END_SESSION)
		s->ok = false;
}

static void interrupt(struct gdb_stub *g)
{
	struct gdb_event ev;
	if (!g->s.running)
		return;
	/* False when the VM is stopping: its wake-up reports the exit. */
	if (gdb_target_interrupt(&g->target, g->s.resumed_cpu, &ev))
		report_stop(&g->s, &ev);
}

/* Stop every vCPU (gdb expects a stopped target) and describe vCPU 0's
 * architecture, fixed for the session. */
static void attach(struct gdb_stub *g)
{
	struct session *s = &g->s;
	if (!gdb_target_attach(&g->target)) {
		s->ok = false;   /* the VM is stopping */
		return;
	}
	s->attached = true;
	struct gdb_x86_state st;
	s->arch = gdb_target_get_regs(&g->target, 0, &st) == 0 ? gdb_arch_for(&st.sregs)
								 : &gdb_arch_amd64;
	s->xml_len = gdb_target_xml(s->arch, s->xml, sizeof(s->xml));
	struct gdb_event stop = { .kind = GDB_STOP_TRAP, .cpu = 0 };
	format_stop(s, &stop, s->stop_reply, sizeof(s->stop_reply));
}

static void handle_input(struct gdb_stub *g, enum gdb_input what)
{
	struct session *s = &g->s;
	/* Only a well-formed packet (or Ctrl-C) stops the guest: a port
	 * scanner or a client sending junk never does. */
	if (!s->attached && (what == GDB_IN_PACKET || what == GDB_IN_INTERRUPT))
		attach(g);
	if (!s->ok)
		return;
	switch (what) {
	case GDB_IN_PACKET:
		if (!s->no_ack)
			send_raw(s, "+", 1);
		dispatch(g, s->dec.buf, s->dec.len);
		break;
	case GDB_IN_BAD_CHECKSUM:
		if (!s->no_ack)
			send_raw(s, "-", 1);
		break;
	case GDB_IN_TOO_LONG:
		if (!s->no_ack)
			send_raw(s, "+", 1);
		if (!s->running) {
			reply_error(s, E_NOSPC);
			send_reply(s, false);
		}
		break;
	case GDB_IN_INTERRUPT:
		interrupt(g);
		break;
	case GDB_IN_NACK:
		if (s->frame_len && s->retransmits++ < MAX_RETRANSMITS)
			send_raw(s, s->frame, s->frame_len);
		break;
	case GDB_IN_ACK:
	case GDB_IN_NONE:
		break;
	}
}

static void read_client(struct gdb_stub *g)
{
	struct session *s = &g->s;
	uint8_t buf[4096];
	ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		s->ok = false;
		return;
	}
	for (size_t used = 0; used < (size_t)n && s->ok;) {
		enum gdb_input what;
		used += gdb_decoder_feed(&s->dec, buf + used, (size_t)n - used, &what);
		handle_input(g, what);
	}
}

/* ---- the server thread ---- */

static bool quitting(struct gdb_stub *g)
{
	return __atomic_load_n(&g->quit, __ATOMIC_SEQ_CST) || gdb_target_vm_stopped(&g->target);
}

static void drain_wake(struct gdb_stub *g)
{
	uint64_t count;
	if (read(g->wake_fd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing was pending */
	}
}

static void handle_wake(struct gdb_stub *g)
{
	struct session *s = &g->s;
	struct gdb_event ev;
	drain_wake(g);
	if (s->running && gdb_target_collect(&g->target, &ev))
		report_stop(s, &ev);
	if (quitting(g)) {
		if (s->running && gdb_target_vm_stopped(&g->target))
			report_exit(g);
		s->ok = false;
	}
}

static void start_session(struct session *s, int fd)
{
	s->fd = fd;
	s->ok = true;
	s->attached = s->no_ack = s->running = s->swbreak = s->hwbreak = false;
	s->g_cpu = s->resumed_cpu = s->thread_cursor = s->retransmits = 0;
	s->c_tid = GDB_TID_ALL;
	s->reply_len = s->frame_len = 0;
	s->reply_overflow = false;
	gdb_decoder_init(&s->dec);
}

static void serve_client(struct gdb_stub *g, int fd)
{
	struct session *s = &g->s;
	start_session(s, fd);
	handle_wake(g);   /* the VM may have stopped while the client queued */
	while (s->ok) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = g->wake_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			handle_wake(g);
		if (s->ok && p[0].revents)
			read_client(g);
	}
	/* Whatever the way out, the guest runs on without breakpoints. */
	if (s->attached)
		gdb_target_detach(&g->target);
}

static int wait_for_client(struct gdb_stub *g)
{
	while (!quitting(g)) {
		struct pollfd p[2] = { { .fd = g->listener.fd, .events = POLLIN },
				       { .fd = g->wake_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[1].revents)
			drain_wake(g);
		if (p[0].revents & POLLIN) {
			int fd = gdb_accept(&g->listener);
			if (fd >= 0)
				return fd;
		}
	}
	return -1;
}

static void *server_thread(void *arg)
{
	struct gdb_stub *g = arg;
	int fd;
	struct kvmini_error err;
	thread_name_set("gdb");
	/* Confined before the first client byte; a stub that cannot be is
	 * no stub, and the VM stops rather than run unwatched. */
	if (seccomp_role_install(SECCOMP_ROLE_GDB, g->vm->seccomp, &err) < 0) {
		vm_request_stop(g->vm, err.code, err.code, "gdb: %s", err.msg);
		gdb_listener_close(&g->listener);
		return NULL;
	}
	while ((fd = wait_for_client(g)) >= 0) {
		if (g->vm->verbose)
			vm_log(g->vm, "kvmini: gdb: client connected\n");
		serve_client(g, fd);
		close(fd);
		if (g->vm->verbose)
			vm_log(g->vm, "kvmini: gdb: client gone; the guest runs on\n");
	}
	/* The VM is gone: refuse clients still queued, or coming, at once. */
	gdb_listener_close(&g->listener);
	return NULL;
}

/* ---- creation ---- */

/* Find what the host's KVM can do, and say what is missing. */
static int probe_host(struct gdb_stub *g, struct gdb_host_debug *host_out,
		      struct kvmini_error *err)
{
	if (gdb_probe_host(host_out, err) < 0)
		return -1;
	const struct gdb_host_debug host = *host_out;
	if (!host.single_step)
		vm_log(g->vm, "kvmini: gdb: warning: single-step does not work here: %s\n",
		       host.single_step_note);
	if (!host.exec_breakpoints)
		vm_log(g->vm, "kvmini: gdb: warning: hardware breakpoints do not work here: %s\n",
		       host.exec_note);
	if (!host.data_breakpoints)
		vm_log(g->vm, "kvmini: gdb: this host raises no data breakpoints (%s); "
		       "write watchpoints single-step the guest instead, read and access "
		       "watchpoints are unavailable\n", host.data_note);
	if (host.int3 == GDB_INT3_OTHER)
		vm_log(g->vm, "kvmini: gdb: warning: int3 does not reach the debugger here (%s); %s\n",
		       host.int3_note, host.exec_breakpoints ?
		       "software breakpoints use debug registers (4 at most)" :
		       "breakpoints are refused");
	if (!host.int3_real_mode && g->vm->verbose)
		vm_log(g->vm, "kvmini: gdb: int3 does not reach the debugger in real mode (%s); "
		       "real-mode software breakpoints use debug registers (4 at most)\n",
		       host.int3_real_note);
	return 0;
}

struct gdb_stub *gdb_stub_create(struct vm *vm, const char *address, bool wait,
				 struct kvmini_error *err)
{
	struct gdb_stub *g = calloc(1, sizeof(*g));
	if (!g) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the gdb stub");
		return NULL;
	}
	g->vm = vm;
	g->listener.fd = -1;
	g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g->actions = calloc(vm->ncpus, sizeof(*g->actions));
	struct gdb_host_debug host;
	if (g->wake_fd < 0 || !g->actions) {
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot set up the gdb stub");
		goto fail;
	}
	if (gdb_listen(address, &g->listener, err) < 0 ||
	    probe_host(g, &host, err) < 0 ||
	    gdb_target_init(&g->target, vm, g->wake_fd, &host, err) < 0)
		goto fail;
	g->target_ready = true;
	if (wait)
		vm_request_pause(vm);   /* vCPUs park before their first instruction */
	int e = thread_start(&g->thread, server_thread, g);
	if (e) {
		kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot start the gdb stub's thread");
		goto fail;
	}
	g->thread_started = true;
	vm_log(vm, "kvmini: gdb: listening on %s%s\n", g->listener.where,
	       wait ? "; the guest waits for gdb to continue it" : "");
	return g;
fail:
	gdb_stub_destroy(g);
	return NULL;
}

void gdb_stub_destroy(struct gdb_stub *g)
{
	if (!g)
		return;
	if (g->thread_started) {
		__atomic_store_n(&g->quit, true, __ATOMIC_SEQ_CST);
		uint64_t one = 1;
		if (write(g->wake_fd, &one, sizeof(one)) < 0) {
			/* the counter is non-zero already */
		}
		pthread_join(g->thread, NULL);
	}
	if (g->target_ready)
		gdb_target_fini(&g->target);
	gdb_listener_close(&g->listener);
	if (g->wake_fd >= 0)
		close(g->wake_fd);
	free(g->actions);
	free(g);
}
