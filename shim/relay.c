/* The host end of the pod's broker relay (see relay.h). */
#include "relay.h"

#include <errno.h>
#include <stdio.h>

#include "coffer/initdata.h"
#include "coffer/log.h"
#include "coffer/relay.h"
#include "shim.h"

/* The pod's init-data names its broker (aa.toml [token_configs.kbs] url);
 * without one, the config's relay_broker. "" = no relay. */
static void pod_broker(shim *s, char *buf, size_t cap, const char **from) {
  buf[0] = '\0';
  *from = "config relay_broker";
  if (s->initdata.toml) {
    cf_error err = {0};
    cf_initdata *id = cf_initdata_parse(s->initdata.toml, s->initdata.len, &err);
    if (id && id->broker_url && *id->broker_url) {
      snprintf(buf, cap, "%s", id->broker_url);
      *from = "init-data aa.toml [token_configs.kbs] url";
    }
    cf_initdata_free(id);
    if (buf[0])
      return;
  }
  snprintf(buf, cap, "%s", s->cfg.relay_broker ? s->cfg.relay_broker : "");
}

bool shim_pod_has_broker(shim *s) {
  char broker[512];
  const char *from;
  pod_broker(s, broker, sizeof(broker), &from);
  return broker[0] != '\0';
}

void shim_relay_start(shim *s) {
  pod *pd = &s->pod;
  char broker[512];
  const char *from;
  pod_broker(s, broker, sizeof(broker), &from);
  if (!broker[0] || !pd->relay_on)
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
  else
    cf_info("pod %s: broker relay to %s (from the %s)", s->group_id, broker, from);
}

void shim_relay_stop(shim *s) {
  cf_relay_free(s->pod.relay);
  s->pod.relay = NULL;
}
