#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/file.h"

/* read() until the buffer is full; false on an error or early end. */
static bool read_fully(int fd, uint8_t *buf, uint64_t size)
{
	uint64_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (uint64_t)n;
	}
	return true;
}

int cli_read_file(const char *what, const char *path, uint64_t max, const char *limit,
		  uint8_t **data, uint64_t *size, struct kvmini_error *err)
{
	*data = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; the
	 * regular-file check below refuses it (and devices) at once. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open %s '%s'", what, path);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kvmini_fail(err, KVMINI_E_USAGE, "%s '%s' is not a regular file", what, path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s '%s' (%lld bytes) is larger than %s (%llu bytes)",
				   what, path, (long long)st.st_size, limit, (unsigned long long)max);
	}
	*size = (uint64_t)st.st_size;
	*data = malloc(*size ? *size : 1);
	bool ok = *data && read_fully(fd, *data, *size);
	close(fd);
	if (!ok) {
		free(*data);
		*data = NULL;
		return kvmini_fail(err, KVMINI_E_USAGE, "cannot read %s '%s'", what, path);
	}
	return 0;
}
