/* Prints its arguments and environment, and checks the auxiliary vector
 * the way a kernel would have filled it. */
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;
extern char _start[];

int main(int argc, char **argv)
{
	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		printf("env %s\n", *e);
	const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
	unsigned nonzero = 0;
	for (int i = 0; rnd && i < 16; i++)
		nonzero += rnd[i] != 0;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	unsigned long phnum = getauxval(AT_PHNUM);
	int phdr_ok = ph && phnum > 0 && getauxval(AT_PHENT) == sizeof(Elf64_Phdr);
	for (unsigned long i = 0; phdr_ok && i < phnum; i++)
		phdr_ok = ph[i].p_type != PT_INTERP;
	printf("pagesz=%lu\n", getauxval(AT_PAGESZ));
	printf("random=%s\n", rnd && nonzero > 4 ? "ok" : "bad");
	printf("phdr=%s\n", phdr_ok ? "ok" : "bad");
	printf("entry=%s\n", getauxval(AT_ENTRY) == (unsigned long)_start ? "ok" : "bad");
	printf("execfn=%s\n", (const char *)getauxval(AT_EXECFN));
	printf("stack_aligned=%s\n", ((unsigned long)&argc & 3) == 0 ? "ok" : "bad");
	return argc > 1 && strcmp(argv[argc - 1], "exit7") == 0 ? 7 : 0;
}
