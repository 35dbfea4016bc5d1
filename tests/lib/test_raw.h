/* Blocking raw-frame helpers: a hand-driven ttrpc peer for tests that must
 * send what a well-behaved client never would. */
#ifndef COFFER_TEST_RAW_H
#define COFFER_TEST_RAW_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coffer/transport.h"
#include "test_util.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_internal.h"

static inline void raw_write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    CHECK(w > 0);
    p += w;
    len -= (size_t)w;
  }
}

static inline void raw_header(int fd, uint32_t length, uint32_t stream_id, uint8_t type) {
  uint8_t h[TTRPC_HEADER_SIZE];
  ttrpc_frame_header fh = {.length = length, .stream_id = stream_id, .type = type};
  ttrpc_header_encode(&fh, h);
  raw_write_all(fd, h, sizeof(h));
}

static inline void raw_frame(int fd, uint32_t stream_id, uint8_t type, const void *p, size_t len) {
  raw_header(fd, (uint32_t)len, stream_id, type);
  if (len)
    raw_write_all(fd, p, len);
}

/* Encodes a request frame (header included) into o. */
static inline void raw_encode_request(ttrpc_outbuf *o, uint32_t stream_id, const char *method,
                               const void *payload, size_t len) {
  ttrpc_body body = {.bytes = payload, .len = len};
  CHECK(ttrpc_append_request(o, stream_id, "test.S", method, &body, 0, NULL, 0) == 0);
}

static inline void raw_request(int fd, uint32_t stream_id, const char *method, const void *payload,
                        size_t len) {
  ttrpc_outbuf o = {0};
  raw_encode_request(&o, stream_id, method, payload, len);
  raw_write_all(fd, o.data + o.head, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);
}

/* Reads exactly len bytes; 0, or -1 at EOF/error, -2 on timeout. */
static inline int raw_read_full(int fd, void *buf, size_t len, int timeout_ms) {
  uint8_t *p = buf;
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (len > 0) {
    uint64_t now = cf_now_ms();
    if (now >= deadline)
      return -2;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(deadline - now));
    if (r == 0)
      return -2;
    if (r < 0 && errno == EINTR)
      continue;
    CHECK(r > 0);
    ssize_t n = read(fd, p, len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

typedef struct raw_response {
  uint32_t stream_id;
  uint8_t type;
  int code;
  char message[512];
  uint8_t *payload;
  size_t len;
} raw_response;

/* Reads one response frame: 0, -1 at EOF, -2 on timeout. */
static inline int raw_read_response(int fd, raw_response *out, int timeout_ms) {
  uint8_t h[TTRPC_HEADER_SIZE];
  int r = raw_read_full(fd, h, sizeof(h), timeout_ms);
  if (r < 0)
    return r;
  ttrpc_frame_header fh;
  ttrpc_header_decode(h, &fh);
  CHECK(fh.length <= TTRPC_MAX_MESSAGE);
  uint8_t *buf = malloc(fh.length + 1);
  CHECK(buf);
  r = raw_read_full(fd, buf, fh.length, timeout_ms);
  CHECK(r == 0);
  Ttrpc__Response *resp = ttrpc__response__unpack(NULL, fh.length, buf);
  CHECK(resp);
  memset(out, 0, sizeof(*out));
  out->stream_id = fh.stream_id;
  out->type = fh.type;
  out->code = resp->status ? resp->status->code : 0;
  snprintf(out->message, sizeof(out->message), "%s",
           resp->status && resp->status->message ? resp->status->message : "");
  out->len = resp->payload.len;
  out->payload = malloc(out->len + 1);
  CHECK(out->payload);
  if (out->len)
    memcpy(out->payload, resp->payload.data, out->len);
  ttrpc__response__free_unpacked(resp, NULL);
  free(buf);
  return 0;
}

static inline void raw_response_clear(raw_response *r) {
  free(r->payload);
  r->payload = NULL;
}

/* Expect the next frame to be a response on stream_id with code. */
static inline void raw_expect(int fd, uint32_t stream_id, int code) {
  raw_response r;
  int rc = raw_read_response(fd, &r, 5000);
  if (rc != 0) {
    fprintf(stderr, "expected a response on stream %u, got %s\n", stream_id,
            rc == -1 ? "EOF" : "timeout");
    abort();
  }
  if (r.stream_id != stream_id || r.code != code || r.type != TTRPC_TYPE_RESPONSE) {
    fprintf(stderr, "expected stream %u code %d, got stream %u type %u code %d (%s)\n",
            stream_id, code, r.stream_id, r.type, r.code, r.message);
    abort();
  }
  raw_response_clear(&r);
}

/* The server closed this connection (EOF) within timeout_ms. */
static inline bool raw_closed(int fd, int timeout_ms) {
  uint8_t b[4096];
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (cf_now_ms() < deadline) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 50) <= 0)
      continue;
    ssize_t n = read(fd, b, sizeof(b));
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      return true;
  }
  return false;
}

static inline int raw_connect(const char *addr) {
  cf_error err = {0};
  int fd = cf_transport_connect(addr, 2000, &err);
  CHECK_OK(fd, &err);
  int fl = fcntl(fd, F_GETFL);
  CHECK(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0);
  return fd;
}

/* A private temp dir with a socket address in it. */
typedef struct test_dir {
  char dir[64];
  char sock[128];
  char addr[160];
} test_dir;

static inline void test_dir_make(test_dir *d) {
  snprintf(d->dir, sizeof(d->dir), "/tmp/coffer-ttrpc-XXXXXX");
  CHECK(mkdtemp(d->dir));
  snprintf(d->sock, sizeof(d->sock), "%s/s.sock", d->dir);
  snprintf(d->addr, sizeof(d->addr), "unix:%s", d->sock);
}

static inline void test_dir_remove(test_dir *d) {
  unlink(d->sock);
  rmdir(d->dir);
}

#endif
