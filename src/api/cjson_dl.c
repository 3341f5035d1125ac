/* The cJSON functions src/api calls, each going to libcjson.so.1 opened
 * at run time (cjson_dl.h says why). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "api/cjson_dl.h"
#include "dynlib.h"

#define CJSON_LIBRARY "libcjson.so.1"
#define CJSON_PACKAGE "libcjson1"

/* Return type, name, parameters and arguments of each function called. */
#define CJSON_RETURNING(X) \
	X(cJSON *, cJSON_Parse, (const char *value), (value)) \
	X(cJSON *, cJSON_ParseWithLength, (const char *value, size_t buffer_length), \
	  (value, buffer_length)) \
	X(cJSON *, cJSON_ParseWithLengthOpts, (const char *value, size_t buffer_length, \
	  const char **return_parse_end, cJSON_bool require_null_terminated), \
	  (value, buffer_length, return_parse_end, require_null_terminated)) \
	X(char *, cJSON_PrintUnformatted, (const cJSON *item), (item)) \
	X(cJSON *, cJSON_CreateObject, (void), ()) \
	X(cJSON *, cJSON_GetObjectItemCaseSensitive, \
	  (const cJSON * const object, const char * const string), (object, string)) \
	X(cJSON *, cJSON_AddBoolToObject, (cJSON * const object, const char * const name, \
	  const cJSON_bool boolean), (object, name, boolean)) \
	X(cJSON *, cJSON_AddFalseToObject, (cJSON * const object, const char * const name), \
	  (object, name)) \
	X(cJSON *, cJSON_AddNumberToObject, (cJSON * const object, const char * const name, \
	  const double number), (object, name, number)) \
	X(cJSON *, cJSON_AddStringToObject, (cJSON * const object, const char * const name, \
	  const char * const string), (object, name, string)) \
	X(cJSON_bool, cJSON_IsArray, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsBool, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsFalse, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsNull, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsNumber, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsObject, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsString, (const cJSON * const item), (item)) \
	X(cJSON_bool, cJSON_IsTrue, (const cJSON * const item), (item))

struct cjson_functions {
#define FIELD(ret, name, params, args) ret (*name) params;
	CJSON_RETURNING(FIELD)
#undef FIELD
	void (*cJSON_Delete)(cJSON *item);
};

/* The process's one view of the library, like the dynamic linker's
 * table for a linked one: written once under pthread_once, before any
 * API thread starts, and only read after. */
static struct cjson_functions cjson;
static struct kvmini_error cjson_err;
static int cjson_status = -1;
static pthread_once_t cjson_once = PTHREAD_ONCE_INIT;

static void cjson_load(void)
{
	void *h = dynlib_open(CJSON_LIBRARY, CJSON_PACKAGE, "JSON (the control API, --config-file)",
			      &cjson_err);
	if (!h)
		return;
#define RESOLVE(ret, name, params, args) \
	if (DYNLIB_SYM(h, CJSON_LIBRARY, &cjson, name, &cjson_err) < 0) \
		return;
	CJSON_RETURNING(RESOLVE)
	RESOLVE(void, cJSON_Delete, , )
#undef RESOLVE
	cjson_status = 0;
}

int cjson_open(struct kvmini_error *err)
{
	pthread_once(&cjson_once, cjson_load);
	if (cjson_status < 0 && err)
		*err = cjson_err;
	return cjson_status;
}

static const struct cjson_functions *functions(void)
{
	if (cjson_open(NULL) < 0) {
		fprintf(stderr, "kvmini: %s\n", cjson_err.msg);
		abort();
	}
	return &cjson;
}

#define DEFINE(ret, name, params, args) \
	CJSON_PUBLIC(ret) name params { return functions()->name args; }
CJSON_RETURNING(DEFINE)
#undef DEFINE

CJSON_PUBLIC(void) cJSON_Delete(cJSON *item)
{
	functions()->cJSON_Delete(item);
}
