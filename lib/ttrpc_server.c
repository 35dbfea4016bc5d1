/* ttrpc server: many connections on one loop, each serving requests
 * concurrently (a handler keeps its call and replies whenever it likes).
 *
 * The peer may be hostile (the host, seen from the guest agent): every frame
 * is bounded (TTRPC_MAX_MESSAGE, oversized ones are read and dropped), the
 * number of pending calls per connection and the request bytes they keep
 * alive (metadata, names) are capped, and a connection whose
 * replies pile up is not read until they drain. A connection is only ever
 * freed outside its own dispatch (conn->busy), so handlers, replies and
 * cancel callbacks may run in any order without touching freed memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/transport.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_internal.h"

#define METHOD_BUCKETS 64
#define MAX_PENDING_CALLS 4096
/* What pending calls of one connection may keep alive besides their payloads
 * (which handlers only borrow): without it 4096 parked calls with 4 MiB of
 * metadata each would hold 16 GiB. */
#define MAX_PENDING_BYTES (16u << 20)
#define MAX_ACCEPTS_PER_EVENT 64
#define ACCEPT_PAUSE_MS 100
/* Accepted connections beyond this are closed at once: each one may hold
 * buffers, and a peer must not be able to exhaust our memory or fds. */
#define MAX_ACCEPTED_CONNECTIONS 1024
/* What all connections together may hold (partial frames being read,
 * replies queued, pending calls' requests): the per-connection bounds times
 * 1024 connections would exceed a small guest's memory. */
#define DEFAULT_MEMORY_LIMIT (64u << 20)

typedef struct ttrpc_conn ttrpc_conn;

typedef struct method_entry {
  char *service, *method;
  ttrpc_handler handler;
  void *data;
  struct method_entry *next;
} method_entry;

typedef struct listener {
  ttrpc_server *srv;
  int fd;
  cf_watch *watch;
  cf_timer *pause;
  struct listener *next;
} listener;

struct ttrpc_call {
  ttrpc_conn *conn; /* NULL once the connection is gone */
  uint32_t stream_id;
  Ttrpc__Request *req;
  size_t held; /* request bytes kept until the call is freed */
  void (*cancel_cb)(ttrpc_call *, void *);
  void *cancel_data;
  bool cancelled;
  ttrpc_call *prev, *next;
};

struct ttrpc_conn {
  ttrpc_server *srv;
  int fd;
  cf_watch *watch; /* NULL while a serial port waits for its host */
  bool is_socket;
  bool serial;
  int retry_ms;
  cf_timer *retry;
  ttrpc_reader rd;
  ttrpc_outbuf out;
  uint32_t last_stream_id;
  ttrpc_call *calls;
  size_t n_calls;
  size_t held_bytes; /* sum of the pending calls' held */
  int busy;     /* > 0 while a dispatch for this connection runs */
  bool closing; /* close once busy drops to 0 */
  ttrpc_conn *prev, *next;
};

struct ttrpc_server {
  cf_loop *loop;
  method_entry *methods[METHOD_BUCKETS];
  listener *listeners;
  ttrpc_conn *conns;
  size_t n_conns;
  size_t memory_limit;
  uint8_t *rbuf;
  void (*on_close)(void *conn, void *data);
  void *on_close_data;
};

static void conn_settle(ttrpc_conn *conn);
static void conn_close(ttrpc_conn *conn, const char *why);
static int conn_handle_input(ttrpc_conn *conn, const uint8_t *data, size_t len);
static size_t server_held(const ttrpc_server *srv);

/* ------------------------------------------------------------------ methods */

