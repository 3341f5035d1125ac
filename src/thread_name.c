/* Thread and VM names within the kernel's 15 characters (thread_name.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "thread_name.h"

void thread_name_vcpu(char out[THREAD_NAME_SIZE], unsigned index)
{
	snprintf(out, THREAD_NAME_SIZE, "vcpu%u", index);
}

/* ".elf", ".bin", ".img": 1 to 4 letters or digits after the last dot,
 * not the dots of a version ("vmlinuz-6.1.0-18-amd64" keeps them). */
static bool is_extension(const char *dot)
{
	size_t n = strlen(dot + 1);
	if (n < 1 || n > 4)
		return false;
	for (size_t i = 1; i <= n; i++)
		if (!isalnum((unsigned char)dot[i]))
			return false;
	return true;
}

void thread_name_from_path(char out[THREAD_NAME_SIZE], const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : (path ? path : "");
	const char *dot = strrchr(base, '.');
	size_t len = dot && dot != base && is_extension(dot) ? (size_t)(dot - base) : strlen(base);
	if (len > THREAD_NAME_SIZE - 1)
		len = THREAD_NAME_SIZE - 1;
	for (size_t i = 0; i < len; i++)
		out[i] = base[i] > ' ' && base[i] < 0x7f ? base[i] : '_';
	out[len] = '\0';
	if (len == 0)
		snprintf(out, THREAD_NAME_SIZE, "kvmini");
}

int thread_name_set(const char *name)
{
	char cut[THREAD_NAME_SIZE];
	snprintf(cut, sizeof(cut), "%s", name);
	return pthread_setname_np(pthread_self(), cut);
}
