/* The ttrpc services: decode and check each request (everything from the
 * host is hostile until checked), then act and answer, now or later. */

#include "service.h"
#include "volume.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.pb-c.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "coffer/id.h"
#include "container.h"
#include "engine.h"
#include "guest.h"
#include "init.h"
#include "attester_client.h"
#include "job.h"
#include "prefetch.h"
#include "initdata.h"
#include "net.h"
#include "oom.h"
#include "policy_gate.h"
#include "process.h"
#include "stats_reply.h"
#include "stream.h"

#define SERVICE "coffer.agent.v1.Agent"
#define HEALTH "coffer.agent.v1.Health"

/* Unpack the payload into `var` (freed at scope end) or answer
 * INVALID_ARGUMENT. */
#define DECODE(T, prefix, var)                                                          \
  _cleanup_pb_ T *var = prefix##__unpack(NULL, len, payload);                            \
  if (!var) {                                                                           \
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "%s: malformed request",        \
                            ttrpc_call_method(call));                                   \
    return;                                                                             \
  }

/* Container by id, or answer INVALID_ARGUMENT / NOT_FOUND. */
static container *lookup(agent *a, ttrpc_call *call, const char *id) {
  if (!cf_id_valid(id)) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "container id \"%.64s\" is not valid", id);
    return NULL;
  }
  container *c = container_find(a, id);
  if (!c)
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "container %s not found", id);
  return c;
}

static proc *lookup_proc(agent *a, ttrpc_call *call, const char *cid, const char *eid) {
  container *c = lookup(a, call, cid);
  if (!c)
    return NULL;
  if (eid[0] && !cf_id_valid(eid)) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "exec id \"%.64s\" is not valid", eid);
    return NULL;
  }
  proc *p = agent_proc_find(c, eid);
  if (!p)
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "exec %s not found in container %s", eid, cid);
  return p;
}

static void reply_err(ttrpc_call *call, cf_error *err) {
  cf_debug("%s: %s", ttrpc_call_method(call), err->msg);
  ttrpc_call_reply_error(call, err);
}

/* ------------------------------------------------------------------ sandbox */