static unsigned method_hash(const char *service, const char *method) {
  unsigned h = 2166136261u;
  for (const char *s = service; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  h = (h ^ '/') * 16777619u;
  for (const char *s = method; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h % METHOD_BUCKETS;
}

static method_entry *method_find(ttrpc_server *srv, const char *service, const char *method) {
  for (method_entry *m = srv->methods[method_hash(service, method)]; m; m = m->next)
    if (strcmp(m->service, service) == 0 && strcmp(m->method, method) == 0)
      return m;
  return NULL;
}

static bool service_known(ttrpc_server *srv, const char *service) {
  for (size_t i = 0; i < METHOD_BUCKETS; i++)
    for (method_entry *m = srv->methods[i]; m; m = m->next)
      if (strcmp(m->service, service) == 0)
        return true;
  return false;
}

int ttrpc_server_register(ttrpc_server *srv, const char *service, const char *method,
                          ttrpc_handler h, void *data, cf_error *err) {
  if (method_find(srv, service, method))
    return cf_err(err, EEXIST, "ttrpc method %s/%s registered twice", service, method);
  method_entry *m = calloc(1, sizeof(*m));
  if (!m)
    return cf_err(err, ENOMEM, "cannot register %s/%s", service, method);
  m->service = strdup(service);
  m->method = strdup(method);
  if (!m->service || !m->method) {
    free(m->service);
    free(m->method);
    free(m);
    return cf_err(err, ENOMEM, "cannot register %s/%s", service, method);
  }
  m->handler = h;
  m->data = data;
  unsigned b = method_hash(service, method);
  m->next = srv->methods[b];
  srv->methods[b] = m;
  return 0;
}

/* ------------------------------------------------------------------- server */

ttrpc_server *ttrpc_server_new(cf_loop *loop, cf_error *err) {
  ttrpc_server *srv = calloc(1, sizeof(*srv));
  if (srv) {
    srv->rbuf = malloc(TTRPC_READ_CHUNK);
    srv->memory_limit = DEFAULT_MEMORY_LIMIT;
  }
  if (!srv || !srv->rbuf) {
    free(srv);
    cf_err(err, ENOMEM, "cannot allocate ttrpc server");
    return NULL;
  }
  srv->loop = loop;
  return srv;
}

void ttrpc_server_set_memory_limit(ttrpc_server *srv, size_t bytes) {
  srv->memory_limit = bytes;
}

size_t ttrpc_server_memory_held(const ttrpc_server *srv) { return server_held(srv); }

void ttrpc_server_set_on_close(ttrpc_server *srv, void (*cb)(void *conn, void *data),
                               void *data) {
  srv->on_close = cb;
  srv->on_close_data = data;
}

static void listener_free(listener *l) {
  cf_loop_unwatch(l->watch);
  cf_loop_timer_cancel(l->pause);
  free(l);
}

void ttrpc_server_free(ttrpc_server *srv) {
  if (!srv)
    return;
  while (srv->listeners) {
    listener *l = srv->listeners;
    srv->listeners = l->next;
    listener_free(l);
  }
  while (srv->conns) {
    ttrpc_conn *conn = srv->conns;
    conn->busy = 0; /* free even from inside a dispatch: the server goes */
    conn_close(conn, "server shut down");
  }
  for (size_t i = 0; i < METHOD_BUCKETS; i++) {
    while (srv->methods[i]) {
      method_entry *m = srv->methods[i];
      srv->methods[i] = m->next;
      free(m->service);
      free(m->method);
      free(m);
    }
  }
  free(srv->rbuf);
  free(srv);
}

/* -------------------------------------------------------------------- calls */

const char *ttrpc_call_service(const ttrpc_call *call) { return call->req->service; }
const char *ttrpc_call_method(const ttrpc_call *call) { return call->req->method; }
int64_t ttrpc_call_timeout_ns(const ttrpc_call *call) { return call->req->timeout_nano; }
void *ttrpc_call_conn(const ttrpc_call *call) { return call->conn; }
int ttrpc_call_cancelled(const ttrpc_call *call) { return call->cancelled; }

const char *ttrpc_call_metadata(const ttrpc_call *call, const char *key) {
  for (size_t i = 0; i < call->req->n_metadata; i++)
    if (strcmp(call->req->metadata[i]->key, key) == 0)
      return call->req->metadata[i]->value;
  return NULL;
}

void ttrpc_call_on_cancel(ttrpc_call *call, void (*cb)(ttrpc_call *, void *), void *data) {
  call->cancel_cb = cb;
  call->cancel_data = data;
}

static void call_unlink(ttrpc_call *call) {
  ttrpc_conn *conn = call->conn;
  if (!conn)
    return;
  if (call->prev)
    call->prev->next = call->next;
  else
    conn->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  call->prev = call->next = NULL;
  conn->n_calls--;
  conn->held_bytes -= call->held;
}

static void call_free(ttrpc_call *call) {
  ttrpc__request__free_unpacked(call->req, NULL);
  free(call);
}

/* Queue a response on conn; a reply that does not fit in a frame becomes
 * RESOURCE_EXHAUSTED. */
static void conn_send(ttrpc_conn *conn, uint32_t stream_id, int code, const char *message,
                      const ttrpc_body *body) {
  if (conn->closing || !conn->watch)
    return;
  int r = ttrpc_append_response(&conn->out, stream_id, code, message, body);
  if (r == -EMSGSIZE) {
    char msg[128];
    snprintf(msg, sizeof(msg), "response exceeds maximum message size of %u", TTRPC_MAX_MESSAGE);
    r = ttrpc_append_response(&conn->out, stream_id, CF_RESOURCE_EXHAUSTED, msg, NULL);
  }
  if (r < 0)
    conn_close(conn, "out of memory queueing a response");
}

static void call_finish(ttrpc_call *call, int code, const char *message, const ttrpc_body *body) {
  ttrpc_conn *conn = call->conn;
  call_unlink(call);
  if (conn) {
    conn->busy++; /* conn_send may close conn: free it only in conn_settle */
    conn_send(conn, call->stream_id, code, message, body); /* body may point into call */
    conn->busy--;
  }
  call_free(call);
  if (conn && !conn->busy)
    conn_settle(conn);
}

void ttrpc_call_reply(ttrpc_call *call, const ProtobufCMessage *resp) {
  ttrpc_body body = {.msg = resp};
  call_finish(call, CF_OK, NULL, &body);
}

void ttrpc_call_reply_bytes(ttrpc_call *call, const uint8_t *buf, size_t len) {
  ttrpc_body body = {.bytes = buf, .len = len};
  call_finish(call, CF_OK, NULL, &body);
}

void ttrpc_call_reply_status(ttrpc_call *call, int status, const char *fmt, ...) {
  char msg[CF_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  call_finish(call, status, msg, NULL);
}

void ttrpc_call_reply_error(ttrpc_call *call, const cf_error *err) {
  call_finish(call, cf_error_grpc_status(err), err ? err->msg : "unknown error", NULL);
}

/* -------------------------------------------------------------- connections */

/* Drop every pending call: their handlers learn through the cancel callback
 * and must still reply, which then only frees the call. */
static void conn_cancel_calls(ttrpc_conn *conn) {
  while (conn->calls) {
    ttrpc_call *call = conn->calls;
    call_unlink(call);
    call->conn = NULL;
    call->cancelled = true;
    if (call->cancel_cb)
      call->cancel_cb(call, call->cancel_data);
  }
}

static void conn_destroy(ttrpc_conn *conn) {
  ttrpc_server *srv = conn->srv;
  cf_loop_unwatch(conn->watch);
  conn->watch = NULL;
  cf_loop_timer_cancel(conn->retry);
  conn->retry = NULL;
  close(conn->fd);
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    srv->conns = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  srv->n_conns--;
  conn->closing = true; /* replies from cancel callbacks queue nothing */
  conn_cancel_calls(conn);
  ttrpc_reader_reset(&conn->rd);
  ttrpc_outbuf_clear(&conn->out);
  if (srv->on_close)
    srv->on_close(conn, srv->on_close_data);
  free(conn);
}

static void conn_close(ttrpc_conn *conn, const char *why) {
  if (why)
    cf_debug("ttrpc: closing connection fd %d: %s", conn->fd, why);
  conn->closing = true;
  if (conn->busy == 0)
    conn_destroy(conn);
}

static void serial_retry(cf_loop *loop, void *data);

/* The host side of a serial port went away: forget its session and poll the
 * same fd until it comes back. */
static void serial_disconnect(ttrpc_conn *conn, const char *why) {
  cf_debug("ttrpc: serial port fd %d: %s; retrying every %d ms", conn->fd, why, conn->retry_ms);
  cf_loop_unwatch(conn->watch);
  conn->watch = NULL;
  conn_cancel_calls(conn);
  ttrpc_reader_reset(&conn->rd);
  ttrpc_outbuf_clear(&conn->out);
  conn->last_stream_id = 0;
  if (conn->srv->on_close) /* that host's session is over; the fd stays ours */
    conn->srv->on_close(conn, conn->srv->on_close_data);
  if (!conn->retry) {
    cf_error err = {0};
    conn->retry =
        cf_loop_timer(conn->srv->loop, (uint64_t)conn->retry_ms, serial_retry, conn, &err);
    if (!conn->retry)
      conn_close(conn, err.msg);
  }
}

/* The peer is gone (EOF, error, hang-up). */
static void conn_lost(ttrpc_conn *conn, const char *why) {
  if (conn->serial)
    serial_disconnect(conn, why);
  else
    conn_close(conn, why);
}

static void conn_event(cf_loop *loop, int fd, uint32_t events, void *data);

static int conn_watch(ttrpc_conn *conn, cf_error *err) {
  conn->watch = cf_loop_watch(conn->srv->loop, conn->fd, EPOLLIN, conn_event, conn, err);
  return conn->watch ? 0 : -EIO;
}

/* Write what is queued, then choose the events to wait for: stop reading
 * while replies pile up (back-pressure), wait for EPOLLOUT while any wait. */
static void conn_settle(ttrpc_conn *conn) {
  if (conn->closing) {
    if (conn->busy == 0)
      conn_destroy(conn);
    return;
  }
  if (!conn->watch)
    return;
  int r = ttrpc_outbuf_flush(&conn->out, conn->fd, conn->is_socket);
  if (r < 0) {
    char why[96];
    snprintf(why, sizeof(why), "write failed: %s", strerror(-r));
    conn_lost(conn, why); /* may free conn */
    return;
  }
  size_t pending = ttrpc_outbuf_pending(&conn->out);
  uint32_t events = (pending < TTRPC_OUT_HIGH_WATER ? EPOLLIN : 0) | (pending ? EPOLLOUT : 0);
  cf_error err = {0};
  if (cf_loop_watch_modify(conn->watch, events, &err) < 0)
    conn_close(conn, err.msg);
}

/* Read once; returns > 0 when bytes were handled, 0 at would-block, < 0 when
 * the peer is gone (already handled). */
static int conn_read(ttrpc_conn *conn) {
  ssize_t n = read(conn->fd, conn->srv->rbuf, TTRPC_READ_CHUNK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n < 0) {
    char why[96];
    snprintf(why, sizeof(why), "read failed: %s", strerror(errno));
    conn_lost(conn, why);
    return -1;
  }
  if (n == 0) {
    conn_lost(conn, ttrpc_reader_idle(&conn->rd) ? "peer closed the connection"
                                                 : "peer closed the connection mid-frame");
    return -1;
  }
  if (conn_handle_input(conn, conn->srv->rbuf, (size_t)n) < 0)
    return -1;
  return 1;
}

static void conn_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  ttrpc_conn *conn = data;
  conn->busy++;
  if (events & EPOLLIN)
    conn_read(conn);
  else if (events & (EPOLLHUP | EPOLLERR))
    conn_lost(conn, "hang-up");
  conn->busy--;
  conn_settle(conn); /* flushes, so EPOLLOUT needs no code of its own */
}

static void serial_retry(cf_loop *loop, void *data) {
  ttrpc_conn *conn = data;
  conn->retry = NULL;
  ssize_t n = read(conn->fd, conn->srv->rbuf, TTRPC_READ_CHUNK);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    cf_error err = {0};
    conn->retry = cf_loop_timer(loop, (uint64_t)conn->retry_ms, serial_retry, conn, &err);
    if (!conn->retry)
      conn_close(conn, err.msg);
    return;
  }
  cf_error err = {0};
  if (conn_watch(conn, &err) < 0) {
    conn_close(conn, err.msg);
    return;
  }
  cf_debug("ttrpc: serial port fd %d: host is back", conn->fd);
  conn->busy++;
  if (n > 0)
    conn_handle_input(conn, conn->srv->rbuf, (size_t)n);
  conn->busy--;
  conn_settle(conn);
}

/* ------------------------------------------------------------------ frames */

static void send_error(ttrpc_conn *conn, uint32_t stream_id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_error(ttrpc_conn *conn, uint32_t stream_id, int code, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  conn_send(conn, stream_id, code, msg, NULL);
}

static int conn_on_frame(void *ctx, const ttrpc_frame_header *h, const uint8_t *payload,
                         size_t len, bool oversized) {
  ttrpc_conn *conn = ctx;
  if (conn->closing || !conn->watch)
    return -EPIPE;
  if (oversized) {
    send_error(conn, h->stream_id, CF_RESOURCE_EXHAUSTED,
               "message length %u exceed maximum message size of %u", h->length,
               TTRPC_MAX_MESSAGE);
    return 0;
  }
  if (h->type != TTRPC_TYPE_REQUEST)
    return 0; /* containerd/ttrpc ignores other types for forward compatibility */
  if (h->stream_id % 2 != 1) {
    send_error(conn, h->stream_id, CF_INVALID_ARGUMENT,
               "StreamID must be odd for client initiated streams");
    return 0;
  }
  if (h->stream_id <= conn->last_stream_id) {
    send_error(conn, h->stream_id, CF_INVALID_ARGUMENT,
               "StreamID cannot be re-used and must increment");
    return 0;
  }
  conn->last_stream_id = h->stream_id;

  Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, payload);
  if (!req) {
    cf_warn("ttrpc: closing connection fd %d: malformed request on stream %u", conn->fd,
            h->stream_id);
    return -EPROTO;
  }
  method_entry *m = method_find(conn->srv, req->service, req->method);
  if (!m) {
    if (service_known(conn->srv, req->service))
      send_error(conn, h->stream_id, CF_UNIMPLEMENTED, "method %s", req->method);
    else
      send_error(conn, h->stream_id, CF_UNIMPLEMENTED, "service %s", req->service);
    ttrpc__request__free_unpacked(req, NULL);
    return 0;
  }
  if (conn->n_calls >= MAX_PENDING_CALLS) {
    send_error(conn, h->stream_id, CF_RESOURCE_EXHAUSTED,
               "too many concurrent calls on this connection (%d)", MAX_PENDING_CALLS);
    ttrpc__request__free_unpacked(req, NULL);
    return 0;
  }
  size_t held = len - req->payload.len;
  size_t total = server_held(conn->srv);
  if (total + held > conn->srv->memory_limit) {
    send_error(conn, h->stream_id, CF_RESOURCE_EXHAUSTED,
               "the server's connections hold %zu bytes; %zu more would pass the %zu allowed",
               total, held, conn->srv->memory_limit);
    ttrpc__request__free_unpacked(req, NULL);
    return 0;
  }
  if (conn->held_bytes + held > MAX_PENDING_BYTES) {
    send_error(conn, h->stream_id, CF_RESOURCE_EXHAUSTED,
               "pending calls on this connection hold %zu bytes of requests; %zu more "
               "would pass the %u allowed",
               conn->held_bytes, held, MAX_PENDING_BYTES);
    ttrpc__request__free_unpacked(req, NULL);
    return 0;
  }
  ttrpc_call *call = calloc(1, sizeof(*call));
  if (!call) {
    ttrpc__request__free_unpacked(req, NULL);
    return -ENOMEM;
  }
  call->conn = conn;
  call->stream_id = h->stream_id;
  call->req = req;
  call->next = conn->calls;
  if (conn->calls)
    conn->calls->prev = call;
  conn->calls = call;
  conn->n_calls++;
  call->held = held;
  conn->held_bytes += held;

  /* The payload is only lent to the handler: a call that waits long (Wait)
   * must not keep a large request alive. */
  _cleanup_free_ uint8_t *body = req->payload.data;
  size_t body_len = req->payload.len;
  req->payload.data = NULL;
  req->payload.len = 0;
  m->handler(call, body, body_len, m->data);
  return 0;
}

/* The bytes all connections hold now: read buffers, queued output, pending
 * calls' requests. */
static size_t server_held(const ttrpc_server *srv) {
  size_t n = 0;
  for (const ttrpc_conn *c = srv->conns; c; c = c->next)
    n += c->rd.cap + c->out.cap + c->held_bytes;
  return n;
}

static int conn_handle_input(ttrpc_conn *conn, const uint8_t *data, size_t len) {
  int r = ttrpc_reader_feed(&conn->rd, data, len, conn_on_frame, conn);
  if (r >= 0 && !ttrpc_reader_idle(&conn->rd) && conn->rd.cap > 0) {
    /* a frame still being read grows this connection's buffer: past the
     * server's bound, the connection that grew it goes */
    size_t held = server_held(conn->srv);
    if (held > conn->srv->memory_limit) {
      char why[160];
      snprintf(why, sizeof(why),
               "the server's connections hold %zu bytes, more than the %zu allowed", held,
               conn->srv->memory_limit);
      cf_warn("ttrpc: closing connection fd %d: %s", conn->fd, why);
      conn_lost(conn, why);
      return -ENOBUFS;
    }
  }
  if (r == -EPIPE)
    return r; /* already closing or disconnected */
  if (r < 0) {
    conn_lost(conn, r == -ENOMEM ? "out of memory" : "malformed frame");
    return r;
  }
  return 0;
}

static ttrpc_conn *conn_new(ttrpc_server *srv, int fd, cf_error *err) {
  ttrpc_conn *conn = calloc(1, sizeof(*conn));
  if (!conn) {
    cf_err(err, ENOMEM, "cannot allocate ttrpc connection");
    return NULL;
  }
  conn->srv = srv;
  conn->fd = fd;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    cf_err(err, errno, "cannot make fd %d non-blocking", fd);
    free(conn);
    return NULL;
  }
  conn->is_socket = ttrpc_fd_is_socket(fd);
  ttrpc_reader_reset(&conn->rd);
  return conn;
}

