/* The control API's device, pause, logger and metrics requests
 * (src/api/devices.c, vm.c): exact statuses and bodies, what reaches
 * the config at InstanceStart, and that a refused request changes
 * nothing. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "api/api.h"
#include "error.h"

struct fixture {
	struct run_options opts;
	struct api_state api;
	int pauses, resumes;
	bool pause_fails;
};

static int fake_start(void *ctx, struct kvmini_error *err)
{
	(void)ctx, (void)err;
	return 0;
}

static int fake_pause(void *ctx, bool paused, struct kvmini_error *err)
{
	struct fixture *f = ctx;
	if (f->pause_fails)
		return kvmini_fail(err, KVMINI_E_STOPPED, "the VM is stopping");
	if (paused)
		f->pauses++;
	else
		f->resumes++;
	return 0;
}

static struct fixture f;

static void setup(void)
{
	memset(&f, 0, sizeof(f));
	kvmini_config_defaults(&f.opts.cfg);
	api_state_init(&f.api, &f.opts, "vm0", fake_start, &f);
	f.api.pause = fake_pause;
}

static void teardown(void)
{
	api_state_free(&f.api);
}

static int call(const char *method, const char *path, const char *body, char *out, size_t size)
{
	struct http_request req = { .body = body, .body_len = body ? strlen(body) : 0 };
	snprintf(req.method, sizeof(req.method), "%s", method);
	snprintf(req.path, sizeof(req.path), "%s", path);
	struct api_response resp;
	api_handle(&f.api, &req, &resp);
	snprintf(out, size, "%s", resp.body ? resp.body : "");
	free(resp.body);
	return resp.status;
}

#define EXPECT(method, path, body, status, text)                                       \
	do {                                                                           \
		char out_[1024];                                                       \
		cr_assert_eq(call(method, path, body, out_, sizeof(out_)), status,     \
			     "%s %s -> %s", method, path, out_);                       \
		cr_assert_str_eq(out_, text);                                          \
	} while (0)
#define FAULT(msg) "{\"fault_message\":\"" msg "\"}"

static void start(void)
{
	EXPECT("PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}", 204, "");
	EXPECT("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 204, "");
}

TestSuite(api_devices, .init = setup, .fini = teardown);

Test(api_devices, drives_become_disks_root_first)
{
	EXPECT("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"/d.img\", "
	       "\"is_root_device\": false, \"is_read_only\": true, \"cache_type\": \"Writeback\", "
	       "\"io_engine\": \"Sync\", \"rate_limiter\": null}", 204, "");
	EXPECT("PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.ext4\", "
	       "\"is_root_device\": true, \"is_read_only\": false}", 204, "");
	start();
	cr_assert_eq(f.opts.cfg.ndisks, 2);
	cr_assert_str_eq(f.opts.cfg.disks[0].path, "/r.ext4");
	cr_assert_not(f.opts.cfg.disks[0].read_only);
	cr_assert_str_eq(f.opts.cfg.disks[1].path, "/d.img");
	cr_assert(f.opts.cfg.disks[1].read_only);
	cr_assert_str_eq(f.opts.image.cmdline_append, "root=/dev/vda rw");
}

Test(api_devices, root_with_partuuid_and_command_line_disks)
{
	static const struct kvmini_disk cli[] = { { .path = "/cli.img" } };
	f.opts.cfg.disks = cli;
	f.opts.cfg.ndisks = 1;
	f.opts.image.cmdline_append = "quiet";
	api_state_free(&f.api);
	api_state_init(&f.api, &f.opts, "vm0", fake_start, &f);
	EXPECT("PUT", "/drives/r", "{\"drive_id\": \"r\", \"path_on_host\": \"/r\", "
	       "\"is_root_device\": true, \"is_read_only\": true, \"partuuid\": \"0eaa91a0-01\"}",
	       204, "");
	start();
	cr_assert_eq(f.opts.cfg.ndisks, 2);
	cr_assert_str_eq(f.opts.cfg.disks[0].path, "/r");
	cr_assert_str_eq(f.opts.cfg.disks[1].path, "/cli.img");
	cr_assert_str_eq(f.opts.image.cmdline_append, "quiet root=PARTUUID=0eaa91a0-01 ro");
}

Test(api_devices, drive_refusals)
{
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": false}", 400,
	       FAULT("The id from the path does not match the id from the body!"));
	EXPECT("PUT", "/drives/a-b", "{\"drive_id\": \"a-b\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": false}", 400,
	       FAULT("Invalid ID in the path: it must be 1 to 64 letters, digits or underscores."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\"}", 400,
	       FAULT("missing field `is_root_device` in the request body."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": \"yes\"}", 400, FAULT("`is_root_device` must be a boolean."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"\", "
	       "\"is_root_device\": false}", 400, FAULT("`path_on_host` is empty."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": false, \"cache_type\": \"Fast\"}", 400,
	       FAULT("`cache_type` has an unknown value 'Fast'."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": false, \"rate_limiter\": {\"bandwidth\": {}}}", 400,
	       FAULT("`rate_limiter` is not supported by kvmini yet: only null is accepted."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"socket\": \"/s\", "
	       "\"is_root_device\": false}", 400,
	       FAULT("`socket` (vhost-user drives) is not supported by kvmini."));
	cr_assert_eq(f.api.ndrives, 0);
	EXPECT("PUT", "/drives/r1", "{\"drive_id\": \"r1\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": true}", 204, "");
	EXPECT("PUT", "/drives/r2", "{\"drive_id\": \"r2\", \"path_on_host\": \"/y\", "
	       "\"is_root_device\": true}", 400, FAULT("A root block device already exists!"));
	/* Replacing the root drive itself is fine. */
	EXPECT("PUT", "/drives/r1", "{\"drive_id\": \"r1\", \"path_on_host\": \"/z\", "
	       "\"is_root_device\": true}", 204, "");
	cr_assert_eq(f.api.ndrives, 1);
	cr_assert_str_eq(f.api.drives[0].path, "/z");
}

