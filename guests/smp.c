/* SMP: the BSP starts every application processor with INIT-SIPI-SIPI;
 * each AP checks in through a shared counter and a mask of APIC IDs
 * (guests/smp_trampoline.S); the BSP waits for all of them and reports.
 * The vCPU count comes from CPUID leaf 1. Built with -DAP_EXITS, the
 * first AP ends the VM while the BSP spins. Needs --irqchip kernel. */
#include "guest.h"
#include "intr.h"

#define TRAMPOLINE 0x9000UL

extern const char smp_trampoline[], smp_trampoline_end[];
volatile uint32_t smp_checked_in;
volatile uint64_t smp_seen_mask;
#ifdef AP_EXITS
volatile uint8_t smp_ap_exits = 1;   /* an AP ends the VM; the BSP spins */
#else
volatile uint8_t smp_ap_exits;
#endif

static unsigned cpu_count(void)
{
	uint32_t eax = 1, ebx, ecx = 0, edx;
	__asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	return (edx & (1u << 28)) ? (ebx >> 16) & 0xff : 1;
}

static void send_ipi_to_others(uint32_t command)
{
	lapic_write(LAPIC_ICR_HIGH, 0);
	lapic_write(LAPIC_ICR_LOW, command | (3u << 18));   /* all excluding self */
	while (lapic_read(LAPIC_ICR_LOW) & (1u << 12))        /* delivery pending */
		;
}

int main(void)
{
	unsigned cpus = cpu_count();
	volatile char *dst = (volatile char *)TRAMPOLINE;
	for (const char *src = smp_trampoline; src < smp_trampoline_end; src++)
		*dst++ = *src;
	lapic_write(LAPIC_SVR, 0x1ff);
	smp_seen_mask = 1ull << (lapic_read(LAPIC_ID) >> 24);
	if (cpus > 1) {
		send_ipi_to_others(0x4500);                       /* INIT, assert */
		send_ipi_to_others(0x4600 | (TRAMPOLINE >> 12));  /* SIPI */
		send_ipi_to_others(0x4600 | (TRAMPOLINE >> 12));
	}
	while (smp_checked_in < cpus - 1 || smp_ap_exits)
		__asm__ volatile("pause");
	serial_puts("smp: ");
	serial_put_dec(smp_checked_in + 1);
	serial_puts(" of ");
	serial_put_dec(cpus);
	serial_puts(" cpus checked in, apic id mask ");
	serial_put_hex(smp_seen_mask);
	serial_putc('\n');
	return 0;
}
