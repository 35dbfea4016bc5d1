/* The built-in runtime (liboci, coffer/oci.h) as an engine (engine.h). */

#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"

static int builtin_create(agent *a, container *c, const char *config, oci_spec *spec,
                          bool terminal, proc_stdio *ps, cf_error *err) {
  (void)config;
  oci_options o = {.cgroup_root = "/sys/fs/cgroup", .cgroup_path = c->cgroup_path,
                   .no_pivot = a->no_pivot, .pod_netns = a->pid1,
                   .timeout_ms = a->runc_timeout_ms};
  oci_stdio io = {.in = ps->child_in, .out = ps->child_out, .err = ps->child_err,
                  .terminal = terminal, .pty_master = &ps->console_fd};
  if (oci_create(c->id, spec, &o, &io, &c->oci, err) < 0)
    return cf_error_prefix(err, "container %s", c->id);
  c->procs->pid = oci_container_pid(c->oci);
  return 0;
}

static int builtin_start(agent *a, container *c, cf_error *err) {
  return oci_start(c->oci, c->id, a->runc_timeout_ms, err);
}

static int builtin_exec(agent *a, container *c, const char *exec_id, const char *process,
                        bool terminal, proc_stdio *ps, pid_t *pid, cf_error *err) {
  (void)exec_id;
  oci_stdio io = {.in = ps->child_in, .out = ps->child_out, .err = ps->child_err,
                  .terminal = terminal, .pty_master = &ps->console_fd};
  return oci_exec(c->oci, c->id, process, strlen(process), &io, a->runc_timeout_ms, pid, err);
}

/* runc answers these itself; the cgroup freezer would not */
static int builtin_pause(agent *a, container *c, bool pause, cf_error *err) {
  (void)a;
  bool running = c->procs->started && !c->procs->exited;
  if (!running || c->paused == pause)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "%s",
                         c->paused ? "paused already" : running ? "not paused" : "not running");
  return oci_pause(c->oci, pause, err);
}

static int builtin_kill_all(agent *a, container *c, int sig, cf_error *err) {
  (void)a;
  return oci_kill_all(c->oci, sig, err);
}

static int builtin_update(agent *a, container *c, const char *text, size_t len,
                          json_object *resources, cf_error *err) {
  (void)a, (void)text, (void)len;
  return oci_update(c->oci, resources, err);
}

static int builtin_stats(agent *a, container *c, oci_stats *out, cf_error *err) {
  (void)a;
  return oci_stats_read(c->oci, out, err);
}

static int builtin_pids(agent *a, container *c, pid_t **pids, size_t *n, cf_error *err) {
  (void)a;
  return oci_pids(c->oci, pids, n, err);
}

static int builtin_delete(agent *a, container *c, cf_error *err) {
  (void)a;
  int rc = oci_delete(c->oci, c->id, err);
  c->oci = NULL;
  return rc;
}

const engine_ops engine_builtin = {
    .name = "builtin",
    .console_socket = false,
    .create = builtin_create,
    .start = builtin_start,
    .exec = builtin_exec,
    .pause = builtin_pause,
    .kill_all = builtin_kill_all,
    .update = builtin_update,
    .stats = builtin_stats,
    .pids = builtin_pids,
    .delete = builtin_delete,
};
