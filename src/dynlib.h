/* Libraries opened when a feature needs them, not linked: a library that
 * most runs never use (libvncserver for --vnc, libslirp for --net user,
 * libpng for a display's screenshots) would otherwise load, with
 * everything it links, at every start (docs/performance.md, figure (h)). A library opened here stays mapped
 * (RTLD_NODELETE), so opening it again, even under a seccomp filter that
 * allows no openat, finds the copy already loaded. */
#ifndef KVMINI_DYNLIB_H
#define KVMINI_DYNLIB_H

#include "error.h"

/* The library by soname, or NULL with an error naming what needs it
 * (`feature`, e.g. "--vnc") and the Debian package that has it. */
void *dynlib_open(const char *soname, const char *package, const char *feature,
		  struct kvmini_error *err);

/* *fn = the library's `name`; -1 with an error when it lacks it. */
int dynlib_sym(void *handle, const char *soname, const char *name, void **fn,
	       struct kvmini_error *err);

void dynlib_close(void *handle);

/* api->fn = the library's function of that name, keeping its C type. */
#define DYNLIB_SYM(handle, soname, api, fn, err) \
	dynlib_sym((handle), (soname), #fn, (void **)&(api)->fn, (err))

#endif
