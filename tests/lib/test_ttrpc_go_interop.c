/* Wire compatibility with containerd's Go ttrpc (Debian's
 * golang-github-containerd-ttrpc-dev, built offline): our client calls a Go
 * server, and a Go client calls our server. The Go side speaks gogo's
 * StringValue (a string in field 1), which ttrpc.KeyValue's key decodes. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "coffer/transport.h"
#include "test_util.h"
#include "ttrpc.pb-c.h"

static const char *peer;
static char dir[64], sock[128], addr[160];

static pid_t spawn_peer(const char *mode, int *out_fd) {
  int pfd[2];
  CHECK(pipe(pfd) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(pfd[1], STDOUT_FILENO);
    close(pfd[0]);
    execl(peer, peer, mode, sock, (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  *out_fd = pfd[0];
  return pid;
}

static void read_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, 1);
    if (r <= 0 || buf[n] == '\n')
      break;
    n++;
  }
  buf[n] = '\0';
}

typedef struct kv_reply {
  bool done;
  int status;
  char message[256];
  char key[256];
  uint64_t at;
} kv_reply;

static void kv_cb(int status, const char *message, const uint8_t *payload, size_t len,
                  void *data) {
  kv_reply *r = data;
  r->done = true;
  r->status = status;
  r->at = cf_now_ms();
  snprintf(r->message, sizeof(r->message), "%s", message);
  Ttrpc__KeyValue *kv = ttrpc__key_value__unpack(NULL, len, payload);
  CHECK(kv);
  snprintf(r->key, sizeof(r->key), "%s", kv->key);
  ttrpc__key_value__free_unpacked(kv, NULL);
}

static void c_client_calls_go_server(void) {
  int out;
  pid_t pid = spawn_peer("server", &out);
  char line[64];
  read_line(out, line, sizeof(line));
  CHECK(strcmp(line, "ready") == 0);

  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);
  int fd = cf_transport_connect(addr, 5000, &err);
  CHECK_OK(fd, &err);
  ttrpc_client *c = ttrpc_client_new(loop, fd, &err);
  CHECK(c);
  ttrpc_kv md[] = {{"containerd-namespace-ttrpc", "k8s.io"}};
  CHECK_OK(ttrpc_client_set_metadata(c, md, 1, &err), &err);

  Ttrpc__KeyValue req = TTRPC__KEY_VALUE__INIT;
  req.key = "from-c";
  kv_reply r = {0};
  CHECK_OK(ttrpc_client_call(c, "coffer.test.Echo", "Echo", &req.base, 5000, kv_cb, &r, &err),
           &err);
  CHECK(cf_loop_run_until(loop, &r.done, 6000) == 0);
  CHECK(r.status == CF_OK && strcmp(r.key, "from-c|k8s.io") == 0);

  req.key = "x";
  r = (kv_reply){0};
  CHECK_OK(ttrpc_client_call(c, "coffer.test.Echo", "Fail", &req.base, 5000, kv_cb, &r, &err),
           &err);
  CHECK(cf_loop_run_until(loop, &r.done, 6000) == 0);
  CHECK(r.status == CF_NOT_FOUND && strcmp(r.message, "no such thing: x") == 0);

  r = (kv_reply){0};
  CHECK_OK(ttrpc_client_call(c, "coffer.test.Echo", "Missing", NULL, 5000, kv_cb, &r, &err),
           &err);
  CHECK(cf_loop_run_until(loop, &r.done, 6000) == 0);
  CHECK(r.status == CF_UNIMPLEMENTED);

  /* several in flight: a slow one, a fast one, and one that times out */
  kv_reply slow = {0}, fast = {0}, late = {0};
  req.key = "800";
  uint64_t t0 = cf_now_ms();
  CHECK_OK(ttrpc_client_call(c, "coffer.test.Echo", "Sleep", &req.base, 5000, kv_cb, &slow, &err),
           &err);
  CHECK_OK(ttrpc_client_call(c, "coffer.test.Echo", "Sleep", &req.base, 200, kv_cb, &late, &err),
           &err);
  req.key = "fast";
  CHECK_OK(ttrpc_client_call(c, "coffer.test.Echo", "Echo", &req.base, 5000, kv_cb, &fast, &err),
           &err);
  CHECK(cf_loop_run_until(loop, &fast.done, 6000) == 0);
  CHECK(fast.status == CF_OK && fast.at - t0 < 500 && !slow.done);
  CHECK(cf_loop_run_until(loop, &late.done, 6000) == 0);
  CHECK(late.status == CF_DEADLINE_EXCEEDED);
  CHECK(cf_loop_run_until(loop, &slow.done, 6000) == 0);
  CHECK(slow.status == CF_OK && strcmp(slow.key, "slept") == 0);

  ttrpc_client_free(c);
  cf_loop_free(loop);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(out);
}

