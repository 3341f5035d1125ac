/* Names of kvmini's threads and of the VM, as top -H, ps -L and
 * /proc/PID/task/TID/comm show them: the kernel keeps 15 characters.
 * The process (its main thread) carries the VM's name, so top, pgrep
 * and kill find the VM; each vCPU's thread is vcpu0, vcpu1, ..., the
 * event loop's evloop. Depends on libc only, so any layer may use it. */
#ifndef KVMINI_THREAD_NAME_H
#define KVMINI_THREAD_NAME_H

#define THREAD_NAME_SIZE 16   /* 15 characters and the NUL */

/* "vcpu<index>" (vcpu0 ... vcpu4294967295 all fit). */
void thread_name_vcpu(char out[THREAD_NAME_SIZE], unsigned index);

/* A VM's default name from its image's path: the file name without its
 * directory and its extension (".elf": 1-4 letters or digits after the
 * last dot), cut to 15 characters, anything but
 * printable ASCII as '_'; "kvmini" when nothing is left. */
void thread_name_from_path(char out[THREAD_NAME_SIZE], const char *path);

/* Name the calling thread (cut to 15 characters); 0 or an errno. */
int thread_name_set(const char *name);

#endif
