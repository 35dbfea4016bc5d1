/* Containers: create (spec + rootfs + the engine's create), start, exec, remove,
 * and the reaping of every child the agent inherits as subreaper. */

#include "container.h"
#include "attester_client.h"
#include "secrets.h"
#include "volume.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "coffer/id.h"
#include "bundle.h"
#include "engine.h"
#include "init.h"
#include "job.h"
#include "oom.h"
#include "process.h"
#include "rootfs.h"

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
    agent_proc_free(a, p, "was removed with its container");
  }
  agent_rootfs_release(c);
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

int agent_sandbox_ensure(agent *a, const char *fallback_id, cf_error *err) {
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

/* CAP_NET_ADMIN in the bounding set (privileged containers, or one given
 * it): the container may set up bridges, veths and netfilter, whose modules
 * are the guest image's "netdev" group. */
static bool may_admin_network(const char *config) {
  json_object *s = json_tokener_parse(config), *p, *caps, *set;
  bool found = false;
  if (s && json_object_object_get_ex(s, "process", &p) &&
      json_object_object_get_ex(p, "capabilities", &caps) &&
      json_object_object_get_ex(caps, "bounding", &set) &&
      json_object_is_type(set, json_type_array))
    for (size_t i = 0; !found && i < json_object_array_length(set); i++) {
      const char *name = json_object_get_string(json_object_array_get_idx(set, i));
      found = name && !strcmp(name, "CAP_NET_ADMIN");
    }
  json_object_put(s);
  return found;
}

/* True when pid is 1 in its innermost PID namespace (the last NSpid field):
 * its exit ends every process of that namespace. Unknown: true, so that
 * nothing is killed on a guess. */
static bool pid_is_ns_init(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  while (f && fgets(line, sizeof(line), f)) {
    if (strncmp(line, "NSpid:", 6))
      continue;
    const char *last = strrchr(line, '\t');
    return !last || atoi(last + 1) == 1;
  }
  return true;
}

/* A CreateContainer in three steps: checks and what needs the agent's
 * state on the loop, the image mounts and the runtime's create on the job
 * worker (c is the job's until then: on a->creating, not a->containers),
 * then linking and the reply on the loop (job.h). */
typedef struct create_job {
  agent *a;
  container *c;
  const Coffer__Agent__V1__CreateContainerRequest *req;
  container_created_cb cb;
  void *cb_data;
  pid_t sandbox_pid;
  bool sandbox_exists;
  pid_t known[64];
  size_t n_known;
  char files_dir[PATH_MAX];
  agent_coffer_mounts cm;
  proc_stdio ps;
  char *config;        /* for an engine create on the loop (engine_on_worker) */
  oci_spec *spec;
  int rc;
  cf_error err;
} create_job;

/* The built-in runtime's clone of a container's process stays on the
 * loop's thread: issued from the worker, the container's init hung in a
 * guest VM (not on a host) before reporting ready; runc (fork and exec)
 * runs on the worker. */
static bool engine_on_worker(const engine_ops *e) {
  return e != &engine_builtin;
}

static void unlink_creating(agent *a, container *c) {
  for (container **pp = &a->creating; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      c->next = NULL;
      return;
    }
}

/* Worker: touches the job's container and the agent's settled fields only. */
static void create_work(void *data) {
  create_job *j = data;
  agent *a = j->a;
  container *c = j->c;
  const Coffer__Agent__V1__CreateContainerRequest *req = j->req;
  const char *id = c->id;
  cf_error *err = &j->err;
  Coffer__Agent__V1__Stdio nostdio = COFFER__AGENT__V1__STDIO__INIT;
  const Coffer__Agent__V1__Stdio *st = req->stdio ? req->stdio : &nostdio;
  char *root = NULL, *config = NULL;
  oci_spec *spec = NULL;
  char **msrc = NULL;
  const char **mdst = NULL;
  j->rc = -EIO;
  if (!(root = agent_rootfs_prepare(a, c, req->rootfs, "rootfs", err))) {
    cf_error_prefix(err, "container %s", id);
    goto out;
  }
  msrc = calloc(req->n_mounts + 1, sizeof(*msrc));
  mdst = calloc(req->n_mounts + 1, sizeof(*mdst));
  if (!msrc || !mdst) {
    cf_err(err, ENOMEM, "container %s", id);
    goto out;
  }
  for (size_t i = 0; i < req->n_mounts; i++) {
    char name[32];
    snprintf(name, sizeof(name), "mnt-%zu", i);
    mdst[i] = req->mounts[i]->destination;
    if (!(msrc[i] = agent_rootfs_prepare(a, c, req->mounts[i]->source, name, err))) {
      cf_error_prefix(err, "container %s: mount %s", id, mdst[i]);
      goto out;
    }
    if (req->mounts[i]->n_files > 0 &&
        agent_volume_put(a, c, req->mounts[i]->source->source, req->mounts[i]->files,
                         req->mounts[i]->n_files, err) < 0) {
      cf_error_prefix(err, "mount %s", mdst[i]);
      goto out;
    }
  }
  bundle_opts o = {.id = id, .root_path = root, .terminal = st->terminal,
                   .cgroup_path = c->cgroup_path, .sandbox_pid = j->sandbox_pid,
                   .share_pid = a->share_pid, .guest = a->guest, .tee = a->tee_mode,
                   .mount_dst = mdst, .mount_src = (const char *const *)msrc,
                   .n_mounts = req->n_mounts, .known_pids = j->known, .n_known_pids = j->n_known,
                   .guest_files_dir = j->files_dir, .ro_dst = j->cm.dst,
                   .ro_src = (const char *const *)j->cm.src, .n_ro = j->cm.n};
  bool is_sandbox = false;
  if (!(config = bundle_make_config(req->spec.data, req->spec.len, &o, &is_sandbox, err))) {
    cf_error_prefix(err, "container %s", id);
    goto out;
  }
  c->sandbox = is_sandbox || !j->sandbox_exists;
  if (a->pid1 && may_admin_network(config))
    init_load_modules(a->modules, "netdev");
  if (!(c->engine = engine_choose(a, id, config, &spec, err))) {
    cf_error_prefix(err, "container %s", id);
    goto out;
  }
  cf_debug("container %s: rootfs and spec ready, running the OCI runtime", id);
  proc *p = agent_proc_new(c, "");
  if (!p) {
    cf_err(err, ENOMEM, "container %s", id);
    goto out;
  }
  c->procs = p;
  if (agent_proc_stdio_prepare(a, p, st->terminal, st->stdin, st->stdout, st->stderr && !st->terminal,
                               c->engine->console_socket, &j->ps, err) < 0)
    goto out;
  if (!engine_on_worker(c->engine)) { /* create_done runs it */
    j->config = cf_steal_ptr(config);
    j->spec = cf_steal_ptr(spec);
    j->rc = 0;
    goto out;
  }
  /* a failed create cleaned up after itself */
  if (c->engine->create(a, c, config, spec, st->terminal, &j->ps, err) < 0)
    goto out;
  j->rc = 0;
out:
  oci_spec_unload(spec);
  free(root);
  free(config);
  for (size_t i = 0; msrc && i < req->n_mounts; i++)
    free(msrc[i]);
  free(msrc);
  free(mdst);
}

/* Loop: the container joins the agent, or goes. */
static void create_done(agent *a, void *data) {
  create_job *j = data;
  container *c = j->c;
  proc *p = c->procs;
  unlink_creating(a, c);
  if (j->rc == 0 && j->config)
    j->rc = c->engine->create(a, c, j->config, j->spec,
                              j->req->stdio && j->req->stdio->terminal, &j->ps, &j->err);
  free(j->config);
  oci_spec_unload(j->spec);
  if (j->rc == 0 && agent_proc_stdio_finish(a, p, &j->ps, &j->err) < 0) {
    cf_error e2 = {0};
    c->engine->delete(a, c, &e2);
    j->rc = -EIO;
  }
  agent_proc_stdio_cleanup(&j->ps);
  agent_coffer_mounts_free(&j->cm);
  if (j->rc < 0) {
    container_free(a, c);
    c = NULL;
  } else {
    c->own_pidns = pid_is_ns_init(p->pid);
    c->next = a->containers;
    a->containers = c;
    oom_watch_container(a, c);
    cf_info("container %s created (pid %d%s)", c->id, (int)p->pid, c->sandbox ? ", sandbox" : "");
  }
  j->cb(a, c, j->rc < 0 ? &j->err : NULL, j->cb_data);
  free(j);
}

int container_create(agent *a, const Coffer__Agent__V1__CreateContainerRequest *req,
                     container_created_cb cb, void *cb_data, cf_error *err) {
  const char *id = req->container_id;
  if (!cf_id_valid(id))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "container id \"%.64s\" is not valid ([A-Za-z0-9][A-Za-z0-9_.-]{0,127})", id);
  bool creating = false;
  for (container *k = a->creating; k; k = k->next)
    creating |= !strcmp(k->id, id);
  if (container_find(a, id) || creating)
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
    /* before any effect: a TEE guest takes no host files for a volume */
    if (a->tee_mode && m->source->kind != COFFER__AGENT__V1__ROOTFS__KIND__GUEST)
      return cf_err_status(err, CF_PERMISSION_DENIED,
                           "container %s: mount %s shares host files (%s): refused in a TEE guest "
                           "(volumes are copied into guest memory instead)",
                           id, m->destination, m->source->source);
  }
  if (agent_sandbox_ensure(a, id, err) < 0)
    return -EIO;

  create_job *j = calloc(1, sizeof(*j));
  container *c = calloc(1, sizeof(*c));
  if (!j || !c) {
    free(j);
    free(c);
    return cf_err(err, ENOMEM, "container %s", id);
  }
  *j = (create_job){.a = a, .c = c, .req = req, .cb = cb, .cb_data = cb_data,
                    .ps = {.child_in = -1, .child_out = -1, .child_err = -1, .console_listen = -1,
                           .console_fd = -1}};
  c->a = a;
  c->oom_fd = -1;
  c->policy_rule = -1;
  c->id = strdup(id);
  if (asprintf(&c->bundle, "%s/bundles/%s", a->state_dir, id) < 0)
    c->bundle = NULL;
  if (asprintf(&c->cgroup_path, "%s/%s", a->cgroup_parent, id) < 0)
    c->cgroup_path = NULL;
  if (!c->id || !c->bundle || !c->cgroup_path) {
    cf_err(err, ENOMEM, "container %s", id);
    goto fail;
  }
  remove_bundle_files(c->bundle); /* a stale one from an agent that died */
  if (mkdir(c->bundle, 0700) < 0) {
    cf_err(err, errno, "create bundle %s", c->bundle);
    goto fail;
  }
  /* Secrets are fetched (after attestation) before the process exists;
   * the attester is the loop's (it reaps it). */
  if (agent_secrets_prepare(a, c, req->spec.data, req->spec.len, &j->cm, err) < 0)
    goto fail;
  container *sb = sandbox_container(a);
  j->sandbox_exists = sb != NULL;
  j->sandbox_pid = sb ? sb->procs->pid : 0;
  for (container *k = a->containers; k && j->n_known < 64; k = k->next)
    if (k->procs && !k->procs->exited)
      j->known[j->n_known++] = k->procs->pid;
  snprintf(j->files_dir, sizeof(j->files_dir), "%s/sandbox", a->state_dir);
  if (agent_job_submit(a, create_work, create_done, j, err) < 0)
    goto fail;
  c->next = a->creating;
  a->creating = c;
  return 0;