Test(api_devices, drive_patch)
{
	EXPECT("PATCH", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/n\"}", 400,
	       FAULT("Could not find a drive with the id a."));
	EXPECT("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": false}", 204, "");
	EXPECT("PATCH", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/n\"}", 204, "");
	cr_assert_str_eq(f.api.drives[0].path, "/n");
	start();
	EXPECT("PATCH", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"/m\"}", 400,
	       FAULT("Changing a drive after the start is not supported by kvmini yet."));
	EXPECT("PUT", "/drives/b", "{\"drive_id\": \"b\", \"path_on_host\": \"/x\", "
	       "\"is_root_device\": false}", 400,
	       FAULT("The requested operation is not supported after starting the microVM."));
}

Test(api_devices, network_interfaces)
{
	EXPECT("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": "
	       "\"tap0\", \"guest_mac\": \"06:00:AC:10:00:02\"}", 204, "");
	EXPECT("PUT", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
	       "\"tap1\"}", 204, "");
	EXPECT("PUT", "/network-interfaces/eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
	       "\"tap2\", \"guest_mac\": \"07:00:00:00:00:01\"}", 400,
	       FAULT("`guest_mac` '07:00:00:00:00:01' is not a unicast MAC address "
		     "(xx:xx:xx:xx:xx:xx)."));
	EXPECT("PUT", "/network-interfaces/eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
	       "\"tap2\", \"guest_mac\": \"06:00:AC:10:00\"}", 400,
	       FAULT("`guest_mac` '06:00:AC:10:00' is not a unicast MAC address "
		     "(xx:xx:xx:xx:xx:xx)."));
	EXPECT("PUT", "/network-interfaces/eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
	       "\"a_name_of_16_chr\"}", 400,
	       FAULT("`host_dev_name` is longer than a network device's 15 bytes."));
	EXPECT("PUT", "/network-interfaces/eth2", "{\"iface_id\": \"eth2\"}", 400,
	       FAULT("missing field `host_dev_name` in the request body."));
	start();
	cr_assert_eq(f.opts.cfg.nnets, 2);
	cr_assert_eq(f.opts.cfg.nets[0].backend, KVMINI_NET_TAP);
	cr_assert_str_eq(f.opts.cfg.nets[0].tap_name, "tap0");
	cr_assert(f.opts.cfg.nets[0].mac_set);
	const uint8_t mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 };
	cr_assert_eq(memcmp(f.opts.cfg.nets[0].mac, mac, 6), 0);
	cr_assert_not(f.opts.cfg.nets[1].mac_set);
}