static bool valid_cgroup_parent(const char *p) {
  if (p[0] != '/' || strlen(p) > 512 || cf_path_has_dotdot(p))
    return false;
  for (const char *s = p; *s; s++)
    if (!(*s == '/' || *s == '_' || *s == '-' || *s == '.' || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

static bool valid_hostname(const char *h) {
  size_t n = strlen(h);
  if (n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(h[i] == '-' || h[i] == '.' || (h[i] >= 'a' && h[i] <= 'z') ||
          (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9')))
      return false;
  return true;
}

/* One token of a resolv.conf / hosts line: printable, no spaces. */
static bool valid_word(const char *w) {
  size_t n = strlen(w);
  if (n == 0 || n > 253)
    return false;
  for (size_t i = 0; i < n; i++)
    if (w[i] <= ' ' || w[i] == 0x7f || w[i] == '#')
      return false;
  return true;
}

static void h_create_sandbox(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__CreateSandboxRequest, coffer__agent__v1__create_sandbox_request, req);
  if (a->sandbox_created)
    return ttrpc_call_reply_status(call, CF_ALREADY_EXISTS, "sandbox %s already exists",
                                   a->sandbox_id);
  if (!cf_id_valid(req->sandbox_id))
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "sandbox id \"%.64s\" is not valid",
                                   req->sandbox_id);
  if (req->cgroup_parent[0] && !valid_cgroup_parent(req->cgroup_parent))
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT,
                                   "cgroup parent \"%.64s\" must be an absolute cgroup path", req->cgroup_parent);
  if (!valid_hostname(req->hostname))
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "hostname \"%.64s\" is not valid",
                                   req->hostname);
  int lvl = req->guest_log_level[0] ? cf_log_level_parse(req->guest_log_level) : -2;
  if (lvl == -1)
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "log level \"%.32s\" is unknown",
                                   req->guest_log_level);
  /* names and addresses end up in files: no line breaks or other controls */
  for (size_t i = 0; i < req->n_dns_servers + req->n_dns_searches + req->n_dns_options; i++) {
    const char *v = i < req->n_dns_servers ? req->dns_servers[i]
                    : i < req->n_dns_servers + req->n_dns_searches
                        ? req->dns_searches[i - req->n_dns_servers]
                        : req->dns_options[i - req->n_dns_servers - req->n_dns_searches];
    if (!valid_word(v))
      return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "DNS entry \"%.64s\" is not valid", v);
  }
  for (size_t i = 0; i < req->n_hosts; i++) {
    bool ok = valid_word(req->hosts[i]->ip) && req->hosts[i]->n_names > 0;
    for (size_t k = 0; ok && k < req->hosts[i]->n_names; k++)
      ok = valid_word(req->hosts[i]->names[k]);
    if (!ok)
      return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "hosts entry %zu is not valid", i);
  }
  cf_error err = {0};
  /* Before anything of the pod is used: its init-data, checked against
   * what the TEE bound at launch (fails closed; initdata.h). */
  char idir[PATH_MAX];
  snprintf(idir, sizeof(idir), "%s/initdata", a->state_dir);
  if (agent_initdata_accept(&a->tee_env, a->guest, req->init_data.data, req->init_data.len, idir,
                            &a->initdata, &a->tee, &err) < 0) {
    cf_error_log("sandbox %s refused: %s", req->sandbox_id, err.msg);
    return reply_err(call, &err);
  }
  if (agent_policy_from_initdata(a, idir, &err) < 0) {
    cf_error_log("sandbox %s refused: %s", req->sandbox_id, err.msg);
    return reply_err(call, &err);
  }
  if (a->initdata && a->tee != CF_TEE_NONE)
    cf_info("init-data in %s verified against the %s binding (%s)", idir, cf_tee_kind_name(a->tee),
            cf_initdata_alg_name(a->initdata->alg));
  else if (a->initdata)
    cf_info("init-data in %s not verified: no TEE and no sample binding (plain profile)", idir);
  if (a->pid1 && req->hostname[0] && sethostname(req->hostname, strlen(req->hostname)) < 0)
    cf_warn("sethostname %s: %s", req->hostname, strerror(errno));
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s/sandbox", a->state_dir);
  if (agent_sandbox_write_files(dir, req, &err) < 0)
    return reply_err(call, &err);
  if (lvl >= 0)
    cf_log_init("agent", (enum cf_log_level)lvl, STDERR_FILENO);
  a->sandbox_id = strdup(req->sandbox_id);
  if (req->cgroup_parent[0])
    a->cgroup_parent = strdup(req->cgroup_parent);
  else if (asprintf(&a->cgroup_parent, "/coffer/%s", req->sandbox_id) < 0)
    a->cgroup_parent = NULL;
  if (!a->sandbox_id || !a->cgroup_parent) {
    free(a->sandbox_id);
    free(a->cgroup_parent);
    a->sandbox_id = a->cgroup_parent = NULL;
    return ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
  }
  a->share_pid = req->share_pid_namespace;
  a->exit_on_destroy = req->exit_on_destroy;
  a->sandbox_created = true;
  cf_info("sandbox %s created (cgroup parent %s)", a->sandbox_id, a->cgroup_parent);
  agent_attester_early_start(a); /* attester_client.c: attests while the pod starts */
  /* prefetch.h: the guest-pulled images, while the host goes on with the pod */
  agent_prefetch_start(a, req->prefetch_images, req->n_prefetch_images);
  ttrpc_call_reply(call, NULL);
}

static void power_off_cb(cf_loop *loop, void *data) {
  agent *a = data;
  if (a->pid1)
    init_power_off();
  cf_loop_quit(loop);
}

typedef struct destroy_op {
  agent *a;
  ttrpc_call *call;
  uint64_t deadline;
} destroy_op;

