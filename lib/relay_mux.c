/* The relay's multiplexer, the same on both sides: streams over one
 * channel, per-stream credit windows, the channel's bounded output, the
 * tick that ends streams past their connect or idle deadline. */
#include "relay_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/log.h"

static void chan_on_event(cf_loop *loop, int fd, uint32_t events, void *data);
static void chan_parse(cf_relay *r);

static const char *side(const cf_relay *r) { return r->role == RELAY_HOST ? "host" : "guest"; }

void relay_sanitize(char *dst, size_t cap, const uint8_t *src, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len && n + 1 < cap; i++)
    dst[n++] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
  dst[n] = '\0';
}

static uint64_t idle_deadline(const cf_relay *r) { return cf_now_ms() + (uint64_t)r->idle_ms; }

/* ------------------------------------------------------------ channel out */

static void chan_watch_update(cf_relay *r) {
  if (!r->chan_watch)
    return;
  uint32_t ev = (r->in_paused ? 0 : EPOLLIN) | (r->out_len ? EPOLLOUT : 0);
  if (ev != r->chan_events && cf_loop_watch_modify(r->chan_watch, ev, NULL) == 0)
    r->chan_events = ev;
}

static void streams_rewatch(cf_relay *r) {
  for (unsigned i = 0; i < r->max_streams; i++)
    if (r->streams[i].state != ST_FREE)
      relay_stream_watch(r, &r->streams[i]);
}

static void resume_input(cf_loop *loop, void *data) {
  cf_relay *r = data;
  r->resume = NULL;
  if (r->failed || r->out_len >= RELAY_OUT_HIGH)
    return;
  r->in_paused = false;
  chan_watch_update(r);
  chan_parse(r);
}