Test(api_devices, vsock)
{
	EXPECT("PUT", "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/v.sock\"}", 400,
	       FAULT("`guest_cid` must be from 3 to 4294967294."));
	EXPECT("PUT", "/vsock", "{\"guest_cid\": 3}", 400,
	       FAULT("missing field `uds_path` in the request body."));
	cr_assert_not(f.opts.cfg.vsock.enabled);
	EXPECT("PUT", "/vsock", "{\"vsock_id\": \"vsock0\", \"guest_cid\": 3, "
	       "\"uds_path\": \"/v.sock\"}", 204, "");
	cr_assert(f.opts.cfg.vsock.enabled);
	cr_assert_eq(f.opts.cfg.vsock.guest_cid, 3);
	cr_assert_str_eq(f.opts.cfg.vsock.uds_path, "/v.sock");
}

Test(api_devices, pause_and_resume)
{
	EXPECT("PATCH", "/vm", "{\"state\": \"Paused\"}", 400,
	       FAULT("The microVM is not running: it cannot be paused."));
	start();
	EXPECT("PATCH", "/vm", "{\"state\": \"Frozen\"}", 400,
	       FAULT("unknown `state` 'Frozen': expected Paused or Resumed."));
	EXPECT("PATCH", "/vm", "{\"state\": \"Paused\"}", 204, "");
	EXPECT("GET", "/", NULL, 200, "{\"id\":\"vm0\",\"state\":\"Paused\",\"vmm_version\":\""
	       KVMINI_VERSION "\",\"app_name\":\"kvmini\"}");
	EXPECT("PATCH", "/vm", "{\"state\": \"Resumed\"}", 204, "");
	cr_assert_eq(f.pauses, 1);
	cr_assert_eq(f.resumes, 1);
	f.pause_fails = true;
	EXPECT("PATCH", "/vm", "{\"state\": \"Paused\"}", 400,
	       FAULT("Cannot pause the microVM: the VM is stopping"));
	EXPECT("GET", "/", NULL, 200, "{\"id\":\"vm0\",\"state\":\"Running\",\"vmm_version\":\""
	       KVMINI_VERSION "\",\"app_name\":\"kvmini\"}");
}

static char *temp_file(void)
{
	char *path = strdup("/tmp/kvmini-api-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	return path;
}

Test(api_devices, logger_and_metrics)
{
	EXPECT("PUT", "/logger", "{\"log_path\": \"/nonexistent/dir/log\"}", 400,
	       FAULT("Cannot open the log file '/nonexistent/dir/log': No such file or directory."));
	EXPECT("PUT", "/logger", "{\"log_path\": \"/dev/null\"}", 400,
	       FAULT("The log file '/dev/null' is not a regular file or a FIFO."));
	char *log = temp_file(), *metrics = temp_file();
	char body[256];
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\", \"level\": \"Loud\"}", log);
	EXPECT("PUT", "/logger", body, 400, FAULT("unknown `level` 'Loud'."));
	snprintf(body, sizeof(body), "{\"log_path\": \"%s\", \"level\": \"Debug\", "
		 "\"show_level\": true}", log);
	EXPECT("PUT", "/logger", body, 204, "");
	cr_assert_eq(f.opts.cfg.log_fd, f.api.log_fd);
	cr_assert(f.opts.cfg.verbose);

	EXPECT("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 400,
	       FAULT("The metrics system is not initialized: PUT /metrics first."));
	snprintf(body, sizeof(body), "{\"metrics_path\": \"%s\"}", metrics);
	EXPECT("PUT", "/metrics", body, 204, "");
	EXPECT("PUT", "/metrics", body, 400, FAULT("The metrics system was already initialized."));
	EXPECT("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 204, "");
	FILE *in = fopen(metrics, "r");
	char line[512] = "";
	cr_assert(fgets(line, sizeof(line), in));
	fclose(in);
	/* 7 requests were answered before the flush, 5 of them faults. */
	cr_assert(strstr(line, "\"api_server\":{\"requests\":7,\"faults\":5},"
			 "\"vmm\":{\"state\":\"Not started\"}}\n"), "%s", line);
	cr_assert(strncmp(line, "{\"utc_timestamp_ms\":", 20) == 0, "%s", line);
	unlink(log);
	unlink(metrics);
	free(log);
	free(metrics);
}
