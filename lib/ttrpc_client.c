/* ttrpc client: asynchronous unary calls over one connection.
 *
 * Stream ids are odd and increasing; any number of calls may be in flight,
 * each with its own deadline timer. Every call that ttrpc_client_call()
 * accepted gets exactly one callback: the response, DEADLINE_EXCEEDED, or
 * UNAVAILABLE when the connection goes. User callbacks may free the client:
 * the free is deferred while the client is inside its own dispatch. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_internal.h"

#define LAST_STREAM_ID 0xFFFFFFFFu

typedef struct client_call {
  ttrpc_client *client;
  uint32_t stream_id;
  int timeout_ms;
  ttrpc_reply_cb cb;
  void *data;
  cf_timer *timer;
  struct client_call *prev, *next;
} client_call;

struct ttrpc_client {
  cf_loop *loop;
  int fd;
  cf_watch *watch;
  bool is_socket;
  bool connected;
  ttrpc_reader rd;
  ttrpc_outbuf out;
  uint8_t *rbuf;
  uint32_t next_stream_id;
  client_call *head, *tail; /* in stream id order */
  ttrpc_kv *md;
  size_t n_md;
  void (*on_close)(ttrpc_client *, void *);
  void *on_close_data;
  cf_timer *fail_timer; /* a write failed outside the loop: fail from it */
  char fail_reason[128];
  int busy;
  bool free_requested;
};

static void client_settle(ttrpc_client *c);

/* ------------------------------------------------------------------- calls */

static void call_unlink(ttrpc_client *c, client_call *call) {
  if (call->prev)
    call->prev->next = call->next;
  else
    c->head = call->next;
  if (call->next)
    call->next->prev = call->prev;
  else
    c->tail = call->prev;
  call->prev = call->next = NULL;
}

/* Remove the call and run its callback; the call is freed first, so the
 * callback may do anything, including freeing the client. */
static void call_complete(ttrpc_client *c, client_call *call, int status, const char *message,
                          const uint8_t *payload, size_t len) {
  ttrpc_reply_cb cb = call->cb;
  void *data = call->data;
  call_unlink(c, call);
  cf_loop_timer_cancel(call->timer);
  free(call);
  cb(status, message, payload, len, data);
}

static client_call *call_find(ttrpc_client *c, uint32_t stream_id) {
  for (client_call *call = c->head; call; call = call->next)
    if (call->stream_id == stream_id)
      return call;
  return NULL;
}

static void call_timeout(cf_loop *loop, void *data) {
  client_call *call = data;
  ttrpc_client *c = call->client;
  char msg[96];
  snprintf(msg, sizeof(msg), "ttrpc call timed out after %d ms", call->timeout_ms);
  call->timer = NULL; /* firing: freed by the loop */
  c->busy++;
  call_complete(c, call, CF_DEADLINE_EXCEEDED, msg, NULL, 0);
  c->busy--;
  client_settle(c);
}

/* -------------------------------------------------------------- connection */

/* The connection is gone: fail every pending call, then tell the owner. */
static void client_fail(ttrpc_client *c, const char *why, bool notify) {
  if (!c->connected)
    return;
  cf_debug("ttrpc client: connection fd %d lost: %s", c->fd, why);
  c->connected = false;
  cf_loop_unwatch(c->watch);
  c->watch = NULL;
  cf_loop_timer_cancel(c->fail_timer);
  c->fail_timer = NULL;
  close(c->fd);
  c->fd = -1;
  ttrpc_reader_reset(&c->rd);
  ttrpc_outbuf_clear(&c->out);
  c->busy++;
  char msg[192];
  snprintf(msg, sizeof(msg), "ttrpc connection closed: %s", why);
  while (c->head)
    call_complete(c, c->head, CF_UNAVAILABLE, msg, NULL, 0);
  if (notify && c->on_close)
    c->on_close(c, c->on_close_data);
  c->busy--;
}

