/* Containers: create (bundle + rootfs + runc create), start, exec, remove,
 * and the reaping of every child the agent inherits as subreaper. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "oci/launch.h"
#include "coffer/path.h"
#include "coffer/id.h"

container *container_find(agent *a, const char *id) {
  for (container *c = a->containers; c; c = c->next)
    if (!strcmp(c->id, id))
      return c;
  return NULL;
}

static void unlink_container(agent *a, container *c) {
  for (container **pp = &a->containers; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      a->n_containers--;
      return;
    }
}

static void remove_bundle_files(const char *bundle) {
  if (!bundle)
    return;
  _cleanup_closedir_ DIR *d = opendir(bundle);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
          unlinkat(dirfd(d), e->d_name, 0) < 0)
        unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
  }
  rmdir(bundle);
}

void container_free(agent *a, container *c) {
  oom_unwatch_container(c);
  while (c->procs) {
    proc *p = c->procs;
    c->procs = p->next;
    proc_free(a, p, "was removed with its container");
  }
  rootfs_release(c);
  remove_bundle_files(c->bundle);
  free(c->id);
  free(c->bundle);
  free(c->cgroup_path);
  free(c);
}

static container *sandbox_container(agent *a) {
  for (container *c = a->containers; c; c = c->next)
    if (c->sandbox && c->procs && !c->procs->exited)
      return c;
  return NULL;
}

int sandbox_ensure(agent *a, const char *fallback_id, cf_error *err) {
  if (a->sandbox_created)
    return 0;
  /* process mode without CreateSandbox: the first container names the pod */
  a->sandbox_id = strdup(fallback_id);
  if (asprintf(&a->cgroup_parent, "/coffer/%s", fallback_id) < 0)
    a->cgroup_parent = NULL;
  if (!a->sandbox_id || !a->cgroup_parent)
    return cf_err(err, ENOMEM, "sandbox");
  a->sandbox_created = true;
  return 0;
}

/* The built-in runtime runs a container unless its spec asks for something
 * that runtime does not implement and runc is there to do it: then false,
 * and the log says why. *s is the spec, parsed once for the built-in
 * runtime; a spec it cannot parse fails with that error. */
static bool use_builtin(agent *a, const char *id, const char *config, oci_spec *s,
                        cf_error *err) {
  if (oci_spec_parse(config, strlen(config), s, err) == 0)
    return true;
  if (err->status != CF_UNIMPLEMENTED)
    return true;
  if (!a->runtime) {
    cf_error_prefix(err, "runc is not there to run what the built-in runtime does not");
    return true;
  }
  cf_info("container %s: runc runs it (%s)", id, err->msg);
  cf_error_clear(err);
  oci_spec_free(s);
  return false;
}

static int create_builtin(agent *a, container *c, oci_spec *spec, bool terminal,
                          proc_stdio *ps, cf_error *err) {
  c->oci = calloc(1, sizeof(*c->oci));
  if (!c->oci)
    return cf_err(err, ENOMEM, "container %s", c->id);
  oci_options o = {.cgroup_root = "/sys/fs/cgroup", .cgroup_path = c->cgroup_path,
                   .cgroup_version = a->cgroup_version, .no_pivot = a->no_pivot,
                   .pod_netns = a->pid1, .timeout_ms = a->runc_timeout_ms};
  oci_stdio io = {.in = ps->child_in, .out = ps->child_out, .err = ps->child_err,
                  .terminal = terminal, .pty_master = &ps->console_fd};
  if (oci_create(c->oci, c->id, spec, &o, &io, err) < 0) {
    free(c->oci);
    c->oci = NULL;
    return cf_error_prefix(err, "container %s", c->id);
  }
  c->procs->pid = c->oci->pid;
  return 0;
}

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
  return read_pid_file(pidfile, pid, err);
}

static int create_runc(agent *a, container *c, bool terminal, proc_stdio *ps, cf_error *err) {
  char pidfile[PATH_MAX];
  snprintf(pidfile, sizeof(pidfile), "%s/init.pid", c->bundle);
  const char *args[12];
  size_t n = 0;
  args[n++] = "create";
  if (a->no_pivot)
    args[n++] = "--no-pivot";
  args[n++] = "--bundle";
  args[n++] = c->bundle;
  args[n++] = "--pid-file";
  args[n++] = pidfile;
  if (runc_process(a, c, args, n, terminal, ps, pidfile, &c->procs->pid, err) < 0)
    return cf_error_prefix(err, "container %s", c->id);
  return 0;
}

/* The runtime's side of removing: runc delete, or the built-in runtime
 * killing what is left and removing the cgroup. */
