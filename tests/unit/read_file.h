/* Unit tests that load a built program (build/guests/...) read it whole
 * with this; a missing file fails the test with the way to build it. */
#ifndef KVMINI_TEST_READ_FILE_H
#define KVMINI_TEST_READ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>

static inline uint8_t *test_read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s missing: run `make guests` first", path);
	fseek(f, 0, SEEK_END);
	*size = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = malloc(*size);
	cr_assert_not_null(data);
	cr_assert_eq(fread(data, 1, *size, f), *size);
	fclose(f);
	return data;
}

#endif
