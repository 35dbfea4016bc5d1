/* The relay test rig: the host relay and the guest pump run in a child
 * process on one event loop, joined by a socketpair (a virtio-serial port
 * is one byte stream, as a socketpair is), optionally through a hostile
 * "host" that tampers with the channel. Brokers are real TCP listeners. */
#ifndef COFFER_TEST_RELAY_RIG_H
#define COFFER_TEST_RELAY_RIG_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "coffer/log.h"
#include "coffer/loop.h"
#include "coffer/relay.h"

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

typedef struct rig_opts {
  const char *broker;
  unsigned max_streams;
  int connect_ms, idle_ms;
  const char *tamper; /* NULL, "flip", "cut", "stall" (host→guest) */
  bool host_only;     /* no guest pump: the test speaks frames on *raw */
  bool guest_only;    /* no host relay: the test is the host on *raw */
} rig_opts;

typedef struct rig {
  pid_t relays, tamper;
  char dir[64];
  char sock[108];
  char log[128];
} rig;

/* A child of the test dies with it, also when a CHECK fails. */
static void rig_die_with_parent(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
}

/* The hostile host: forwards guest→host untouched; host→guest frames are
 * parsed and their DATA flipped, cut short, or withheld. */
static void rig_tamper(int g, int h, const char *mode) {
  uint8_t buf[CF_RELAY_HEADER + CF_RELAY_MAX_PAYLOAD + 4096];
  size_t len = 0;
  bool done = false;
  for (;;) {
    struct pollfd p[2] = {{.fd = g, .events = POLLIN}, {.fd = h, .events = POLLIN}};
    if (poll(p, 2, -1) < 0)
      continue;
    if (p[0].revents) {
      uint8_t t[4096];
      ssize_t n = read(g, t, sizeof(t));
      if (n <= 0 || write(h, t, (size_t)n) != n)
        _exit(0);
    }
    if (!p[1].revents)
      continue;
    ssize_t n = read(h, buf + len, sizeof(buf) - len);
    if (n <= 0)
      _exit(0);
    len += (size_t)n;
    for (;;) {
      cf_relay_frame f;
      cf_error err = {0};
      int fl = cf_relay_frame_parse(buf, len, &f, &err);
      if (fl <= 0)
        break;
      uint8_t *pl = buf + CF_RELAY_HEADER;
      size_t out = (size_t)fl;
      if (f.type == CF_RELAY_DATA && !strcmp(mode, "stall")) {
        out = 0;
      } else if (f.type == CF_RELAY_DATA && !done && f.len > 16) {
        done = true;
        if (!strcmp(mode, "flip")) {
          pl[f.len / 2] ^= 0x01;
        } else if (!strcmp(mode, "cut")) {
          uint16_t half = f.len / 2; /* drop the second half of the frame's bytes */
          cf_relay_frame_header(buf, f.stream, f.type, half);
          out = CF_RELAY_HEADER + half;
        }
      }
      if (out && write(g, buf, out) != (ssize_t)out)
        _exit(0);
      memmove(buf, buf + fl, len - (size_t)fl);
      len -= (size_t)fl;
    }
  }
}

static int rig_listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 64) == 0);
  return fd;
}

/* Start the relays; *raw gets the test's end of the channel in host_only
 * (the test is the guest) and guest_only (the test is the host) modes. */
__attribute__((unused)) static void rig_start(rig *r, const rig_opts *o, int *raw) {
  memset(r, 0, sizeof(*r));
  snprintf(r->dir, sizeof(r->dir), "/tmp/relay-test-XXXXXX");
  CHECK(mkdtemp(r->dir));
  snprintf(r->sock, sizeof(r->sock), "%s/relay.sock", r->dir);
  snprintf(r->log, sizeof(r->log), "%s/relays.log", r->dir);
  int gh[2], tt[2] = {-1, -1};
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gh) == 0);
  int guest_chan = gh[0], host_chan = gh[1];
  if (o->tamper) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tt) == 0);
    r->tamper = fork();
    CHECK(r->tamper >= 0);
    if (r->tamper == 0) {
      rig_die_with_parent();
      close(guest_chan);
      close(tt[1]);
      rig_tamper(host_chan /* the guest's side of the tamper */, tt[0], o->tamper);
      _exit(0);
    }
    close(host_chan);
    close(tt[0]);
    host_chan = tt[1];
  }
  if (raw)
    *raw = o->host_only ? guest_chan : o->guest_only ? host_chan : -1;
  /* Listen before the fork: the path then accepts connections the moment it
   * exists (a child that bound it could be dialled before its listen()). */
  int lfd = o->host_only ? -1 : rig_listen_unix(r->sock);
  r->relays = fork();
  CHECK(r->relays >= 0);
  if (r->relays == 0) {
    rig_die_with_parent();
    int logfd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cf_log_init("relay-test", CF_LOG_DEBUG, logfd);
    cf_error err = {0};
    cf_loop *loop = cf_loop_new(&err);
    cf_relay_opts ho = {.name = "pod1", .broker = o->broker, .max_streams = o->max_streams,
                        .connect_timeout_ms = o->connect_ms, .idle_timeout_ms = o->idle_ms};
    if (!o->guest_only && !cf_relay_host_new(loop, host_chan, &ho, &err)) {
      dprintf(logfd, "host relay: %s\n", err.msg);
      _exit(3);
    }
    if (!o->host_only) {
      cf_relay_opts go = {.name = "guest", .idle_timeout_ms = o->idle_ms};
      if (!cf_relay_guest_new(loop, guest_chan, lfd, &go, &err)) {
        dprintf(logfd, "guest pump: %s\n", err.msg);
        _exit(3);
      }
    }
    cf_loop_run(loop);
    _exit(0);
  }
  if (lfd >= 0)
    close(lfd);
  if (!(raw && o->host_only))
    close(guest_chan);
  if (!(raw && o->guest_only))
    close(host_chan);
}

__attribute__((unused)) static bool rig_relays_alive(rig *r) { return waitpid(r->relays, NULL, WNOHANG) == 0; }

__attribute__((unused)) static void rig_stop(rig *r) {
  if (r->relays > 0) {
    kill(r->relays, SIGKILL);
    waitpid(r->relays, NULL, 0);
  }
  if (r->tamper > 0) {
    kill(r->tamper, SIGKILL);
    waitpid(r->tamper, NULL, 0);
  }
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", r->dir);
}

/* How many lines of the relays' log contain needle. */
__attribute__((unused)) static int rig_log_count(rig *r, const char *needle) {
  FILE *f = fopen(r->log, "r");
  if (!f)
    return 0;
  char line[2048];
  int n = 0;
  while (fgets(line, sizeof(line), f))
    n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

/* A TCP listener on 127.0.0.1:0; returns the fd, port in *port. */
__attribute__((unused)) static int rig_tcp_listener(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 64) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

#endif
