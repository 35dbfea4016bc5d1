/* The two engines that run containers, behind one table: the built-in
 * runtime (liboci, engine_builtin.c) and runc (runc/engine.c). A container
 * keeps the engine that created it; the handlers call through c->engine and
 * never ask which one it is. */
#ifndef COFFER_AGENT_ENGINE_H
#define COFFER_AGENT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "agent.h"
#include "process.h"
#include "coffer/error.h"
#include "coffer/oci.h"

typedef struct engine_ops {
  const char *name;
  /* a terminal's master comes back over a console socket (proc_stdio) */
  bool console_socket;
  /* The container's init, waiting for start; sets c->procs->pid. config is
   * the final config.json text, spec the same parsed (built-in only). A
   * failed create leaves nothing behind. */
  int (*create)(agent *a, container *c, const char *config, oci_spec *spec, bool terminal,
                proc_stdio *ps, cf_error *err);
  int (*start)(agent *a, container *c, cf_error *err);
  /* process: the OCI "process" JSON text */
  int (*exec)(agent *a, container *c, const char *exec_id, const char *process, bool terminal,
              proc_stdio *ps, pid_t *pid, cf_error *err);
  int (*pause)(agent *a, container *c, bool pause, cf_error *err);
  /* every process in the container's cgroup */
  int (*kill_all)(agent *a, container *c, int sig, cf_error *err);
  /* resources: linux.resources as text and parsed (a JSON object) */
  int (*update)(agent *a, container *c, const char *text, size_t len, json_object *resources,
                cf_error *err);
  int (*stats)(agent *a, container *c, oci_stats *out, cf_error *err);
  int (*pids)(agent *a, container *c, pid_t **pids, size_t *n, cf_error *err);
  /* kills what is left and forgets the container (its state, cgroup) */
  int (*delete)(agent *a, container *c, cf_error *err);
} engine_ops;

extern const engine_ops engine_builtin;
extern const engine_ops engine_runc;

/* The engine for a new container: the built-in runtime when the agent runs
 * it, unless the spec asks for what that does not implement
 * (CF_UNIMPLEMENTED) and runc is there: then runc, and the log says why.
 * *spec: the spec parsed for the built-in runtime (NULL for runc); a spec
 * it cannot parse fails with that error (NULL returned). */
const engine_ops *engine_choose(agent *a, const char *id, const char *config, oci_spec **spec,
                                cf_error *err);

#endif