fail:
  agent_coffer_mounts_free(&j->cm);
  container_free(a, c);
  free(j);
  return -EIO;
}

typedef struct step_job {
  agent *a;
  container *c;
  proc *p;              /* exec: linked, pending until done */
  char *process;        /* exec: the OCI process JSON */
  bool terminal;
  proc_stdio ps;
  pid_t pid;
  container_step_cb cb;
  void *cb_data;
  int rc;
  cf_error err;
} step_job;

static void start_work(void *data) {
  step_job *j = data;
  j->rc = j->c->engine->start(j->a, j->c, &j->err);
  if (j->rc < 0)
    cf_error_prefix(&j->err, "container %s", j->c->id);
}

static void start_done(agent *a, void *data) {
  step_job *j = data;
  container *c = j->c;
  c->busy--;
  c->procs->starting = false;
  if (j->rc == 0)
    c->procs->started = true;
  j->cb(a, c, c->procs, j->rc < 0 ? &j->err : NULL, j->cb_data);
  free(j);
}

int container_start(agent *a, container *c, container_step_cb cb, void *cb_data, cf_error *err) {
  proc *init = c->procs;
  if (init->started || init->starting)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s was already started", c->id);
  if (init->exited)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s has already exited", c->id);
  step_job *j = calloc(1, sizeof(*j));
  if (!j)
    return cf_err(err, ENOMEM, "start %s", c->id);
  *j = (step_job){.a = a, .c = c, .cb = cb, .cb_data = cb_data};
  init->starting = true;
  c->busy++;
  if (!engine_on_worker(c->engine)) { /* here and now: cb has run */
    start_work(j);
    start_done(a, j);
    return 0;
  }
  if (agent_job_submit(a, start_work, start_done, j, err) < 0) {
    init->starting = false;
    c->busy--;
    free(j);
    return -EIO;
  }
  return 0;
}