static void destroy_finish(cf_loop *loop, void *data) {
  destroy_op *op = data;
  agent *a = op->a;
  bool alive = false;
  for (container *c = a->containers; c; c = c->next)
    alive |= container_running(c) && c->procs->started;
  cf_error err = {0};
  if (alive && cf_now_ms() < op->deadline && cf_loop_timer(loop, 50, destroy_finish, op, &err))
    return;
  /* the runtime steps in progress end first (each has its bound): they
   * leave containers to remove */
  if (agent_jobs_pending(a) && cf_loop_timer(loop, 50, destroy_finish, op, &err))
    return;
  agent_prefetch_free(a); /* what no container took */
  while (a->containers)
    container_remove(a, a->containers, true, &err);
  agent_cgroup_remove_pod(a);
  cf_info("sandbox %s destroyed", a->sandbox_id ? a->sandbox_id : "(none)");
  ttrpc_call_reply(op->call, NULL);
  free(op);
  if (a->pid1 || a->exit_on_destroy)
    cf_loop_timer(loop, 50, power_off_cb, a, &err); /* let the reply go out first */
}

static void h_destroy_sandbox(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__DestroySandboxRequest, coffer__agent__v1__destroy_sandbox_request, req);
  if (a->destroyed)
    return ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "the sandbox is already being destroyed");
  a->destroyed = true;
  agent_prefetch_cancel(a); /* a pull no container waits for ends now */
  destroy_op *op = calloc(1, sizeof(*op));
  if (!op)
    return ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
  op->a = a;
  op->call = call;
  uint32_t grace = req->grace_ms > 60000 ? 60000 : req->grace_ms;
  op->deadline = cf_now_ms() + grace;
  if (grace)
    for (container *c = a->containers; c; c = c->next)
      if (container_running(c) && c->procs->started)
        kill(c->procs->pid, SIGTERM);
  destroy_finish(a->loop, op);
}

/* ---------------------------------------------------------------- container */

/* A call answered when its job (job.h) completes; if its connection goes
 * first it is answered CANCELLED then and the completion only finishes the
 * work. */
typedef struct parked {
  ttrpc_call *call;
  ProtobufCMessage *req; /* what the job reads, freed with this */
  int rule;
} parked;

static void parked_cancel(ttrpc_call *call, void *data) {
  parked *pk = data;
  pk->call = NULL;
  ttrpc_call_reply_status(call, CF_CANCELLED, "connection closed");
}

static parked *park(ttrpc_call *call, ProtobufCMessage *req) {
  parked *pk = calloc(1, sizeof(*pk));
  if (!pk) {
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pk->call = call;
  pk->req = req;
  return pk;
}

static void unpark(parked *pk) {
  if (pk->call)
    ttrpc_call_on_cancel(pk->call, NULL, NULL);
  if (pk->req)
    protobuf_c_message_free_unpacked(pk->req, NULL);
  free(pk);
}

static void created(agent *a, container *c, const cf_error *err, void *data) {
  (void)a;
  parked *pk = data;
  if (c)
    c->policy_rule = pk->rule;
  if (pk->call && err) {
    reply_err(pk->call, (cf_error *)err);
  } else if (pk->call) {
    Coffer__Agent__V1__CreateContainerResponse resp = COFFER__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
    resp.pid = (uint32_t)c->procs->pid;
    ttrpc_call_reply(pk->call, &resp.base);
  }
  pk->call = NULL;
  unpark(pk);
}

static void h_create_container(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__CreateContainerRequest, coffer__agent__v1__create_container_request, req);
  int rule;
  if (!agent_policy_allow_create(a, call, req, &rule))
    return;
  parked *pk = park(call, &req->base);
  if (!pk)
    return;
  pk->rule = rule;
  cf_error err = {0};
  ttrpc_call_on_cancel(call, parked_cancel, pk);
  if (container_create(a, req, created, pk, &err) < 0) {
    pk->req = NULL; /* still req's scope */
    unpark(pk);
    return reply_err(call, &err);
  }
  req = NULL; /* the parked call's now */
}

