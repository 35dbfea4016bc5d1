/* Guest console lines into the shim's log, rate-bounded (guest_log.h). */
#include "guest_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"

#define TAIL_BYTES 2048

static void refill(guest_log *g, uint64_t now_ms) {
  if (!g->started) {
    g->started = true;
    g->milli_tokens = GUEST_LOG_BURST * 1000ull;
    g->last_ms = now_ms;
    return;
  }
  uint64_t elapsed = now_ms > g->last_ms ? now_ms - g->last_ms : 0;
  g->last_ms = now_ms;
  uint64_t cap = GUEST_LOG_BURST * 1000ull;
  /* elapsed ms * lines/s = milli-lines; saturate long idle periods */
  uint64_t add = elapsed > cap ? cap : elapsed * GUEST_LOG_LINES_PER_SEC;
  g->milli_tokens = g->milli_tokens + add > cap ? cap : g->milli_tokens + add;
}

void shim_guest_log_flush(guest_log *g) {
  if (!g->dropped)
    return;
  cf_log(CF_LOG_WARN, "source=guest",
         "guest console: %llu line(s) not logged (more than %d lines/s; %llu in all); the "
         "full console is in the pod's console log",
         (unsigned long long)g->dropped, GUEST_LOG_LINES_PER_SEC,
         (unsigned long long)g->dropped_total);
  g->dropped = 0;
}

void shim_guest_log_line(guest_log *g, const char *line, size_t len, uint64_t now_ms) {
  refill(g, now_ms);
  if (g->milli_tokens < 1000) {
    g->dropped++;
    g->dropped_total++;
    return;
  }
  g->milli_tokens -= 1000;
  shim_guest_log_flush(g); /* the gap is reported where it was */
  if (len > GUEST_LOG_LINE_MAX)
    cf_log(CF_LOG_INFO, "source=guest", "%.*s [cut: %zu more bytes]", GUEST_LOG_LINE_MAX, line,
           len - GUEST_LOG_LINE_MAX);
  else
    cf_log(CF_LOG_INFO, "source=guest", "%.*s", (int)len, line);
}

void shim_guest_log_last_lines(const char *path, size_t max_lines, char *out, size_t cap) {
  if (!cap)
    return;
  out[0] = '\0';
  _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return;
  char buf[TAIL_BYTES + 1];
  off_t from = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
  ssize_t n = pread(fd, buf, TAIL_BYTES, from);
  if (n <= 0)
    return;
  /* printable only: the console holds whatever the guest wrote */
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] != '\n' && ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f))
      buf[i] = ' ';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    n--;
  buf[n] = '\0';
  /* start after the max_lines-th newline from the end */
  char *start = buf;
  size_t seen = 0;
  for (ssize_t i = n - 1; i >= 0; i--)
    if (buf[i] == '\n' && ++seen == max_lines) {
      start = buf + i + 1;
      break;
    }
  if (start == buf && from > 0) { /* a partial first line */
    char *nl = strchr(buf, '\n');
    if (nl)
      start = nl + 1;
  }
  size_t o = 0;
  for (char *p = start; *p && o + 4 < cap; p++) {
    if (*p == '\n') {
      o += (size_t)snprintf(out + o, cap - o, " | ");
      continue;
    }
    out[o++] = *p;
  }
  out[o < cap ? o : cap - 1] = '\0';
}