bool container_running(const container *c) {
  return c->procs && !c->procs->exited;
}

int container_remove(agent *a, container *c, bool force, cf_error *err) {
  if (c->busy)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "container %s: a start or exec of it is still in progress", c->id);
  if (c->procs->started && !c->procs->exited && !force)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "container %s is running: kill it first or remove with force", c->id);
  if (c->engine->delete(a, c, err) < 0 && err->status != CF_NOT_FOUND) {
    cf_error_prefix(err, "container %s", c->id);
    cf_warn("%s", err->msg); /* removed from the agent anyway: nothing else can */
  }
  cf_error_clear(err);
  unlink_container(a, c);
  cf_info("container %s removed", c->id);
  container_free(a, c);
  return 0;
}

static void exec_work(void *data) {
  step_job *j = data;
  j->rc = j->c->engine->exec(j->a, j->c, j->p->exec_id, j->process, j->terminal, &j->ps, &j->pid,
                             &j->err);
  if (j->rc < 0)
    cf_error_prefix(&j->err, "exec %s in %s", j->p->exec_id, j->c->id);
}

static void exec_done(agent *a, void *data) {
  step_job *j = data;
  container *c = j->c;
  proc *p = j->p;
  c->busy--;
  p->pending = false;
  if (j->rc == 0) {
    p->pid = j->pid;
    j->rc = agent_proc_stdio_finish(a, p, &j->ps, &j->err);
  }
  agent_proc_stdio_cleanup(&j->ps);
  if (j->rc == 0) {
    p->started = true;
    j->cb(a, c, p, NULL, j->cb_data);
  } else {
    for (proc **pp = &c->procs; *pp; pp = &(*pp)->next)
      if (*pp == p) {
        *pp = p->next;
        break;
      }
    if (p->pid > 0) /* started, but its output could not be read: it goes */
      kill(p->pid, SIGKILL);
    j->cb(a, c, NULL, &j->err, j->cb_data);
    agent_proc_free(a, p, "failed");
  }
  free(j->process);
  free(j);
}

