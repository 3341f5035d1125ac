/* Unit tests of thread_start(): its threads get THREAD_STACK_BYTES of
 * stack, in a mapping too small to hold a 2 MiB huge page (thread.h
 * says why that matters). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include "thread.h"

struct stack_seen {
	size_t attr_size;
	uintptr_t map_start, map_end;
};

/* The mapping of /proc/self/maps that holds addr. */
static void mapping_of(uintptr_t addr, uintptr_t *start, uintptr_t *end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert_not_null(f);
	char line[512];
	*start = *end = 0;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &s, &e) == 2 && s <= addr && addr < e) {
			*start = s;
			*end = e;
			break;
		}
	}
	fclose(f);
}

static void *look_at_own_stack(void *arg)
{
	struct stack_seen *seen = arg;
	pthread_attr_t attr;
	int local = 0;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstacksize(&attr, &seen->attr_size);
		pthread_attr_destroy(&attr);
	}
	mapping_of((uintptr_t)&local, &seen->map_start, &seen->map_end);
	return NULL;
}

Test(thread_start, gives_a_stack_too_small_for_a_huge_page)
{
	struct stack_seen seen = { 0 };
	pthread_t t;
	cr_assert_eq(thread_start(&t, look_at_own_stack, &seen), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(seen.attr_size, THREAD_STACK_BYTES);
	cr_assert_neq(seen.map_end, 0, "the thread's stack is in no mapping");
	cr_assert_lt(seen.map_end - seen.map_start, (uintptr_t)2 << 20,
		     "stack mapping of %" PRIuPTR " bytes can hold a huge page",
		     seen.map_end - seen.map_start);
}

static void *give_back(void *arg)
{
	return arg;
}

Test(thread_start, runs_the_function_with_its_argument)
{
	int token;
	void *got = NULL;
	pthread_t t;
	cr_assert_eq(thread_start(&t, give_back, &token), 0);
	cr_assert_eq(pthread_join(t, &got), 0);
	cr_assert_eq(got, &token);
}
