/* The public sandbox API (include/kvmini_sandbox.h): build the VM for a
 * program, run it once, or start it and call into it repeatedly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kvm.h"
#include "sandbox/sandbox.h"

void kvmini_sandbox_config_defaults(struct kvmini_sandbox_config *cfg)
{
	*cfg = (struct kvmini_sandbox_config){
		.mem_size = 256ULL << 20,
		.max_files = 64,
		.log_fd = STDERR_FILENO,
		.stdio_fds = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO },
	};
}

static int create_vm(sandbox_t *sb, const struct kvmini_sandbox_config *cfg,
		     struct kvmini_error *err)
{
	/* The VM layer's config: one vCPU, no interrupt controller, none of
	 * the machine's devices or defaults. */
	const struct kvmini_config vcfg = {
		.mem_size = cfg->mem_size, .cpus = 1, .irqchip = KVMINI_IRQCHIP_NONE,
		.log_fd = cfg->log_fd, .seccomp = cfg->seccomp,
	};
	if (vm_create(&sb->vm, &vcfg, err) < 0)
		return -1;
	sb->vm.vcpu_role = SECCOMP_ROLE_EXEC;   /* it serves the program's calls */
	sb->vm_ready = true;
	sb->vcpu = &sb->vm.vcpus[0];
	sb->run = sb->vcpu->run;
	sb->sync_regs = (kvm_cap_value(sb->vm.fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS) != 0;
	if (x86_cpuid_init(&sb->cpuid, sb->vm.kvm.fd, err) < 0)
		return -1;
	sb->cpuid_ready = true;
	return 0;
}

static void set_comm(sandbox_t *sb, const char *path)
{
	const char *slash = strrchr(path, '/');
	snprintf(sb->comm, sizeof(sb->comm), "%s", slash ? slash + 1 : path);
}

static int build(sandbox_t *sb, const struct kvmini_sandbox_config *cfg,
		 const uint8_t *elf, size_t size, const char *path, struct kvmini_error *err)
{
	uint64_t base, entry, sp;
	static const char *const no_env[] = { NULL };
	const char *const default_argv[] = { path, NULL };
	if (cfg->mem_size > GUEST_MMIO_HOLE_START)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "sandbox memory is limited to 3 GiB (the RAM below the device hole)");
	if (sb_program_base(elf, size, path, &base, err) < 0 ||
	    create_vm(sb, cfg, err) < 0 ||
	    sb_cpu_write_tables(sb, err) < 0 ||   /* before the window: it clears the PML4 */
	    sb_mm_init(&sb->mm, &sb->vm.mem, base, err) < 0 ||
	    bus_register(&sb->vm.pio, SB_PORT_EXC, SB_PORT_COUNT, &sb_door_ops, sb,
			 "sandbox door", err) < 0 ||
	    sb_run_attach(sb, err) < 0 ||
	    sb_files_init(sb, cfg, err) < 0)
		return -1;
	if (sb_load_program(sb, elf, size, path, cfg->argv ? cfg->argv : default_argv,
			    cfg->envp ? cfg->envp : no_env, &entry, &sp, err) < 0 ||
	    sb_cpu_setup(sb, entry, sp, err) < 0)
		return -1;
	set_comm(sb, path);
	return 0;
}

struct kvmini_sandbox *kvmini_sandbox_create(const struct kvmini_sandbox_config *cfg,
					     const uint8_t *elf, size_t size,
					     const char *path, struct kvmini_error *err)
{
	sandbox_t *sb = calloc(1, sizeof(*sb));
	if (!sb) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory");
		return NULL;
	}
	sb->log_fd = cfg->log_fd;
	sb->verbose = cfg->verbose || cfg->trace;
	sb->trace = cfg->trace;
	sb->timeout = cfg->timeout;
	if (build(sb, cfg, elf, size, path ? path : "program", err) < 0) {
		kvmini_sandbox_destroy(sb);
		return NULL;
	}
	return sb;
}

