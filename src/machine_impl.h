/* The machine's own state, shared by its files (machine.c: create, load,
 * run, restart; machine_snapshot.c: snapshot and restore) and no one
 * else: every other layer goes through include/kvmini.h or machine.h. */
#ifndef KVMINI_MACHINE_IMPL_H
#define KVMINI_MACHINE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include "kvmini.h"
#include "board/board.h"
#include "event_loop.h"
#include "vm.h"
#include "virtio/devices.h"
#include "display/framebuffer.h"

struct machine_snapshot_virtio;

struct kvmini_vm {
	struct vm vm;
	struct board board;         /* the devices; the RTC outlives restarts (run_boots()) */
	/* The virtio devices: the machine's, like the RTC (their disks,
	 * taps and sockets stay open across restarts); each boot's board
	 * puts them on a transport and a new boot resets them. */
	struct virtio_device_set virtio;
	/* Outlives restarts, unlike `vm`: see src/event_loop.h. Started
	 * by kvmini_vm_run() once something needs it, stopped and joined
	 * before it returns. A want from a vCPU is handed to the thread in
	 * vm_run() while a boot runs (`boot_running`, under want_lock: the
	 * VM is not rebuilt under a want); between boots the next boot's
	 * start finds it. */
	struct event_loop *loop;
	pthread_mutex_t want_lock;
	bool boot_running;
	double timeout;
	bool loaded;
	bool ran;
	uint64_t acpi_rsdp;         /* the RSDP, for a loader that passes it on; 0: no tables */
	/* What a restart needs again, and the lock that keeps the front
	 * end's threads (kvmini_vm_stop, kvmini_vm_serial_input) off a VM
	 * that is being rebuilt. */
	struct kvmini_config cfg;
	struct kvmini_image image;
	pthread_mutex_t lock;
	bool vm_live;               /* vm is created; false after a failed rebuild */
	bool user_stopped;          /* kvmini_vm_stop() was called; guarded by lock */
	int stop_fd;                /* kvmini_vm_stop_on_readable(); -1: none */
	enum kvmini_status user_stop_why;
	/* The display's memory (cfg.display_width != 0): the machine's, so
	 * it outlives restarts; each boot's VM maps it as region fb_region
	 * with KVM's dirty log on (src/display/framebuffer.h). */
	struct framebuffer fb;
	int fb_region;              /* -1: not mapped in this boot */
	/* A restored machine's virtio configuration: cfg.disks points
	 * into it. */
	struct machine_snapshot_virtio *restored_virtio;
};

/* kvmini_vm_create(), with RAM from a snapshot's memory file when
 * mem_fd >= 0. */
struct kvmini_vm *machine_create(const struct kvmini_config *cfg, int mem_fd,
				 struct kvmini_error *err);

#endif
