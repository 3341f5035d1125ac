/* Runs cmpxchg16b in kernel mode. Hardware virtualization executes it
 * natively; KVM on PVM hosts emulates kernel code and cannot emulate
 * this instruction, so kvmini completes it in user space
 * (src/completion.c) and the guest goes on. Long mode, ELF64. */
#include "guest.h"

static volatile uint64_t slot[2] __attribute__((aligned(16))) = { 1, 2 };

int main(void)
{
	uint64_t lo = 1, hi = 2;
	__asm__ volatile("lock cmpxchg16b %0"
			 : "+m"(*slot), "+a"(lo), "+d"(hi)
			 : "b"(3ULL), "c"(4ULL)
			 : "memory", "cc");
	serial_puts(slot[0] == 3 && slot[1] == 4 ? "cmpxchg16b ran\n" : "cmpxchg16b wrong\n");
	return 0;
}
