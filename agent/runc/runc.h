/* The runc engine: runc run as short, bounded child processes (run.c), the
 * engine table over it (engine.c, engine.h), and the parser of its stats
 * (stats.c). */
#ifndef COFFER_AGENT_RUNC_H
#define COFFER_AGENT_RUNC_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.h"
#include "coffer/error.h"
#include "coffer/oci.h"

/* Run `runc --root … --log … args…` with stdio fds (-1 = /dev/null) and an
 * optional console socket listener; io NULL: no stdio, stderr captured for
 * the error message (only for commands that start no process). Fills err
 * with runc's error text on failure. *console_out receives the pty master
 * when console_listen >= 0. */
typedef struct runc_io {
  int in, out, err;
  int console_listen;
  int *console_out;
  bool capture_stdout;   /* stdout captured into capture (malloc'd) */
  char *capture;
  size_t capture_len;
} runc_io;
int runc_run(agent *a, const char *const *args, runc_io *io, int timeout_ms, cf_error *err);
/* No stdio, no capture; the arguments end with NULL. */
int runc_simple(agent *a, cf_error *err, const char *arg0, ...);

/* `runc events --stats` JSON (runc's types.Stats) → *out (oci_stats_free). */
int runc_stats_parse(const char *json, size_t len, oci_stats *out, cf_error *err);

#endif