static void started(agent *a, container *c, proc *p, const cf_error *err, void *data) {
  (void)a, (void)p;
  parked *pk = data;
  if (pk->call && err) {
    reply_err(pk->call, (cf_error *)err);
  } else if (pk->call) {
    Coffer__Agent__V1__StartContainerResponse resp = COFFER__AGENT__V1__START_CONTAINER_RESPONSE__INIT;
    resp.pid = (uint32_t)c->procs->pid;
    ttrpc_call_reply(pk->call, &resp.base);
  }
  pk->call = NULL;
  unpark(pk);
}

static void h_start_container(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ContainerRequest, coffer__agent__v1__container_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c)
    return;
  parked *pk = park(call, NULL);
  if (!pk)
    return;
  cf_error err = {0};
  ttrpc_call_on_cancel(call, parked_cancel, pk); /* first: started() may run before the return */
  if (container_start(a, c, started, pk, &err) < 0) {
    unpark(pk);
    return reply_err(call, &err);
  }
}

static void h_remove_container(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__RemoveContainerRequest, coffer__agent__v1__remove_container_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c)
    return;
  cf_error err = {0};
  if (container_remove(a, c, req->force, &err) < 0)
    return reply_err(call, &err);
  ttrpc_call_reply(call, NULL);
  if (a->destroyed && a->pid1 && !a->containers)
    cf_loop_timer(a->loop, 50, power_off_cb, a, &err);
}

/* ------------------------------------------------------------------ process */

static void exec_started(agent *a, container *c, proc *p, const cf_error *err, void *data) {
  (void)a, (void)c;
  parked *pk = data;
  if (pk->call && err) {
    reply_err(pk->call, (cf_error *)err);
  } else if (pk->call) {
    Coffer__Agent__V1__ExecProcessResponse resp = COFFER__AGENT__V1__EXEC_PROCESS_RESPONSE__INIT;
    resp.pid = (uint32_t)p->pid;
    ttrpc_call_reply(pk->call, &resp.base);
  }
  pk->call = NULL;
  unpark(pk);
}

static void h_exec_process(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ExecProcessRequest, coffer__agent__v1__exec_process_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c || !agent_policy_allow_exec(a, call, c, req))
    return;
  parked *pk = park(call, NULL);
  if (!pk)
    return;
  cf_error err = {0};
  ttrpc_call_on_cancel(call, parked_cancel, pk); /* first: exec_started() may run before the return */
  if (container_exec(a, c, req, exec_started, pk, &err) < 0) {
    unpark(pk);
    return reply_err(call, &err);
  }
}

static void h_remove_process(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ProcessRequest, coffer__agent__v1__process_request, req);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (!p)
    return;
  cf_error err = {0};
  if (agent_exec_remove(a, p->c, p, &err) < 0)
    return reply_err(call, &err);
  ttrpc_call_reply(call, NULL);
}

static void h_signal_process(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__SignalProcessRequest, coffer__agent__v1__signal_process_request, req);
  if (req->signal < 1 || req->signal > 64)
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "signal %u is not valid (1..64)",
                                   req->signal);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (!p)
    return;
  cf_error err = {0};
  if (container_signal(a, p->c, p, (int)req->signal, req->all, &err) < 0)
    return reply_err(call, &err);
  ttrpc_call_reply(call, NULL);
}

static void h_wait_process(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ProcessRequest, coffer__agent__v1__process_request, req);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (p)
    agent_proc_wait(a, p, call);
}

static void h_write_stdin(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__WriteStdinRequest, coffer__agent__v1__write_stdin_request, req);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (!p)
    return;
  cf_error err = {0};
  if (agent_stdin_write(a, p, call, req->data.data, req->data.len, &err) < 0)
    reply_err(call, &err);
}

static void h_close_stdin(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ProcessRequest, coffer__agent__v1__process_request, req);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (!p)
    return;
  cf_error err = {0};
  if (agent_stdin_close(a, p, &err) < 0)
    return reply_err(call, &err);
  ttrpc_call_reply(call, NULL);
}

static void read_output(ttrpc_call *call, const uint8_t *payload, size_t len, agent *a,
                        bool err_stream) {
  DECODE(Coffer__Agent__V1__ReadOutputRequest, coffer__agent__v1__read_output_request, req);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (p)
    agent_outbuf_read(a, err_stream ? &p->err : &p->out, call, req->max_bytes);
}

