/* runc as an engine (engine.h): each operation is one runc command. */

#include "runc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "coffer/file.h"
#include "bundle.h"
#include "engine.h"
#include "process.h"


/* runc create / exec with the process's stdio: the arguments so far, then
 * the console socket, the container id; the new pid from the pid file. */
static int runc_process(agent *a, container *c, const char **args, size_t n, bool terminal,
                        proc_stdio *ps, const char *pidfile, pid_t *pid, cf_error *err) {
  if (terminal) {
    args[n++] = "--console-socket";
    args[n++] = ps->console_path;
  }
  args[n++] = c->id;
  args[n] = NULL;
  runc_io io = {.in = ps->child_in, .out = ps->child_out, .err = ps->child_err,
                .console_listen = ps->console_listen, .console_out = &ps->console_fd};
  if (runc_run(a, args, &io, a->runc_timeout_ms, err) < 0)
    return -EIO;
  return agent_read_pid_file(pidfile, pid, err);
}

static int runc_create(agent *a, container *c, const char *config, oci_spec *spec,
                       bool terminal, proc_stdio *ps, cf_error *err) {
  (void)spec;
  char path[PATH_MAX], pidfile[PATH_MAX];
  snprintf(path, sizeof(path), "%s/config.json", c->bundle); /* runc reads the bundle */
  snprintf(pidfile, sizeof(pidfile), "%s/init.pid", c->bundle);
  if (cf_write_file_atomic(path, config, strlen(config), 0600, 0, err) < 0)
    return -EIO;
  const char *args[12];
  size_t n = 0;
  args[n++] = "create";
  if (a->no_pivot)
    args[n++] = "--no-pivot";
  args[n++] = "--bundle";
  args[n++] = c->bundle;
  args[n++] = "--pid-file";
  args[n++] = pidfile;
  if (runc_process(a, c, args, n, terminal, ps, pidfile, &c->procs->pid, err) < 0) {
    cf_error e2 = {0};
    runc_simple(a, &e2, "delete", "--force", c->id, NULL);
    return cf_error_prefix(err, "container %s", c->id);
  }
  return 0;
}

static int runc_start(agent *a, container *c, cf_error *err) {
  return runc_simple(a, err, "start", c->id, NULL);
}

static int runc_exec(agent *a, container *c, const char *exec_id, const char *process,
                     bool terminal, proc_stdio *ps, pid_t *pid, cf_error *err) {
  char path[PATH_MAX], pidfile[PATH_MAX];
  snprintf(path, sizeof(path), "%s/exec-%s.json", c->bundle, exec_id);
  snprintf(pidfile, sizeof(pidfile), "%s/exec-%s.pid", c->bundle, exec_id);
  if (cf_write_file_atomic(path, process, strlen(process), 0600, 0, err) < 0)
    return -EIO;
  const char *args[14];
  size_t n = 0;
  args[n++] = "exec";
  args[n++] = "--detach";
  args[n++] = "--pid-file";
  args[n++] = pidfile;
  args[n++] = "--process";
  args[n++] = path;
  int rc = runc_process(a, c, args, n, terminal, ps, pidfile, pid, err);
  unlink(path);
  unlink(pidfile);
  return rc;
}

static int runc_pause(agent *a, container *c, bool pause, cf_error *err) {
  return runc_simple(a, err, pause ? "pause" : "resume", c->id, NULL);
}

static int runc_kill_all(agent *a, container *c, int sig, cf_error *err) {
  char s[16];
  snprintf(s, sizeof(s), "%d", sig);
  return runc_simple(a, err, "kill", "--all", c->id, s, NULL);
}

static int runc_update(agent *a, container *c, const char *text, size_t len,
                       json_object *resources, cf_error *err) {
  (void)resources;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/update.json", c->bundle);
  int rc = cf_write_file_atomic(path, text, len, 0600, 0, err);
  if (rc == 0)
    rc = runc_simple(a, err, "update", "--resources", path, c->id, NULL);
  unlink(path);
  return rc;
}

static int runc_stats(agent *a, container *c, oci_stats *out, cf_error *err) {
  const char *args[] = {"events", "--stats", c->id, NULL};
  runc_io io = {.in = -1, .out = -1, .err = -1, .console_listen = -1, .capture_stdout = true};
  int rc = runc_run(a, args, &io, a->runc_timeout_ms, err);
  if (rc == 0)
    rc = runc_stats_parse(io.capture, io.capture_len, out, err);
  free(io.capture);
  return rc;
}

/* runc ps --format json: an array of pids */
static int runc_pids(agent *a, container *c, pid_t **pids, size_t *n, cf_error *err) {
  const char *args[] = {"ps", "--format", "json", c->id, NULL};
  runc_io io = {.in = -1, .out = -1, .err = -1, .console_listen = -1, .capture_stdout = true};
  *pids = NULL;
  *n = 0;
  if (runc_run(a, args, &io, a->runc_timeout_ms, err) < 0)
    return -EIO;
  json_object *arr = json_tokener_parse(io.capture ? io.capture : "");
  free(io.capture);
  size_t len = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
  if (len && !(*pids = calloc(len, sizeof(pid_t))))
    len = 0;
  for (size_t i = 0; i < len; i++)
    (*pids)[i] = (pid_t)json_object_get_int(json_object_array_get_idx(arr, i));
  *n = len;
  if (arr)
    json_object_put(arr);
  return 0;
}

static int runc_delete(agent *a, container *c, cf_error *err) {
  return runc_simple(a, err, "delete", "--force", c->id, NULL);
}

const engine_ops engine_runc = {
    .name = "runc",
    .console_socket = true,
    .create = runc_create,
    .start = runc_start,
    .exec = runc_exec,
    .pause = runc_pause,
    .kill_all = runc_kill_all,
    .update = runc_update,
    .stats = runc_stats,
    .pids = runc_pids,
    .delete = runc_delete,
};