static int finish_result(sandbox_t *sb, struct kvmini_result *out)
{
	*out = sb->result;
	return out->exit_status;
}

static int refuse(struct kvmini_result *out, const char *why)
{
	*out = (struct kvmini_result){ .status = KVMINI_E_USAGE, .exit_status = KVMINI_E_USAGE };
	snprintf(out->message, sizeof(out->message), "%s", why);
	return out->exit_status;
}

int kvmini_sandbox_run(struct kvmini_sandbox *sb, struct kvmini_result *out)
{
	if (sb->finished || sb->serving)
		return refuse(out, "the sandbox has already run");
	sb_run(sb);
	return finish_result(sb, out);
}

int kvmini_sandbox_start(struct kvmini_sandbox *sb, struct kvmini_result *out)
{
	if (sb->finished || sb->serving) {
		refuse(out, "the sandbox has already started");
		return -1;
	}
	sb->serving = true;
	sb_run(sb);
	if (sb->finished) {
		*out = sb->result;
		return -1;
	}
	struct kvmini_error err;
	if (sb_snapshot_take(sb, &err) < 0) {
		sb_finish(sb, err.code, err.code, "%s", err.msg);
		*out = sb->result;
		return -1;
	}
	*out = (struct kvmini_result){ .status = KVMINI_OK };
	return 0;
}

static int call_failed(sandbox_t *sb, struct kvmini_result *out, enum kvmini_status st,
		       const char *msg)
{
	(void)sb;
	*out = (struct kvmini_result){ .status = st, .exit_status = st };
	snprintf(out->message, sizeof(out->message), "%s", msg);
	return -1;
}

int kvmini_sandbox_call(struct kvmini_sandbox *sb, const void *input, size_t input_len,
			void *reply, size_t reply_cap, size_t *reply_len,
			struct kvmini_result *out)
{
	*reply_len = 0;
	if (sb->finished) {
		*out = sb->result;
		return -1;
	}
	if (!sb->snap)
		return call_failed(sb, out, KVMINI_E_USAGE, "the sandbox has not reached its serve call");
	if (input_len > sb->serve_in_cap)
		return call_failed(sb, out, KVMINI_E_USAGE, "the input is larger than the program's buffer");
	uint64_t before = sb->stats.exits;
	struct kvmini_error err;
	if (sb_snapshot_restore(sb, &err) < 0) {
		sb_finish(sb, err.code, err.code, "%s", err.msg);
		*out = sb->result;
		return -1;
	}
	if (sb_copy_out(sb, sb->serve_in, input, input_len) < 0)
		return call_failed(sb, out, KVMINI_E_GUEST, "the program's input buffer is not writable");
	sb_set_return(sb, input_len);
	sb_run(sb);
	sb->stats.last_call_exits = sb->stats.exits - before;
	if (sb->finished) {
		*out = sb->result;
		return -1;
	}
	uint64_t n = sb->serve_out_len;
	const void *src = sb_uptr(sb, sb->serve_out, n, SB_ACCESS_READ);
	if (!src)
		return call_failed(sb, out, KVMINI_E_GUEST, "the program's reply buffer is not readable");
	memcpy(reply, src, n < reply_cap ? n : reply_cap);
	*reply_len = n;
	sb->stats.calls++;
	*out = (struct kvmini_result){ .status = KVMINI_OK };
	return 0;
}

void kvmini_sandbox_stats(const struct kvmini_sandbox *sb, struct kvmini_sandbox_stats *out)
{
	*out = sb->stats;
}

void kvmini_sandbox_destroy(struct kvmini_sandbox *sb)
{
	if (!sb)
		return;
	sb_snapshot_free(sb);
	sb_files_free(sb);
	sb_mm_free(&sb->mm);
	if (sb->cpuid_ready)
		x86_cpuid_free(&sb->cpuid);
	if (sb->vm_ready)
		vm_destroy(&sb->vm);
	free(sb);
}