static void h_read_stdout(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  read_output(call, payload, len, data, false);
}

static void h_read_stderr(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  read_output(call, payload, len, data, true);
}

static void h_resize_tty(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ResizeTtyRequest, coffer__agent__v1__resize_tty_request, req);
  proc *p = lookup_proc(a, call, req->container_id, req->exec_id);
  if (!p)
    return;
  cf_error err = {0};
  if (agent_pty_resize(p, req->width, req->height, &err) < 0)
    return reply_err(call, &err);
  ttrpc_call_reply(call, NULL);
}

/* ---------------------------------------------------------------- resources */

static void pause_resume(ttrpc_call *call, const uint8_t *payload, size_t len, agent *a,
                         bool pause) {
  DECODE(Coffer__Agent__V1__ContainerRequest, coffer__agent__v1__container_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c)
    return;
  cf_error err = {0};
  if (c->engine->pause(a, c, pause, &err) < 0) {
    cf_error_prefix(&err, "container %s", c->id);
    return reply_err(call, &err);
  }
  c->paused = pause;
  ttrpc_call_reply(call, NULL);
}

static void h_pause(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  pause_resume(call, payload, len, data, true);
}

static void h_resume(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  pause_resume(call, payload, len, data, false);
}

static void h_update(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__UpdateContainerRequest, coffer__agent__v1__update_container_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c)
    return;
  if (req->resources.len == 0 || req->resources.len > AGENT_MAX_RESOURCES)
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT,
                                   "container %s: resources must be 1..%u bytes of JSON", c->id,
                                   AGENT_MAX_RESOURCES);
  json_tokener *tok = json_tokener_new_ex(32);
  json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)req->resources.data,
                                               (int)req->resources.len)
                       : NULL;
  bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
            json_object_is_type(o, json_type_object);
  if (tok)
    json_tokener_free(tok);
  if (!ok) {
    if (o)
      json_object_put(o);
    return ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT,
                                   "container %s: resources are not a JSON object", c->id);
  }
  cf_error err = {0};
  int rc = c->engine->update(a, c, (const char *)req->resources.data, req->resources.len, o, &err);
  json_object_put(o);
  if (rc < 0) {
    cf_error_prefix(&err, "container %s", c->id);
    return reply_err(call, &err);
  }
  ttrpc_call_reply(call, NULL);
}

static void h_stats(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ContainerRequest, coffer__agent__v1__container_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c)
    return;
  cf_error err = {0};
  oci_stats st;
  if (c->engine->stats(a, c, &st, &err) < 0) {
    cf_error_prefix(&err, "container %s", c->id);
    return reply_err(call, &err);
  }
  agent_stats_reply(call, &st, (uint32_t)a->cgroup_version, c->oom_kills);
  oci_stats_free(&st);
}

static void h_list_processes(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__ContainerRequest, coffer__agent__v1__container_request, req);
  container *c = lookup(a, call, req->container_id);
  if (!c)
    return;
  cf_error err = {0};
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (c->engine->pids(a, c, &pids, &n, &err) < 0) {
    cf_error_prefix(&err, "container %s", c->id);
    return reply_err(call, &err);
  }
  Coffer__Agent__V1__ListProcessesResponse resp = COFFER__AGENT__V1__LIST_PROCESSES_RESPONSE__INIT;
  _cleanup_free_ Coffer__Agent__V1__ProcessInfo *infos = n ? calloc(n, sizeof(*infos)) : NULL;
  _cleanup_free_ Coffer__Agent__V1__ProcessInfo **ptrs = n ? calloc(n, sizeof(*ptrs)) : NULL;
  if (n && (!infos || !ptrs))
    n = 0;
  for (size_t i = 0; i < n; i++) {
    coffer__agent__v1__process_info__init(&infos[i]);
    infos[i].pid = (uint32_t)pids[i];
    for (proc *p = c->procs; p; p = p->next)
      if (p->pid == pids[i])
        infos[i].exec_id = p->exec_id;
    ptrs[i] = &infos[i];
  }
  resp.processes = ptrs;
  resp.n_processes = n;
  ttrpc_call_reply(call, &resp.base);
}

