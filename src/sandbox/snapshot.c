/* The ready state of a serving program and the reset between calls.
 *
 * At the first serve call the host copies the guest pages in use (the
 * VMM's structures, the page tables, every mapped window page), the
 * vCPU's registers and FPU state, and its own bookkeeping (page map,
 * heap, descriptors, signal dispositions, working directory). It turns
 * on KVM's dirty-page log for the RAM slot.
 *
 * Before each call only the pages written since the last reset are put
 * back: the pages KVM logged as written by the guest, plus the pages the
 * host itself wrote (system-call results, zeroed or remapped pages, page
 * tables), which the host marks in its own bitmap (sb_mm_mark_dirty):
 * KVM's log does not see writes from the host. A page that was not in
 * use at the ready point is zeroed, as an unused window page always is. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "sandbox/sandbox.h"

struct saved_file {
	struct sb_file file;      /* host_fd: a private duplicate */
	off_t offset;             /* -1 when not seekable */
};

struct sb_snapshot {
	uint8_t *mem;             /* same layout as guest RAM; only pages in use written */
	uint64_t ram_pages;
	uint64_t *kvm_dirty;      /* KVM_GET_DIRTY_LOG's bitmap */
	uint64_t *host_dirty;     /* the host's own writes, attached to sb->mm */
	uint64_t words;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct sb_mm mm;          /* scalars; pg is the copy below */
	uint8_t *pg;
	struct saved_file *files;
	struct sb_sigaction sigact[64];
	uint64_t sigmask, sigpending, tid_address, robust_list;
	char comm[16];
	char *cwd;
	uint64_t serve_in, serve_in_cap;
};

/* The sandbox's RAM is one region, slot 0: its log is the program's. */
static int set_dirty_logging(sandbox_t *sb, bool on, struct kvmini_error *err)
{
	return vm_set_dirty_logging(&sb->vm, 0, on, err);
}

static int fetch_kvm_dirty(sandbox_t *sb, struct kvmini_error *err)
{
	return vm_get_dirty_log(&sb->vm, 0, sb->snap->kvm_dirty, err);
}

/* Was guest-physical page p in use at the ready point? */
static bool saved_page(const struct sb_snapshot *s, uint64_t p)
{
	gpa_t gpa = p * SB_PAGE;
	if (gpa < s->mm.gpa)
		return true;
	return (s->pg[(gpa - s->mm.gpa) / SB_PAGE] & SB_PG_MAPPED) != 0;
}

/* s->mem mirrors guest RAM's layout: page p of it is guest-physical
 * page p. Guest RAM itself is reached through guest_read/guest_write. */
static void copy_pages_in_use(sandbox_t *sb)
{
	struct sb_snapshot *s = sb->snap;
	for (uint64_t p = 0; p < s->ram_pages; p++)
		if (saved_page(s, p))
			guest_read(&sb->vm.mem, p * SB_PAGE, s->mem + p * SB_PAGE, SB_PAGE);
}

static int save_files(sandbox_t *sb, struct kvmini_error *err)
{
	struct sb_snapshot *s = sb->snap;
	s->files = calloc(sb->max_files, sizeof(*s->files));
	if (!s->files)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the snapshot");
	for (unsigned i = 0; i < sb->max_files; i++) {
		struct sb_file *f = &sb->files[i];
		s->files[i].file.host_fd = -1;
		if (f->host_fd < 0)
			continue;
		int dup = fcntl(f->host_fd, F_DUPFD_CLOEXEC, 0);
		if (dup < 0)
			return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot keep descriptor %u", i);
		s->files[i].file = *f;
		s->files[i].file.host_fd = dup;
		s->files[i].file.guest_path = f->guest_path ? strdup(f->guest_path) : NULL;
		/* The standard streams share their offset with kvmini's own
		 * descriptors: they are streams, never rewound. */
		s->files[i].offset = f->guest_path ? lseek(f->host_fd, 0, SEEK_CUR) : -1;
	}
	return 0;
}

static int save_vcpu(sandbox_t *sb, struct kvmini_error *err)
{
	struct sb_snapshot *s = sb->snap;
	s->regs = sb->run->s.regs.regs;
	s->regs.rip = sb_resume_rip(s->regs.rip);
	if (vcpu_get_sregs(sb->vcpu, &s->sregs, err) < 0 ||
	    vcpu_get_xsave(sb->vcpu, &s->xsave, err) < 0)
		return -1;
	return 0;
}

static void save_host_state(sandbox_t *sb)
{
	struct sb_snapshot *s = sb->snap;
	s->mm = sb->mm;
	memcpy(s->pg, sb->mm.pg, sb->mm.npages);
	memcpy(s->sigact, sb->sigact, sizeof(s->sigact));
	s->sigmask = sb->sigmask;
	s->sigpending = sb->sigpending;
	s->tid_address = sb->tid_address;
	s->robust_list = sb->robust_list;
	memcpy(s->comm, sb->comm, sizeof(s->comm));
	s->serve_in = sb->serve_in;
	s->serve_in_cap = sb->serve_in_cap;
}

static int alloc_snapshot(sandbox_t *sb, struct kvmini_error *err)
{
	struct sb_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the snapshot");
	sb->snap = s;
	uint64_t ram = sb->vm.mem.ram_size;   /* one region: sb_mm_init() checked */
	s->ram_pages = ram / SB_PAGE;
	s->words = (s->ram_pages + 63) / 64;
	s->mem = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot map the snapshot");
	}
	s->kvm_dirty = calloc(s->words, 8);
	s->host_dirty = calloc(s->words, 8);
	s->pg = malloc(sb->mm.npages);
	s->cwd = strdup(sb->cwd);
	if (!s->kvm_dirty || !s->host_dirty || !s->pg || !s->cwd)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the snapshot");
	return 0;
}