static void conn_link(ttrpc_conn *conn) {
  ttrpc_server *srv = conn->srv;
  conn->next = srv->conns;
  if (srv->conns)
    srv->conns->prev = conn;
  srv->conns = conn;
  srv->n_conns++;
}

int ttrpc_server_add_conn(ttrpc_server *srv, int fd, cf_error *err) {
  _cleanup_close_ int owned = fd;
  ttrpc_conn *conn = conn_new(srv, fd, err);
  if (!conn)
    return -EIO;
  if (conn_watch(conn, err) < 0) {
    free(conn);
    return cf_error_prefix(err, "cannot serve ttrpc connection");
  }
  owned = -1;
  conn_link(conn);
  return 0;
}

int ttrpc_server_add_serial(ttrpc_server *srv, int fd, int retry_ms, cf_error *err) {
  _cleanup_close_ int owned = fd;
  ttrpc_conn *conn = conn_new(srv, fd, err);
  if (!conn)
    return -EIO;
  conn->serial = true;
  conn->retry_ms = retry_ms > 0 ? retry_ms : 100;
  if (conn_watch(conn, err) < 0) {
    free(conn);
    return cf_error_prefix(err, "cannot serve serial port");
  }
  owned = -1;
  conn_link(conn);
  return 0;
}

/* ---------------------------------------------------------------- listeners */

