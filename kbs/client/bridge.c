/* The connect hook's bridge. libcurl 7.88 (Debian 12) still calls connect()
 * on a socket that CURLOPT_SOCKOPTFUNCTION reported as already connected, so
 * a hook's socket cannot be handed to it directly. Instead curl connects to
 * a private abstract unix socket (CURLOPT_ABSTRACT_UNIX_SOCKET); each
 * connection there, accepted only from this process (SO_PEERCRED), gets a
 * socket from the hook and the bridge copies bytes both ways. TLS runs
 * through it end to end: the bridge, like the relay, sees only records. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"

typedef struct pipe_pair {
  int a, b;
} pipe_pair;

static void *pump(void *ud) {
  pipe_pair p = *(pipe_pair *)ud;
  free(ud);
  char buf[16384];
  struct pollfd fds[2] = {{.fd = p.a, .events = POLLIN}, {.fd = p.b, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR)
      break;
    int from = (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
    if (!(fds[from].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    ssize_t n = read(fds[from].fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fds[1 - from].fd, buf + off, (size_t)(n - off));
      if (w <= 0)
        goto out;
      off += w;
    }
  }
out:
  close(p.a);
  close(p.b);
  return NULL;
}

static void *accept_loop(void *ud) {
  kbs_http *h = ud;
  for (;;) {
    int c = accept4(h->bridge_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
        continue;
      return NULL;
    }
    struct ucred uc;
    socklen_t l = sizeof(uc);
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &l) || uc.pid != getpid()) {
      close(c); /* someone else in this network namespace */
      continue;
    }
    cf_error_clear(&h->connect_err);
    int up = h->connect(h->connect_ud, &h->connect_err);
    pipe_pair *p = up >= 0 ? malloc(sizeof(*p)) : NULL;
    pthread_t t;
    if (!p || (*p = (pipe_pair){c, up}, pthread_create(&t, NULL, pump, p))) {
      free(p);
      close(c);
      if (up >= 0)
        close(up);
      continue;
    }
    pthread_detach(t);
  }
}

int kbs_bridge_start(kbs_http *h, cf_error *err) {
  uint8_t rnd[12];
  if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
    return cf_err(err, errno, "kbs client bridge: getrandom");
  int n = snprintf(h->bridge_name, sizeof(h->bridge_name), "coffer-kbs-bridge-%d-", (int)getpid());
  for (size_t i = 0; i < sizeof(rnd); i++)
    n += snprintf(h->bridge_name + n, sizeof(h->bridge_name) - (size_t)n, "%02x", rnd[i]);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path + 1, h->bridge_name, strlen(h->bridge_name));
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(h->bridge_name));
  h->bridge_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (h->bridge_fd < 0)
    return cf_err(err, errno, "kbs client bridge: socket");
  if (bind(h->bridge_fd, (struct sockaddr *)&a, len) || listen(h->bridge_fd, 16)) {
    int e = errno;
    close(h->bridge_fd);
    h->bridge_fd = -1;
    return cf_err(err, e, "kbs client bridge: bind");
  }
  int r = pthread_create(&h->bridge_thread, NULL, accept_loop, h);
  if (r) {
    close(h->bridge_fd);
    h->bridge_fd = -1;
    return cf_err(err, r, "kbs client bridge: thread");
  }
  return 0;
}

void kbs_bridge_stop(kbs_http *h) {
  if (h->bridge_fd < 0)
    return;
  shutdown(h->bridge_fd, SHUT_RDWR); /* accept() returns: the loop ends */
  pthread_join(h->bridge_thread, NULL);
  close(h->bridge_fd);
  h->bridge_fd = -1;
}
