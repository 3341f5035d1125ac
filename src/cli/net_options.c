/* --net and --vsock (issue 12), parsed into struct run_options' storage
 * (struct kvmini_config points at it: it must outlive the VM). */
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "cli/options.h"

static int net_bad(struct kvmini_error *err, const char *v, const char *why)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "invalid value '%s' for --net: %s", v, why);
}

/* "02:00:00:00:00:01": a unicast address (a guest cannot own a group). */
static int mac_parse(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	int used = 0;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &used) != 6 || s[used] != '\0' || used != 17)
		return -1;
	unsigned any = 0;
	for (int i = 0; i < 6; i++) {
		mac[i] = (uint8_t)b[i];
		any |= b[i];
	}
	return (mac[0] & 1) || !any ? -1 : 0;
}

/* One hostfwd= rule appended to the card's comma-separated list. */
static int hostfwd_add(char *list, size_t cap, const char *rule)
{
	size_t have = strlen(list);
	int n = snprintf(list + have, cap - have, "%s%s", have ? "," : "", rule);
	return n < 0 || (size_t)n >= cap - have ? -1 : 0;
}

/* One KEY=VALUE (or a lone "user") of a --net value. */
static int net_key(char *kv, struct kvmini_net *net, char *fwd, size_t fwd_cap,
		   const char *whole, struct kvmini_error *err)
{
	char *val = strchr(kv, '=');
	if (val)
		*val++ = '\0';
	if (!strcmp(kv, "mac") && val) {
		net->mac_set = true;
		return mac_parse(val, net->mac) ? net_bad(err, whole, "mac= wants a unicast "
						  "address such as 02:00:00:00:00:01") : 0;
	}
	if (!strcmp(kv, "mtu") && val) {
		char *end;
		unsigned long mtu = strtoul(val, &end, 10);
		net->mtu = (unsigned)mtu;
		return *end || mtu < 68 || mtu > 65521 ? net_bad(err, whole, "mtu= is 68 to 65521") : 0;
	}
	if (!strcmp(kv, "hostfwd") && val && net->backend == KVMINI_NET_USER) {
		net->hostfwd = fwd;
		return hostfwd_add(fwd, fwd_cap, val) ? net_bad(err, whole, "too many hostfwd rules") : 0;
	}
	return net_bad(err, whole, "expected tap=NAME or user, then mac=, mtu= (and for user "
			      "hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)");
}

/* The first item: tap=NAME or user. */
static int net_backend(char *first, struct kvmini_net *net, char *tap, const char *whole,
		       struct kvmini_error *err)
{
	if (!strcmp(first, "user")) {
		net->backend = KVMINI_NET_USER;
		return 0;
	}
	if (strncmp(first, "tap=", 4) || !first[4] || strlen(first + 4) >= IFNAMSIZ)
		return net_bad(err, whole, "expected tap=NAME (a name of at most 15 characters) "
				      "or user first");
	net->backend = KVMINI_NET_TAP;
	snprintf(tap, IFNAMSIZ, "%s", first + 4);
	net->tap_name = tap;
	return 0;
}

int parse_net_option(const char *v, struct run_options *o, struct kvmini_error *err)
{
	if (o->nnets == KVMINI_CLI_NETS_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "more than %d --net options",
				   KVMINI_CLI_NETS_MAX);
	char copy[1024];
	if (snprintf(copy, sizeof(copy), "%s", v) >= (int)sizeof(copy))
		return net_bad(err, v, "too long");
	unsigned i = o->nnets;
	struct kvmini_net *net = &o->nets[i];
	memset(net, 0, sizeof(*net));
	o->net_hostfwd[i][0] = '\0';
	char *save = NULL, *item = strtok_r(copy, ",", &save);
	if (!item || net_backend(item, net, o->net_tap[i], v, err))
		return item ? -1 : net_bad(err, v, "expected tap=NAME or user");
	while ((item = strtok_r(NULL, ",", &save)))
		if (net_key(item, net, o->net_hostfwd[i], sizeof(o->net_hostfwd[i]), v, err))
			return -1;
	o->nnets++;
	o->cfg.nets = o->nets;
	o->cfg.nnets = o->nnets;
	return 0;
}

static int vsock_bad(struct kvmini_error *err, const char *v)
{
	return kvmini_fail(err, KVMINI_E_USAGE,
			   "invalid value '%s' for --vsock: expected cid=N,uds=PATH "
			   "(N from 3 to 4294967294)", v);
}

/* cid=N,uds=PATH: the path is the rest of the value (it may hold ','). */
int parse_vsock_option(const char *v, struct run_options *o, struct kvmini_error *err)
{
	if (o->cfg.vsock.enabled)
		return kvmini_fail(err, KVMINI_E_USAGE, "only one --vsock");
	const char *uds = strstr(v, ",uds=");
	if (strncmp(v, "cid=", 4) || !uds)
		return vsock_bad(err, v);
	char *end;
	unsigned long long cid = strtoull(v + 4, &end, 10);
	if (end != uds || v[4] < '0' || v[4] > '9' || cid < 3 || cid >= 0xffffffffull)
		return vsock_bad(err, v);
	const char *path = uds + 5;
	if (!*path || strlen(path) >= sizeof(o->vsock_uds))
		return vsock_bad(err, v);
	snprintf(o->vsock_uds, sizeof(o->vsock_uds), "%s", path);
	o->cfg.vsock = (struct kvmini_vsock){ .enabled = true, .guest_cid = (uint32_t)cid,
					      .uds_path = o->vsock_uds };
	return 0;
}
