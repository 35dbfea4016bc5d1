/* The guest side of the broker relay (the pump): each connection to the
 * pump's unix socket becomes one stream. The client's first byte says how
 * it wants it:
 *   0x00 (cf_relay_dial): consumed; before the stream's first byte the
 *        client gets one status byte, 'K' (the broker is connected), or 'E'
 *        followed by the reason and the end of the connection;
 *   anything else (a TLS ClientHello: libcurl's CURLOPT_UNIX_SOCKET_PATH):
 *        part of the stream; a refusal just closes the connection (the
 *        reason is in the guest's log). */
#include "relay_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coffer/log.h"

#define ACCEPT_BATCH 16

/* A fresh socket's buffer takes these few bytes: the write cannot block. */
static void tell_client(int fd, char status, const char *reason) {
  char msg[CF_RELAY_REASON_MAX + 2];
  int n = snprintf(msg, sizeof(msg), "%c%s", status, reason ? reason : "");
  if (n > (int)sizeof(msg) - 1)
    n = (int)sizeof(msg) - 1;
  ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w; /* a client that left cannot be told */
}

static void relay_guest_refused(cf_relay *r, relay_stream *s, const char *reason) {
  relay_log_refused(r, s->id, reason);
  if (!s->raw)
    tell_client(s->fd, 'E', reason);
  relay_stream_close(r, s, NULL);
}

static void relay_guest_opened(cf_relay *r, relay_stream *s) {
  if (!s->raw)
    tell_client(s->fd, 'K', NULL);
  relay_stream_opened(r, s);
}

/* The client's first byte picks its mode; then the stream opens. */
static void relay_guest_hello(cf_relay *r, relay_stream *s) {
  uint8_t first;
  ssize_t n = recv(s->fd, &first, 1, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    relay_stream_close(r, s, NULL);
    return;
  }
  s->raw = first != 0;
  if (!s->raw && recv(s->fd, &first, 1, 0) != 1) {
    relay_stream_close(r, s, NULL);
    return;
  }
  char why[CF_RELAY_REASON_MAX + 1];
  if (r->failed || !r->chan_watch) {
    snprintf(why, sizeof(why), "%s",
             r->failed ? r->failure : "the host end of the relay channel is not connected");
    relay_guest_refused(r, s, why);
    return;
  }
  s->id = ++r->last_id;
  s->state = ST_OPENING;
  relay_stream_watch(r, s);
  relay_send(r, s->id, CF_RELAY_OPEN, NULL, 0);
}

static void retry_channel(cf_loop *loop, void *data) {
  cf_relay *r = data;
  r->retry = NULL;
  relay_chan_rewatch(r);
}

static void relay_guest_channel_lost(cf_relay *r, const char *why) {
  if (r->chan_watch) {
    cf_loop_unwatch(r->chan_watch);
    r->chan_watch = NULL;
  }
  for (unsigned i = 0; i < r->max_streams; i++) {
    relay_stream *s = &r->streams[i];
    if (s->state == ST_OPENING)
      relay_guest_refused(r, s, why);
    else if (s->state != ST_FREE)
      relay_stream_close(r, s, NULL);
  }
  /* A new host connection is a new byte stream. */
  r->in_len = 0;
  r->out_off = r->out_len = 0;
  r->in_paused = false;
  if (!r->retry)
    r->retry = cf_loop_timer(r->loop, RELAY_GUEST_RETRY_MS, retry_channel, r, NULL);
}

static void accept_one(cf_relay *r, int fd) {
  if (!relay_stream_alloc(r, 0, fd, ST_HELLO)) {
    char why[CF_RELAY_REASON_MAX + 1];
    snprintf(why, sizeof(why), "%u relay streams open, the limit", r->max_streams);
    relay_log_refused(r, r->last_id + 1, why);
    tell_client(fd, 'E', why); /* a raw client sees a close */
    close(fd);
  }
}

static void on_accept(cf_loop *loop, int lfd, uint32_t events, void *data) {
  cf_relay *r = data;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        cf_warn("relay %s (guest): accept: %s", r->name, strerror(errno));
      return;
    }
    accept_one(r, fd);
  }
}

static const relay_side guest_side = {.refused = relay_guest_refused,
                                      .opened = relay_guest_opened,
                                      .hello = relay_guest_hello,
                                      .channel_lost = relay_guest_channel_lost};

cf_relay *cf_relay_guest_new(cf_loop *loop, int channel_fd, int listen_fd, const cf_relay_opts *o,
                             cf_error *err) {
  cf_relay_opts g = o ? *o : (cf_relay_opts){0};
  if (g.connect_timeout_ms <= 0)
    g.connect_timeout_ms = 8000; /* longer than the host's, whose reason is better */
  cf_relay *r = relay_new(RELAY_GUEST, &guest_side, loop, channel_fd, &g, err);
  if (!r) {
    close(listen_fd);
    return NULL;
  }
  r->listen_fd = listen_fd;
  r->listen_watch = cf_loop_watch(loop, listen_fd, EPOLLIN, on_accept, r, err);
  if (!r->listen_watch) {
    cf_relay_free(r);
    return NULL;
  }
  return r;
}