/* ------------------------------------------------------ our server, Go client */
static void go_echo(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  Ttrpc__KeyValue *in = ttrpc__key_value__unpack(NULL, len, p);
  if (!in) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "bad request");
    return;
  }
  const char *ns = ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
  char buf[512];
  snprintf(buf, sizeof(buf), "%s|%s", in->key, ns ? ns : "");
  Ttrpc__KeyValue out = TTRPC__KEY_VALUE__INIT;
  out.key = buf;
  ttrpc_call_reply(call, &out.base);
  ttrpc__key_value__free_unpacked(in, NULL);
}

static void go_fail(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  Ttrpc__KeyValue *in = ttrpc__key_value__unpack(NULL, len, p);
  CHECK(in);
  cf_error err = {0};
  cf_err_status(&err, CF_NOT_FOUND, "no such thing: %s", in->key);
  ttrpc_call_reply_error(call, &err);
  ttrpc__key_value__free_unpacked(in, NULL);
}

static cf_loop *server_loop;
static void sleep_done(cf_loop *loop, void *data) {
  Ttrpc__KeyValue out = TTRPC__KEY_VALUE__INIT;
  out.key = "slept";
  ttrpc_call_reply(data, &out.base);
}

static void go_sleep(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  Ttrpc__KeyValue *in = ttrpc__key_value__unpack(NULL, len, p);
  CHECK(in);
  CHECK(cf_loop_timer(server_loop, (uint64_t)atoi(in->key), sleep_done, call, NULL));
  ttrpc__key_value__free_unpacked(in, NULL);
}

static void go_client_calls_c_server(void) {
  cf_error err = {0};
  int lfd = cf_transport_listen(addr, &err);
  CHECK_OK(lfd, &err);
  pid_t srv_pid = fork();
  CHECK(srv_pid >= 0);
  if (srv_pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    server_loop = cf_loop_new(&err);
    ttrpc_server *srv = ttrpc_server_new(server_loop, &err);
    CHECK(srv);
    CHECK_OK(ttrpc_server_register(srv, "coffer.test.Echo", "Echo", go_echo, NULL, &err), &err);
    CHECK_OK(ttrpc_server_register(srv, "coffer.test.Echo", "Fail", go_fail, NULL, &err), &err);
    CHECK_OK(ttrpc_server_register(srv, "coffer.test.Echo", "Sleep", go_sleep, NULL, &err), &err);
    CHECK_OK(ttrpc_server_listen_fd(srv, lfd, &err), &err);
    cf_loop_run(server_loop);
    _exit(0);
  }
  close(lfd);
  int out;
  pid_t pid = spawn_peer("client", &out);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  char line[256];
  read_line(out, line, sizeof(line));
  close(out);
  kill(srv_pid, SIGKILL);
  waitpid(srv_pid, NULL, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strcmp(line, "ok") != 0) {
    fprintf(stderr, "Go client failed against the C server (status %d, said \"%s\")\n", status,
            line);
    abort();
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || !argv[1][0] || access(argv[1], X_OK) != 0)
    SKIP("the Go ttrpc peer was not built (golang-go or golang-github-containerd-ttrpc-dev missing)");
  peer = argv[1];
  signal(SIGPIPE, SIG_IGN);
  snprintf(dir, sizeof(dir), "/tmp/coffer-go-XXXXXX");
  CHECK(mkdtemp(dir));
  snprintf(sock, sizeof(sock), "%s/s.sock", dir);
  snprintf(addr, sizeof(addr), "unix:%s", sock);

  c_client_calls_go_server();
  unlink(sock);
  go_client_calls_c_server();

  unlink(sock);
  rmdir(dir);
  printf("ok\n");
  return 0;
}