static int runtime_delete(agent *a, container *c, cf_error *err) {
  if (!c->oci)
    return runc_simple(a, err, "delete", "--force", c->id, NULL);
  int rc = oci_delete(c->oci, c->id, err);
  free(c->oci);
  c->oci = NULL;
  return rc;
}

int container_create(agent *a, const Coffer__Agent__V1__CreateContainerRequest *req,
                     container **out, cf_error *err) {
  const char *id = req->container_id;
  if (!cf_id_valid(id))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "container id \"%.64s\" is not valid ([A-Za-z0-9][A-Za-z0-9_.-]{0,127})", id);
  if (container_find(a, id))
    return cf_err_status(err, CF_ALREADY_EXISTS, "container %s already exists", id);
  if (a->destroyed)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "the sandbox is being destroyed");
  if (req->spec.len > AGENT_MAX_SPEC)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: OCI spec is %zu bytes, more than %u",
                         id, req->spec.len, AGENT_MAX_SPEC);
  if (!req->rootfs)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: no rootfs given", id);
  if (req->n_mounts > 256)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: %zu shared mounts, at most 256",
                         id, req->n_mounts);
  for (size_t i = 0; i < req->n_mounts; i++) {
    const Coffer__Agent__V1__SharedMount *m = req->mounts[i];
    if (!m->source || m->destination[0] != '/' || cf_path_has_dotdot(m->destination))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "container %s: shared mount %zu needs a source and an absolute destination without \"..\"",
                           id, i);
  }
  if (sandbox_ensure(a, id, err) < 0)
    return -EIO;
  Coffer__Agent__V1__Stdio nostdio = COFFER__AGENT__V1__STDIO__INIT;
  const Coffer__Agent__V1__Stdio *st = req->stdio ? req->stdio : &nostdio;

  container *c = calloc(1, sizeof(*c));
  if (!c)
    return cf_err(err, ENOMEM, "container %s", id);
  c->a = a;
  c->oom_fd = -1;
  c->id = strdup(id);
  if (asprintf(&c->bundle, "%s/bundles/%s", a->state_dir, id) < 0)
    c->bundle = NULL;
  if (asprintf(&c->cgroup_path, "%s/%s", a->cgroup_parent, id) < 0)
    c->cgroup_path = NULL;
  int rc = -EIO;
  char *root = NULL, *config = NULL;
  oci_spec spec = {0};
  char **msrc = NULL;
  const char **mdst = NULL;
  proc_stdio ps = {.child_in = -1, .child_out = -1, .child_err = -1, .console_listen = -1,
                   .console_fd = -1};
  if (!c->id || !c->bundle || !c->cgroup_path) {
    cf_err(err, ENOMEM, "container %s", id);
    goto fail;
  }
  remove_bundle_files(c->bundle); /* a stale one from an agent that died */
  if (mkdir(c->bundle, 0700) < 0) {
    cf_err(err, errno, "create bundle %s", c->bundle);
    goto fail;
  }
  if (!(root = rootfs_prepare(a, c, req->rootfs, "rootfs", err))) {
    cf_error_prefix(err, "container %s", id);
    goto fail;
  }
  msrc = calloc(req->n_mounts + 1, sizeof(*msrc));
  mdst = calloc(req->n_mounts + 1, sizeof(*mdst));
  if (!msrc || !mdst)
    goto fail;
  for (size_t i = 0; i < req->n_mounts; i++) {
    char name[32];
    snprintf(name, sizeof(name), "mnt-%zu", i);
    mdst[i] = req->mounts[i]->destination;
    if (!(msrc[i] = rootfs_prepare(a, c, req->mounts[i]->source, name, err))) {
      cf_error_prefix(err, "container %s: mount %s", id, mdst[i]);
      goto fail;
    }
  }
  container *sb = sandbox_container(a);
  pid_t known[64];
  size_t n_known = 0;
  for (container *k = a->containers; k && n_known < 64; k = k->next)
    if (k->procs && !k->procs->exited)
      known[n_known++] = k->procs->pid;
  char files_dir[PATH_MAX];
  snprintf(files_dir, sizeof(files_dir), "%s/sandbox", a->state_dir);
  bundle_opts o = {.id = id, .root_path = root, .terminal = st->terminal,
                   .cgroup_path = c->cgroup_path, .sandbox_pid = sb ? sb->procs->pid : 0,
                   .share_pid = a->share_pid, .guest = a->guest,
                   .mount_dst = mdst, .mount_src = (const char *const *)msrc,
                   .n_mounts = req->n_mounts, .known_pids = known, .n_known_pids = n_known,
                   .guest_files_dir = files_dir};
  bool is_sandbox = false;
  if (!(config = bundle_make_config(req->spec.data, req->spec.len, &o, &is_sandbox, err))) {
    cf_error_prefix(err, "container %s", id);
    goto fail;
  }
  c->sandbox = is_sandbox || !sb;
  bool builtin = a->builtin && use_builtin(a, id, config, &spec, err);
  if (builtin && err->msg[0]) {
    cf_error_prefix(err, "container %s", id);
    goto fail;
  }
  if (!builtin) { /* runc reads the bundle */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/config.json", c->bundle);
    if (write_file_atomic(path, config, strlen(config), err) < 0)
      goto fail;
  }
  cf_debug("container %s: rootfs and spec ready, running the OCI runtime", id);

  proc *p = proc_new(c, "");
  if (!p) {
    cf_err(err, ENOMEM, "container %s", id);
    goto fail;
  }
  c->procs = p;
  if (proc_stdio_prepare(a, p, st->terminal, st->stdin, st->stdout, st->stderr && !st->terminal,
                         !builtin, &ps, err) < 0)
    goto fail;
  if ((builtin ? create_builtin(a, c, &spec, st->terminal, &ps, err)
               : create_runc(a, c, st->terminal, &ps, err)) < 0 ||
      proc_stdio_finish(a, p, &ps, err) < 0) {
    cf_error e2 = {0};
    if (!builtin || c->oci) /* a failed built-in create cleaned up already */
      runtime_delete(a, c, &e2);
    goto fail;
  }
  proc_stdio_cleanup(&ps);
  c->next = a->containers;
  a->containers = c;
  a->n_containers++;
  oom_watch_container(a, c);
  cf_info("container %s created (pid %d%s)", id, (int)p->pid, c->sandbox ? ", sandbox" : "");
  *out = c;
  rc = 0;
  goto done;
