/* Compare two images pixel for pixel (any PNG colour type, read as 8-bit
 * RGB with libpng; alpha ignored). Exit 0 when they are the same size
 * and every pixel equal; 1 with the first difference on stderr. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *load(const char *path, png_image *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_file(pi, path))
		return NULL;
	pi->format = PNG_FORMAT_RGB;
	unsigned char *px = malloc(PNG_IMAGE_SIZE(*pi));
	if (px && png_image_finish_read(pi, NULL, px, 0, NULL))
		return px;
	free(px);
	return NULL;
}

int main(int argc, char **argv)
{
	png_image a, b;
	if (argc != 3) {
		fprintf(stderr, "usage: png_same A.png B.png\n");
		return 2;
	}
	unsigned char *pa = load(argv[1], &a), *pb = load(argv[2], &b);
	int rc = 1;
	if (!pa || !pb)
		fprintf(stderr, "png_same: cannot read %s\n", !pa ? argv[1] : argv[2]);
	else if (a.width != b.width || a.height != b.height)
		fprintf(stderr, "png_same: %ux%u against %ux%u\n", a.width, a.height, b.width,
			b.height);
	else
		rc = 0;
	for (size_t i = 0; rc == 0 && i < (size_t)a.width * a.height; i++)
		if (memcmp(pa + 3 * i, pb + 3 * i, 3) != 0) {
			fprintf(stderr, "png_same: pixel (%zu,%zu) differs: %02x%02x%02x against %02x%02x%02x\n",
				i % a.width, i / a.width, pa[3 * i], pa[3 * i + 1], pa[3 * i + 2],
				pb[3 * i], pb[3 * i + 1], pb[3 * i + 2]);
			rc = 1;
		}
	free(pa);
	free(pb);
	return rc;
}
