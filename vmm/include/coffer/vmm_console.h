/* Following a VM's console log file line by line, for an epoll loop.
 *
 * The libvirt backend sends the guest's serial console to a file
 * (console_log()); the shim adds this tail's fd to its loop and, when it is
 * readable, calls cf_console_tail_read(), which hands each new complete line
 * (without "\n"/"\r") to the callback — e.g. to log it as
 * `msg="guest: …"`. No threads, no polling: an inotify fd on the file.
 * Lines longer than CF_CONSOLE_LINE_MAX are passed on in pieces. */
#ifndef COFFER_VMM_CONSOLE_H
#define COFFER_VMM_CONSOLE_H

#include <stddef.h>
#include "coffer/error.h"

#define CF_CONSOLE_LINE_MAX 4096

typedef struct cf_console_tail cf_console_tail;
typedef void (*cf_console_line_fn)(void *data, const char *line, size_t len);

/* Follow path from its current end (from_start: from its beginning). */
cf_console_tail *cf_console_tail_new(const char *path, int from_start, cf_error *err);
/* The fd to watch for EPOLLIN (non-blocking, close-on-exec). */
int cf_console_tail_fd(const cf_console_tail *t);
/* Drain the fd's events and pass every new complete line to fn. */
int cf_console_tail_read(cf_console_tail *t, cf_console_line_fn fn, void *data, cf_error *err);
/* Pass a pending partial line to fn (if any), then free. */
void cf_console_tail_free(cf_console_tail *t, cf_console_line_fn fn, void *data);

#endif
