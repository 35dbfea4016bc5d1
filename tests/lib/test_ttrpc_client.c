/* Client behaviour: deadlines, metadata, the blocking wrapper, failure of
 * every pending call when the server goes away, and callbacks that free the
 * client. */
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

static test_reply call(cf_loop *loop, ttrpc_client *c, const char *method, const char *arg,
                       int timeout_ms) {
  cf_error err = {0};
  test_reply r = {0};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", method, (const uint8_t *)arg, strlen(arg),
                                   timeout_ms, test_reply_cb, &r, &err), &err);
  test_wait(loop, &r, 10000);
  return r;
}

static void timeout_gives_deadline_exceeded(cf_loop *loop) {
  ttrpc_client *c = connect_client(loop);
  uint64_t t0 = cf_now_ms();
  test_reply r = call(loop, c, "Hold", "", 200);
  uint64_t took = r.at_ms - t0;
  CHECK(r.status == CF_DEADLINE_EXCEEDED);
  CHECK(took >= 190 && took < 1000);
  test_reply_clear(&r);
  /* the server was told the deadline */
  r = call(loop, c, "Stats", "", 1000);
  char stats[128];
  snprintf(stats, sizeof(stats), "%.*s", (int)r.len, r.payload);
  CHECK(strstr(stats, "timeout_ns=200000000"));
  test_reply_clear(&r);

  /* a reply arriving after the deadline is dropped, later calls are fine */
  r = call(loop, c, "Slow", "300", 100);
  CHECK(r.status == CF_DEADLINE_EXCEEDED);
  test_reply_clear(&r);
  bool never = false;
  cf_loop_run_until(loop, &never, 400);
  r = call(loop, c, "Echo", "later", 1000);
  CHECK(r.status == CF_OK && r.len == 5 && memcmp(r.payload, "later", 5) == 0);
  test_reply_clear(&r);
  ttrpc_client_free(c);
}

static void metadata_is_sent_with_each_call(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  ttrpc_kv md[] = {{"containerd-namespace-ttrpc", "k8s.io"}, {"x-other", "v2"}};
  CHECK_OK(ttrpc_client_set_metadata(c, md, 2, &err), &err);
  for (int i = 0; i < 3; i++) {
    test_reply r = call(loop, c, "Md", "containerd-namespace-ttrpc", 1000);
    CHECK(r.status == CF_OK && r.len == 6 && memcmp(r.payload, "k8s.io", 6) == 0);
    test_reply_clear(&r);
  }
  test_reply r = call(loop, c, "Md", "x-other", 1000);
  CHECK(r.status == CF_OK && r.len == 2 && memcmp(r.payload, "v2", 2) == 0);
  test_reply_clear(&r);
  r = call(loop, c, "Md", "missing", 1000);
  CHECK(r.status == CF_NOT_FOUND && strcmp(r.message, "no metadata missing") == 0);
  test_reply_clear(&r);
  ttrpc_client_free(c);
}

static void sync_wrapper(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  Ttrpc__KeyValue req = TTRPC__KEY_VALUE__INIT;
  req.key = "k";
  req.value = "v";
  ProtobufCMessage *resp = NULL;
  CHECK_OK(ttrpc_client_call_sync(c, "test.S", "Echo", &req.base, &ttrpc__key_value__descriptor,
                                  &resp, 1000, &err), &err);
  Ttrpc__KeyValue *kv = (Ttrpc__KeyValue *)resp;
  CHECK(kv && strcmp(kv->key, "k") == 0 && strcmp(kv->value, "v") == 0);
  protobuf_c_message_free_unpacked(resp, NULL);

  /* an error status becomes err and a negative return */
  int rc = ttrpc_client_call_sync(c, "test.S", "Nope", NULL, NULL, NULL, 1000, &err);
  CHECK(rc == -ENOSYS && err.status == CF_UNIMPLEMENTED && strstr(err.msg, "Nope"));
  rc = ttrpc_client_call_sync(c, "test.S", "Hold", NULL, NULL, NULL, 100, &err);
  CHECK(rc == -ETIMEDOUT && cf_error_grpc_status(&err) == CF_DEADLINE_EXCEEDED);
  ttrpc_client_free(c);
}

