/* The server's global memory bound: what all connections together hold is
 * capped (ttrpc_server_set_memory_limit), not only what each one holds. A
 * connection whose partial frame would pass the bound is closed; the others
 * and new ones are served, and the bound holds whatever many peers send. */
#include "test_raw.h"
#include "test_server.h"

#define LIMIT (6u << 20)
#define PAYLOAD ((4u << 20) - 4096)

static test_dir dir;

static pid_t fork_bounded_server(int lfd) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid > 0)
    return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);
  ttrpc_server *srv = test_server_new(loop);
  ttrpc_server_set_memory_limit(srv, LIMIT);
  CHECK_OK(ttrpc_server_listen_fd(srv, lfd, &err), &err);
  cf_loop_run(loop);
  _exit(0);
}

/* Writes what the peer takes; a peer that closed ends it (no CHECK). */
static void write_some(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n <= 0)
      return;
    p += n;
    len -= (size_t)n;
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_dir_make(&dir);
  cf_error err = {0};
  int lfd = cf_transport_listen(dir.addr, &err);
  CHECK_OK(lfd, &err);
  pid_t pid = fork_bounded_server(lfd);
  close(lfd);

  uint8_t *payload = malloc(PAYLOAD);
  CHECK(payload);
  memset(payload, 'p', PAYLOAD);
  ttrpc_outbuf fa = {0}, fb = {0};
  raw_encode_request(&fa, 1, "Echo", payload, PAYLOAD);
  raw_encode_request(&fb, 1, "Echo", payload, PAYLOAD);
  size_t la = ttrpc_outbuf_pending(&fa), lb = ttrpc_outbuf_pending(&fb);

  /* A: most of a ~4 MiB frame (the server's buffer for it: ~4 MiB) */
  int a = raw_connect(dir.addr);
  raw_write_all(a, fa.data + fa.head, 3u << 20);
  usleep(200 * 1000);
  /* B: the same; its buffer would take the server past 6 MiB */
  int b = raw_connect(dir.addr);
  write_some(b, fb.data + fb.head, lb);
  CHECK(raw_closed(b, 5000));
  close(b);

  /* A is still served: the rest of its frame, then the echo */
  raw_write_all(a, fa.data + fa.head + (3u << 20), la - (3u << 20));
  raw_response r;
  CHECK(raw_read_response(a, &r, 10000) == 0);
  CHECK(r.stream_id == 1 && r.code == CF_OK && r.len == PAYLOAD);
  raw_response_clear(&r);

  /* many peers with partial frames at once: the bound closes them, not us */
  int many[8];
  int closed = 0;
  for (int i = 0; i < 8; i++) {
    many[i] = raw_connect(dir.addr);
    write_some(many[i], fb.data + fb.head, 2u << 20);
  }
  for (int i = 0; i < 8; i++) {
    closed += raw_closed(many[i], 300);
    close(many[i]);
  }
  CHECK(closed >= 5); /* at most 3 partial 2 MiB frames fit in 6 MiB */

  /* and a new connection is served */
  int c = raw_connect(dir.addr);
  raw_request(c, 1, "Echo", "small", 5);
  CHECK(raw_read_response(c, &r, 5000) == 0);
  CHECK(r.stream_id == 1 && r.code == CF_OK && r.len == 5);
  raw_response_clear(&r);
  close(c);
  close(a);
  ttrpc_outbuf_clear(&fa);
  ttrpc_outbuf_clear(&fb);
  free(payload);
  test_server_stop(pid);
  test_dir_remove(&dir);
  printf("ok: %d of 8 concurrent partial frames closed under a %u byte bound\n", closed, LIMIT);
  return 0;
}