int sb_snapshot_take(sandbox_t *sb, struct kvmini_error *err)
{
	if (alloc_snapshot(sb, err) < 0 || set_dirty_logging(sb, true, err) < 0)
		return -1;
	save_host_state(sb);
	copy_pages_in_use(sb);
	if (fetch_kvm_dirty(sb, err) < 0 || save_vcpu(sb, err) < 0 || save_files(sb, err) < 0)
		return -1;
	sb->mm.host_dirty = sb->snap->host_dirty;
	sb->sregs_touched = sb->files_touched = false;
	return 0;
}

/* Put back every page written since the last reset; returns how many. */
static uint64_t restore_pages(sandbox_t *sb)
{
	struct sb_snapshot *s = sb->snap;
	static const uint8_t zeros[SB_PAGE];
	uint64_t n = 0;
	for (uint64_t w = 0; w < s->words; w++) {
		uint64_t bits = s->kvm_dirty[w] | s->host_dirty[w];
		s->host_dirty[w] = 0;
		while (bits) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (p >= s->ram_pages)
				break;
			const uint8_t *page = saved_page(s, p) ? s->mem + p * SB_PAGE : zeros;
			guest_write(&sb->vm.mem, p * SB_PAGE, page, SB_PAGE);
			n++;
		}
	}
	return n;
}

/* Pages that have rights now but not at the ready point: KVM must forget
 * them (sb_mm_forget()), as after an mprotect. */
static void restore_page_map(sandbox_t *sb)
{
	struct sb_snapshot *s = sb->snap;
	struct sb_mm *mm = &sb->mm;
	for (uint64_t i = 0; i < mm->npages; i++) {
		if (mm->pg[i] == s->pg[i])
			continue;
		if (mm->pg[i] & SB_PG_PROT & ~s->pg[i]) {
			sb_mm_forget(mm, mm->base + i * SB_PAGE, SB_PAGE);
		}
		mm->pg[i] = s->pg[i];
	}
	mm->brk = s->mm.brk;
	mm->mmap_next = s->mm.mmap_next;
}

static int restore_files(sandbox_t *sb, struct kvmini_error *err)
{
	struct sb_snapshot *s = sb->snap;
	for (unsigned i = 0; i < sb->max_files; i++) {
		struct sb_file *f = &sb->files[i];
		const struct saved_file *saved = &s->files[i];
		if (sb->files_touched) {
			if (f->host_fd >= 0)
				close(f->host_fd);
			free(f->guest_path);
			*f = (struct sb_file){ .host_fd = -1 };
			if (saved->file.host_fd >= 0) {
				int fd = fcntl(saved->file.host_fd, F_DUPFD_CLOEXEC, 0);
				if (fd < 0)
					return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
								 "cannot restore descriptor %u", i);
				*f = saved->file;
				f->host_fd = fd;
				f->guest_path = saved->file.guest_path ? strdup(saved->file.guest_path) : NULL;
			}
		}
		if (f->host_fd >= 0 && saved->offset >= 0)
			lseek(f->host_fd, saved->offset, SEEK_SET);
	}
	sb->files_touched = false;
	return 0;
}

static void restore_host_state(sandbox_t *sb)
{
	struct sb_snapshot *s = sb->snap;
	memcpy(sb->sigact, s->sigact, sizeof(s->sigact));
	sb->sigmask = s->sigmask;
	sb->sigpending = s->sigpending;
	sb->tid_address = s->tid_address;
	sb->robust_list = s->robust_list;
	memcpy(sb->comm, s->comm, sizeof(s->comm));
	sb->serve_in = s->serve_in;
	sb->serve_in_cap = s->serve_in_cap;
	if (strcmp(sb->cwd, s->cwd) != 0) {
		char *cwd = strdup(s->cwd);
		if (cwd) {
			free(sb->cwd);
			sb->cwd = cwd;
		}
	}
}

int sb_snapshot_restore(sandbox_t *sb, struct kvmini_error *err)
{
	struct sb_snapshot *s = sb->snap;
	if (fetch_kvm_dirty(sb, err) < 0)
		return -1;
	restore_page_map(sb);
	uint64_t pages = restore_pages(sb);
	sb->stats.last_call_pages = pages;
	sb->stats.pages_restored += pages;
	restore_host_state(sb);
	if (restore_files(sb, err) < 0)
		return -1;
	if (vcpu_set_xsave(sb->vcpu, &s->xsave, err) < 0)
		return -1;
	if (sb->sregs_touched && vcpu_set_sregs(sb->vcpu, &s->sregs, err) < 0)
		return -1;
	sb->sregs_touched = false;
	sb->run->s.regs.regs = s->regs;
	sb->regs_dirty = true;
	return 0;
}

void sb_snapshot_free(sandbox_t *sb)
{
	struct sb_snapshot *s = sb->snap;
	if (!s)
		return;
	if (s->mem)
		munmap(s->mem, s->ram_pages * SB_PAGE);
	for (unsigned i = 0; s->files && i < sb->max_files; i++) {
		if (s->files[i].file.host_fd >= 0)
			close(s->files[i].file.host_fd);
		free(s->files[i].file.guest_path);
	}
	free(s->files);
	free(s->kvm_dirty);
	free(s->host_dirty);
	free(s->pg);
	free(s->cwd);
	free(s);
	sb->snap = NULL;
	sb->mm.host_dirty = NULL;
}
