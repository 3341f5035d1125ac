#include "virtio/net_backend.h"
struct net_backend *net_user_create(const struct kvmini_net *cfg, struct net_backend *proto,
				    struct kvmini_error *err)
{
	(void)cfg; (void)proto;
	kvmini_fail(err, KVMINI_E_USAGE, "user-mode networking is not built");
	return NULL;
}