fail:
  proc_stdio_cleanup(&ps);
  container_free(a, c);
done:
  oci_spec_free(&spec);
  free(root);
  free(config);
  for (size_t i = 0; msrc && i < req->n_mounts; i++)
    free(msrc[i]);
  free(msrc);
  free(mdst);
  return rc;
}

int container_start(agent *a, container *c, cf_error *err) {
  proc *init = c->procs;
  if (init->started)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s was already started", c->id);
  if (init->exited)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s has already exited", c->id);
  if ((c->oci ? oci_start(c->oci, c->id, a->runc_timeout_ms, err)
              : runc_simple(a, err, "start", c->id, NULL)) < 0)
    return cf_error_prefix(err, "container %s", c->id);
  init->started = true;
  return 0;
}

bool container_running(const container *c) {
  return c->procs && !c->procs->exited;
}

int container_remove(agent *a, container *c, bool force, cf_error *err) {
  if (c->procs->started && !c->procs->exited && !force)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "container %s is running: kill it first or remove with force", c->id);
  if (runtime_delete(a, c, err) < 0 && err->status != CF_NOT_FOUND) {
    cf_error_prefix(err, "container %s", c->id);
    cf_warn("%s", err->msg); /* removed from the agent anyway: nothing else can */
  }
  cf_error_clear(err);
  unlink_container(a, c);
  cf_info("container %s removed", c->id);
  container_free(a, c);
  return 0;
}

