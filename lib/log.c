#include "coffer/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* The per-process logging context: set once at start-up. */
static struct {
  const char *component;
  enum cf_log_level level;
  int fd;
} log_ctx = {"coffer", CF_LOG_INFO, STDERR_FILENO};

static const char *level_names[] = {"error", "warning", "info", "debug"};

void cf_log_init(const char *component, enum cf_log_level level, int fd) {
  log_ctx.component = component;
  log_ctx.level = level;
  log_ctx.fd = fd;
}

int cf_log_level_parse(const char *name) {
  if (!name)
    return -1;
  for (int i = 0; i <= CF_LOG_DEBUG; i++)
    if (strcasecmp(name, level_names[i]) == 0)
      return i;
  if (strcasecmp(name, "warn") == 0)
    return CF_LOG_WARN;
  return -1;
}

enum cf_log_level cf_log_level_get(void) { return log_ctx.level; }

/* Quote msg logfmt-style so a line stays one line whatever it holds. */
static size_t quote(char *out, size_t cap, const char *in) {
  size_t o = 0;
  for (; *in && o + 3 < cap; in++) {
    unsigned char c = (unsigned char)*in;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if (c < 0x20) {
      out[o++] = ' ';
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return o;
}

void cf_log(enum cf_log_level level, const char *kv, const char *fmt, ...) {
  if (level > log_ctx.level || log_ctx.fd < 0)
    return;
  char msg[2048], qmsg[4200], ts[64], line[4608];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  quote(qmsg, sizeof(qmsg), msg);

  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%06ldZ", now.tv_nsec / 1000);

  int len = snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=\"%s\" component=%s%s%s\n",
                     ts, level_names[level], qmsg, log_ctx.component,
                     kv ? " " : "", kv ? kv : "");
  if (len < 0)
    return;
  if ((size_t)len >= sizeof(line))
    len = sizeof(line) - 1, line[len - 1] = '\n';
  /* one write per line keeps lines whole on a shared fifo */
  ssize_t r = write(log_ctx.fd, line, (size_t)len);
  (void)r;
}
