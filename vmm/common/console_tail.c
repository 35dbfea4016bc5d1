#include "coffer/vmm_console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

struct cf_console_tail {
  int ino;  /* inotify fd: IN_MODIFY on the file */
  int file; /* the log, read sequentially */
  char line[CF_CONSOLE_LINE_MAX];
  size_t len;
};

cf_console_tail *cf_console_tail_new(const char *path, int from_start, cf_error *err) {
  cf_console_tail *t = calloc(1, sizeof(*t));
  if (!t) {
    cf_err(err, ENOMEM, "console tail %s", path);
    return NULL;
  }
  t->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  t->file = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (t->ino < 0 || t->file < 0 || inotify_add_watch(t->ino, path, IN_MODIFY) < 0 ||
      (!from_start && lseek(t->file, 0, SEEK_END) < 0)) {
    cf_err(err, errno, "follow console log %s", path);
    if (t->ino >= 0)
      close(t->ino);
    if (t->file >= 0)
      close(t->file);
    free(t);
    return NULL;
  }
  return t;
}

int cf_console_tail_fd(const cf_console_tail *t) { return t->ino; }

static void emit(cf_console_tail *t, cf_console_line_fn fn, void *data) {
  size_t n = t->len;
  while (n > 0 && t->line[n - 1] == '\r')
    n--;
  fn(data, t->line, n);
  t->len = 0;
}

int cf_console_tail_read(cf_console_tail *t, cf_console_line_fn fn, void *data, cf_error *err) {
  char ev[4096];
  while (read(t->ino, ev, sizeof(ev)) > 0) /* events only say "more to read" */
    ;
  char buf[8192];
  for (;;) {
    ssize_t n = read(t->file, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return cf_err(err, errno, "read console log");
    if (n == 0)
      return 0;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') {
        emit(t, fn, data);
        continue;
      }
      t->line[t->len++] = buf[i];
      if (t->len == sizeof(t->line))
        emit(t, fn, data);
    }
  }
}

void cf_console_tail_free(cf_console_tail *t, cf_console_line_fn fn, void *data) {
  if (!t)
    return;
  if (t->len > 0 && fn)
    emit(t, fn, data);
  close(t->ino);
  close(t->file);
  free(t);
}