static int exec_runc(agent *a, container *c, const char *eid, const char *json, bool terminal,
                     proc_stdio *ps, pid_t *pid, cf_error *err) {
  char path[PATH_MAX], pidfile[PATH_MAX];
  snprintf(path, sizeof(path), "%s/exec-%s.json", c->bundle, eid);
  snprintf(pidfile, sizeof(pidfile), "%s/exec-%s.pid", c->bundle, eid);
  if (write_file_atomic(path, json, strlen(json), err) < 0)
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

int container_exec(agent *a, container *c, const Coffer__Agent__V1__ExecProcessRequest *req,
                   proc **out, cf_error *err) {
  const char *eid = req->exec_id;
  if (!cf_id_valid(eid))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "exec id \"%.64s\" is not valid", eid);
  proc *old = proc_find(c, eid);
  if (old && !proc_reusable(old))
    return cf_err_status(err, CF_ALREADY_EXISTS, "exec %s already exists in container %s", eid, c->id);
  if (!c->procs->started || c->procs->exited)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s is not running", c->id);
  /* a process joining a frozen cgroup would freeze with it */
  if (c->paused)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s is paused: resume it first",
                         c->id);
  Coffer__Agent__V1__Stdio nostdio = COFFER__AGENT__V1__STDIO__INIT;
  const Coffer__Agent__V1__Stdio *st = req->stdio ? req->stdio : &nostdio;
  _cleanup_free_ char *json = bundle_make_process(req->process.data, req->process.len,
                                                  st->terminal, err);
  if (!json)
    return cf_error_prefix(err, "exec %s in %s", eid, c->id);
  /* containerd reuses an exec id once the old exec was deleted: a finished,
   * fully read exec of the same id makes way */
  if (old) {
    cf_error e2 = {0};
    process_remove(a, c, old, &e2);
  }
  exec_prune(a, c);
  proc *p = proc_new(c, eid);
  if (!p)
    return cf_err(err, ENOMEM, "exec %s", eid);
  proc_stdio ps;
  int rc = proc_stdio_prepare(a, p, st->terminal, st->stdin, st->stdout,
                              st->stderr && !st->terminal, !c->oci, &ps, err);
  if (rc == 0 && c->oci) {
    oci_stdio io = {.in = ps.child_in, .out = ps.child_out, .err = ps.child_err,
                    .terminal = st->terminal, .pty_master = &ps.console_fd};
    rc = oci_exec(c->oci, c->id, json, strlen(json), &io, a->runc_timeout_ms, &p->pid, err);
  } else if (rc == 0) {
    rc = exec_runc(a, c, eid, json, st->terminal, &ps, &p->pid, err);
  }
  if (rc < 0)
    cf_error_prefix(err, "exec %s in %s", eid, c->id);
  if (rc == 0)
    rc = proc_stdio_finish(a, p, &ps, err);
  proc_stdio_cleanup(&ps);
  if (rc < 0) {
    proc_free(a, p, "failed");
    return rc;
  }
  p->started = true;
  /* after init, so the init stays first */
  p->next = c->procs->next;
  c->procs->next = p;
  *out = p;
  return 0;
}

/* Finished, waited-for-or-not, output fully read: nothing the shim can
 * still want from it but its status. */
bool proc_reusable(const proc *p) {
  return p->done && !p->n_waiters && !p->out.reader && !p->err.reader && p->out.eof &&
         p->err.eof && p->out.len == p->out.head && p->err.len == p->err.head;
}

/* A shim that never calls RemoveProcess (exec probes every few seconds)
 * must not grow the agent without bound: beyond max_done_execs
 * finished and drained execs, the oldest go. */
void exec_prune(agent *a, container *c) {
  size_t done = 0;
  for (proc *p = c->procs->next; p; p = p->next)
    done += proc_reusable(p);
  while (done > a->max_done_execs) {
    proc *victim = NULL; /* the oldest is last in the list */
    for (proc *p = c->procs->next; p; p = p->next)
      if (proc_reusable(p))
        victim = p;
    if (!victim)
      break;
    cf_error e = {0};
    cf_debug("container %s: forgetting finished exec %s", c->id, victim->exec_id);
    process_remove(a, c, victim, &e);
    done--;
  }
}

int process_remove(agent *a, container *c, proc *p, cf_error *err) {
  if (p == c->procs)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "container %s: remove the container to remove its init", c->id);
  if (!p->exited)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "exec %s in %s is still running",
                         p->exec_id, c->id);
  for (proc **pp = &c->procs; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  proc_free(a, p, "was removed");
  return 0;
}

static proc *proc_by_pid(agent *a, pid_t pid) {
  for (container *c = a->containers; c; c = c->next)
    for (proc *p = c->procs; p; p = p->next)
      if (p->pid == pid && !p->exited)
        return p;
  return NULL;
}

void agent_reap(agent *a) {
  struct signalfd_siginfo si;
  while (read(a->sigchld_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
    ;
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0)
      break;
    proc *p = proc_by_pid(a, pid);
    if (p)
      proc_reaped(a, p, st);
  }
}

int container_signal(agent *a, container *c, proc *p, int sig, bool all, cf_error *err) {
  if (sig < 1 || sig > 64)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "signal %d is not valid (1..64)", sig);
  if (all) {
    if (p != c->procs)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "\"all\" applies to a container's init only");
    char s[16];
    snprintf(s, sizeof(s), "%d", sig);
    if ((c->oci ? oci_cgroup_signal_all(&c->oci->cg, sig, err)
                : runc_simple(a, err, "kill", "--all", c->id, s, NULL)) < 0)
      return cf_error_prefix(err, "container %s", c->id);
    return 0;
  }
  if (p->exited || p->pid <= 0)
    return cf_err_status(err, CF_NOT_FOUND, "process %s/%s already finished", c->id, p->exec_id);
  if (kill(p->pid, sig) < 0)
    return cf_err(err, errno, "signal %d to %s/%s (pid %d)", sig, c->id, p->exec_id, (int)p->pid);
  return 0;
}
