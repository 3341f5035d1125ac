#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "vcpu.h"
#include "vm.h"
#include "arch/x86/firmware.h"
#include "arch/x86/irqchip.h"
#include "arch/x86/msr.h"

/* Addresses KVM needs for its own real-mode helpers on Intel hosts: three
 * pages of TSS and one page of identity map, in the device hole below
 * 4 GiB where no RAM is ever placed. */
#define VM_TSS_ADDR          0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

#define LOG_PREFIX "kvmini: "

void vm_log(struct vm *vm, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A named VM's lines say which VM they are about. */
	if (vm->name && strncmp(line, LOG_PREFIX, strlen(LOG_PREFIX)) == 0)
		kvmini_log(vm->log_fd, "kvmini[%s]: %s", vm->name, line + strlen(LOG_PREFIX));
	else
		kvmini_log(vm->log_fd, "%s", line);
}

/* Memory slot i holds RAM region i. */
static int set_slot(struct vm *vm, unsigned i, uint32_t flags, struct kvmini_error *err)
{
	const struct guest_region *r = &vm->mem.regions[i];
	struct kvm_userspace_memory_region slot = {
		.slot = i, .flags = flags, .guest_phys_addr = r->gpa, .memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)r->host,
	};
	return KVM_IOCTL(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot, err) < 0 ? -1 : 0;
}

/* With track_dirty_pages every slot logs the pages the guest writes,
 * from the first instruction, for diff snapshots. */
static int map_memory(struct vm *vm, bool track_dirty, struct kvmini_error *err)
{
	for (unsigned i = 0; i < vm->mem.nregions; i++)
		if (set_slot(vm, i, track_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0, err) < 0)
			return -1;
	return 0;
}

int vm_map_region(struct vm *vm, unsigned region, struct kvmini_error *err)
{
	if (region >= vm->mem.nregions)
		return kvmini_fail(err, KVMINI_E_HOST, "no memory region %u", region);
	return set_slot(vm, region, 0, err);
}

static int init_memory(struct vm *vm, const struct kvmini_config *cfg, int mem_fd,
		       struct kvmini_error *err)
{
	if (mem_fd >= 0)
		return guest_memory_init_file(&vm->mem, cfg->mem_size, mem_fd, err);
	unsigned flags = (cfg->mem_shared ? GUEST_MEM_SHARED : 0) |
			 (cfg->mem_prefault ? GUEST_MEM_PREFAULT : 0);
	return guest_memory_init(&vm->mem, cfg->mem_size, flags, err);
}

int vm_set_dirty_logging(struct vm *vm, unsigned region, bool on, struct kvmini_error *err)
{
	if (region >= vm->mem.nregions)
		return kvmini_fail(err, KVMINI_E_HOST, "no RAM region %u", region);
	return set_slot(vm, region, on ? KVM_MEM_LOG_DIRTY_PAGES : 0, err);
}

int vm_map_movable(struct vm *vm, uint64_t gpa, void *host, uint64_t size, bool on,
		   struct kvmini_error *err)
{
	/* Size 0 deletes the slot: KVM moves a slot only by deleting it and
	 * adding it back. */
	struct kvm_userspace_memory_region slot = { .slot = VM_MOVABLE_SLOT };
	if (on)
		slot = (struct kvm_userspace_memory_region){
			.slot = VM_MOVABLE_SLOT, .flags = KVM_MEM_LOG_DIRTY_PAGES,
			.guest_phys_addr = gpa, .memory_size = size,
			.userspace_addr = (uint64_t)(uintptr_t)host,
		};
	return KVM_IOCTL(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot, err) < 0 ? -1 : 0;
}

int vm_get_dirty_log(struct vm *vm, unsigned region, uint64_t *bitmap,
		     struct kvmini_error *err)
{
	if (region >= vm->mem.nregions && region != VM_MOVABLE_SLOT)
		return kvmini_fail(err, KVMINI_E_HOST, "no RAM region %u", region);
	struct kvm_dirty_log log = { .slot = region, .dirty_bitmap = bitmap };
	return KVM_IOCTL(vm->fd, KVM_GET_DIRTY_LOG, &log, err) < 0 ? -1 : 0;
}

