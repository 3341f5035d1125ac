/* The guest side of kvmini's serve call (include/kvmini_sandbox.h):
 * wait for the next input, handing back the previous reply. Returns the
 * input's length, or -1 with errno ENOSYS outside `kvmini exec --serve`. */
#ifndef SANDBOX_SERVE_H
#define SANDBOX_SERVE_H

#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KVMINI_SANDBOX_SYS_SERVE 0x4b560001L

static inline long kvmini_serve(void *in, size_t in_cap, const void *out, size_t out_len)
{
	return syscall(KVMINI_SANDBOX_SYS_SERVE, in, in_cap, out, out_len);
}

#endif
