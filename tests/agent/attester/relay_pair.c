/* The broker relay's two halves in one process, joined by a socketpair that
 * stands in for the virtio-serial port: the host relay (to BROKER) and the
 * guest pump (listening on SOCK). Prints "relay: ready" and runs until
 * killed. For coffer-attester's --connect relay test. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "coffer/loop.h"
#include "coffer/relay.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: relay_pair BROKER SOCK\n");
    return 2;
  }
  int ch[2], l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[2]);
  unlink(argv[2]);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) || l < 0 ||
      bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16)) {
    perror("relay_pair");
    return 1;
  }
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  cf_relay_opts ho = {.name = "pod", .broker = argv[1]}, go = {.name = "guest"};
  if (!loop || !cf_relay_host_new(loop, ch[1], &ho, &err) ||
      !cf_relay_guest_new(loop, ch[0], l, &go, &err)) {
    fprintf(stderr, "relay_pair: %s\n", err.msg);
    return 1;
  }
  printf("relay: ready\n");
  fflush(stdout);
  cf_loop_run(loop);
  return 0;
}
