/* Where application processors begin: real mode at 0x9000 (SIPI vector
 * 0x09), then protected and long mode on the VMM's GDT (0x1000) and
 * page tables (0x2000). Each AP adds its APIC ID to a bit mask and the
 * count, then halts (or, when smp_ap_exits is set, ends the VM through
 * debug-exit with value 7; or, when the guest defines smp_ap_entry and
 * smp_ap_stacks, calls smp_ap_entry(apic_id) on its own 16 KiB of
 * smp_ap_stacks first). The BSP copies these bytes to 0x9000 first. */
#define AT(label) ((label) - smp_trampoline + 0x9000)

	.section .rodata
	.globl smp_trampoline, smp_trampoline_end
	.code16
smp_trampoline:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl AT(gdt_pointer)
	mov %cr0, %eax
	or $1, %eax                      /* PE */
	mov %eax, %cr0
	ljmpl $0x08, $AT(protected)

	.code32
protected:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $0x20, %eax                   /* PAE */
	mov %eax, %cr4
	mov $0x2000, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx            /* EFER */
	rdmsr
	or $0x100, %eax                  /* LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax             /* PG */
	mov %eax, %cr0
	ljmp $0x18, $AT(long64)

	.code64
long64:
	movabs 0xfee00020, %eax          /* local APIC ID register (a 64-bit address: disp32 would sign-extend) */
	shr $24, %eax
	lock bts %rax, smp_seen_mask
	lock incl smp_checked_in
	cmpb $1, smp_ap_exits            /* the BSP asks an AP to end the VM */
	jne 1f
	mov $7, %eax
	out %eax, $0xf4                  /* debug-exit: kvmini exits with 15 */
1:	mov $smp_ap_entry, %rbx          /* a guest's C entry for its APs (weak: 0 if none) */
	test %rbx, %rbx
	jz 2f
	mov %eax, %edi                   /* the APIC ID, its argument */
	inc %eax
	shl $14, %rax                    /* a 16 KiB stack per APIC ID */
	add $smp_ap_stacks, %rax
	mov %rax, %rsp
	call *%rbx
2:	cli
	hlt
	jmp 2b

	.weak smp_ap_entry, smp_ap_stacks

	.balign 8
gdt_pointer:
	.word 0x1f
	.long 0x1000
smp_trampoline_end:
