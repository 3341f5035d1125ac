/* Thread and VM names: their form, the 15-character limit, and what
 * /proc shows for a named thread. Needs no KVM. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "thread_name.h"

Test(thread_name, vcpus)
{
	char name[THREAD_NAME_SIZE];
	thread_name_vcpu(name, 0);
	cr_assert_str_eq(name, "vcpu0");
	thread_name_vcpu(name, 253);
	cr_assert_str_eq(name, "vcpu253");
	thread_name_vcpu(name, 4294967295u);
	cr_assert_str_eq(name, "vcpu4294967295", "the largest index fits 15 characters");
}

Test(thread_name, vm_names_from_image_paths)
{
	char name[THREAD_NAME_SIZE];
	thread_name_from_path(name, "build/guests/boot_count.elf");
	cr_assert_str_eq(name, "boot_count");
	thread_name_from_path(name, "/boot/vmlinuz-6.1.0-18-amd64");
	cr_assert_str_eq(name, "vmlinuz-6.1.0-1", "cut to 15 characters");
	thread_name_from_path(name, "bzImage");
	cr_assert_str_eq(name, "bzImage");
	thread_name_from_path(name, "dir.d/.hidden");
	cr_assert_str_eq(name, ".hidden", "a leading dot is not an extension");
	thread_name_from_path(name, "a b\tc.bin");
	cr_assert_str_eq(name, "a_b_c");
	thread_name_from_path(name, "dir/");
	cr_assert_str_eq(name, "kvmini");
	thread_name_from_path(name, NULL);
	cr_assert_str_eq(name, "kvmini");
}

struct named {
	const char *set;
	char comm[64];
	pthread_barrier_t read;
};

/* Name this thread, and read back what the kernel shows in /proc. */
static void *name_and_read(void *arg)
{
	struct named *n = arg;
	cr_assert_eq(thread_name_set(n->set), 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", (long)syscall(SYS_gettid));
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_not_null(fgets(n->comm, sizeof(n->comm), f));
	fclose(f);
	n->comm[strcspn(n->comm, "\n")] = '\0';
	return NULL;
}

static void expect_comm(const char *set, const char *shown)
{
	struct named n = { .set = set };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, name_and_read, &n), 0);
	pthread_join(t, NULL);
	cr_assert_str_eq(n.comm, shown);
}

Test(thread_name, proc_shows_the_name)
{
	expect_comm("vcpu3", "vcpu3");
	expect_comm("a-very-long-vm-name-indeed", "a-very-long-vm-");
}
