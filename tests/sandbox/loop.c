/* Spins forever in user mode, never making a system call. */
int main(void)
{
	for (volatile unsigned long i = 0;; i++)
		;
}
