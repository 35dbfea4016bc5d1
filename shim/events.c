/* Events to containerd: Events.Forward on TTRPC_ADDRESS, one at a time in
 * publish order, retried while containerd is away (restart), bounded. */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#include "coffer/log.h"
#include "coffer/transport.h"
#include "containerd/events/forward.pb-c.h"
#include "shim.h"
#include "process.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define EVENTS_MAX_QUEUED 4096
#define EVENTS_RETRY_MS 200
#define EVENTS_CALL_TIMEOUT_MS 5000

static void send_head(shim *s);

void shim_events_init(shim *s) {
  events *e = &s->ev;
  memset(e, 0, sizeof(*e));
  e->tail = &e->head;
  const char *addr = getenv("TTRPC_ADDRESS");
  if (addr && *addr)
    e->address = strdup(addr);
  else
    cf_warn("TTRPC_ADDRESS is not set: events will not reach containerd");
}

static void item_free(event_item *it) {
  free(it->topic);
  free(it->type_url);
  free(it->data);
  free(it);
}

static void pop_head(events *e) {
  event_item *it = e->head;
  e->head = it->next;
  if (!e->head)
    e->tail = &e->head;
  e->count--;
  item_free(it);
}

static void on_retry(cf_loop *loop, void *data) {
  shim *s = data;
  s->ev.retry = NULL;
  send_head(s);
}

static void schedule_retry(shim *s) {
  if (s->ev.retry)
    return;
  cf_error err = {0};
  s->ev.retry = cf_loop_timer(s->loop, EVENTS_RETRY_MS, on_retry, s, &err);
}

static void drop_client(shim *s) {
  if (s->ev.client) {
    ttrpc_client *c = s->ev.client;
    s->ev.client = NULL;
    ttrpc_client_free(c);
  }
}

static void on_client_closed(ttrpc_client *c, void *data) {
  shim *s = data;
  /* freed at the next send attempt, outside the client's own callback */
  (void)c;
  (void)s;
}

static void on_forwarded(int status, const char *message, const uint8_t *payload, size_t len,
                         void *data) {
  shim *s = data;
  events *e = &s->ev;
  e->in_flight = false;
  if (!e->head)
    return;
  if (status == CF_OK) {
    pop_head(e);
    send_head(s);
    return;
  }
  if (status == CF_UNAVAILABLE || status == CF_DEADLINE_EXCEEDED) {
    schedule_retry(s); /* containerd away: keep it, in order */
    return;
  }
  cf_warn("containerd refused event %s: %s (%s)", e->head->topic, message,
          cf_status_name(status));
  if (++e->head->attempts >= 3)
    pop_head(e);
  schedule_retry(s);
}

static int ensure_client(shim *s) {
  events *e = &s->ev;
  if (e->client && ttrpc_client_connected(e->client))
    return 0;
  drop_client(s);
  cf_error err = {0};
  int fd = cf_transport_connect(e->address, 0, &err);
  if (fd < 0) {
    cf_debug("events: %s", err.msg);
    return -1;
  }
  e->client = ttrpc_client_new(s->loop, fd, &err);
  if (!e->client) {
    cf_warn("events: %s", err.msg);
    return -1;
  }
  ttrpc_kv md = {"containerd-namespace-ttrpc", s->opts.ns};
  ttrpc_client_set_metadata(e->client, &md, 1, &err);
  ttrpc_client_on_close(e->client, on_client_closed, s);
  return 0;
}

static void send_head(shim *s) {
  events *e = &s->ev;
  if (e->in_flight || !e->head || !e->address)
    return;
  if (ensure_client(s) < 0) {
    schedule_retry(s);
    return;
  }
  event_item *it = e->head;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = it->sec;
  ts.nanos = it->nsec;
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = it->type_url;
  any.value.data = it->data;
  any.value.len = it->len;
  Containerd__Services__Events__Ttrpc__V1__Envelope env =
      CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
  env.timestamp = &ts;
  env.namespace_ = (char *)s->opts.ns;
  env.topic = it->topic;
  env.event = &any;
  Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
      CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
  req.envelope = &env;
  cf_error err = {0};
  e->in_flight = true;
  if (ttrpc_client_call(e->client, EVENTS_SERVICE, "Forward", &req.base,
                        EVENTS_CALL_TIMEOUT_MS, on_forwarded, s, &err) < 0) {
    e->in_flight = false;
    cf_debug("events: %s", err.msg);
    drop_client(s);
    schedule_retry(s);
  }
}

void shim_events_publish(shim *s, const char *topic, const char *type_url,
                    const ProtobufCMessage *msg) {
  events *e = &s->ev;
  if (!e->address)
    return;
  if (e->count >= EVENTS_MAX_QUEUED) {
    cf_warn("events: queue full, dropping the oldest (%s)", e->head->topic);
    pop_head(e);
  }
  event_item *it = calloc(1, sizeof(*it));
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (!it || !(it->data = malloc(n ? n : 1)) || !(it->topic = strdup(topic)) ||
      !(it->type_url = strdup(type_url))) {
    if (it)
      item_free(it);
    cf_error_log("events: out of memory, dropping %s", topic);
    return;
  }
  it->len = protobuf_c_message_pack(msg, it->data);
  shim_now(&it->sec, &it->nsec);
  *e->tail = it;
  e->tail = &it->next;
  e->count++;
  cf_debug("event %s", topic);
  send_head(s);
}

void shim_events_flush(shim *s, int timeout_ms) {
  uint64_t end = cf_now_ms() + (uint64_t)timeout_ms;
  while (s->ev.head && s->ev.address && cf_now_ms() < end) {
    bool done = false;
    send_head(s);
    /* run the loop briefly: the reply pops the head */
    cf_loop_run_until(s->loop, &done, 20);
  }
}

void shim_events_free(shim *s) {
  events *e = &s->ev;
  if (e->retry) {
    cf_loop_timer_cancel(e->retry);
    e->retry = NULL;
  }
  drop_client(s);
  while (e->head)
    pop_head(e);
  free(e->address);
  e->address = NULL;
}
