/* Calls on one connection are served concurrently; many clients at once;
 * a client that does not read its replies is throttled without stalling
 * anyone else or losing data. */
#include "test_raw.h"
#include "test_server.h"

static test_dir dir;

static ttrpc_client *connect_client(cf_loop *loop) {
  cf_error err = {0};
  int fd = cf_transport_connect(dir.addr, 2000, &err);
  CHECK_OK(fd, &err);
  ttrpc_client *c = ttrpc_client_new(loop, fd, &err);
  CHECK(c);
  return c;
}

/* A handler answering after 2 s does not delay a second call. */
static void slow_call_does_not_block_the_connection(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  test_reply slow = {0}, fast = {0};
  uint64_t t0 = cf_now_ms();
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Slow", (const uint8_t *)"2000", 4, 5000,
                                   test_reply_cb, &slow, &err), &err);
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Echo", (const uint8_t *)"fast", 4, 5000,
                                   test_reply_cb, &fast, &err), &err);
  test_wait(loop, &fast, 3000);
  CHECK(fast.status == CF_OK && fast.len == 4 && memcmp(fast.payload, "fast", 4) == 0);
  CHECK(!slow.done);
  CHECK(fast.at_ms - t0 < 500);
  test_wait(loop, &slow, 5000);
  CHECK(slow.status == CF_OK && slow.len == 4 && memcmp(slow.payload, "slow", 4) == 0);
  CHECK(slow.at_ms - t0 >= 1900);
  test_reply_clear(&slow);
  test_reply_clear(&fast);
  ttrpc_client_free(c);
}

#define N_CLIENTS 64
#define CALLS_PER_CLIENT 16

static int replies_ok;
static void count_cb(int status, const char *message, const uint8_t *payload, size_t len,
                     void *data) {
  const char *want = data;
  if (status == CF_OK && len == strlen(want) && memcmp(payload, want, len) == 0)
    replies_ok++;
  else
    fprintf(stderr, "bad reply: status %d %s\n", status, message);
}

static void many_clients_at_once(cf_loop *loop) {
  cf_error err = {0};
  static char words[N_CLIENTS][CALLS_PER_CLIENT][24];
  ttrpc_client *clients[N_CLIENTS];
  for (int i = 0; i < N_CLIENTS; i++)
    clients[i] = connect_client(loop);
  replies_ok = 0;
  for (int i = 0; i < N_CLIENTS; i++)
    for (int j = 0; j < CALLS_PER_CLIENT; j++) {
      snprintf(words[i][j], sizeof(words[i][j]), "client%d-call%d", i, j);
      CHECK_OK(ttrpc_client_call_bytes(clients[i], "test.S", j % 4 ? "Echo" : "Slow",
                                       (const uint8_t *)(j % 4 ? words[i][j] : "10"),
                                       j % 4 ? strlen(words[i][j]) : 2, 10000, count_cb,
                                       j % 4 ? words[i][j] : "slow", &err), &err);
    }
  uint64_t deadline = cf_now_ms() + 10000;
  while (replies_ok < N_CLIENTS * CALLS_PER_CLIENT && cf_now_ms() < deadline) {
    bool never = false;
    cf_loop_run_until(loop, &never, 20);
  }
  CHECK(replies_ok == N_CLIENTS * CALLS_PER_CLIENT);
  for (int i = 0; i < N_CLIENTS; i++)
    ttrpc_client_free(clients[i]);
}

/* 2000 calls pipelined on one connection all come back. */
static void pipelined_calls(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  replies_ok = 0;
  for (int i = 0; i < 2000; i++)
    CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Echo", (const uint8_t *)"p", 1, 10000,
                                     count_cb, "p", &err), &err);
  uint64_t deadline = cf_now_ms() + 10000;
  while (replies_ok < 2000 && cf_now_ms() < deadline) {
    bool never = false;
    cf_loop_run_until(loop, &never, 20);
  }
  CHECK(replies_ok == 2000);
  ttrpc_client_free(c);
}

/* A peer that sends many requests with large replies and reads none: the
 * server stops reading it once its output queue is large, keeps serving
 * others, and delivers every reply once the peer reads. */
static void slow_reader_is_throttled_not_dropped(cf_loop *loop) {
  cf_error err = {0};
  int raw = raw_connect(dir.addr);
  int rcvbuf = 4096;
  setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  enum { N = 48 };
  const char *size = "262144";
  ttrpc_outbuf o = {0};
  for (int i = 0; i < N; i++)
    raw_encode_request(&o, (uint32_t)(2 * i + 1), "Big", size, strlen(size));
  raw_write_all(raw, o.data, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);

  usleep(200000);
  ttrpc_client *c = connect_client(loop);
  test_reply r = {0};
  uint64_t t0 = cf_now_ms();
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Echo", (const uint8_t *)"x", 1, 5000,
                                   test_reply_cb, &r, &err), &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_OK && r.at_ms - t0 < 500);
  test_reply_clear(&r);
  ttrpc_client_free(c);

  for (int i = 0; i < N; i++) {
    raw_response resp;
    CHECK(raw_read_response(raw, &resp, 10000) == 0);
    CHECK(resp.stream_id == (uint32_t)(2 * i + 1) && resp.code == CF_OK && resp.len == 262144);
    raw_response_clear(&resp);
  }
  close(raw);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_dir_make(&dir);
  cf_error err = {0};
  int lfd = cf_transport_listen(dir.addr, &err);
  CHECK_OK(lfd, &err);
  pid_t pid = test_server_fork(lfd, true);
  close(lfd);
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);

  slow_call_does_not_block_the_connection(loop);
  many_clients_at_once(loop);
  pipelined_calls(loop);
  slow_reader_is_throttled_not_dropped(loop);

  cf_loop_free(loop);
  test_server_stop(pid);
  test_dir_remove(&dir);
  printf("ok\n");
  return 0;
}