static void client_destroy(ttrpc_client *c) {
  for (size_t i = 0; i < c->n_md; i++) {
    free((char *)c->md[i].key);
    free((char *)c->md[i].value);
  }
  free(c->md);
  ttrpc_reader_reset(&c->rd);
  ttrpc_outbuf_clear(&c->out);
  free(c->rbuf);
  free(c);
}

static void deferred_fail(cf_loop *loop, void *data) {
  ttrpc_client *c = data;
  c->fail_timer = NULL;
  client_fail(c, c->fail_reason, true);
  client_settle(c);
}

/* Flush and pick events; also where a deferred free happens. */
static void client_settle(ttrpc_client *c) {
  if (c->busy)
    return;
  if (c->free_requested) {
    client_destroy(c);
    return;
  }
  if (!c->connected || c->fail_timer)
    return;
  int r = ttrpc_outbuf_flush(&c->out, c->fd, c->is_socket);
  if (r < 0) {
    snprintf(c->fail_reason, sizeof(c->fail_reason), "write failed: %s", strerror(-r));
    c->fail_timer = cf_loop_timer(c->loop, 0, deferred_fail, c, NULL);
    if (!c->fail_timer)
      client_fail(c, c->fail_reason, true);
    return;
  }
  uint32_t events = EPOLLIN | (ttrpc_outbuf_pending(&c->out) ? EPOLLOUT : 0);
  cf_error err = {0};
  if (cf_loop_watch_modify(c->watch, events, &err) < 0)
    client_fail(c, err.msg, true);
}

static int client_on_frame(void *ctx, const ttrpc_frame_header *h, const uint8_t *payload,
                           size_t len, bool oversized) {
  ttrpc_client *c = ctx;
  if (!c->connected)
    return -EPIPE;
  if (!oversized && h->type != TTRPC_TYPE_RESPONSE)
    return 0; /* data frames and future types: not for a unary client */
  client_call *call = call_find(c, h->stream_id);
  if (!call) {
    cf_debug("ttrpc client: response for unknown stream %u (timed out?)", h->stream_id);
    return 0;
  }
  if (oversized) {
    char msg[128];
    snprintf(msg, sizeof(msg), "message length %u exceed maximum message size of %u", h->length,
             TTRPC_MAX_MESSAGE);
    call_complete(c, call, CF_RESOURCE_EXHAUSTED, msg, NULL, 0);
    return 0;
  }
  Ttrpc__Response *resp = ttrpc__response__unpack(NULL, len, payload);
  if (!resp) {
    call_complete(c, call, CF_INTERNAL, "malformed ttrpc response", NULL, 0);
    return 0;
  }
  int status = resp->status ? resp->status->code : CF_OK;
  const char *message = resp->status && resp->status->message ? resp->status->message : "";
  call_complete(c, call, status, message, resp->payload.data, resp->payload.len);
  ttrpc__response__free_unpacked(resp, NULL);
  return 0;
}

static void client_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  ttrpc_client *c = data;
  c->busy++;
  if (events & EPOLLIN) {
    ssize_t n = read(c->fd, c->rbuf, TTRPC_READ_CHUNK);
    if (n == 0) {
      client_fail(c, "peer closed the connection", true);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      char why[96];
      snprintf(why, sizeof(why), "read failed: %s", strerror(errno));
      client_fail(c, why, true);
    } else if (n > 0) {
      int r = ttrpc_reader_feed(&c->rd, c->rbuf, (size_t)n, client_on_frame, c);
      if (r < 0 && r != -EPIPE)
        client_fail(c, r == -ENOMEM ? "out of memory" : "malformed frame", true);
    }
  } else if (events & (EPOLLHUP | EPOLLERR)) {
    client_fail(c, "hang-up", true);
  }
  c->busy--;
  client_settle(c);
}

