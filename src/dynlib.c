#include <dlfcn.h>
#include "dynlib.h"

void *dynlib_open(const char *soname, const char *package, const char *feature,
		  struct kvmini_error *err)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h)
		kvmini_fail(err, KVMINI_E_HOST, "%s needs %s, which cannot be loaded (%s): install"
			    " Debian's package %s", feature, soname, dlerror(), package);
	return h;
}

int dynlib_sym(void *handle, const char *soname, const char *name, void **fn,
	       struct kvmini_error *err)
{
	*fn = dlsym(handle, name);
	if (!*fn)
		return kvmini_fail(err, KVMINI_E_HOST, "%s has no %s: a version too old for kvmini",
				   soname, name);
	return 0;
}

void dynlib_close(void *handle)
{
	if (handle)
		dlclose(handle);
}
