/* The output queue of a ttrpc stream: one contiguous buffer, written out as
 * far as the fd takes it; the rest waits for EPOLLOUT. */
#include "ttrpc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A drained buffer larger than this is released rather than kept. */
#define OUTBUF_KEEP (256u * 1024u)

bool ttrpc_fd_is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

uint8_t *ttrpc_outbuf_reserve(ttrpc_outbuf *o, size_t n) {
  if (o->cap - o->tail >= n)
    return o->data + o->tail;
  size_t used = o->tail - o->head;
  if (o->head > 0 && o->cap - used >= n) { /* compact */
    memmove(o->data, o->data + o->head, used);
    o->head = 0;
    o->tail = used;
    return o->data + o->tail;
  }
  size_t cap = o->cap ? o->cap : 4096;
  while (cap - used < n) {
    if (cap > SIZE_MAX / 2)
      return NULL;
    cap *= 2;
  }
  uint8_t *data = malloc(cap);
  if (!data)
    return NULL;
  if (used)
    memcpy(data, o->data + o->head, used);
  free(o->data);
  o->data = data;
  o->cap = cap;
  o->head = 0;
  o->tail = used;
  return o->data + o->tail;
}

int ttrpc_outbuf_flush(ttrpc_outbuf *o, int fd, bool is_socket) {
  while (o->tail > o->head) {
    size_t n = o->tail - o->head;
    ssize_t w = is_socket ? send(fd, o->data + o->head, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                          : write(fd, o->data + o->head, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        return 1;
      return -errno;
    }
    o->head += (size_t)w;
  }
  o->head = o->tail = 0;
  if (o->cap > OUTBUF_KEEP) {
    free(o->data);
    o->data = NULL;
    o->cap = 0;
  }
  return 0;
}

void ttrpc_outbuf_clear(ttrpc_outbuf *o) {
  free(o->data);
  memset(o, 0, sizeof(*o));
}
