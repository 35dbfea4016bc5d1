/* Transports: address parsing errors, unix connect timeout, the hybrid vsock
 * handshake (against a fake VMM socket), vsock where the kernel has it,
 * serial device checks, and the SO_PEERCRED same-uid rule (a peer running as
 * another uid is refused by the server). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "coffer/transport.h"
#include "test_raw.h"
#include "test_server.h"

static test_dir dir;

static void bad_addresses(void) {
  const char *bad[] = {"tcp:1.2.3.4:5", "vsock:", "vsock:x", "vsock:1:", "vsock:-1:2",
                       "hvsock:/x", "hvsock:/x:port", "unix:", "", "vsock:99999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cf_error err = {0};
    CHECK(cf_transport_listen(bad[i], &err) < 0);
    CHECK(err.msg[0]);
    cf_error_clear(&err);
    CHECK(cf_transport_connect(bad[i], 10, &err) < 0);
    CHECK(err.msg[0]);
  }
  cf_error err = {0};
  char longp[200];
  memset(longp, 'a', sizeof(longp) - 1);
  longp[0] = '/';
  longp[sizeof(longp) - 1] = '\0';
  CHECK(cf_transport_listen(longp, &err) == -ENAMETOOLONG);
  CHECK(cf_transport_listen("hvsock:/tmp/x:5", &err) == -EINVAL);
  CHECK(cf_transport_connect("vsock:1024", 10, &err) == -EINVAL); /* no CID */
}

static void unix_connect_waits_then_times_out(void) {
  cf_error err = {0};
  uint64_t t0 = cf_now_ms();
  CHECK(cf_transport_connect(dir.addr, 150, &err) == -ENOENT);
  CHECK(cf_now_ms() - t0 >= 140);
  CHECK(strstr(err.msg, dir.sock));
  /* a stale socket file is replaced by listen */
  int a = cf_transport_listen(dir.addr, &err);
  CHECK_OK(a, &err);
  close(a);
  int b = cf_transport_listen(dir.sock, &err); /* bare path form */
  CHECK_OK(b, &err);
  char url[200];
  snprintf(url, sizeof(url), "unix://%s", dir.sock);
  int c = cf_transport_connect(url, 100, &err);
  CHECK_OK(c, &err);
  CHECK(fcntl(c, F_GETFL) & O_NONBLOCK);
  CHECK(fcntl(c, F_GETFD) & FD_CLOEXEC);
  close(c);
  close(b);
  unlink(dir.sock);
}

/* A fake hybrid-vsock VMM socket: reads "CONNECT <port>\n", answers with
 * reply, then (on OK) hands the stream to a ttrpc server. */
static pid_t fake_vmm(int lfd, const char *reply) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid > 0)
    return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int fl = fcntl(lfd, F_GETFL);
  fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK);
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  CHECK(fd >= 0);
  char line[64];
  size_t n = 0;
  while (n + 1 < sizeof(line) && read(fd, line + n, 1) == 1 && line[n] != '\n')
    n++;
  line[n] = '\0';
  if (strcmp(line, "CONNECT 1024") != 0)
    _exit(3);
  raw_write_all(fd, reply, strlen(reply));
  if (strncmp(reply, "OK", 2) != 0)
    _exit(0);
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  ttrpc_server *srv = test_server_new(loop);
  CHECK_OK(ttrpc_server_add_conn(srv, fd, &err), &err);
  cf_loop_run(loop);
  _exit(0);
}