static void chan_flush(cf_relay *r) {
  size_t before = r->out_len;
  while (r->out_len && !r->failed) {
    ssize_t n = r->chan_is_socket
                    ? send(r->chan, r->out + r->out_off, r->out_len, MSG_NOSIGNAL)
                    : write(r->chan, r->out + r->out_off, r->out_len);
    if (n > 0) {
      r->out_off += (size_t)n;
      r->out_len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    if (r->role == RELAY_GUEST) {
      r->side->channel_lost(r, "the host end of the relay channel is gone");
      return;
    }
    relay_fail(r, "writing the relay channel: %s", n < 0 ? strerror(errno) : "no progress");
    return;
  }
  if (!r->out_len)
    r->out_off = 0;
  if (before >= RELAY_DATA_HIGH && r->out_len < RELAY_DATA_HIGH)
    streams_rewatch(r);
  /* Frames left in the input when it paused are parsed from the loop, not
   * from here: a flush runs inside stream callbacks. */
  if (r->in_paused && r->out_len < RELAY_OUT_HIGH && !r->resume)
    r->resume = cf_loop_timer(r->loop, 0, resume_input, r, NULL);
  chan_watch_update(r);
}

/* Room for len more bytes at the end of out (moves the queue to the front). */
static uint8_t *out_reserve(cf_relay *r, size_t len) {
  if (r->out_off + r->out_len + len > RELAY_OUT_CAP && r->out_off) {
    memmove(r->out, r->out + r->out_off, r->out_len);
    r->out_off = 0;
  }
  if (r->out_off + r->out_len + len > RELAY_OUT_CAP)
    return NULL;
  return r->out + r->out_off + r->out_len;
}

int relay_send(cf_relay *r, uint32_t id, uint8_t type, const void *payload, size_t len) {
  if (r->failed)
    return -EPIPE;
  uint8_t *p = out_reserve(r, CF_RELAY_HEADER + len);
  if (!p) {
    /* The high-water marks keep this from happening with any peer. */
    relay_fail(r, "relay channel output full (%zu bytes queued)", r->out_len);
    return -ENOBUFS;
  }
  cf_relay_frame_header(p, id, type, (uint16_t)len);
  if (len)
    memcpy(p + CF_RELAY_HEADER, payload, len);
  r->out_len += CF_RELAY_HEADER + len;
  chan_flush(r);
  return 0;
}

/* --------------------------------------------------------------- streams */

static void stream_on_event(cf_loop *loop, int fd, uint32_t events, void *data);

relay_stream *relay_stream_alloc(cf_relay *r, uint32_t id, int fd, enum stream_state st) {
  for (unsigned i = 0; i < r->max_streams; i++) {
    relay_stream *s = &r->streams[i];
    if (s->state != ST_FREE)
      continue;
    uint8_t *pend = malloc(CF_RELAY_WINDOW);
    if (!pend)
      return NULL;
    *s = (relay_stream){.state = st, .id = id, .fd = fd, .pend = pend,
                        .send_credit = CF_RELAY_WINDOW, .recv_credit = CF_RELAY_WINDOW,
                        .deadline = cf_now_ms() + (uint64_t)r->connect_ms};
    s->watch = cf_loop_watch(r->loop, fd, 0, stream_on_event, r, NULL);
    if (!s->watch) {
      free(pend);
      *s = (relay_stream){0};
      return NULL;
    }
    relay_stream_watch(r, s);
    return s;
  }
  return NULL;
}

void relay_stream_close(cf_relay *r, relay_stream *s, const char *reason) {
  if (s->state == ST_FREE)
    return;
  uint32_t id = s->id;
  bool tell = reason && s->state != ST_DRAINING;
  if (s->watch)
    cf_loop_unwatch(s->watch);
  close(s->fd);
  free(s->pend);
  *s = (relay_stream){0};
  if (tell)
    relay_send(r, id, CF_RELAY_CLOSE, reason, strnlen(reason, CF_RELAY_REASON_MAX));
}

void relay_stream_watch(cf_relay *r, relay_stream *s) {
  uint32_t ev = 0;
  switch (s->state) {
  case ST_CONNECTING:
    ev = EPOLLOUT;
    break;
  case ST_OPEN:
    if (s->send_credit && r->out_len < RELAY_DATA_HIGH)
      ev |= EPOLLIN;
    /* fall through */
  case ST_DRAINING:
    if (s->pend_len)
      ev |= EPOLLOUT;
    break;
  case ST_HELLO:
    ev = EPOLLIN;
    break;
  default:
    break; /* OPENING: only hang-ups, which epoll always reports */
  }
  /* A hung-up socket that we cannot serve now (no credit) would wake the
   * loop without end: off epoll until there is something to do. */
  if (s->hup && !ev) {
    if (s->watch)
      cf_loop_unwatch(s->watch);
    s->watch = NULL;
    s->events = 0;
    return;
  }
  if (!s->watch) {
    s->watch = cf_loop_watch(r->loop, s->fd, ev, stream_on_event, r, NULL);
    s->events = ev;
    return;
  }
  if (ev != s->events && cf_loop_watch_modify(s->watch, ev, NULL) == 0)
    s->events = ev;
}

void relay_stream_opened(cf_relay *r, relay_stream *s) {
  s->state = ST_OPEN;
  s->deadline = idle_deadline(r);
  r->opened++;
  relay_stream_watch(r, s);
}

/* Return the credit for bytes written to the socket: in batches, and all
 * of it once nothing is left to write (the peer may be waiting for it). */
static void stream_return_credit(cf_relay *r, relay_stream *s) {
  if (!s->owed || s->state != ST_OPEN)
    return;
  if (s->owed < CF_RELAY_WINDOW / 4 && s->pend_len)
    return;
  uint8_t b[4] = {(uint8_t)(s->owed >> 24), (uint8_t)(s->owed >> 16), (uint8_t)(s->owed >> 8),
                  (uint8_t)s->owed};
  s->recv_credit += s->owed;
  s->owed = 0;
  relay_send(r, s->id, CF_RELAY_WINDOW_UPDATE, b, sizeof(b));
}

static void stream_write(cf_relay *r, relay_stream *s) {
  while (s->pend_len) {
    ssize_t n = send(s->fd, s->pend + s->pend_off, s->pend_len, MSG_NOSIGNAL);
    if (n > 0) {
      s->pend_off += (size_t)n;
      s->pend_len -= (size_t)n;
      s->owed += (uint32_t)n;
      s->deadline = idle_deadline(r);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    char why[128];
    snprintf(why, sizeof(why), "%s socket: %s", r->role == RELAY_HOST ? "broker" : "client",
             n < 0 ? strerror(errno) : "closed");
    relay_stream_close(r, s, why);
    return;
  }
  if (!s->pend_len)
    s->pend_off = 0;
  if (s->state == ST_DRAINING && !s->pend_len) {
    relay_stream_close(r, s, NULL);
    return;
  }
  stream_return_credit(r, s);
  if (s->state != ST_FREE)
    relay_stream_watch(r, s);
}

static void stream_read(cf_relay *r, relay_stream *s) {
  size_t room = s->send_credit < CF_RELAY_MAX_PAYLOAD ? s->send_credit : CF_RELAY_MAX_PAYLOAD;
  if (!room || r->out_len >= RELAY_DATA_HIGH || r->failed) {
    relay_stream_watch(r, s);
    return;
  }
  uint8_t *p = out_reserve(r, CF_RELAY_HEADER + room);
  if (!p) {
    relay_fail(r, "relay channel output full (%zu bytes queued)", r->out_len);
    return;
  }
  ssize_t n = recv(s->fd, p + CF_RELAY_HEADER, room, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    /* The socket's end, or its failure, ends the stream both ways. */
    char why[128] = "";
    if (n < 0)
      snprintf(why, sizeof(why), "%s socket: %s", r->role == RELAY_HOST ? "broker" : "client",
               strerror(errno));
    relay_stream_close(r, s, why);
    return;
  }
  cf_relay_frame_header(p, s->id, CF_RELAY_DATA, (uint16_t)n);
  r->out_len += CF_RELAY_HEADER + (size_t)n;
  s->send_credit -= (uint32_t)n;
  s->deadline = idle_deadline(r);
  chan_flush(r);
  if (s->state != ST_FREE)
    relay_stream_watch(r, s);
}

static void stream_on_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  cf_relay *r = data;
  relay_stream *s = NULL;
  for (unsigned i = 0; i < r->max_streams && !s; i++)
    if (r->streams[i].state != ST_FREE && r->streams[i].fd == fd)
      s = &r->streams[i];
  if (!s)
    return;
  if (events & (EPOLLHUP | EPOLLERR))
    s->hup = true;
  switch (s->state) {
  case ST_CONNECTING:
    r->side->connected(r, s);
    return;
  case ST_HELLO:
    r->side->hello(r, s);
    return;
  case ST_OPENING:
    /* The client hung up before the host answered. */
    relay_stream_close(r, s, "");
    return;
  default:
    break;
  }
  if (events & EPOLLOUT || (events & (EPOLLERR | EPOLLHUP) && s->pend_len))
    stream_write(r, s);
  if (s->state == ST_OPEN && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    stream_read(r, s);
}

static relay_stream *stream_find(cf_relay *r, uint32_t id) {
  for (unsigned i = 0; i < r->max_streams; i++) {
    relay_stream *s = &r->streams[i];
    if (s->state != ST_FREE && s->state != ST_DRAINING && s->state != ST_HELLO && s->id == id)
      return s;
  }
  return NULL;
}

/* ------------------------------------------------------------ channel in */

static int proto_error(cf_relay *r, const cf_relay_frame *f, const char *why) {
  relay_fail(r, "the %s broke the relay protocol (stream %u, frame type %u): %s",
             r->role == RELAY_HOST ? "guest" : "host", (unsigned)f->stream, (unsigned)f->type,
             why);
  return -EPROTO;
}

static int on_frame(cf_relay *r, const cf_relay_frame *f) {
  if (f->type == CF_RELAY_OPEN) {
    if (r->role != RELAY_HOST)
      return proto_error(r, f, "OPEN comes from the guest");
    if (f->stream <= r->last_id)
      return proto_error(r, f, "stream ids must increase");
    r->last_id = f->stream;
    r->side->open(r, f->stream);
    return 0;
  }
  relay_stream *s = stream_find(r, f->stream);
  if (!s) {
    if (f->stream > r->last_id)
      return proto_error(r, f, "no such stream was opened");
    return 0; /* a stream closed here: the peer's late frames are dropped */
  }
  switch (f->type) {
  case CF_RELAY_OPEN_OK:
    if (r->role != RELAY_GUEST || s->state != ST_OPENING)
      return proto_error(r, f, "unexpected OPEN_OK");
    r->side->opened(r, s);
    return 0;
  case CF_RELAY_DATA:
    if (s->state != ST_OPEN)
      return proto_error(r, f, "DATA before the stream is open");
    if (f->len > s->recv_credit)
      return proto_error(r, f, "DATA beyond the credit window");
    if (s->pend_off + s->pend_len + f->len > CF_RELAY_WINDOW) {
      memmove(s->pend, s->pend + s->pend_off, s->pend_len);
      s->pend_off = 0;
    }
    memcpy(s->pend + s->pend_off + s->pend_len, f->payload, f->len);
    s->pend_len += f->len;
    s->recv_credit -= f->len;
    s->deadline = idle_deadline(r);
    stream_write(r, s);
    return 0;
  case CF_RELAY_WINDOW_UPDATE: {
    uint32_t credit = (uint32_t)f->payload[0] << 24 | (uint32_t)f->payload[1] << 16 |
                      (uint32_t)f->payload[2] << 8 | f->payload[3];
    if (s->state != ST_OPEN)
      return proto_error(r, f, "WINDOW before the stream is open");
    if ((uint64_t)s->send_credit + credit > CF_RELAY_WINDOW)
      return proto_error(r, f, "credit beyond the window");
    s->send_credit += credit;
    relay_stream_watch(r, s);
    return 0;
  }
  case CF_RELAY_CLOSE: {
    char reason[CF_RELAY_REASON_MAX + 1];
    relay_sanitize(reason, sizeof(reason), f->payload, f->len);
    if (s->state == ST_OPENING) {
      r->side->refused(r, s, reason[0] ? reason : "the host closed the stream");
      return 0;
    }
    if (s->state == ST_OPEN && s->pend_len) {
      s->state = ST_DRAINING;
      relay_stream_watch(r, s);
      return 0;
    }
    relay_stream_close(r, s, NULL);
    return 0;
  }
  default:
    return proto_error(r, f, "unknown frame type"); /* the parser refuses these first */
  }
}

static void chan_parse(cf_relay *r) {
  size_t off = 0;
  while (!r->failed && !r->in_paused) {
    if (r->out_len >= RELAY_OUT_HIGH) {
      r->in_paused = true; /* resumes when the peer reads our output */
      chan_watch_update(r);
      break;
    }
    cf_relay_frame f;
    cf_error err = {0};
    int n = cf_relay_frame_parse(r->in + off, r->in_len - off, &f, &err);
    if (n < 0) {
      relay_fail(r, "the %s sent a bad frame: %s", r->role == RELAY_HOST ? "guest" : "host",
                 err.msg);
      return;
    }
    if (n == 0)
      break;
    if (on_frame(r, &f) < 0)
      return;
    off += (size_t)n;
  }
  if (r->failed)
    return;
  memmove(r->in, r->in + off, r->in_len - off);
  r->in_len -= off;
}

static void chan_on_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  cf_relay *r = data;
  if (events & EPOLLOUT)
    chan_flush(r);
  if (r->failed || r->in_paused || !r->chan_watch || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
      r->in_len == sizeof(r->in))
    return;
  ssize_t n = read(r->chan, r->in + r->in_len, sizeof(r->in) - r->in_len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    char why[160];
    snprintf(why, sizeof(why), "the relay channel %s", n < 0 ? strerror(errno) : "closed");
    if (r->role == RELAY_GUEST)
      r->side->channel_lost(r, why);
    else
      relay_fail(r, "%s (the VM is gone)", why);
    return;
  }
  r->in_len += (size_t)n;
  chan_parse(r);
}

/* ------------------------------------------------------------- the tick */

static void tick(cf_loop *loop, void *data) {
  cf_relay *r = data;
  r->tick = NULL;
  uint64_t now = cf_now_ms();
  for (unsigned i = 0; i < r->max_streams; i++) {
    relay_stream *s = &r->streams[i];
    if (s->state == ST_FREE || now < s->deadline)
      continue;
    char why[160];
    if (s->state == ST_HELLO) {
      relay_stream_close(r, s, NULL); /* a client that never spoke */
      continue;
    }
    if (s->state == ST_CONNECTING || s->state == ST_OPENING) {
      snprintf(why, sizeof(why), "%s %s did not answer within %d ms",
               s->state == ST_CONNECTING ? "broker" : "host relay for",
               s->state == ST_CONNECTING ? r->broker_text : "the broker", r->connect_ms);
      if (r->role == RELAY_GUEST) {
        r->side->refused(r, s, why);
        continue;
      }
      relay_log_refused(r, s->id, why);
    } else {
      snprintf(why, sizeof(why), "idle for %d ms", r->idle_ms);
      cf_info("relay %s (%s): stream %u closed: %s", r->name, side(r), (unsigned)s->id, why);
    }
    relay_stream_close(r, s, why);
  }
  int every = r->idle_ms < r->connect_ms ? r->idle_ms : r->connect_ms;
  every = every / 4 < 50 ? 50 : every / 4 > 1000 ? 1000 : every / 4;
  r->tick = cf_loop_timer(r->loop, (uint64_t)every, tick, r, NULL);
}

/* ------------------------------------------------------------ lifetime */

void relay_log_refused(cf_relay *r, uint32_t id, const char *reason) {
  r->refused++;
  if ((r->refused & (r->refused - 1)) == 0)
    cf_warn("relay %s (%s): stream %u refused: %s (%lu refused so far)", r->name, side(r),
            (unsigned)id, reason, r->refused);
}

void relay_fail(cf_relay *r, const char *fmt, ...) {
  if (r->failed)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->failure, sizeof(r->failure), fmt, ap);
  va_end(ap);
  r->failed = true;
  cf_warn("relay %s (%s): %s; the relay is off for this pod", r->name, side(r), r->failure);
  if (r->chan_watch) {
    cf_loop_unwatch(r->chan_watch);
    r->chan_watch = NULL;
  }
  char reason[CF_RELAY_REASON_MAX + 1];
  snprintf(reason, sizeof(reason), "%s", r->failure);
  for (unsigned i = 0; i < r->max_streams; i++) {
    relay_stream *s = &r->streams[i];
    if (s->state == ST_OPENING)
      r->side->refused(r, s, reason);
    else
      relay_stream_close(r, s, NULL);
  }
}

