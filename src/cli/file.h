/* Reading a whole input file (image, kernel, initrd, program) for the
 * front ends, with one-line errors that say which input failed. */
#ifndef KVMINI_CLI_FILE_H
#define KVMINI_CLI_FILE_H

#include <stdint.h>
#include "error.h"

/* Read the regular file `path` of at most `max` bytes into a malloc'd
 * buffer. `what` names the input ("image", "program") and `limit` the
 * bound ("guest RAM", "--mem") in messages; errors carry KVMINI_E_USAGE. */
int cli_read_file(const char *what, const char *path, uint64_t max, const char *limit,
		  uint8_t **data, uint64_t *size, struct kvmini_error *err);

#endif
