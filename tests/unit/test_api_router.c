/* The control API's router and handlers (src/api/api.c): exact statuses
 * and bodies, and that a refused request changes nothing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "error.h"

struct fixture {
	struct run_options opts;
	struct api_state api;
	int starts;
	bool start_fails;
};

static int fake_start(void *ctx, struct kvmini_error *err)
{
	struct fixture *f = ctx;
	f->starts++;
	if (f->start_fails)
		return kvmini_fail(err, KVMINI_E_USAGE, "cannot open kernel 'k'");
	return 0;
}

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	kvmini_config_defaults(&f->opts.cfg);
	api_state_init(&f->api, &f->opts, "anonymous-instance", fake_start, f);
}

/* One request; its status, and its body in *body ("" for none). */
static int call(struct fixture *f, const char *method, const char *path, const char *body,
		char *out, size_t out_size)
{
	struct http_request req = { .body = body, .body_len = body ? strlen(body) : 0 };
	snprintf(req.method, sizeof(req.method), "%s", method);
	snprintf(req.path, sizeof(req.path), "%s", path);
	struct api_response resp;
	api_handle(&f->api, &req, &resp);
	snprintf(out, out_size, "%s", resp.body ? resp.body : "");
	free(resp.body);
	return resp.status;
}

#define EXPECT(f, method, path, body, status, text)                                   \
	do {                                                                          \
		char out_[1024];                                                      \
		cr_assert_eq(call((f), method, path, body, out_, sizeof(out_)), status, \
			     "%s %s -> %s", method, path, out_);                      \
		cr_assert_str_eq(out_, text);                                         \
	} while (0)

Test(api_router, instance_info)
{
	struct fixture f;
	fixture_init(&f);
	EXPECT(&f, "GET", "/", NULL, 200, "{\"id\":\"anonymous-instance\",\"state\":\"Not started\","
	       "\"vmm_version\":\"" KVMINI_VERSION "\",\"app_name\":\"kvmini\"}");
	f.api.running = true;
	EXPECT(&f, "GET", "/", NULL, 200, "{\"id\":\"anonymous-instance\",\"state\":\"Running\","
	       "\"vmm_version\":\"" KVMINI_VERSION "\",\"app_name\":\"kvmini\"}");
}

Test(api_router, machine_config_put_get_patch)
{
	struct fixture f;
	fixture_init(&f);
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256, "
	       "\"smt\": false, \"track_dirty_pages\": false, \"huge_pages\": \"None\"}", 204, "");
	cr_assert_eq(f.opts.cfg.cpus, 2);
	cr_assert_eq(f.opts.cfg.mem_size, 256ULL << 20);
	EXPECT(&f, "PATCH", "/machine-config", "{\"mem_size_mib\": 128, \"track_dirty_pages\": true}",
	       204, "");
	EXPECT(&f, "GET", "/machine-config", NULL, 200, "{\"vcpu_count\":2,\"mem_size_mib\":128,"
	       "\"smt\":false,\"track_dirty_pages\":true,\"huge_pages\":\"None\"}");
	cr_assert(f.opts.cfg.track_dirty_pages);
}

Test(api_router, machine_config_refusals_change_nothing)
{
	struct fixture f;
	fixture_init(&f);
	uint64_t mem = f.opts.cfg.mem_size;
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2}", 400,
	       "{\"fault_message\":\"missing field `mem_size_mib` in the request body.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"mem_size_mib\": 2}", 400,
	       "{\"fault_message\":\"missing field `vcpu_count` in the request body.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 2}", 400,
	       "{\"fault_message\":\"`vcpu_count` must be an integer.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 1.5, \"mem_size_mib\": 2}", 400,
	       "{\"fault_message\":\"`vcpu_count` must be an integer.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 2}", 400,
	       "{\"fault_message\":\"`vcpu_count` must be from 1 to 32.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 2}", 400,
	       "{\"fault_message\":\"`vcpu_count` must be from 1 to 32.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 0}", 400,
	       "{\"fault_message\":\"`mem_size_mib` must be from 1 to 1048576.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 2, \"x\": 1}",
	       400, "{\"fault_message\":\"unknown field `x` in the request body.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"vcpu_count\": 3, "
	       "\"mem_size_mib\": 2}", 400,
	       "{\"fault_message\":\"duplicate field `vcpu_count` in the request body.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 2, "
	       "\"smt\": true}", 400, "{\"fault_message\":\"`smt` is not supported by kvmini yet: "
	       "only false is accepted.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 2, "
	       "\"track_dirty_pages\": 1}", 400,
	       "{\"fault_message\":\"`track_dirty_pages` has the wrong type.\"}");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 2, "
	       "\"huge_pages\": \"2M\"}", 400, "{\"fault_message\":\"`huge_pages` is not supported "
	       "by kvmini yet: only \\\"None\\\" is accepted.\"}");
	cr_assert_eq(f.opts.cfg.cpus, 1);
	cr_assert_eq(f.opts.cfg.mem_size, mem);
}