/* Nonblocking, for wake_runner(). */
static int create_wake_fd(struct vm *vm, struct kvmini_error *err)
{
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return vm->wake_fd < 0 ? kvmini_fail_errno(err, KVMINI_E_HOST, errno,
						  "cannot create an eventfd") : 0;
}

static int create_vm_fd(struct vm *vm, struct kvmini_error *err)
{
	vm->fd = KVM_IOCTL(vm->kvm.fd, KVM_CREATE_VM, (void *)0, err);
	if (vm->fd < 0)
		return -1;
	uint64_t identity = VM_IDENTITY_MAP_ADDR;
	if (KVM_IOCTL(vm->fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)VM_TSS_ADDR, err) < 0)
		return -1;
	if (kvm_cap_value(vm->kvm.fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
	    KVM_IOCTL(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity, err) < 0)
		return -1;
	return 0;
}

static int check_cpu_count(struct vm *vm, unsigned cpus, struct kvmini_error *err)
{
	int max = kvm_cap_value(vm->kvm.fd, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = kvm_cap_value(vm->kvm.fd, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 1;
	if (cpus < 1 || cpus > (unsigned)max)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%u vCPUs requested; this host's KVM allows 1 to %d", cpus, max);
	/* Application processors start through INIT/SIPI from a local APIC. */
	if (cpus > 1 && vm->irqchip == KVMINI_IRQCHIP_NONE)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%u vCPUs need an interrupt controller: add --irqchip kernel", cpus);
	return 0;
}

/* KVM's IOAPIC starts with ID 0; the MP and ACPI tables give another.
 * kvmini's own IOAPIC (split) is created with the tables' ID. */
static int agree_ioapic_id(struct vm *vm, unsigned cpus, struct kvmini_error *err)
{
	if (vm->irqchip != KVMINI_IRQCHIP_KERNEL)
		return 0;
	return x86_irqchip_set_ioapic_id(vm->fd, x86_ioapic_id(cpus), err);
}

static int create_vcpus(struct vm *vm, unsigned cpus, struct kvmini_error *err)
{
	vm->vcpus = calloc(cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for %u vCPUs", cpus);
	if (x86_cpuid_init(&vm->cpuid, vm->kvm.fd, err) < 0)
		return -1;
	for (unsigned i = 0; i < cpus; i++) {
		vm->vcpus[i].fd = -1;
		if (vcpu_init(&vm->vcpus[i], vm, i, err) < 0)
			return -1;
		vm->ncpus++;
		if (x86_cpuid_apply(&vm->cpuid, vm->vcpus[i].fd, i, cpus, err) < 0 ||
		    x86_boot_msrs_set(vm->kvm.fd, vm->vcpus[i].fd,
				      x86_cpuid_has(&vm->cpuid, "mtrr"), err) < 0)
			return -1;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct kvmini_config *cfg, struct kvmini_error *err)
{
	return vm_create_from_file(vm, cfg, -1, err);
}

int vm_create_from_file(struct vm *vm, const struct kvmini_config *cfg, int mem_fd,
			struct kvmini_error *err)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->kvm.fd = -1;
	vm->mem.memfd = -1;
	vm->wake_fd = -1;
	vm->stop_fd = -1;
	vm->irqchip = cfg->irqchip;
	vm->strict_io = cfg->strict_io;
	vm->verbose = cfg->verbose;
	vm->log_fd = cfg->log_fd;
	vm->name = cfg->name;
	vm->seccomp = cfg->seccomp;
	vm->vcpu_role = SECCOMP_ROLE_VCPU;
	bus_init(&vm->pio, "port");
	bus_init(&vm->mmio, "MMIO");
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->changed, NULL);

	if (create_wake_fd(vm, err) < 0 ||
	    x86_cpu_features_parse(cfg->cpu_features, &vm->cpuid.hidden, err) < 0 ||
	    kvm_open(&vm->kvm, err) < 0 ||
	    check_cpu_count(vm, cfg->cpus, err) < 0 ||
	    create_vm_fd(vm, err) < 0 ||
	    kvm_gsi_routes_init(&vm->routes, vm->fd, X86_IOAPIC_PINS, err) < 0 ||
	    x86_irqchip_create(vm->fd, vm->irqchip, &vm->routes, err) < 0 ||
	    agree_ioapic_id(vm, cfg->cpus, err) < 0 ||
	    init_memory(vm, cfg, mem_fd, err) < 0 ||
	    map_memory(vm, cfg->track_dirty_pages, err) < 0 ||
	    create_vcpus(vm, cfg->cpus, err) < 0) {
		vm_destroy(vm);
		return -1;
	}
	return 0;
}

/* Between runs every vCPU thread waits in wait_for_run(): release and
 * join them. */
static void end_vcpu_threads(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->vcpus_quit = true;
	pthread_cond_broadcast(&vm->changed);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

void vm_destroy(struct vm *vm)
{
	end_vcpu_threads(vm);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	x86_cpuid_free(&vm->cpuid);
	vm->ncpus = 0;
	kvm_gsi_routes_free(&vm->routes);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	guest_memory_free(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	vm->wake_fd = -1;
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	pthread_cond_destroy(&vm->changed);
	pthread_mutex_destroy(&vm->lock);
}

static void set_irq_level(void *ctx, unsigned line, bool level)
{
	struct vm *vm = ctx;
	const struct vm_irq_router *router;
	switch (vm->irqchip) {
	case KVMINI_IRQCHIP_KERNEL:
		x86_irqchip_set_line(vm->fd, line, level);
		break;
	case KVMINI_IRQCHIP_SPLIT:
		router = __atomic_load_n(&vm->irq_router, __ATOMIC_ACQUIRE);
		if (router && router->set_line)
			router->set_line(router->opaque, line, level);
		break;
	case KVMINI_IRQCHIP_NONE:
		break;
	}
}

void vm_set_irq_router(struct vm *vm, const struct vm_irq_router *router)
{
	__atomic_store_n(&vm->irq_router, router, __ATOMIC_RELEASE);
}

/* ---- exit hooks: how users of the layer attach to the run loop ---- */

int vm_add_exit_hooks(struct vm *vm, const struct vm_exit_hooks *hooks,
		      struct kvmini_error *err)
{
	if (vm->nexit_hooks == VM_EXIT_HOOKS_MAX)
		return kvmini_fail(err, KVMINI_E_HOST, "more than %d users of the run loop",
				   VM_EXIT_HOOKS_MAX);
	vm->exit_hooks[vm->nexit_hooks++] = hooks;
	return 0;
}

void vm_remove_exit_hooks(struct vm *vm, const struct vm_exit_hooks *hooks)
{
	unsigned kept = 0;
	for (unsigned i = 0; i < vm->nexit_hooks; i++)
		if (vm->exit_hooks[i] != hooks)
			vm->exit_hooks[kept++] = vm->exit_hooks[i];
	vm->nexit_hooks = kept;
}

void vm_exit_hooks_pre_run(struct vm *vm, struct vcpu *vcpu)
{
	for (unsigned i = 0; i < vm->nexit_hooks; i++)
		if (vm->exit_hooks[i]->pre_run)
			vm->exit_hooks[i]->pre_run(vm->exit_hooks[i]->opaque, vcpu);
}

bool vm_exit_hooks_claim(struct vm *vm, struct vcpu *vcpu)
{
	for (unsigned i = 0; i < vm->nexit_hooks; i++)
		if (vm->exit_hooks[i]->on_exit &&
		    vm->exit_hooks[i]->on_exit(vm->exit_hooks[i]->opaque, vcpu))
			return true;
	return false;
}

/* Outside the VM's lock: a hook may take its own locks, and its
 * vCPU-side callbacks call back into the VM. */
static void notify_stop(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nexit_hooks; i++)
		if (vm->exit_hooks[i]->on_stop)
			vm->exit_hooks[i]->on_stop(vm->exit_hooks[i]->opaque);
}

void vm_kick_vcpu(struct vm *vm, unsigned index)
{
	if (index >= vm->ncpus)
		return;
	struct vcpu *vcpu = &vm->vcpus[index];
	if (__atomic_load_n(&vcpu->thread_started, __ATOMIC_SEQ_CST) &&
	    pthread_equal(vcpu->thread, pthread_self()))
		return;
	/* Under the lock, as in vm_request_pause(); after a stop there is
	 * no KVM_RUN to interrupt. */
	pthread_mutex_lock(&vm->lock);
	if (!vm->stopping)
		vcpu_kick(vcpu);
	pthread_mutex_unlock(&vm->lock);
}

struct irq_line vm_irq_line(struct vm *vm, unsigned line)
{
	return (struct irq_line){ .set_level = set_irq_level, .ctx = vm, .line = line };
}

/* Nonblocking: a counter at its limit is a wake already. */
static void wake_runner(struct vm *vm)
{
	uint64_t one = 1;
	ssize_t ignored = write(vm->wake_fd, &one, sizeof(one));
	(void)ignored;
}

static void request_stop(struct vm *vm, bool reset, enum kvmini_status status,
			 int exit_status, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&vm->lock);
	bool first = !vm->stopping;
	if (first) {
		vm->result.status = status;
		vm->result.exit_status = exit_status;
		vm->result.reset = reset;
		vsnprintf(vm->result.message, sizeof(vm->result.message), fmt, ap);
		__atomic_store_n(&vm->stopping, true, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&vm->changed);
		wake_runner(vm);
		/* Under the lock, like a pause, so the flag is set before the
		 * kick; vCPU threads live until vm_destroy(), never gone here. */
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_kick(&vm->vcpus[i]);
	}
	pthread_mutex_unlock(&vm->lock);
	if (first)
		notify_stop(vm);
}

void vm_request_stop(struct vm *vm, enum kvmini_status status, int exit_status,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	request_stop(vm, false, status, exit_status, fmt, ap);
	va_end(ap);
}

void vm_request_reset(struct vm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	request_stop(vm, true, KVMINI_OK, 0, fmt, ap);
	va_end(ap);
}

void vm_request_fault_reset(struct vm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	request_stop(vm, true, KVMINI_E_GUEST, KVMINI_E_GUEST, fmt, ap);
	va_end(ap);
}

bool vm_stop_requested(struct vm *vm)
{
	return __atomic_load_n(&vm->stopping, __ATOMIC_SEQ_CST);
}

void vm_clear_stop(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->stopping, false, __ATOMIC_SEQ_CST);
	memset(&vm->result, 0, sizeof(vm->result));
	pthread_mutex_unlock(&vm->lock);
}

/* ---- pausing, for a debugger: built on the same kick as stopping ---- */

/* Kicks happen under the lock, after the flag they announce is set:
 * a vCPU that misses the flag before KVM_RUN gets the kick inside it.
 * The threads live until vm_destroy(), so a kick never finds one gone. */
void vm_request_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->paused, true, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < vm->ncpus && !vm->stopping; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
}

