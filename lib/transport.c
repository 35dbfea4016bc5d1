/* Byte-stream transports for ttrpc: unix, vsock, hybrid vsock, serial. */
#include "coffer/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "coffer/cleanup.h"
#include "coffer/loop.h"

#define LISTEN_BACKLOG 128
#define HYBRID_LINE_MAX 64
#define SINGLE_ATTEMPT_GRACE_MS 1000

enum addr_kind { ADDR_UNIX, ADDR_VSOCK, ADDR_HVSOCK, ADDR_SERIAL };

typedef struct parsed_addr {
  enum addr_kind kind;
  char path[PATH_MAX];
  bool has_cid;
  unsigned cid;
  unsigned port;
} parsed_addr;

static int parse_uint(const char *s, unsigned *out) {
  if (!*s || *s == '-' || *s == '+')
    return -EINVAL;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v > UINT_MAX)
    return -EINVAL;
  *out = (unsigned)v;
  return 0;
}

static int copy_path(parsed_addr *a, const char *addr, const char *p, size_t len,
                     cf_error *err) {
  if (len == 0)
    return cf_err(err, EINVAL, "address %s: empty path", addr);
  if (len >= sizeof(((struct sockaddr_un *)0)->sun_path) && a->kind != ADDR_SERIAL)
    return cf_err(err, ENAMETOOLONG, "address %s: socket path longer than %zu bytes",
                  addr, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
  if (len >= sizeof(a->path))
    return cf_err(err, ENAMETOOLONG, "address %s: path too long", addr);
  memcpy(a->path, p, len);
  a->path[len] = '\0';
  return 0;
}

/* Also accept the URL spelling (vsock://3:1024, hvsock:///run/x.sock:1024). */
static const char *skip_slashes(const char *p) { return strncmp(p, "//", 2) == 0 ? p + 2 : p; }

static int parse_addr(const char *addr, parsed_addr *a, cf_error *err) {
  memset(a, 0, sizeof(*a));
  if (!addr)
    return cf_err(err, EINVAL, "no transport address given");
  if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/') {
    const char *p = addr[0] == '/' ? addr : skip_slashes(addr + 5); /* unix:///path */
    a->kind = ADDR_UNIX;
    return copy_path(a, addr, p, strlen(p), err);
  }
  if (strncmp(addr, "serial:", 7) == 0) {
    const char *p = skip_slashes(addr + 7);
    a->kind = ADDR_SERIAL;
    return copy_path(a, addr, p, strlen(p), err);
  }
  if (strncmp(addr, "vsock:", 6) == 0) {
    const char *p = skip_slashes(addr + 6);
    const char *colon = strchr(p, ':');
    a->kind = ADDR_VSOCK;
    if (colon) {
      char cid[16];
      size_t len = (size_t)(colon - p);
      if (len == 0 || len >= sizeof(cid))
        return cf_err(err, EINVAL, "address %s: bad vsock CID", addr);
      memcpy(cid, p, len);
      cid[len] = '\0';
      if (parse_uint(cid, &a->cid) < 0)
        return cf_err(err, EINVAL, "address %s: bad vsock CID", addr);
      a->has_cid = true;
      p = colon + 1;
    }
    if (parse_uint(p, &a->port) < 0)
      return cf_err(err, EINVAL, "address %s: bad vsock port", addr);
    return 0;
  }
  if (strncmp(addr, "hvsock:", 7) == 0) {
    const char *p = skip_slashes(addr + 7);
    const char *colon = strrchr(p, ':');
    a->kind = ADDR_HVSOCK;
    if (!colon || parse_uint(colon + 1, &a->port) < 0)
      return cf_err(err, EINVAL, "address %s: expected hvsock:/path:PORT", addr);
    return copy_path(a, addr, p, (size_t)(colon - p), err);
  }
  return cf_err(err, EINVAL,
                "address %s: unknown transport (expected unix:, vsock:, hvsock: or serial:)",
                addr);
}

static socklen_t fill_sockaddr(const parsed_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (a->kind == ADDR_VSOCK) {
    struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;
    vm->svm_family = AF_VSOCK;
    vm->svm_cid = a->has_cid ? a->cid : VMADDR_CID_ANY;
    vm->svm_port = a->port;
    return sizeof(*vm);
  }
  struct sockaddr_un *un = (struct sockaddr_un *)ss;
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, a->path, strlen(a->path) + 1);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->path) + 1);
}

/* ------------------------------------------------------------------ listen */

int cf_transport_listen(const char *addr, cf_error *err) {
  parsed_addr a;
  int r = parse_addr(addr, &a, err);
  if (r < 0)
    return r;
  if (a.kind == ADDR_HVSOCK || a.kind == ADDR_SERIAL)
    return cf_err(err, EINVAL, "address %s: cannot listen on this transport", addr);

  int family = a.kind == ADDR_VSOCK ? AF_VSOCK : AF_UNIX;
  _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return cf_err(err, errno, "cannot create socket for %s", addr);

  if (a.kind == ADDR_UNIX) {
    struct stat st;
    if (lstat(a.path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(a.path) < 0)
      return cf_err(err, errno, "cannot remove stale socket %s", a.path);
  }
  struct sockaddr_storage ss;
  socklen_t len = fill_sockaddr(&a, &ss);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0)
    return cf_err(err, errno, "cannot bind %s", addr);
  if (listen(fd, LISTEN_BACKLOG) < 0)
    return cf_err(err, errno, "cannot listen on %s", addr);
  return cf_steal_fd(fd);
}

/* ----------------------------------------------------------------- connect */