cf_relay *relay_new(enum relay_role role, const relay_side *side, cf_loop *loop, int chan,
                    const cf_relay_opts *o, cf_error *err) {
  cf_relay *r = calloc(1, sizeof(*r));
  if (!r) {
    close(chan);
    cf_err(err, ENOMEM, "relay");
    return NULL;
  }
  r->role = role;
  r->side = side;
  r->loop = loop;
  r->chan = chan;
  r->listen_fd = -1;
  snprintf(r->name, sizeof(r->name), "%s", o && o->name ? o->name : "-");
  r->max_streams = o && o->max_streams ? o->max_streams : CF_RELAY_MAX_STREAMS;
  r->connect_ms = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
  r->idle_ms = o && o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 60000;
  struct stat st;
  r->chan_is_socket = fstat(chan, &st) == 0 && S_ISSOCK(st.st_mode);
  r->streams = calloc(r->max_streams, sizeof(*r->streams));
  r->out = malloc(RELAY_OUT_CAP);
  if (!r->streams || !r->out) {
    cf_relay_free(r);
    cf_err(err, ENOMEM, "relay");
    return NULL;
  }
  int fl = fcntl(chan, F_GETFL);
  if (fl < 0 || fcntl(chan, F_SETFL, fl | O_NONBLOCK) < 0) {
    cf_err(err, errno, "relay channel fd %d", chan);
    cf_relay_free(r);
    return NULL;
  }
  r->chan_events = EPOLLIN;
  r->chan_watch = cf_loop_watch(loop, chan, EPOLLIN, chan_on_event, r, err);
  if (!r->chan_watch) {
    cf_relay_free(r);
    return NULL;
  }
  tick(loop, r);
  if (!r->tick) {
    cf_err(err, ENOMEM, "relay timer");
    cf_relay_free(r);
    return NULL;
  }
  return r;
}

