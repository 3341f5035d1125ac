#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "irqfd.h"
#include "kvm_doorbell.h"

struct irqfd {
	struct vm *vm;
	struct event_loop *loop;
	struct event_handler *handler;   /* split: the loop's watch; kernel: NULL */
	int efd;
	struct irq_line line;
};

/* Split: every write is one edge, however many writes the counter
 * gathered since the last read (an edge-triggered input coalesces them
 * as well). */
static void pulse_line(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct irqfd *f = ctx;
	uint64_t count;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return;
	irq_line_set(&f->line, true);
	irq_line_set(&f->line, false);
}

static int attach_split(struct irqfd *f, int resample_fd, struct kvmini_error *err)
{
	if (resample_fd >= 0)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "a level-triggered irqfd (resample) needs --irqchip kernel");
	f->handler = event_loop_add(f->loop, f->efd, EPOLLIN, pulse_line, f, err);
	return f->handler ? 0 : -1;
}

struct irqfd *irqfd_attach(struct vm *vm, struct event_loop *loop, int efd, unsigned line,
			   int resample_fd, struct kvmini_error *err)
{
	if (vm->irqchip == KVMINI_IRQCHIP_NONE) {
		kvmini_fail(err, KVMINI_E_USAGE, "an interrupt doorbell needs an irqchip");
		return NULL;
	}
	struct irqfd *f = calloc(1, sizeof(*f));
	if (!f) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for an irqfd");
		return NULL;
	}
	*f = (struct irqfd){ .vm = vm, .loop = loop, .efd = efd, .line = vm_irq_line(vm, line) };
	int rc = vm->irqchip == KVMINI_IRQCHIP_SPLIT
		 ? attach_split(f, resample_fd, err)
		 : kvm_irqfd_assign(vm->fd, efd, line, resample_fd, err);
	if (rc < 0) {
		free(f);
		return NULL;
	}
	return f;
}

void irqfd_detach(struct irqfd *f)
{
	if (!f)
		return;
	struct kvmini_error err;
	if (f->handler)
		event_loop_remove(f->loop, f->handler);
	else
		kvm_irqfd_deassign(f->vm->fd, f->efd, f->line.line, &err);   /* the VM fd is live */
	free(f);
}