int container_exec(agent *a, container *c, const Coffer__Agent__V1__ExecProcessRequest *req,
                   container_step_cb cb, void *cb_data, cf_error *err) {
  const char *eid = req->exec_id;
  if (!cf_id_valid(eid))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "exec id \"%.64s\" is not valid", eid);
  proc *old = agent_proc_find(c, eid);
  if (old && !agent_proc_reusable(old))
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
                                                  st->terminal, a->tee_mode, err);
  if (!json)
    return cf_error_prefix(err, "exec %s in %s", eid, c->id);
  /* containerd reuses an exec id once the old exec was deleted: a finished,
   * fully read exec of the same id makes way */
  if (old) {
    cf_error e2 = {0};
    agent_exec_remove(a, c, old, &e2);
  }
  agent_exec_prune(a, c);
  step_job *j = calloc(1, sizeof(*j));
  proc *p = j ? agent_proc_new(c, eid) : NULL;
  if (!p) {
    free(j);
    return cf_err(err, ENOMEM, "exec %s", eid);
  }
  *j = (step_job){.a = a, .c = c, .p = p, .process = cf_steal_ptr(json), .terminal = st->terminal,
                  .cb = cb, .cb_data = cb_data};
  bool worker = engine_on_worker(c->engine);
  if (agent_proc_stdio_prepare(a, p, st->terminal, st->stdin, st->stdout,
                               st->stderr && !st->terminal, c->engine->console_socket, &j->ps,
                               err) < 0 ||
      (worker && agent_job_submit(a, exec_work, exec_done, j, err) < 0)) {
    agent_proc_stdio_cleanup(&j->ps);
    agent_proc_free(a, p, "failed");
    free(j->process);
    free(j);
    return -EIO;
  }
  /* linked now so that its id is taken (pid 0, pending: nothing signals or
   * reaps it); after init, so the init stays first */
  p->pending = true;
  p->next = c->procs->next;
  c->procs->next = p;
  c->busy++;
  if (!worker) { /* here and now: cb has run */
    exec_work(j);
    exec_done(a, j);
  }
  return 0;
}

