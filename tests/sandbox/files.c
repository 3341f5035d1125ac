/* File operations driven by the command line, each reporting success or
 * the errno text, for the grant tests:
 *   files cat PATH | write PATH TEXT | append PATH TEXT | ls DIR |
 *         stat PATH | mkdir PATH | rm PATH | cwd | mmap PATH */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, const char *path)
{
	printf("%s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return fail("opendir", dir);
	char *names[256];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp);
	for (int i = 0; i < n; i++) {
		printf("%s\n", names[i]);
		free(names[i]);
	}
	return 0;
}

static int cat(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail("open", path);
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return n < 0 ? fail("read", path) : 0;
}

static int put(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
	if (fd < 0)
		return fail("open", path);
	if (write(fd, text, strlen(text)) < 0 || write(fd, "\n", 1) < 0)
		return fail("write", path);
	close(fd);
	printf("wrote %s\n", path);
	return 0;
}

static int map(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail("open", path);
	const char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return fail("mmap", path);
	fwrite(p, 1, (size_t)st.st_size, stdout);
	munmap((void *)p, (size_t)st.st_size);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *op = argv[1], *path = argc > 2 ? argv[2] : ".";
	struct stat st;
	char buf[4096];
	if (strcmp(op, "cat") == 0)
		return cat(path);
	if (strcmp(op, "mmap") == 0)
		return map(path);
	if (strcmp(op, "write") == 0 && argc > 3)
		return put(path, argv[3], O_TRUNC);
	if (strcmp(op, "append") == 0 && argc > 3)
		return put(path, argv[3], O_APPEND);
	if (strcmp(op, "ls") == 0)
		return list(path);
	if (strcmp(op, "stat") == 0) {
		if (stat(path, &st) < 0)
			return fail("stat", path);
		printf("%s: size %lld %s\n", path, (long long)st.st_size,
		       S_ISDIR(st.st_mode) ? "directory" : "file");
		return 0;
	}
	if (strcmp(op, "mkdir") == 0)
		return mkdir(path, 0755) < 0 ? fail("mkdir", path) : (printf("made %s\n", path), 0);
	if (strcmp(op, "rm") == 0)
		return unlink(path) < 0 ? fail("unlink", path) : (printf("removed %s\n", path), 0);
	if (strcmp(op, "cwd") == 0)
		return getcwd(buf, sizeof(buf)) ? (printf("%s\n", buf), 0) : fail("getcwd", "");
	return 2;
}
