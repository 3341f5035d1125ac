/* Prints the CPUID bits --cpu-features can hide, as the guest sees
 * them: leaf 1 ECX xsave, osxsave, avx and cx16, leaf 7 EBX avx2, and
 * whether leaf 0xD lists any XSAVE state component. */
#include "guest.h"

struct regs { uint32_t eax, ebx, ecx, edx; };

static struct regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct regs r;
	__asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static void show(const char *name, uint32_t reg, unsigned bit)
{
	serial_puts(name);
	serial_putc((reg >> bit) & 1 ? '1' : '0');
}

int main(void)
{
	struct regs l1 = cpuid(1, 0), l7 = cpuid(7, 0), ld = cpuid(0xd, 0);
	show("xsave=", l1.ecx, 26);
	show(" osxsave=", l1.ecx, 27);
	show(" avx=", l1.ecx, 28);
	show(" avx2=", l7.ebx, 5);
	show(" cx16=", l1.ecx, 13);
	show(" leaf_0xd=", ld.eax != 0, 0);
	serial_putc('\n');
	return 0;
}