void relay_chan_rewatch(cf_relay *r) {
  if (r->chan_watch || r->failed)
    return;
  r->chan_events = EPOLLIN;
  r->chan_watch = cf_loop_watch(r->loop, r->chan, EPOLLIN, chan_on_event, r, NULL);
}

void cf_relay_free(cf_relay *r) {
  if (!r)
    return;
  if (r->streams)
    for (unsigned i = 0; i < r->max_streams; i++) {
      relay_stream *s = &r->streams[i];
      if (s->state == ST_FREE)
        continue;
      if (s->watch)
        cf_loop_unwatch(s->watch);
      close(s->fd);
      free(s->pend);
    }
  if (r->chan_watch)
    cf_loop_unwatch(r->chan_watch);
  if (r->listen_watch)
    cf_loop_unwatch(r->listen_watch);
  if (r->tick)
    cf_loop_timer_cancel(r->tick);
  if (r->retry)
    cf_loop_timer_cancel(r->retry);
  if (r->resume)
    cf_loop_timer_cancel(r->resume);
  if (r->chan >= 0)
    close(r->chan);
  if (r->listen_fd >= 0)
    close(r->listen_fd);
  free(r->streams);
  free(r->out);
  free(r);
}

void cf_relay_get_stats(const cf_relay *r, cf_relay_stats *out) {
  memset(out, 0, sizeof(*out));
  for (unsigned i = 0; i < r->max_streams; i++)
    out->streams += r->streams[i].state != ST_FREE;
  out->opened = r->opened;
  out->refused = r->refused;
  out->channel_failed = r->failed;
  snprintf(out->failure, sizeof(out->failure), "%s", r->failure);
}
