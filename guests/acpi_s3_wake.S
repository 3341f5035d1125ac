/* Where the S3 guest (guests/acpi_s3.c) wakes: the FACS's waking vector
 * 0x8000, entered in real mode with CS = 0x0800, IP = 0 as ACPI says.
 * It notes CS, then goes to protected and long mode on the VMM's GDT
 * (0x1000) and page tables (0x2000), which RAM kept over the suspension,
 * and calls s3_after_wake on a stack of its own. The guest copies these
 * bytes to 0x8000 before it suspends; data is reached through DS = CS,
 * code through its address after the copy. */
#define AT(label) ((label) - s3_wake + 0x8000)
#define OFF(label) ((label) - s3_wake)

	.section .rodata
	.globl s3_wake, s3_wake_end, s3_woke_cs
	.code16
s3_wake:
	cli
	mov %cs, %ax
	mov %ax, %ds
	mov %ax, OFF(s3_woke_cs)
	lgdtl OFF(gdt_pointer)
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
	mov $s3_stack_top, %esp
	mov $s3_after_wake, %eax
	call *%rax
1:	hlt
	jmp 1b

	.balign 8
gdt_pointer:
	.word 0x1f
	.long 0x1000
s3_woke_cs:
	.word 0xffff
s3_wake_end:

	.bss
	.balign 16
	.space 8192
s3_stack_top:
	.section .note.GNU-stack,"",@progbits
