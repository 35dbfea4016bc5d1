/* The guest console -> shim log path: a real console file followed by
 * cf_console_tail (inotify), each line logged with source=guest; a flood is
 * cut to the rate limit and the drop reported with its count; an overlong
 * line is cut and says so; the console's last lines for error messages. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/log.h"
#include "coffer/vmm_console.h"
#include "guest_log.h"

#include "check.h"

static char dir[] = "/tmp/cfglog.XXXXXX";
static char console[128], logfile[128];
static guest_log glog;
static uint64_t now_ms = 1000;

static void on_line(void *data, const char *line, size_t len) {
  shim_guest_log_line(&glog, line, len, now_ms);
}

static void append(const char *text) {
  FILE *f = fopen(console, "a");
  CHECK(f != NULL);
  if (!f)
    return;
  fputs(text, f);
  fclose(f);
}

static char *slurp(const char *path) {
  static char buf[1 << 20];
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
  if (fd >= 0)
    close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

int main(void) {
  if (!mkdtemp(dir))
    return 1;
  snprintf(console, sizeof(console), "%s/console.log", dir);
  snprintf(logfile, sizeof(logfile), "%s/shim.log", dir);
  int logfd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  cf_log_init("shim", CF_LOG_INFO, logfd);
  append("[    0.000000] Linux version 6.1.0-cloud\n");
  cf_error err = {0};
  cf_console_tail *t = cf_console_tail_new(console, 1, &err);
  CHECK(t != NULL);
  if (!t)
    return 1;

  /* lines from the start of the file, then appended ones, then a partial
   * line that only comes out at free */
  append("coffer-agent: listening on serial agent.0\nquote \" and \\ here\nhalf");
  CHECK(cf_console_tail_read(t, on_line, NULL, &err) == 0);
  char *out = slurp(logfile);
  CHECK(strstr(out, "msg=\"[    0.000000] Linux version 6.1.0-cloud\"") != NULL);
  CHECK(strstr(out, "msg=\"coffer-agent: listening on serial agent.0\" component=shim source=guest") != NULL);
  CHECK(strstr(out, "level=info") != NULL);
  CHECK(strstr(out, "msg=\"quote \\\" and \\\\ here\"") != NULL);
  CHECK(strstr(out, "half") == NULL);

  /* a flood at one instant: the burst passes, the rest is counted */
  char *flood = malloc(2000 * 16);
  size_t o = 0;
  for (int i = 0; i < 2000; i++)
    o += (size_t)sprintf(flood + o, "flood %d\n", i);
  append("-line\n");
  append(flood);
  free(flood);
  CHECK(cf_console_tail_read(t, on_line, NULL, &err) == 0);
  out = slurp(logfile);
  CHECK(strstr(out, "msg=\"half-line\"") != NULL);
  size_t logged = count(out, "msg=\"flood ");
  /* 3 lines came before the flood, the partial one is the 4th */
  CHECK(logged == GUEST_LOG_BURST - 4);
  CHECK(strstr(out, "not logged") == NULL); /* reported when lines flow again */

  /* a second later: 50 more lines allowed, the drop reported first */
  now_ms += 1000;
  append("after the flood\n");
  CHECK(cf_console_tail_read(t, on_line, NULL, &err) == 0);
  out = slurp(logfile);
  char want[128];
  snprintf(want, sizeof(want), "guest console: %d line(s) not logged", 2000 - (GUEST_LOG_BURST - 4));
  CHECK(strstr(out, want) != NULL);
  CHECK(strstr(out, "level=warning") != NULL);
  CHECK(strstr(out, "msg=\"after the flood\"") != NULL);

  /* an overlong line: cut, and says how much was cut */
  char *lng = malloc(3001);
  memset(lng, 'x', 3000);
  lng[2999] = '\n';
  lng[3000] = '\0';
  append(lng);
  free(lng);
  CHECK(cf_console_tail_read(t, on_line, NULL, &err) == 0);
  out = slurp(logfile);
  snprintf(want, sizeof(want), " [cut: %d more bytes]", 2999 - GUEST_LOG_LINE_MAX);
  CHECK(strstr(out, want) != NULL);
  cf_console_tail_free(t, on_line, NULL);

  /* the last lines, for errors: printable, joined, at most N */
  char tail[640];
  append("boot\x01 step\nagent: cannot open /dev/vport0p1\n");
  shim_guest_log_last_lines(console, 2, tail, sizeof(tail));
  CHECK(strcmp(tail, "boot  step | agent: cannot open /dev/vport0p1") == 0);
  shim_guest_log_last_lines(console, 1, tail, sizeof(tail));
  CHECK(strcmp(tail, "agent: cannot open /dev/vport0p1") == 0);
  shim_guest_log_last_lines("/nonexistent/console.log", 3, tail, sizeof(tail));
  CHECK(tail[0] == '\0');
  shim_guest_log_last_lines(console, 1000, tail, 16); /* small buffer: cut, terminated */
  CHECK(strlen(tail) < 16);

  close(logfd);
  if (failures)
    fprintf(stderr, "%d failure(s); log began:\n%.3000s\n", failures, slurp(logfile));
  unlink(console);
  unlink(logfile);
  rmdir(dir);
  return failures ? 1 : 0;
}
