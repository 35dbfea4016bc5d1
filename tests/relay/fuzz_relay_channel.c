/* libFuzzer target: arbitrary bytes as what the peer sends on the relay
 * channel. The first byte picks the side under test: even, the host relay
 * (its broker is a real loopback listener, so OPENs connect and DATA,
 * WINDOW and CLOSE reach open streams); odd, the guest pump with one
 * client connected (stream 1 waits for OPEN_OK). Each input must end
 * without crash, leak or hang, and the relay must be freeable.
 * Built as a libFuzzer target with COFFER_FUZZ; otherwise (FUZZ_REPLAY_MAIN)
 * a test replaying the seed corpus. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "coffer/file.h"
#include "coffer/log.h"
#include "coffer/relay.h"

static int broker_fd = -1;
static char broker_url[64];
static char dir[64], sock_path[108];

static void setup(void) {
  if (broker_fd >= 0)
    return;
  cf_log_init("fuzz", CF_LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
  broker_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  if (broker_fd < 0 || bind(broker_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
      listen(broker_fd, 1024) || getsockname(broker_fd, (struct sockaddr *)&sa, &sl))
    abort();
  snprintf(broker_url, sizeof(broker_url), "127.0.0.1:%u", ntohs(sa.sin_port));
  snprintf(dir, sizeof(dir), "/tmp/relay-fuzz-XXXXXX");
  if (!mkdtemp(dir))
    abort();
  snprintf(sock_path, sizeof(sock_path), "%s/pump.sock", dir);
}

static void drain(int fd) {
  char b[65536];
  while (read(fd, b, sizeof(b)) > 0)
    ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  if (size < 1)
    return 0;
  bool guest = data[0] & 1;
  data++, size--;
  if (size > 256 * 1024)
    size = 256 * 1024;
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  int sp[2];
  if (!loop || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
    abort();
  fcntl(sp[1], F_SETFL, O_NONBLOCK);
  cf_relay_opts o = {.name = "fuzz", .broker = broker_url, .max_streams = 4,
                     .connect_timeout_ms = 50, .idle_timeout_ms = 50};
  cf_relay *r;
  int client = -1;
  if (guest) {
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    unlink(sock_path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 8))
      abort();
    r = cf_relay_guest_new(loop, sp[0], lfd, &o, &err);
    client = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!r || connect(client, (struct sockaddr *)&sa, sizeof(sa)))
      abort();
    bool never = false;
    cf_loop_run_until(loop, &never, 5); /* accept: stream 1 is OPENING */
  } else {
    r = cf_relay_host_new(loop, sp[0], &o, &err);
    if (!r)
      abort();
  }
  size_t off = 0;
  bool never = false;
  for (int round = 0; round < 64 && off < size; round++) {
    ssize_t n = write(sp[1], data + off, size - off);
    if (n > 0)
      off += (size_t)n;
    cf_loop_run_until(loop, &never, 1);
    drain(sp[1]);
    if (client >= 0)
      drain(client);
  }
  cf_relay_stats st;
  cf_relay_get_stats(r, &st);
  cf_relay_free(r);
  cf_loop_free(loop);
  close(sp[1]);
  if (client >= 0)
    close(client);
  for (int c; (c = accept4(broker_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
    close(c);
  return 0;
}

#ifdef FUZZ_REPLAY_MAIN
int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  DIR *d = opendir(argv[1]);
  if (!d)
    return fprintf(stderr, "no corpus at %s\n", argv[1]), 1;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
    char *buf;
    size_t len;
    cf_error err = {0};
    if (cf_read_file(path, 1 << 20, &buf, &len, &err))
      return fprintf(stderr, "%s\n", err.msg), 1;
    LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    free(buf);
    n++;
  }
  closedir(d);
  printf("replayed %d inputs\n", n);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
#endif