bool vm_wait_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (!vm->stopping && vm->vcpus_parked < vm->vcpus_running)
		pthread_cond_wait(&vm->changed, &vm->lock);
	bool paused = !vm->stopping;
	pthread_mutex_unlock(&vm->lock);
	return paused;
}

bool vm_pause_all(struct vm *vm)
{
	vm_request_pause(vm);
	return vm_wait_paused(vm);
}

void vm_resume_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->paused, false, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->changed);
	pthread_mutex_unlock(&vm->lock);
}

/* ---- ACPI S3: a pause the guest asked for, ended by vm_wake() ---- */

void vm_request_suspend(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->suspended, true, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < vm->ncpus && !vm->stopping; i++)
		vcpu_kick(&vm->vcpus[i]);   /* under the lock: see vm_request_pause() */
	pthread_mutex_unlock(&vm->lock);
}

void vm_wake(struct vm *vm, uint32_t vector)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->suspended) {
		vm->wake_vector = vector;
		__atomic_store_n(&vm->wake_seq, vm->wake_seq + 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&vm->suspended, false, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&vm->changed);
	}
	pthread_mutex_unlock(&vm->lock);
}

bool vm_wake_pending(const struct vm *vm)
{
	return vm->ncpus && vm->vcpus[0].wake_seq != __atomic_load_n(&vm->wake_seq,
								      __ATOMIC_ACQUIRE);
}

