/* A serial port (simulated with a pty: the server holds the master like the
 * guest holds /dev/vportNpM, the "host" opens and closes the slave): when the
 * host goes away the server drops its pending calls and resets the parser,
 * then serves the next host on the same fd. */
#include <errno.h>
#include <fcntl.h>
#include <termios.h>

#include "test_server.h"

static char slave_path[128];

static int open_host(void) {
  int fd = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  CHECK(fd >= 0);
  struct termios t;
  CHECK(tcgetattr(fd, &t) == 0);
  cfmakeraw(&t);
  CHECK(tcsetattr(fd, TCSANOW, &t) == 0);
  return fd;
}

static ttrpc_client *host_client(cf_loop *loop) {
  cf_error err = {0};
  ttrpc_client *c = ttrpc_client_new(loop, open_host(), &err);
  CHECK(c);
  return c;
}

static test_reply call(cf_loop *loop, ttrpc_client *c, const char *method, const char *arg) {
  cf_error err = {0};
  test_reply r = {0};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", method, (const uint8_t *)arg, strlen(arg), 5000,
                                   test_reply_cb, &r, &err), &err);
  test_wait(loop, &r, 6000);
  return r;
}

static long stat_of(cf_loop *loop, ttrpc_client *c, const char *name) {
  test_reply r = call(loop, c, "Stats", "");
  CHECK(r.status == CF_OK);
  char buf[128];
  snprintf(buf, sizeof(buf), "%.*s", (int)r.len, r.payload);
  test_reply_clear(&r);
  const char *p = strstr(buf, name);
  CHECK(p);
  return strtol(p + strlen(name) + 1, NULL, 10);
}

int main(void) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    SKIP("no pty available: %s", strerror(errno));
  CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
  CHECK(ptsname_r(master, slave_path, sizeof(slave_path)) == 0);
  /* keep one slave fd open while the server starts, so the master does not
   * begin in the hung-up state */
  int keep = open_host();

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(keep);
    cf_error err = {0};
    cf_loop *loop = cf_loop_new(&err);
    ttrpc_server *srv = test_server_new(loop);
    CHECK_OK(ttrpc_server_add_serial(srv, master, 20, &err), &err);
    cf_loop_run(loop);
    _exit(0);
  }
  close(master);
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);

  /* first host session: a call works, then one stays pending */
  ttrpc_client *c = host_client(loop);
  close(keep);
  test_reply r = call(loop, c, "Echo", "one");
  CHECK(r.status == CF_OK && r.len == 3 && memcmp(r.payload, "one", 3) == 0);
  test_reply_clear(&r);
  long cancels0 = stat_of(loop, c, "cancels");
  long closes0 = stat_of(loop, c, "closes");
  test_reply held = {0};
  CHECK_OK(ttrpc_client_call_bytes(c, "test.S", "Hold", NULL, 0, 0, test_reply_cb, &held, &err),
           &err);
  bool never = false;
  cf_loop_run_until(loop, &never, 100);
  ttrpc_client_free(c); /* the host goes away */
  CHECK(held.done && held.status == CF_UNAVAILABLE);
  test_reply_clear(&held);

  /* a host that leaves in the middle of a frame */
  usleep(300000); /* the server notices the hang-up (it polls every 20 ms) */
  int raw = open_host();
  CHECK(write(raw, "\x00\x00\x00\x40\x00\x00", 6) == 6);
  usleep(50000);
  close(raw);
  usleep(300000); /* the server notices the hang-up (it polls every 20 ms) */

  /* the next host starts again at stream 1 and is served from a clean parser */
  c = host_client(loop);
  r = call(loop, c, "Echo", "two");
  CHECK(r.status == CF_OK && r.len == 3 && memcmp(r.payload, "two", 3) == 0);
  test_reply_clear(&r);
  CHECK(stat_of(loop, c, "cancels") == cancels0 + 1);
  CHECK(stat_of(loop, c, "closes") == closes0 + 2); /* once per host session */
  ttrpc_client_free(c);

  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  cf_loop_free(loop);
  printf("ok\n");
  return 0;
}
