/* The host end of the pod's broker relay (see relay.h). */
#include "relay.h"

#include <errno.h>

#include "coffer/log.h"
#include "coffer/relay.h"
#include "shim.h"

void shim_relay_start(shim *s) {
  pod *pd = &s->pod;
  const char *broker = s->cfg.relay_broker;
  if (!broker || !*broker)
    return;
  if (!pd->ops->relay_channel) {
    cf_warn("pod %s: the %s backend has no relay channel: no broker relay", s->group_id,
            pd->ops->name);
    return;
  }
  cf_error err = {0};
  int fd = pd->ops->relay_channel(pd->vm, &err);
  if (fd < 0) {
    cf_warn("pod %s: no broker relay: %s", s->group_id, err.msg);
    return;
  }
  cf_relay_opts o = {.name = s->group_id, .broker = broker};
  pd->relay = cf_relay_host_new(s->loop, fd, &o, &err);
  if (!pd->relay)
    cf_warn("pod %s: no broker relay: %s", s->group_id, err.msg);
}

void shim_relay_stop(shim *s) {
  cf_relay_free(s->pod.relay);
  s->pod.relay = NULL;
}