void vm_hold_vcpu(struct vm *vm, unsigned index, bool held)
{
	if (index >= vm->ncpus)
		return;
	struct vcpu *vcpu = &vm->vcpus[index];
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vcpu->held, held, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->changed);
	if (held && !vm->stopping)
		vcpu_kick(vcpu);   /* under the lock: see vm_request_pause() */
	pthread_mutex_unlock(&vm->lock);
}

static struct timespec deadline_after(double seconds)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	double whole = (double)(time_t)seconds;
	t.tv_sec += (time_t)seconds;
	t.tv_nsec += (long)((seconds - whole) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

void vm_ask_runner(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->runner_asked = true;
	pthread_mutex_unlock(&vm->lock);
	wake_runner(vm);
}

/* What ended one sleep of the thread in vm_run(). */
enum runner_wake { WAKE_LOOK, WAKE_TIMEOUT, WAKE_STOP_FD, WAKE_FAILED };

/* The time left until deadline; false when there is none. */
static bool time_left(const struct timespec *deadline, struct timespec *left)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left->tv_sec = deadline->tv_sec - now.tv_sec;
	left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (left->tv_nsec < 0) {
		left->tv_sec--;
		left->tv_nsec += 1000000000L;
	}
	return left->tv_sec >= 0;
}

/* Sleep until a wake, stop_fd or the deadline (NULL: none). Anything
 * on stop_fd (data, a hang-up, a closed fd) is a stop, so it cannot
 * keep this thread spinning. */