ttrpc_client *ttrpc_client_new(cf_loop *loop, int fd, cf_error *err) {
  _cleanup_close_ int owned = fd;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    cf_err(err, errno, "cannot make fd %d non-blocking", fd);
    return NULL;
  }
  ttrpc_client *c = calloc(1, sizeof(*c));
  if (c)
    c->rbuf = malloc(TTRPC_READ_CHUNK);
  if (!c || !c->rbuf) {
    free(c);
    cf_err(err, ENOMEM, "cannot allocate ttrpc client");
    return NULL;
  }
  c->loop = loop;
  c->fd = fd;
  c->is_socket = ttrpc_fd_is_socket(fd);
  c->next_stream_id = 1;
  ttrpc_reader_reset(&c->rd);
  c->watch = cf_loop_watch(loop, fd, EPOLLIN, client_event, c, err);
  if (!c->watch) {
    free(c->rbuf);
    free(c);
    cf_error_prefix(err, "cannot start ttrpc client");
    return NULL;
  }
  c->connected = true;
  owned = -1;
  return c;
}

void ttrpc_client_free(ttrpc_client *c) {
  if (!c)
    return;
  client_fail(c, "client closed", false);
  c->free_requested = true;
  client_settle(c);
}

int ttrpc_client_set_metadata(ttrpc_client *c, const ttrpc_kv *kv, size_t n, cf_error *err) {
  ttrpc_kv *md = calloc(n ? n : 1, sizeof(*md));
  if (!md)
    return cf_err(err, ENOMEM, "cannot store ttrpc metadata");
  for (size_t i = 0; i < n; i++) {
    md[i].key = strdup(kv[i].key ? kv[i].key : "");
    md[i].value = strdup(kv[i].value ? kv[i].value : "");
    if (!md[i].key || !md[i].value) {
      for (size_t j = 0; j <= i; j++) {
        free((char *)md[j].key);
        free((char *)md[j].value);
      }
      free(md);
      return cf_err(err, ENOMEM, "cannot store ttrpc metadata");
    }
  }
  for (size_t i = 0; i < c->n_md; i++) {
    free((char *)c->md[i].key);
    free((char *)c->md[i].value);
  }
  free(c->md);
  c->md = md;
  c->n_md = n;
  return 0;
}

void ttrpc_client_on_close(ttrpc_client *c, void (*cb)(ttrpc_client *, void *), void *data) {
  c->on_close = cb;
  c->on_close_data = data;
}

int ttrpc_client_connected(const ttrpc_client *c) { return c->connected && !c->fail_timer; }

static int client_start_call(ttrpc_client *c, const char *service, const char *method,
                       const ttrpc_body *body, int timeout_ms, ttrpc_reply_cb cb, void *data,
                       uint32_t *stream_id, cf_error *err) {
  if (!ttrpc_client_connected(c)) {
    cf_err_status(err, CF_UNAVAILABLE, "%s/%s: ttrpc connection is closed", service, method);
    return -ENOTCONN;
  }
  if (c->next_stream_id >= LAST_STREAM_ID - 1) {
    cf_err_status(err, CF_UNAVAILABLE, "%s/%s: ttrpc stream ids exhausted on this connection",
                  service, method);
    return -ENOTCONN;
  }
  client_call *call = calloc(1, sizeof(*call));
  if (!call)
    return cf_err(err, ENOMEM, "%s/%s: cannot allocate call", service, method);
  *call = (client_call){.client = c,
                        .stream_id = c->next_stream_id,
                        .timeout_ms = timeout_ms,
                        .cb = cb,
                        .data = data,
                        .prev = c->tail};
  if (timeout_ms > 0) {
    call->timer = cf_loop_timer(c->loop, (uint64_t)timeout_ms, call_timeout, call, err);
    if (!call->timer) {
      free(call);
      return cf_error_prefix(err, "%s/%s", service, method);
    }
  }
  int64_t timeout_nano = timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : 0;
  int r = ttrpc_append_request(&c->out, call->stream_id, service, method, body, timeout_nano,
                               c->md, c->n_md);
  if (r < 0) {
    cf_loop_timer_cancel(call->timer);
    free(call);
    if (r == -EMSGSIZE) {
      cf_err_status(err, CF_RESOURCE_EXHAUSTED,
                    "%s/%s: request exceeds maximum message size of %u", service, method,
                    TTRPC_MAX_MESSAGE);
      return r;
    }
    return cf_err(err, -r, "%s/%s: cannot queue request", service, method);
  }
  if (c->tail)
    c->tail->next = call;
  else
    c->head = call;
  c->tail = call;
  if (stream_id)
    *stream_id = call->stream_id;
  c->next_stream_id += 2;
  client_settle(c);
  return 0;
}

