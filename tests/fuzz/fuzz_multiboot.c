/* libFuzzer target: the Multiboot loader (src/loaders/multiboot.c, the
 * ELF reader under it) on a hostile kernel file with a Multiboot header.
 * The last input byte picks what a user could give: an initrd and
 * modules (slices of the input's tail, with long strings), a command
 * line, --append. Inputs without a header are given one (flags from the
 * byte), so the fuzzer spends its time past the header search. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "loaders/multiboot.h"
#include "loaders/multiboot_abi.h"
#include "fuzz_target.h"

static char long_string[2048];

/* A copy of the input with a valid header at offset 0 unless it has one. */
static uint8_t *with_header(const uint8_t *data, size_t size, uint8_t opts, size_t *out_size)
{
	uint32_t offset, flags = (opts & 0x10) ? MULTIBOOT_AOUT_KLUDGE : 0;
	uint32_t words[3] = { MULTIBOOT_HEADER_MAGIC, flags, -(MULTIBOOT_HEADER_MAGIC + flags) };
	uint8_t *copy = malloc(size + sizeof(words));

	if (!copy)
		return NULL;
	if (multiboot_find_header(data, size, &offset)) {
		memcpy(copy, data, size);
		*out_size = size;
	} else {
		memcpy(copy, words, sizeof(words));
		memcpy(copy + sizeof(words), data, size);
		*out_size = size + sizeof(words);
	}
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t opts = data[size - 1];
	size_t n;
	uint8_t *kernel = with_header(data, size - 1, opts, &n);
	if (!kernel)
		return 0;
	if (!long_string[0])
		memset(long_string, 'm', sizeof(long_string) - 1);
	struct kvmini_module mods[3] = {
		{ .path = "fuzz-mod0", .cmdline = (opts & 4) ? long_string : NULL,
		  .data = kernel + n - n / 4, .size = n / 4 },
		{ .path = "fuzz-mod1", .data = kernel, .size = n / 2 },
		{ .path = "fuzz-mod2", .data = kernel, .size = 0 },
	};
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_LINUX, .path = "fuzz-kernel", .data = kernel, .size = n,
		.cmdline = (opts & 8) ? "console=ttyS0" : NULL,
		.cmdline_append = (opts & 0x20) ? long_string : NULL,
		.modules = mods, .nmodules = (opts & 2) ? 3 : 0,
	};
	if (opts & 1) {
		img.initrd_path = "fuzz-initrd";
		img.initrd = kernel + n / 2;
		img.initrd_size = n - n / 2;
	}
	struct load_result out;
	struct kvmini_error err;
	load_multiboot(fuzz_guest_memory(), &img, &out, &err);
	free(kernel);
	return 0;
}