static enum runner_wake runner_sleep(struct vm *vm, const struct timespec *deadline)
{
	struct timespec left;
	if (deadline && !time_left(deadline, &left))
		return WAKE_TIMEOUT;
	struct pollfd fds[2] = { { .fd = vm->wake_fd, .events = POLLIN },
				 { .fd = vm->stop_fd, .events = POLLIN } };   /* -1: ignored */
	int ready = ppoll(fds, 2, deadline ? &left : NULL, NULL);
	if (ready < 0)
		return errno == EINTR ? WAKE_LOOK : WAKE_FAILED;
	if (ready == 0)
		return WAKE_TIMEOUT;
	uint64_t count;
	if (fds[0].revents && read(vm->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return WAKE_FAILED;
	if (fds[1].revents) {
		uint8_t what[128];   /* one signalfd_siginfo, or an eventfd's count */
		ssize_t ignored = read(vm->stop_fd, what, sizeof(what));
		(void)ignored;
		return WAKE_STOP_FD;
	}
	return WAKE_LOOK;
}

/* Until some thread requests a stop (or stop_fd does, or the timeout
 * passes), doing the tasks other threads hand this one. */
static void wait_for_stop(struct vm *vm, double timeout)
{
	struct timespec deadline = deadline_after(timeout);
	for (;;) {
		pthread_mutex_lock(&vm->lock);
		bool stopping = vm->stopping;
		bool task = !stopping && vm->runner_asked && vm->runner_task;
		if (task)
			vm->runner_asked = false;
		pthread_mutex_unlock(&vm->lock);
		if (stopping)
			return;
		if (task) {
			vm->runner_task(vm->runner_ctx);
			continue;
		}
		switch (runner_sleep(vm, timeout > 0 ? &deadline : NULL)) {
		case WAKE_LOOK:
			break;
		case WAKE_TIMEOUT:
			vm_request_stop(vm, KVMINI_E_TIMEOUT, KVMINI_E_TIMEOUT,
					"guest still running after the %g-second timeout", timeout);
			return;
		case WAKE_STOP_FD:
			vm_request_stop(vm, KVMINI_E_STOPPED, KVMINI_E_STOPPED, "stopped by the user");
			return;
		case WAKE_FAILED:
			vm_request_stop(vm, KVMINI_E_HOST, KVMINI_E_HOST,
					"cannot wait for the VM's stop: %s", strerror(errno));
			return;
		}
	}
}

/* Let `started` vCPU threads run the loop once more. */
static void start_run(struct vm *vm, unsigned started)
{
	pthread_mutex_lock(&vm->lock);
	vm->run_seq++;
	vm->vcpus_running = started;
	pthread_cond_broadcast(&vm->changed);
	pthread_mutex_unlock(&vm->lock);
}

/* After a stop: until no vCPU is in its loop (none can be in KVM_RUN). */
static void wait_for_vcpus_out(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (vm->vcpus_running > 0)
		pthread_cond_wait(&vm->changed, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

int vm_run(struct vm *vm, double timeout, struct kvmini_result *out)
{
	struct kvmini_error err;
	unsigned started = 0;
	for (; started < vm->ncpus; started++) {
		if (vcpu_start(&vm->vcpus[started], &err) < 0) {
			vm_request_stop(vm, err.code, err.code, "%s", err.msg);
			break;
		}
	}
	start_run(vm, started);
	wait_for_stop(vm, timeout);
	wait_for_vcpus_out(vm);
	*out = vm->result;
	return out->exit_status;
}