int ttrpc_client_call(ttrpc_client *c, const char *service, const char *method,
                      const ProtobufCMessage *req, int timeout_ms, ttrpc_reply_cb cb, void *data,
                      cf_error *err) {
  ttrpc_body body = {.msg = req};
  return client_start_call(c, service, method, &body, timeout_ms, cb, data, NULL, err);
}

int ttrpc_client_call_bytes(ttrpc_client *c, const char *service, const char *method,
                            const uint8_t *req, size_t len, int timeout_ms, ttrpc_reply_cb cb,
                            void *data, cf_error *err) {
  ttrpc_body body = {.bytes = req, .len = len};
  return client_start_call(c, service, method, &body, timeout_ms, cb, data, NULL, err);
}

/* ---------------------------------------------------------------- blocking */

typedef struct sync_call {
  bool done;
  int status;
  char message[CF_ERROR_MSG_MAX];
  const ProtobufCMessageDescriptor *desc;
  ProtobufCMessage **resp;
} sync_call;

static void sync_reply(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  sync_call *s = data;
  s->done = true;
  s->status = status;
  snprintf(s->message, sizeof(s->message), "%s", message ? message : "");
  if (status != CF_OK || !s->resp)
    return;
  *s->resp = protobuf_c_message_unpack(s->desc, NULL, len, payload);
  if (!*s->resp) {
    s->status = CF_INTERNAL;
    snprintf(s->message, sizeof(s->message), "cannot decode %zu-byte response as %s", len,
             s->desc->name);
  }
}

static int status_errno(int status) {
  switch (status) {
  case CF_DEADLINE_EXCEEDED: return -ETIMEDOUT;
  case CF_UNAVAILABLE: return -ECONNRESET;
  case CF_NOT_FOUND: return -ENOENT;
  case CF_ALREADY_EXISTS: return -EEXIST;
  case CF_INVALID_ARGUMENT: return -EINVAL;
  case CF_UNIMPLEMENTED: return -ENOSYS;
  case CF_PERMISSION_DENIED: return -EPERM;
  default: return -EIO;
  }
}

int ttrpc_client_call_sync(ttrpc_client *c, const char *service, const char *method,
                           const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **resp, int timeout_ms, cf_error *err) {
  sync_call s = {.desc = desc, .resp = desc ? resp : NULL};
  if (resp)
    *resp = NULL;
  ttrpc_body body = {.msg = req};
  uint32_t stream_id = 0;
  int r = client_start_call(c, service, method, &body, timeout_ms, sync_reply, &s, &stream_id, err);
  if (r < 0)
    return r;
  r = cf_loop_run_until(c->loop, &s.done, -1);
  if (!s.done) {
    /* The loop failed: the call must not outlive this stack frame. */
    client_call *call = call_find(c, stream_id);
    if (call) {
      call_unlink(c, call);
      cf_loop_timer_cancel(call->timer);
      free(call);
    }
    return cf_err(err, r < 0 ? -r : EIO, "%s/%s: event loop failed", service, method);
  }
  if (s.status != CF_OK) {
    cf_err_status(err, s.status, "%s", s.message);
    return status_errno(s.status);
  }
  return 0;
}
