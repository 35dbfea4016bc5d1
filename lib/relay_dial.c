/* cf_relay_dial: a guest program's connection to the broker through the
 * guest pump (relay_guest.c). It sends 0x00; one status byte precedes the
 * stream: 'K', or 'E' and the host's reason. */
#include "coffer/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"

static int left_ms(uint64_t deadline) {
  uint64_t now = cf_now_ms();
  return now >= deadline ? 0 : deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

static int wait_for(int fd, short ev, uint64_t deadline) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = ev};
    int n = poll(&p, 1, left_ms(deadline));
    if (n > 0)
      return 0;
    if (n == 0)
      return -ETIMEDOUT;
    if (errno != EINTR)
      return -errno;
  }
}

int cf_relay_dial_at(const char *path, int timeout_ms, cf_error *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (!path || strlen(path) >= sizeof(sa.sun_path))
    return cf_err(err, ENAMETOOLONG, "relay socket %s", path ? path : "(none)");
  memcpy(sa.sun_path, path, strlen(path) + 1);
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : CF_RELAY_DIAL_TIMEOUT_MS);

  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return cf_err(err, errno, "relay: socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    if (errno != EINPROGRESS && errno != EAGAIN)
      return cf_err(err, errno, "relay: cannot reach the guest relay at %s", path);
    int r = wait_for(fd, POLLOUT, deadline);
    if (r < 0)
      return cf_err(err, -r, "relay: connecting to %s", path);
  }
  /* 0x00 asks the pump for a status byte (a raw client's first byte is
   * its own: see relay_guest.c). The socket buffer is empty: it fits. */
  if (send(fd, "", 1, MSG_NOSIGNAL) != 1)
    return cf_err(err, errno, "relay: writing to %s", path);
  char status;
  for (;;) {
    ssize_t n = read(fd, &status, 1);
    if (n == 1)
      break;
    if (n == 0)
      return cf_err(err, ECONNRESET, "relay: %s closed without an answer", path);
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      return cf_err(err, errno, "relay: reading %s", path);
    int r = wait_for(fd, POLLIN, deadline);
    if (r == -ETIMEDOUT)
      return cf_err_status(err, CF_DEADLINE_EXCEEDED,
                           "relay: no answer from the host relay within %d ms (%s)",
                           timeout_ms > 0 ? timeout_ms : CF_RELAY_DIAL_TIMEOUT_MS, path);
    if (r < 0)
      return cf_err(err, -r, "relay: waiting on %s", path);
  }
  if (status == 'K') {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
      return cf_err(err, errno, "relay: fd flags");
    return cf_steal_fd(fd);
  }
  if (status != 'E')
    return cf_err_status(err, CF_INTERNAL, "relay: %s answered with status byte 0x%02x", path,
                         (unsigned char)status);
  /* The reason, up to the pump's close (bounded by the deadline). */
  char reason[CF_RELAY_REASON_MAX + 1];
  size_t len = 0;
  while (len < sizeof(reason) - 1) {
    ssize_t n = read(fd, reason + len, sizeof(reason) - 1 - len);
    if (n > 0) {
      len += (size_t)n;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR) || wait_for(fd, POLLIN, deadline) < 0)
      break;
  }
  reason[len] = '\0';
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
      reason[i] = '?';
  return cf_err_status(err, CF_UNAVAILABLE, "relay: the broker is not reachable: %s",
                       len ? reason : "no reason given");
}

int cf_relay_dial(cf_error *err) {
  const char *path = getenv(CF_RELAY_SOCKET_ENV);
  return cf_relay_dial_at(path && *path ? path : CF_RELAY_GUEST_SOCKET, CF_RELAY_DIAL_TIMEOUT_MS,
                          err);
}