Test(api_router, malformed_bodies)
{
	struct fixture f;
	fixture_init(&f);
	const char *bad_json = "{\"fault_message\":\"The request body is not valid JSON.\"}";
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 2,", 400, bad_json);
	EXPECT(&f, "PUT", "/machine-config", "not json", 400, bad_json);
	EXPECT(&f, "PUT", "/machine-config", "{} {}", 400, bad_json);
	EXPECT(&f, "PUT", "/machine-config", "{} \r\n", 400,
	       "{\"fault_message\":\"missing field `vcpu_count` in the request body.\"}");
	EXPECT(&f, "PUT", "/machine-config", "[1, 2]", 400,
	       "{\"fault_message\":\"The request body must be a JSON object.\"}");
	EXPECT(&f, "PUT", "/machine-config", NULL, 400,
	       "{\"fault_message\":\"The request needs a JSON body.\"}");
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"a\\u0000b\"}", 400,
	       "{\"fault_message\":\"The request body holds a NUL character (\\\\u0000).\"}");
}

Test(api_router, boot_source)
{
	struct fixture f;
	fixture_init(&f);
	EXPECT(&f, "PUT", "/boot-source", "{\"initrd_path\": \"/i\"}", 400,
	       "{\"fault_message\":\"missing field `kernel_image_path` in the request body.\"}");
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": 7}", 400,
	       "{\"fault_message\":\"`kernel_image_path` must be a string.\"}");
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"\"}", 400,
	       "{\"fault_message\":\"A path in the boot source is empty.\"}");
	cr_assert_not(f.api.boot_source_set);
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\", \"initrd_path\": \"/i\", "
	       "\"boot_args\": \"console=ttyS0\"}", 204, "");
	cr_assert_str_eq(f.opts.kernel, "/k");
	cr_assert_str_eq(f.opts.image.initrd_path, "/i");
	cr_assert_str_eq(f.opts.image.cmdline, "console=ttyS0");
	/* A second PUT replaces the whole boot source. */
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k2\"}", 204, "");
	cr_assert_str_eq(f.opts.kernel, "/k2");
	cr_assert_null(f.opts.image.initrd_path);
	cr_assert_null(f.opts.image.cmdline);
	api_state_free(&f.api);
}

Test(api_router, instance_start)
{
	struct fixture f;
	fixture_init(&f);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "{\"fault_message\":\"Cannot start the microVM without a boot source: "
	       "PUT /boot-source first.\"}");
	cr_assert_eq(f.starts, 0);
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"k\"}", 204, "");
	f.start_fails = true;
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
	       "{\"fault_message\":\"Cannot start the microVM: cannot open kernel 'k'\"}");
	cr_assert_not(f.api.running);
	f.start_fails = false;
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 204, "");
	cr_assert(f.api.running);
	cr_assert_eq(f.starts, 2);
	const char *after = "{\"fault_message\":\"The requested operation is not supported "
			    "after starting the microVM.\"}";
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400, after);
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 8}", 400, after);
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\": \"k\"}", 400, after);
	cr_assert_eq(f.starts, 2);
	api_state_free(&f.api);
}

Test(api_router, other_actions)
{
	struct fixture f;
	fixture_init(&f);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400,
	       "{\"fault_message\":\"The microVM is not running: SendCtrlAltDel needs a "
	       "started guest.\"}");
	f.api.running = true;
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400,
	       "{\"fault_message\":\"The action SendCtrlAltDel is not supported by kvmini yet.\"}");
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": \"Reboot\"}", 400,
	       "{\"fault_message\":\"unknown `action_type` 'Reboot': expected InstanceStart, "
	       "SendCtrlAltDel or FlushMetrics.\"}");
	EXPECT(&f, "PUT", "/actions", "{\"action_type\": 1}", 400,
	       "{\"fault_message\":\"`action_type` must be a string.\"}");
	EXPECT(&f, "PUT", "/actions", "{}", 400,
	       "{\"fault_message\":\"missing field `action_type` in the request body.\"}");
}

Test(api_router, unknown_and_later_paths)
{
	struct fixture f;
	fixture_init(&f);
	EXPECT(&f, "GET", "/nope", NULL, 400,
	       "{\"fault_message\":\"Invalid request method and/or path: GET /nope.\"}");
	EXPECT(&f, "DELETE", "/machine-config", NULL, 400,
	       "{\"fault_message\":\"Invalid request method and/or path: DELETE /machine-config.\"}");
	EXPECT(&f, "PUT", "/mmds", "{}", 400,
	       "{\"fault_message\":\"PUT /mmds is not supported by kvmini yet.\"}");
	EXPECT(&f, "GET", "/vm/config", NULL, 400,
	       "{\"fault_message\":\"GET /vm/config is not supported by kvmini yet.\"}");
	EXPECT(&f, "GET", "/vmfoo", NULL, 400,
	       "{\"fault_message\":\"Invalid request method and/or path: GET /vmfoo.\"}");
}