/* -------------------------------------------------------------------- guest */

static void h_get_oom_event(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  DECODE(Google__Protobuf__Empty, google__protobuf__empty, req);
  oom_get(data, call);
}

static void h_guest_details(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  DECODE(Google__Protobuf__Empty, google__protobuf__empty, req);
  Coffer__Agent__V1__GuestDetails d = COFFER__AGENT__V1__GUEST_DETAILS__INIT;
  char kernel[128];
  agent_guest_details(data, &d, kernel, sizeof(kernel));
  ttrpc_call_reply(call, &d.base);
}

static void h_check(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  DECODE(Google__Protobuf__Empty, google__protobuf__empty, req);
  Coffer__Agent__V1__CheckResponse r = COFFER__AGENT__V1__CHECK_RESPONSE__INIT;
  r.status = COFFER__AGENT__V1__CHECK_RESPONSE__SERVING_STATUS__SERVING;
  ttrpc_call_reply(call, &r.base);
}

/* Each handler sits behind the policy's RPC-level verdict: a denied RPC is
 * answered before its payload is even decoded. */
struct agent_guard {
  struct agent_guard *next;
  agent *a;
  const char *method;
  ttrpc_handler h;
};

static void h_guarded(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  struct agent_guard *g = data;
  if (agent_policy_allow_rpc(g->a, call, g->method))
    g->h(call, payload, len, g->a);
}

int agent_service_add(agent *a, const char *service, const char *method, ttrpc_handler h,
                      cf_error *err) {
  if (!strcmp(service, HEALTH)) /* liveness: no effect, always answered */
    return ttrpc_server_register(a->srv, service, method, h, a, err);
  struct agent_guard *g = calloc(1, sizeof(*g));
  if (!g)
    return cf_err(err, ENOMEM, "register %s", method);
  *g = (struct agent_guard){.next = a->guards, .a = a, .method = method, .h = h};
  a->guards = g;
  return ttrpc_server_register(a->srv, service, method, h_guarded, g, err);
}

void agent_service_free(agent *a) {
  while (a->guards) {
    struct agent_guard *g = a->guards;
    a->guards = g->next;
    free(g);
  }
}

int agent_service_register(agent *a, cf_error *err) {
  static const struct {
    const char *service, *method;
    ttrpc_handler h;
  } table[] = {
      {SERVICE, "CreateSandbox", h_create_sandbox},
      {SERVICE, "DestroySandbox", h_destroy_sandbox},
      {SERVICE, "CreateContainer", h_create_container},
      {SERVICE, "StartContainer", h_start_container},
      {SERVICE, "RemoveContainer", h_remove_container},
      {SERVICE, "ExecProcess", h_exec_process},
      {SERVICE, "RemoveProcess", h_remove_process},
      {SERVICE, "SignalProcess", h_signal_process},
      {SERVICE, "WaitProcess", h_wait_process},
      {SERVICE, "WriteStdin", h_write_stdin},
      {SERVICE, "CloseStdin", h_close_stdin},
      {SERVICE, "ReadStdout", h_read_stdout},
      {SERVICE, "ReadStderr", h_read_stderr},
      {SERVICE, "ResizeTty", h_resize_tty},
      {SERVICE, "PauseContainer", h_pause},
      {SERVICE, "ResumeContainer", h_resume},
      {SERVICE, "UpdateContainer", h_update},
      {SERVICE, "StatsContainer", h_stats},
      {SERVICE, "ListProcesses", h_list_processes},
      {SERVICE, "GetOOMEvent", h_get_oom_event},
      {SERVICE, "GetGuestDetails", h_guest_details},
      {HEALTH, "Check", h_check},
  };
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
    if (agent_service_add(a, table[i].service, table[i].method, table[i].h, err) < 0)
      return -EIO;
  if (agent_volume_register(a, err) < 0) /* volume.c */
    return -EIO;
  return agent_net_register(a, err); /* net.c */
}
