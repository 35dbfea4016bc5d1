/* The console tail: lines appended to a file arrive whole, once, in order,
 * through an fd that epoll reports readable; partial and overlong lines. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/vmm_console.h"

#include "expect.h"

static char got[64][CF_CONSOLE_LINE_MAX + 1];
static int ngot;
static void on_line(void *data, const char *line, size_t len) {
  (void)data;
  if (ngot < 64) {
    memcpy(got[ngot], line, len);
    got[ngot][len] = 0;
  }
  ngot++;
}

static void append(int fd, const char *s, size_t n) {
  if (write(fd, s, n) != (ssize_t)n)
    abort();
}

static int readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 1;
}

int main(void) {
  char path[] = "/tmp/coffer-console-XXXXXX";
  int w = mkstemp(path);
  if (w < 0)
    return 1;
  append(w, "before start\n", 13);
  cf_error err = {0};
  cf_console_tail *t = cf_console_tail_new(path, 0, &err);
  EXPECT(t, "%s", err.msg);
  if (!t)
    return 1;
  EXPECT(!readable(cf_console_tail_fd(t), 50), "readable with nothing new");
  append(w, "[    0.1] booting\r\nsecond", 25);
  EXPECT(readable(cf_console_tail_fd(t), 1000), "not readable after a write");
  cf_console_tail_read(t, on_line, NULL, &err);
  EXPECT(ngot == 1 && !strcmp(got[0], "[    0.1] booting"), "got %d lines, first \"%s\"", ngot, got[0]);
  append(w, " half\nthird\n", 12);
  EXPECT(readable(cf_console_tail_fd(t), 1000), "not readable after the second write");
  cf_console_tail_read(t, on_line, NULL, &err);
  EXPECT(ngot == 3 && !strcmp(got[1], "second half") && !strcmp(got[2], "third"),
         "got %d: \"%s\" \"%s\"", ngot, got[1], got[2]);
  EXPECT(!readable(cf_console_tail_fd(t), 50), "still readable after draining");
  /* an overlong line comes in pieces, nothing lost */
  char *big = malloc(CF_CONSOLE_LINE_MAX + 10);
  memset(big, 'x', CF_CONSOLE_LINE_MAX + 9);
  big[CF_CONSOLE_LINE_MAX + 9] = '\n';
  append(w, big, CF_CONSOLE_LINE_MAX + 10);
  free(big);
  cf_console_tail_read(t, on_line, NULL, &err);
  EXPECT(ngot == 5 && strlen(got[3]) == CF_CONSOLE_LINE_MAX && strlen(got[4]) == 9,
         "overlong line: %d lines (%zu, %zu)", ngot, strlen(got[3]), strlen(got[4]));
  /* a trailing partial line is handed over at free */
  append(w, "last words", 10);
  cf_console_tail_read(t, on_line, NULL, &err);
  EXPECT(ngot == 5, "partial line delivered early");
  cf_console_tail_free(t, on_line, NULL);
  EXPECT(ngot == 6 && !strcmp(got[5], "last words"), "partial line lost at free");
  EXPECT(cf_console_tail_new("/nonexistent/console.log", 0, &err) == NULL &&
             strstr(err.msg, "/nonexistent/console.log"),
         "missing file: %s", err.msg);
  close(w);
  unlink(path);
  if (!failed)
    printf("PASS console tail\n");
  return failed;
}
