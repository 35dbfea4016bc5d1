/* libFuzzer target: arbitrary bytes as the input stream of one server
 * connection (frame parser, Request decoder, dispatch, replies) and of one
 * client connection with calls pending (Response decoder). The feeding peer
 * either half-closes and reads the replies, or (odd last byte) vanishes
 * right after writing, so replies hit a dead socket. Each input must end
 * with both connections closed, without crash, leak or hang. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coffer/ttrpc.h"

typedef struct feeder {
  const uint8_t *data;
  size_t size, off, chunk;
  int fd;
  cf_watch *watch;
  bool vanish; /* close instead of half-close once everything is written */
  bool eof_sent;
} feeder;

static cf_loop *loop;
static ttrpc_server *srv;

static void echo(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
  ttrpc_call_reply_bytes(call, p, len);
}

static void later_fire(cf_loop *l, void *data) { ttrpc_call_reply_status(data, 5, "later"); }
static void later(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  if (!cf_loop_timer(loop, 0, later_fire, call, NULL))
    ttrpc_call_reply(call, NULL);
}

static void hold_cancel(ttrpc_call *call, void *data) { ttrpc_call_reply(call, NULL); }
static void hold(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  ttrpc_call_on_cancel(call, hold_cancel, NULL);
}

static void feeder_event(cf_loop *l, int fd, uint32_t events, void *data) {
  feeder *f = data;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    uint8_t buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      cf_loop_unwatch(f->watch);
      f->watch = NULL;
      return;
    }
  }
  if ((events & EPOLLOUT) && !f->eof_sent) {
    size_t n = f->size - f->off;
    if (n > f->chunk)
      n = f->chunk;
    if (n > 0) {
      ssize_t w = send(fd, f->data + f->off, n, MSG_NOSIGNAL);
      if (w > 0)
        f->off += (size_t)w;
      else if (w < 0 && errno != EAGAIN)
        f->off = f->size; /* peer closed: stop feeding */
    }
    if (f->off == f->size) {
      f->eof_sent = true;
      if (f->vanish) {
        cf_loop_unwatch(f->watch);
        f->watch = NULL;
        close(f->fd);
        f->fd = -1;
        return;
      }
      shutdown(fd, SHUT_WR);
      cf_loop_watch_modify(f->watch, EPOLLIN, NULL);
    }
  }
}

static bool server_closed, client_closed;
static void on_server_close(void *conn, void *data) { server_closed = true; }
static void on_client_close(ttrpc_client *c, void *data) { client_closed = true; }

static void init(void) {
  cf_error err = {0};
  loop = cf_loop_new(&err);
  srv = ttrpc_server_new(loop, &err);
  if (!loop || !srv)
    abort();
  ttrpc_server_register(srv, "test.S", "Echo", echo, NULL, &err);
  ttrpc_server_register(srv, "test.S", "Later", later, NULL, &err);
  ttrpc_server_register(srv, "test.S", "Hold", hold, NULL, &err);
  ttrpc_server_set_on_close(srv, on_server_close, NULL);
}

static void reply_cb(int status, const char *message, const uint8_t *payload, size_t len,
                     void *data) {
  (*(int *)data)++;
}

static void start_feeder(feeder *f, int fd, const uint8_t *data, size_t size) {
  *f = (feeder){.data = data, .size = size, .fd = fd, .chunk = 1 + (size ? data[size - 1] : 0) * 64u,
                .vanish = size && (data[size - 1] & 1)};
  if (f->vanish) { /* write it all now and leave before the peer reads a byte */
    while (f->off < size) {
      ssize_t w = send(fd, data + f->off, size - f->off, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      f->off += (size_t)w;
    }
    if (f->off == size) {
      close(fd);
      f->fd = -1;
      f->eof_sent = true;
      return;
    }
  }
  f->watch = cf_loop_watch(loop, fd, EPOLLIN | EPOLLOUT, feeder_event, f, NULL);
  if (!f->watch)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!loop)
    init();
  cf_error err = {0};
  int sv[2], cv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, cv) < 0)
    abort();
  if (ttrpc_server_add_conn(srv, sv[0], &err) < 0)
    abort();
  ttrpc_client *c = ttrpc_client_new(loop, cv[0], &err);
  if (!c)
    abort();
  ttrpc_client_on_close(c, on_client_close, NULL);
  server_closed = client_closed = false;
  int replies = 0;
  for (int i = 0; i < 3; i++)
    ttrpc_client_call_bytes(c, "test.S", "Echo", NULL, 0, i == 2 ? 1 : 0, reply_cb, &replies,
                            &err);

  feeder fs, fc;
  start_feeder(&fs, sv[1], data, size);
  start_feeder(&fc, cv[1], data, size);
  if (cf_loop_run_until(loop, &server_closed, 5000) < 0 ||
      cf_loop_run_until(loop, &client_closed, 5000) < 0) {
    fprintf(stderr, "connection still open 5 s after the input ended: a hang\n");
    abort();
  }
  ttrpc_client_free(c);
  if (replies != 3)
    abort(); /* every accepted call gets exactly one callback */
  cf_loop_unwatch(fs.watch);
  cf_loop_unwatch(fc.watch);
  if (fs.fd >= 0)
    close(fs.fd);
  if (fc.fd >= 0)
    close(fc.fd);
  return 0;
}