static int remaining_ms(uint64_t deadline) {
  uint64_t now = cf_now_ms();
  if (now >= deadline)
    return 0;
  return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

/* Waits for events on fd until deadline; -ETIMEDOUT when it passes. */
static int wait_fd(int fd, short events, uint64_t deadline) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r > 0)
      return 0;
    if (r == 0)
      return -ETIMEDOUT;
    if (errno != EINTR)
      return -errno;
  }
}

/* One non-blocking connect attempt, waiting at most until deadline for it to
 * complete. Returns the fd or -errno. */
static int connect_once(const parsed_addr *a, uint64_t deadline) {
  int family = a->kind == ADDR_VSOCK ? AF_VSOCK : AF_UNIX;
  _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_storage ss;
  socklen_t len = fill_sockaddr(a, &ss);
  if (connect(fd, (struct sockaddr *)&ss, len) == 0)
    return cf_steal_fd(fd);
  if (errno != EINPROGRESS)
    return -errno;
  int r = wait_fd(fd, POLLOUT, deadline);
  if (r < 0)
    return r;
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
    return -errno;
  if (soerr)
    return -soerr;
  return cf_steal_fd(fd);
}

/* Hybrid vsock: "CONNECT <port>\n" and expect "OK <host port>\n". Reads one
 * byte at a time so no byte of the ttrpc stream after the line is consumed. */
static int hybrid_handshake(int fd, const char *addr, unsigned port, uint64_t deadline,
                            cf_error *err) {
  char line[HYBRID_LINE_MAX];
  int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
  size_t off = 0;
  while (off < (size_t)n) {
    ssize_t w = send(fd, line + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      int r = wait_fd(fd, POLLOUT, deadline);
      if (r < 0)
        return cf_err(err, -r, "%s: sending hybrid vsock CONNECT", addr);
      continue;
    }
    if (w < 0 && errno != EINTR)
      return cf_err(err, errno, "%s: sending hybrid vsock CONNECT", addr);
    if (w > 0)
      off += (size_t)w;
  }
  size_t len = 0;
  for (;;) {
    char c;
    ssize_t got = read(fd, &c, 1);
    if (got == 0)
      return cf_err(err, ECONNRESET, "%s: hybrid vsock peer closed during handshake (port %u)",
                    addr, port);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        return cf_err(err, errno, "%s: reading hybrid vsock reply", addr);
      int r = wait_fd(fd, POLLIN, deadline);
      if (r < 0)
        return cf_err(err, -r, "%s: waiting for hybrid vsock reply", addr);
      continue;
    }
    if (c == '\n')
      break;
    if (len + 1 >= sizeof(line))
      return cf_err(err, EPROTO, "%s: hybrid vsock reply line too long", addr);
    line[len++] = c;
  }
  line[len] = '\0';
  if (strncmp(line, "OK ", 3) != 0)
    return cf_err(err, ECONNREFUSED, "%s: hybrid vsock refused port %u: \"%s\"", addr, port,
                  line);
  return 0;
}

int cf_transport_connect(const char *addr, int timeout_ms, cf_error *err) {
  parsed_addr a;
  int r = parse_addr(addr, &a, err);
  if (r < 0)
    return r;
  if (a.kind == ADDR_SERIAL)
    return cf_transport_open_serial(a.path, err);
  if (a.kind == ADDR_VSOCK && !a.has_cid)
    return cf_err(err, EINVAL, "address %s: connecting needs vsock:CID:PORT", addr);

  /* timeout_ms <= 0 means one attempt; a connect or handshake in progress
   * (vsock, hybrid vsock) still gets a short grace to complete. */
  uint64_t budget = (uint64_t)(timeout_ms > 0 ? timeout_ms : SINGLE_ATTEMPT_GRACE_MS);
  uint64_t deadline = cf_now_ms() + budget;
  bool single = timeout_ms <= 0;
  unsigned backoff_ms = 5;
  for (;;) {
    int fd = connect_once(&a, deadline);
    if (fd >= 0) {
      _cleanup_close_ int owned = fd;
      if (a.kind == ADDR_HVSOCK) {
        r = hybrid_handshake(owned, addr, a.port, deadline, err);
        if (r < 0)
          return r;
      }
      return cf_steal_fd(owned);
    }
    bool retry = fd == -ENOENT || fd == -ECONNREFUSED || fd == -EAGAIN || fd == -ECONNRESET;
    int left = remaining_ms(deadline);
    if (!retry || left == 0 || single)
      return cf_err(err, -fd, "cannot connect to %s", addr);
    unsigned sleep_ms = backoff_ms < (unsigned)left ? backoff_ms : (unsigned)left;
    struct timespec ts = {.tv_nsec = (long)sleep_ms * 1000000L};
    nanosleep(&ts, NULL);
    if (backoff_ms < 100)
      backoff_ms *= 2;
  }
}

/* ------------------------------------------------------------------ serial */

int cf_transport_open_serial(const char *path, cf_error *err) {
  if (strncmp(path, "serial:", 7) == 0)
    path += 7;
  int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "cannot open serial port %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
    close(fd);
    return cf_err(err, ENODEV, "%s is not a character device", path);
  }
  return fd;
}

/* ------------------------------------------------------------ peer check */

int cf_transport_check_peer(int fd, cf_error *err) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
    return cf_err(err, errno, "getsockname on fd %d", fd);
  if (ss.ss_family != AF_UNIX)
    return 0; /* vsock peers are VMs: no uid to compare */
  struct ucred cred;
  socklen_t cl = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
    return cf_err(err, errno, "cannot read peer credentials of fd %d", fd);
  if (cred.uid != geteuid())
  {
    cf_err_status(err, CF_PERMISSION_DENIED,
                  "rejecting unix peer pid %d: uid %u is not our uid %u", (int)cred.pid,
                  (unsigned)cred.uid, (unsigned)geteuid());
    return -EPERM;
  }
  return 0;
}
