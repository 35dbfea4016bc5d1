/* The guest's serial console in the shim's log: each line at info level
 * with source=guest, bounded so a chatty or hostile guest cannot flood the
 * host's log (a token bucket of lines, a cap on a line's length; what is
 * dropped is counted and reported). Also the console's last lines, quoted
 * in errors when the agent does not answer. */
#ifndef COFFER_SHIM_GUEST_LOG_H
#define COFFER_SHIM_GUEST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_LOG_LINES_PER_SEC 50
#define GUEST_LOG_BURST 400       /* a kernel boot's worth at once */
#define GUEST_LOG_LINE_MAX 1024   /* longer lines are cut, and say so */

typedef struct guest_log {
  uint64_t milli_tokens;  /* lines allowed now, x1000 */
  uint64_t last_ms;
  uint64_t dropped;       /* since the last report */
  uint64_t dropped_total;
  bool started;
} guest_log;

/* Log one console line (now_ms: a monotonic clock). */
void shim_guest_log_line(guest_log *g, const char *line, size_t len, uint64_t now_ms);
/* Report lines dropped and not yet reported. */
void shim_guest_log_flush(guest_log *g);
/* The last max_lines lines of the file at path (at most its last 2 KiB),
 * printable, joined with " | ", into out; "" when unreadable. */
void shim_guest_log_last_lines(const char *path, size_t max_lines, char *out, size_t cap);

#endif