static void listener_resume(cf_loop *loop, void *data) {
  listener *l = data;
  l->pause = NULL;
  cf_loop_watch_modify(l->watch, EPOLLIN, NULL);
}

static void listener_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  listener *l = data;
  for (int i = 0; i < MAX_ACCEPTS_PER_EVENT; i++) {
    _cleanup_close_ int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN)
        return;
      /* Out of fds or memory: stop accepting for a while instead of
       * spinning on a listener that stays readable. */
      cf_warn("ttrpc: accept on fd %d failed: %s; pausing %d ms", fd, strerror(errno),
              ACCEPT_PAUSE_MS);
      if (!l->pause && cf_loop_watch_modify(l->watch, 0, NULL) == 0)
        l->pause = cf_loop_timer(loop, ACCEPT_PAUSE_MS, listener_resume, l, NULL);
      return;
    }
    if (l->srv->n_conns >= MAX_ACCEPTED_CONNECTIONS) {
      cf_warn("ttrpc: refusing a connection on fd %d: %d connections already open", fd,
              MAX_ACCEPTED_CONNECTIONS);
      continue;
    }
    cf_error err = {0};
    if (cf_transport_check_peer(cfd, &err) < 0) {
      cf_warn("ttrpc: %s", err.msg);
      continue;
    }
    if (ttrpc_server_add_conn(l->srv, cf_steal_fd(cfd), &err) < 0)
      cf_warn("ttrpc: %s", err.msg);
  }
}

int ttrpc_server_listen_fd(ttrpc_server *srv, int listen_fd, cf_error *err) {
  int fl = fcntl(listen_fd, F_GETFL);
  if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return cf_err(err, errno, "cannot make listening fd %d non-blocking", listen_fd);
  listener *l = calloc(1, sizeof(*l));
  if (!l)
    return cf_err(err, ENOMEM, "cannot allocate listener");
  l->srv = srv;
  l->fd = listen_fd;
  l->watch = cf_loop_watch(srv->loop, listen_fd, EPOLLIN, listener_event, l, err);
  if (!l->watch) {
    free(l);
    return cf_error_prefix(err, "cannot accept ttrpc connections");
  }
  l->next = srv->listeners;
  srv->listeners = l;
  return 0;
}
