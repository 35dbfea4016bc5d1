/* A tiny HTTP/1.0 client for /run/coffer/tee.sock, linked statically and
 * mounted into a test container (the test image's busybox speaks no HTTP
 * over unix sockets).
 *   tee_client SOCK POST PATH BODY   prints "STATUS <code>" then the body
 *   tee_client SOCK GET PATH
 * Exit 0 when an answer was read (whatever its status), 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[2], "POST") == 0 && argc != 5)) {
    fprintf(stderr, "usage: tee_client SOCK GET|POST PATH [BODY]\n");
    return 1;
  }
  const char *body = argc == 5 ? argv[4] : "";
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof(a.sun_path)) {
    fprintf(stderr, "tee_client: socket path too long\n");
    return 1;
  }
  strcpy(a.sun_path, argv[1]);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    fprintf(stderr, "tee_client: connect %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  char head[1024];
  int n = snprintf(head, sizeof(head),
                   "%s %s HTTP/1.0\r\nHost: tee\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   argv[2], argv[3], strlen(body));
  if (n < 0 || (size_t)n >= sizeof(head) || write_all(fd, head, (size_t)n) < 0 ||
      write_all(fd, body, strlen(body)) < 0) {
    fprintf(stderr, "tee_client: write: %s\n", strerror(errno));
    return 1;
  }
  static char buf[65536];
  size_t len = 0;
  for (;;) {
    if (len == sizeof(buf) - 1) {
      fprintf(stderr, "tee_client: answer over %zu bytes\n", sizeof(buf) - 1);
      return 1;
    }
    ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      fprintf(stderr, "tee_client: read: %s\n", strerror(errno));
      return 1;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  int code = 0;
  char *sep = strstr(buf, "\r\n\r\n");
  if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1 || !sep) {
    fprintf(stderr, "tee_client: not an HTTP answer (%zu bytes)\n", len);
    return 1;
  }
  printf("STATUS %d\n%s\n", code, sep + 4);
  return 0;
}
