/* A ttrpc server with test handlers, run in a forked child so the test can
 * talk to it with blocking raw sockets or with the C client.
 *
 * Service "test.S" methods:
 *   Echo   replies with the request payload
 *   Slow   replies after <payload as decimal> ms (a timer: the loop keeps going)
 *   Hold   never replies until its connection closes (then the cancel callback does)
 *   Big    replies with <payload as decimal> bytes of 'b'
 *   Md     replies with the value of metadata key <payload>, or NOT_FOUND
 *   Stats  replies "cancels=N closes=N timeout_ns=N" */
#ifndef COFFER_TEST_SERVER_H
#define COFFER_TEST_SERVER_H

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/ttrpc.h"
#include "test_util.h"

typedef struct test_server_state {
  cf_loop *loop;
  int cancels, closes;
  int64_t last_timeout_ns;
} test_server_state;

static test_server_state ts_state;

static inline long ts_number(const uint8_t *p, size_t len) {
  char buf[32];
  if (len >= sizeof(buf))
    return -1;
  memcpy(buf, p, len);
  buf[len] = '\0';
  return strtol(buf, NULL, 10);
}

static inline void ts_echo(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  ts_state.last_timeout_ns = ttrpc_call_timeout_ns(call);
  ttrpc_call_reply_bytes(call, p, len);
}

static inline void ts_slow_fire(cf_loop *loop, void *data) {
  ttrpc_call *call = data;
  ttrpc_call_reply_bytes(call, (const uint8_t *)"slow", 4);
}

static inline void ts_slow(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  long ms = ts_number(p, len);
  if (!cf_loop_timer(ts_state.loop, ms < 0 ? 0 : (uint64_t)ms, ts_slow_fire, call, NULL))
    ttrpc_call_reply_status(call, CF_INTERNAL, "timer");
}

static inline void ts_hold_cancel(ttrpc_call *call, void *data) {
  ts_state.cancels++;
  CHECK(ttrpc_call_cancelled(call));
  ttrpc_call_reply_status(call, CF_CANCELLED, "connection closed");
}

static inline void ts_hold(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  ts_state.last_timeout_ns = ttrpc_call_timeout_ns(call);
  ttrpc_call_on_cancel(call, ts_hold_cancel, NULL);
}

static inline void ts_big(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  long n = ts_number(p, len);
  if (n < 0 || n > (long)(8u << 20)) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "bad size");
    return;
  }
  uint8_t *buf = malloc((size_t)n + 1);
  CHECK(buf);
  memset(buf, 'b', (size_t)n);
  ttrpc_call_reply_bytes(call, buf, (size_t)n);
  free(buf);
}

static inline void ts_md(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  char key[256];
  CHECK(len < sizeof(key));
  memcpy(key, p, len);
  key[len] = '\0';
  const char *v = ttrpc_call_metadata(call, key);
  if (!v) {
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "no metadata %s", key);
    return;
  }
  ttrpc_call_reply_bytes(call, (const uint8_t *)v, strlen(v));
}

static inline void ts_stats(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  char buf[128];
  int n = snprintf(buf, sizeof(buf), "cancels=%d closes=%d timeout_ns=%lld", ts_state.cancels,
                   ts_state.closes, (long long)ts_state.last_timeout_ns);
  ttrpc_call_reply_bytes(call, (const uint8_t *)buf, (size_t)n);
}

static inline void ts_on_close(void *conn, void *data) { ts_state.closes++; }

static ttrpc_server *test_server_new(cf_loop *loop) {
  cf_error err = {0};
  ts_state.loop = loop;
  ttrpc_server *srv = ttrpc_server_new(loop, &err);
  CHECK(srv);
  struct { const char *m; ttrpc_handler h; } methods[] = {
      {"Echo", ts_echo}, {"Slow", ts_slow}, {"Hold", ts_hold}, {"Big", ts_big},
      {"Md", ts_md},     {"Stats", ts_stats},
  };
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    CHECK_OK(ttrpc_server_register(srv, "test.S", methods[i].m, methods[i].h, NULL, &err), &err);
  ttrpc_server_set_on_close(srv, ts_on_close, NULL);
  return srv;
}

/* Fork a server process. fd is a listening socket (listening) or one end of
 * a connected stream; the child owns it, the parent closes its copy. */
static inline pid_t test_server_fork(int fd, bool listening) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid > 0) {
    if (!listening)
      close(fd);
    return pid;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);
  ttrpc_server *srv = test_server_new(loop);
  if (listening)
    CHECK_OK(ttrpc_server_listen_fd(srv, fd, &err), &err);
  else
    CHECK_OK(ttrpc_server_add_conn(srv, fd, &err), &err);
  cf_loop_run(loop);
  _exit(0);
}

static inline void test_server_stop(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

#endif
