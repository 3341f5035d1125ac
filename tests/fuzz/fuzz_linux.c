/* libFuzzer target: the Linux boot loaders (bzImage, and PVH for an
 * ELF vmlinux: src/loaders/bzimage.c, pvh.c, linux_boot.c, vmlinux.c)
 * on a hostile kernel file. The last input byte picks the options a
 * user could give: --decompress, an initrd (the input's tail), a long
 * command line. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "loaders/loader.h"
#include "fuzz_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t opts = data[size - 1];
	size--;
	static char long_cmdline[4096];
	if (!long_cmdline[0])
		memset(long_cmdline, 'x', sizeof(long_cmdline) - 1);
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_LINUX, .path = "fuzz-kernel", .data = data, .size = size,
		.decompress = opts & 1,
		.cmdline_append = (opts & 4) ? long_cmdline : NULL,
	};
	if (opts & 2) {   /* the last eighth of the file doubles as an initrd */
		img.initrd_path = "fuzz-initrd";
		img.initrd = data + size - size / 8;
		img.initrd_size = size / 8;
	}
	struct load_result out;
	struct kvmini_error err;
	load_linux(fuzz_guest_memory(), &img, (opts & 8) ? 0xe0000 : 0, &out, &err);
	return 0;
}
