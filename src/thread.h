/* Starting kvmini's threads. Every thread the library or the front end
 * starts (vCPUs, event loops, the I/O pool, VNC, gdb, the CLI's signal
 * thread) goes through thread_start(), which gives it a stack of
 * THREAD_STACK_BYTES instead of glibc's default (8 MiB, RLIMIT_STACK).
 *
 * Why: where transparent huge pages are "always" (a common host
 * setting), an 8 MiB stack mapping holds an aligned 2 MiB range, so a
 * new thread's first touch of its stack (glibc puts the thread's own
 * descriptor at the top) makes the kernel clear a whole 2 MiB page. A
 * mapping under 2 MiB cannot hold one. In the nested KVM VM the two
 * threads of `kvmini run` cost about 7 ms that way, a tenth of its
 * start-up beyond a raw VMM's (docs/performance.md, figure (h)). No kvmini thread keeps large
 * buffers on its stack (the completion's xsave area is thread-local,
 * frames hold at most a PATH_MAX or two), and 1 MiB leaves room for
 * AddressSanitizer's larger frames and for the libraries run on these
 * threads (libslirp, libvncserver, Zydis). Depends on libc only. */
#ifndef KVMINI_THREAD_H
#define KVMINI_THREAD_H

#include <pthread.h>

#define THREAD_STACK_BYTES (1u << 20)

/* pthread_create() with that stack size: 0 or an errno. */
int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
