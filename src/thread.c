/* Threads with a stack that cannot take a huge page (thread.h says why). */
#include "thread.h"

int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int e = pthread_attr_init(&attr);
	if (e)
		return e;
	e = pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
	if (!e)
		e = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return e;
}