/* Finished, waited-for-or-not, output fully read: nothing the shim can
 * still want from it but its status. */
bool agent_proc_reusable(const proc *p) {
  return p->done && !p->n_waiters && !p->out.reader && !p->err.reader && p->out.eof &&
         p->err.eof && p->out.len == p->out.head && p->err.len == p->err.head;
}

/* A shim that never calls RemoveProcess (exec probes every few seconds)
 * must not grow the agent without bound: beyond max_done_execs
 * finished and drained execs, the oldest go. */
void agent_exec_prune(agent *a, container *c) {
  size_t done = 0;
  for (proc *p = c->procs->next; p; p = p->next)
    done += agent_proc_reusable(p);
  while (done > a->max_done_execs) {
    proc *victim = NULL; /* the oldest is last in the list */
    for (proc *p = c->procs->next; p; p = p->next)
      if (agent_proc_reusable(p))
        victim = p;
    if (!victim)
      break;
    cf_error e = {0};
    cf_debug("container %s: forgetting finished exec %s", c->id, victim->exec_id);
    agent_exec_remove(a, c, victim, &e);
    done--;
  }
}

int agent_exec_remove(agent *a, container *c, proc *p, cf_error *err) {
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
  agent_proc_free(a, p, "was removed");
  return 0;
}

static proc *proc_by_pid(agent *a, pid_t pid) {
  for (container *c = a->containers; c; c = c->next)
    for (proc *p = c->procs; p; p = p->next)
      if (p->pid == pid && !p->exited)
        return p;
  return NULL;
}

/* While a job runs, its children (a runtime helper, runc) are its own to
 * wait for, and a new container's init not yet linked must keep its
 * status: only the pids the agent knows are reaped, the rest once the jobs
 * are done (job.c calls agent_reap again). */
static void reap_known(agent *a) {
  bool again = true;
  while (again) {
    again = false;
    for (container *c = a->containers; c && !again; c = c->next)
      for (proc *p = c->procs; p && !again; p = p->next) {
        int st;
        if (p->pid > 0 && !p->exited && waitpid(p->pid, &st, WNOHANG) == p->pid) {
          agent_proc_reaped(a, p, st);
          again = true; /* that may have changed the lists */
        }
      }
  }
  int st;
  if (a->attester_pid > 0 && waitpid(a->attester_pid, &st, WNOHANG) == a->attester_pid)
    agent_attester_reaped(a, a->attester_pid, st);
}

/* The signalfd is on_signal's (main.c): it also carries SIGTERM, which a
 * drain here would drop (a reap after a job, job.c). */
void agent_reap(agent *a) {
  if (agent_jobs_pending(a)) {
    reap_known(a);
    return;
  }
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0)
      break;
    proc *p = proc_by_pid(a, pid);
    if (p)
      agent_proc_reaped(a, p, st);
    else
      agent_attester_reaped(a, pid, st);
  }
}

int container_signal(agent *a, container *c, proc *p, int sig, bool all, cf_error *err) {
  if (sig < 1 || sig > 64)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "signal %d is not valid (1..64)", sig);
  if (all) {
    if (p != c->procs)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "\"all\" applies to a container's init only");
    if (c->engine->kill_all(a, c, sig, err) < 0)
      return cf_error_prefix(err, "container %s", c->id);
    return 0;
  }
  if (p->exited || p->pid <= 0)
    return cf_err_status(err, CF_NOT_FOUND, "process %s/%s already finished", c->id, p->exec_id);
  if (kill(p->pid, sig) < 0)
    return cf_err(err, errno, "signal %d to %s/%s (pid %d)", sig, c->id, p->exec_id, (int)p->pid);
  return 0;
}

/* As runc's shim does: a container that shares a PID namespace (the pod's,
 * or the VM's) loses nothing to its init's exit, so a child that outlived
 * it (nginx's workers) would keep running and hold the container's output
 * open. Killing the cgroup ends them, their pipes reach EOF and the exit is
 * reported without waiting for the drain timeout. */
void container_init_exited(agent *a, container *c) {
  if (c->own_pidns)
    return;
  cf_error err = {0};
  cf_info("container %s: its init exited and it has no PID namespace of its own: killing the "
          "rest of its cgroup", c->id);
  if (c->engine->kill_all(a, c, SIGKILL, &err) < 0)
    cf_warn("container %s: kill what is left: %s", c->id, err.msg);
}