static void hybrid_vsock_handshake(void) {
  cf_error err = {0};
  int lfd = cf_transport_listen(dir.addr, &err);
  CHECK_OK(lfd, &err);
  char addr[200];
  snprintf(addr, sizeof(addr), "hvsock://%s:1024", dir.sock); /* URL spelling */

  pid_t pid = fake_vmm(lfd, "OK 1073741824\n");
  int fd = cf_transport_connect(addr, 2000, &err);
  CHECK_OK(fd, &err);
  snprintf(addr, sizeof(addr), "hvsock:%s:1024", dir.sock);
  cf_loop *loop = cf_loop_new(&err);
  ttrpc_client *c = ttrpc_client_new(loop, fd, &err);
  CHECK(c);
  test_reply r = {0};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Echo", (const uint8_t *)"hv", 2, 2000,
                                   test_reply_cb, &r, &err), &err);
  test_wait(loop, &r, 3000);
  CHECK(r.status == CF_OK && r.len == 2 && memcmp(r.payload, "hv", 2) == 0);
  test_reply_clear(&r);
  ttrpc_client_free(c);
  cf_loop_free(loop);
  test_server_stop(pid);

  pid = fake_vmm(lfd, "ERR no listener\n");
  cf_error_clear(&err);
  CHECK(cf_transport_connect(addr, 2000, &err) == -ECONNREFUSED);
  CHECK(strstr(err.msg, "refused port 1024"));
  waitpid(pid, NULL, 0);

  pid = fake_vmm(lfd, ""); /* closes without answering */
  CHECK(cf_transport_connect(addr, 2000, &err) < 0);
  waitpid(pid, NULL, 0);
  close(lfd);
  unlink(dir.sock);
}

static void vsock_where_available(void) {
  cf_error err = {0};
  int lfd = cf_transport_listen("vsock:10240", &err);
  if (lfd < 0) {
    printf("note: no AF_VSOCK here (%s); vsock listen/connect not exercised\n", err.msg);
    return;
  }
  /* CID 1 is the local loopback when vsock_loopback is loaded */
  int fd = cf_transport_connect("vsock:1:10240", 500, &err);
  if (fd < 0)
    printf("note: vsock loopback unavailable (%s)\n", err.msg);
  else
    close(fd);
  close(lfd);
}

static void serial_needs_a_char_device(void) {
  cf_error err = {0};
  int fd = cf_transport_open_serial("/dev/null", &err);
  CHECK_OK(fd, &err);
  close(fd);
  CHECK(cf_transport_open_serial(dir.dir, &err) < 0);
  CHECK(cf_transport_connect("serial:/nonexistent/vport", 10, &err) == -ENOENT);
  CHECK(strstr(err.msg, "/nonexistent/vport"));
}

/* A connection from uid 65534 is refused; our own uid is served. */
static void peer_with_other_uid_is_rejected(void) {
  if (geteuid() != 0) {
    printf("note: not root, cannot test a foreign uid\n");
    return;
  }
  cf_error err = {0};
  CHECK(chmod(dir.dir, 0777) == 0);
  int lfd = cf_transport_listen(dir.addr, &err);
  CHECK_OK(lfd, &err);
  CHECK(chmod(dir.sock, 0777) == 0);
  pid_t srv = test_server_fork(lfd, true);
  close(lfd);

  int fd = raw_connect(dir.addr);
  raw_request(fd, 1, "Echo", "me", 2);
  raw_expect(fd, 1, CF_OK);
  close(fd);

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (setgid(65534) < 0 || setuid(65534) < 0)
      _exit(2);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dir.sock);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
      _exit(3);
    /* the server may already have closed: a failed send is a refusal too */
    ttrpc_outbuf o = {0};
    raw_encode_request(&o, 1, "Echo", "intruder", 8);
    if (send(s, o.data, ttrpc_outbuf_pending(&o), MSG_NOSIGNAL) < 0)
      _exit(0);
    char b[64];
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    if (poll(&pfd, 1, 3000) != 1)
      _exit(4); /* neither closed nor answered */
    ssize_t n = read(s, b, sizeof(b));
    _exit(n <= 0 ? 0 : 5); /* closed without an answer */
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "foreign uid was not rejected (child status %d)\n", status);
    abort();
  }
  /* the server is still fine */
  fd = raw_connect(dir.addr);
  raw_request(fd, 1, "Echo", "me", 2);
  raw_expect(fd, 1, CF_OK);
  close(fd);
  test_server_stop(srv);

  /* and the check itself names the uid */
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(cf_transport_check_peer(sv[0], &err) == 0);
  close(sv[0]);
  close(sv[1]);
  unlink(dir.sock);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_dir_make(&dir);
  bad_addresses();
  unix_connect_waits_then_times_out();
  hybrid_vsock_handshake();
  vsock_where_available();
  serial_needs_a_char_device();
  peer_with_other_uid_is_rejected();
  test_dir_remove(&dir);
  printf("ok\n");
  return 0;
}
