/* libFuzzer target: the ELF loader (src/loaders/elf.c) on a hostile
 * image file, in each CPU mode an image can ask for, with and without an
 * entry override, and the ELF reader's note finder. Nothing may be read outside the
 * file or written outside guest RAM. */
#include <stddef.h>
#include <stdint.h>
#include "loaders/loader.h"
#include "fuzz_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct guest_memory *mem = fuzz_guest_memory();
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_ELF, .path = "fuzz.elf", .data = data, .size = size,
	};
	struct load_result out;
	struct kvmini_error err;
	if (elf_validate(mem, &img, &out, &err) == 0) {
		const uint8_t *desc;
		uint64_t descsz;
		struct elf_file f;
		if (elf_image_read(&img, &f, &err) == 0)
			elf_find_note(&f, "Xen", 18, &desc, &descsz, &err);
		load_elf(mem, &img, &out, &err);
	}
	img.entry_set = true;
	img.entry = size;
	load_elf(mem, &img, &out, &err);
	return 0;
}
