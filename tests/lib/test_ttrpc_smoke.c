/* A C client calls a C server over a socketpair and over a unix socket:
 * payload and metadata arrive, replies come back, UNIMPLEMENTED for unknown
 * methods. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coffer/transport.h"
#include "test_util.h"

static void echo(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  const char *ns = ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
  if (!ns || strcmp(ns, "k8s.io") != 0) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "namespace %s", ns ? ns : "(none)");
    return;
  }
  ttrpc_call_reply_bytes(call, payload, len);
}

static void exercise(cf_loop *loop, ttrpc_client *c) {
  cf_error err = {0};
  ttrpc_kv md[] = {{"containerd-namespace-ttrpc", "k8s.io"}};
  CHECK_OK(ttrpc_client_set_metadata(c, md, 1, &err), &err);

  test_reply r = {0};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.Echo", "Echo", (const uint8_t *)"hello", 5, 2000,
                                   test_reply_cb, &r, &err), &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_OK);
  CHECK(r.len == 5 && memcmp(r.payload, "hello", 5) == 0);
  test_reply_clear(&r);

  CHECK_OK(ttrpc_client_call_bytes(c, "test.Echo", "Nope", NULL, 0, 2000, test_reply_cb, &r,
                                   &err), &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_UNIMPLEMENTED);
  CHECK(strstr(r.message, "Nope"));
  test_reply_clear(&r);

  CHECK_OK(ttrpc_client_call_bytes(c, "test.Other", "Echo", NULL, 0, 2000, test_reply_cb, &r,
                                   &err), &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_UNIMPLEMENTED);
  CHECK(strstr(r.message, "test.Other"));
  test_reply_clear(&r);

  /* empty request, empty reply */
  CHECK_OK(ttrpc_client_call_bytes(c, "test.Echo", "Echo", NULL, 0, 0, test_reply_cb, &r, &err),
           &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_OK && r.len == 0);
  test_reply_clear(&r);

  /* without the namespace, the handler's own error status comes back */
  CHECK_OK(ttrpc_client_set_metadata(c, NULL, 0, &err), &err);
  CHECK_OK(ttrpc_client_call_bytes(c, "test.Echo", "Echo", NULL, 0, 0, test_reply_cb, &r, &err),
           &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_INVALID_ARGUMENT && strcmp(r.message, "namespace (none)") == 0);
  test_reply_clear(&r);
}

static void over_socketpair(void) {
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);
  ttrpc_server *srv = ttrpc_server_new(loop, &err);
  CHECK(srv);
  CHECK_OK(ttrpc_server_register(srv, "test.Echo", "Echo", echo, NULL, &err), &err);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK_OK(ttrpc_server_add_conn(srv, sv[0], &err), &err);
  ttrpc_client *c = ttrpc_client_new(loop, sv[1], &err);
  CHECK(c);
  exercise(loop, c);
  ttrpc_client_free(c);
  ttrpc_server_free(srv);
  cf_loop_free(loop);
}

static void over_unix_socket(void) {
  cf_error err = {0};
  char dir[] = "/tmp/coffer-ttrpc-XXXXXX";
  CHECK(mkdtemp(dir));
  char addr[256];
  snprintf(addr, sizeof(addr), "unix:%s/s.sock", dir);

  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);
  ttrpc_server *srv = ttrpc_server_new(loop, &err);
  CHECK(srv);
  CHECK_OK(ttrpc_server_register(srv, "test.Echo", "Echo", echo, NULL, &err), &err);
  int lfd = cf_transport_listen(addr, &err);
  CHECK_OK(lfd, &err);
  CHECK_OK(ttrpc_server_listen_fd(srv, lfd, &err), &err);
  int fd = cf_transport_connect(addr, 1000, &err);
  CHECK_OK(fd, &err);
  ttrpc_client *c = ttrpc_client_new(loop, fd, &err);
  CHECK(c);
  exercise(loop, c);
  ttrpc_client_free(c);
  ttrpc_server_free(srv);
  close(lfd);
  cf_loop_free(loop);
  snprintf(addr, sizeof(addr), "%s/s.sock", dir);
  unlink(addr);
  rmdir(dir);
}

/* The shim inherits its listening socket from containerd as a blocking fd:
 * the server must still never block in accept. */
static void over_inherited_blocking_listener(void) {
  cf_error err = {0};
  char dir[] = "/tmp/coffer-ttrpc-XXXXXX";
  CHECK(mkdtemp(dir));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.sock", dir);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0); /* blocking, as inherited */
  CHECK(lfd >= 0);
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 16) == 0);

  cf_loop *loop = cf_loop_new(&err);
  ttrpc_server *srv = ttrpc_server_new(loop, &err);
  CHECK(loop && srv);
  CHECK_OK(ttrpc_server_register(srv, "test.Echo", "Echo", echo, NULL, &err), &err);
  CHECK_OK(ttrpc_server_listen_fd(srv, lfd, &err), &err);
  char addr[160];
  snprintf(addr, sizeof(addr), "unix:%s", sa.sun_path);
  ttrpc_client *c[3];
  for (int i = 0; i < 3; i++) {
    int fd = cf_transport_connect(addr, 1000, &err);
    CHECK_OK(fd, &err);
    CHECK((c[i] = ttrpc_client_new(loop, fd, &err)));
  }
  for (int i = 0; i < 3; i++)
    exercise(loop, c[i]);
  for (int i = 0; i < 3; i++)
    ttrpc_client_free(c[i]);
  ttrpc_server_free(srv);
  close(lfd);
  cf_loop_free(loop);
  unlink(sa.sun_path);
  rmdir(dir);
}

int main(void) {
  over_socketpair();
  over_unix_socket();
  over_inherited_blocking_listener();
  printf("ok\n");
  return 0;
}