static void request_over_limit_is_refused_locally(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  uint8_t *big = calloc(1, TTRPC_MAX_MESSAGE);
  CHECK(big);
  test_reply r = {0};
  int rc = ttrpc_client_call_bytes(c, "test.S", "Echo", big, TTRPC_MAX_MESSAGE, 1000,
                                   test_reply_cb, &r, &err);
  CHECK(rc == -EMSGSIZE && err.status == CF_RESOURCE_EXHAUSTED);
  free(big);
  r = call(loop, c, "Echo", "ok", 1000);
  CHECK(r.status == CF_OK);
  test_reply_clear(&r);
  /* a reply over the limit arrives as RESOURCE_EXHAUSTED for that call */
  char n[32];
  snprintf(n, sizeof(n), "%u", TTRPC_MAX_MESSAGE);
  r = call(loop, c, "Big", n, 5000);
  CHECK(r.status == CF_RESOURCE_EXHAUSTED);
  test_reply_clear(&r);
  ttrpc_client_free(c);
}

static int closed_count;
static void on_close(ttrpc_client *c, void *data) { closed_count++; }

static void server_gone_fails_pending_calls(cf_loop *loop, pid_t *pid) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  ttrpc_client_on_close(c, on_close, NULL);
  test_reply r[3] = {{0}};
  for (int i = 0; i < 3; i++)
    CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 0, test_reply_cb, &r[i],
                                     &err), &err);
  bool never = false;
  cf_loop_run_until(loop, &never, 100); /* the calls are on the wire */
  test_server_stop(*pid);
  *pid = -1;
  for (int i = 0; i < 3; i++) {
    test_wait(loop, &r[i], 3000);
    CHECK(r[i].status == CF_UNAVAILABLE);
    test_reply_clear(&r[i]);
  }
  CHECK(closed_count == 1);
  CHECK(!ttrpc_client_connected(c));
  int rc = ttrpc_client_call_bytes(c, "test.S", "Echo", NULL, 0, 0, test_reply_cb, &r[0], &err);
  CHECK(rc == -ENOTCONN && err.status == CF_UNAVAILABLE);
  CHECK(!r[0].done);
  ttrpc_client_free(c);
}

/* ---- callbacks that free the client */
typedef struct freeing { ttrpc_client *c; int calls; int unavailable; } freeing;
static void free_in_cb(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  freeing *f = data;
  f->calls++;
  if (status == CF_UNAVAILABLE)
    f->unavailable++;
  if (f->c) {
    ttrpc_client *c = f->c;
    f->c = NULL;
    ttrpc_client_free(c);
  }
}

static void client_freed_from_its_callback(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = connect_client(loop);
  freeing f = {.c = c};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Echo", NULL, 0, 0, free_in_cb, &f, &err), &err);
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 0, free_in_cb, &f, &err), &err);
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 50, free_in_cb, &f, &err), &err);
  uint64_t deadline = cf_now_ms() + 3000;
  while (f.calls < 3 && cf_now_ms() < deadline) {
    bool never = false;
    cf_loop_run_until(loop, &never, 20);
  }
  CHECK(f.calls == 3 && f.unavailable == 2);

  /* and from a timeout callback */
  c = connect_client(loop);
  f = (freeing){.c = c};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 30, free_in_cb, &f, &err), &err);
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 0, free_in_cb, &f, &err), &err);
  deadline = cf_now_ms() + 3000;
  while (f.calls < 2 && cf_now_ms() < deadline) {
    bool never = false;
    cf_loop_run_until(loop, &never, 20);
  }
  CHECK(f.calls == 2 && f.unavailable == 1);

  /* freeing with calls pending fails them */
  c = connect_client(loop);
  test_reply r = {0};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 0, test_reply_cb, &r, &err),
           &err);
  ttrpc_client_free(c);
  CHECK(r.done && r.status == CF_UNAVAILABLE);
  test_reply_clear(&r);
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

  timeout_gives_deadline_exceeded(loop);
  metadata_is_sent_with_each_call(loop);
  sync_wrapper(loop);
  request_over_limit_is_refused_locally(loop);
  client_freed_from_its_callback(loop);
  server_gone_fails_pending_calls(loop, &pid);

  cf_loop_free(loop);
  test_dir_remove(&dir);
  printf("ok\n");
  return 0;
}
