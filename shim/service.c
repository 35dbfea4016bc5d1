/* containerd.task.v2.Task: each handler checks what it can locally (ids,
 * states: NOT_FOUND / FAILED_PRECONDITION / ALREADY_EXISTS as containerd's
 * errdefs expect), then forwards to the agent and answers from the reply. */
#include "service.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "agent.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "shim.h"
#include "events.h"
#include "metrics.h"
#include "pod.h"
#include "process.h"
#include "image_pull.h"
#include "rootfs.h"
#include "volume_watch.h"
#include "stdio_pump.h"
#include "volumes.h"
#include "coffer/id.h"

#define SPEC_MAX (1u << 20)

typedef struct op {
  shim *s;
  ttrpc_call *call;
  char id[160];
  char exec_id[160];
} op;

static op *op_new(shim *s, ttrpc_call *call, const char *id, const char *exec_id) {
  op *o = calloc(1, sizeof(*o));
  if (!o) {
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  o->s = s;
  o->call = call;
  snprintf(o->id, sizeof(o->id), "%s", id ? id : "");
  snprintf(o->exec_id, sizeof(o->exec_id), "%s", exec_id ? exec_id : "");
  return o;
}

static const char *pname(const char *exec_id) { return exec_id && *exec_id ? exec_id : "init"; }

/* Look up a process or answer NOT_FOUND. */
static shim_proc *need_proc(shim *s, ttrpc_call *call, const char *id, const char *exec_id) {
  shim_proc *p = shim_proc_find(s, id, exec_id);
  if (!p) {
    if (exec_id && *exec_id && shim_task_find(s, id))
      ttrpc_call_reply_status(call, CF_NOT_FOUND, "exec %s of task %s: not found", exec_id, id);
    else
      ttrpc_call_reply_status(call, CF_NOT_FOUND, "task %s: not found", id ? id : "");
  }
  return p;
}

static bool proc_finished(const shim_proc *p) { return p->exited || p->reported; }

static void reply_empty_or_error(int status, const char *message, op *o, const char *what) {
  if (status == CF_OK)
    ttrpc_call_reply(o->call, NULL);
  else
    ttrpc_call_reply_status(o->call, status, "%s %s: %s", what, o->id, message);
}

#define UNPACK(T, fn, var)                                                          \
  _cleanup_pb_ T *var = fn##__unpack(NULL, len, payload);                           \
  if (!var) {                                                                       \
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "malformed %s request",      \
                            ttrpc_call_method(call));                               \
    return;                                                                         \
  }


/* ------------------------------------------------------------------ create */

static void task_teardown_local(shim *s, shim_task *t) {
  cf_error err = {0};
  if (t->rootfs_added && s->pod.vm && s->pod.ops->remove_rootfs) {
    if (s->pod.ops->remove_rootfs(s->pod.vm, t->id, &err) < 0)
      cf_warn("%s", err.msg);
    t->rootfs_added = false;
  }
  if (t->rootfs_mounted) {
    cf_error_clear(&err);
    if (shim_rootfs_unmount(t->rootfs, &err) < 0)
      cf_warn("%s", err.msg);
    t->rootfs_mounted = false;
  }
}

static void on_created(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  op *o = data;
  shim *s = o->s;
  shim_task *t = shim_task_find(s, o->id);
  if (!t) {
    ttrpc_call_reply_status(o->call, CF_NOT_FOUND, "task %s: deleted while being created", o->id);
    free(o);
    return;
  }
  if (status != CF_OK) {
    ttrpc_call_reply_status(o->call, status, "create task %s: %s", o->id, message);
    task_teardown_local(s, t);
    shim_task_free(s, t);
    free(o);
    return;
  }
  Coffer__Agent__V1__CreateContainerResponse *r =
      coffer__agent__v1__create_container_response__unpack(NULL, len, payload);
  t->init.pid = r ? r->pid : 0;
  if (r)
    coffer__agent__v1__create_container_response__free_unpacked(r, NULL);
  t->agent_created = true;
  t->init.status = ST_CREATED;

  Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
  io.stdin = t->init.stdin_path ? t->init.stdin_path : "";
  io.stdout = t->init.stdout_path ? t->init.stdout_path : "";
  io.stderr = t->init.stderr_path ? t->init.stderr_path : "";
  io.terminal = t->init.terminal;
  Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
  ev.container_id = t->id;
  ev.bundle = t->bundle;
  ev.io = &io;
  ev.pid = t->init.pid;
  shim_events_publish(s, "/tasks/create", "containerd.events.TaskCreate", &ev.base);

  Containerd__Task__V2__CreateTaskResponse resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
  resp.pid = t->init.pid;
  ttrpc_call_reply(o->call, &resp.base);
  free(o);
  shim_stdio_start_output(s, &t->init);
  shim_stdio_start_input(s, &t->init);
}

static void h_create(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__CreateTaskRequest, containerd__task__v2__create_task_request, req);
  cf_error err = {0};
  shim_task *t = NULL;
  char *spec = NULL, *pull_ref = NULL; /* freed at out: (no cleanup attribute: gotos jump over) */
  shim_volumes vols = {0};
  if (!cf_id_valid(req->id)) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "invalid task id \"%.*s\"", 140, req->id);
    goto out;
  }
  if (shim_task_find(s, req->id)) {
    ttrpc_call_reply_status(call, CF_ALREADY_EXISTS, "task %s: already exists", req->id);
    goto out;
  }
  if (req->checkpoint && *req->checkpoint) {
    ttrpc_call_reply_status(call, CF_UNIMPLEMENTED, "task %s: restore from checkpoint is not supported", req->id);
    goto out;
  }
  if (!shim_pod_ready_or_defer(s, h_create, call, payload, len))
    goto out;
  const char *bundle = req->bundle && *req->bundle ? req->bundle : s->bundle;
  if (!(t = shim_task_new(s, req->id, bundle, &err))) {
    ttrpc_call_reply_error(call, &err);
    goto out;
  }
  shim_proc_set_stdio(&t->init, req->stdin, req->stdout, req->stderr, req->terminal);

  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/config.json", bundle);
  size_t spec_len = 0;
  if (cf_read_file(path, SPEC_MAX, &spec, &spec_len, &err) < 0)
    goto fail;
  cf_rootfs rf;
  memset(&rf, 0, sizeof(rf));
  if (shim_image_pull_ref(&s->cfg, spec, spec_len, &pull_ref, &err) < 0)
    goto fail;
  if (pull_ref) { /* the agent pulls it: nothing of the host's rootfs is shared */
    rf.kind = CF_ROOTFS_PULL;
    snprintf(rf.source, sizeof(rf.source), "%s", pull_ref);
    cf_info("task %s: image %s is pulled in the guest", t->id, pull_ref);
  } else {
    if (req->n_rootfs > 0) {
      if (shim_rootfs_mount(t->rootfs, req->rootfs, req->n_rootfs, &err) < 0)
        goto fail;
      t->rootfs_mounted = true;
    }
    if (s->pod.ops->add_rootfs(s->pod.vm, t->id, t->rootfs, &rf, &err) < 0)
      goto fail;
    t->rootfs_added = true;
  }
  if (shim_volumes_share(s->pod.ops, s->pod.vm, t->id, spec, spec_len, &vols, &err) < 0)
    goto fail;
  if (!(t->vwatch = shim_vwatch_new(s, t->id, &vols, &err)) && err.msg[0])
    goto fail;
  if (shim_stdio_open(s, &t->init, &err) < 0)
    goto fail;

  Coffer__Agent__V1__Rootfs arf = COFFER__AGENT__V1__ROOTFS__INIT;
  arf.kind = (Coffer__Agent__V1__Rootfs__Kind)rf.kind;
  arf.source = rf.source;
  arf.fstype = rf.fstype;
  arf.readonly = rf.readonly;
  Coffer__Agent__V1__Verity verity = COFFER__AGENT__V1__VERITY__INIT;
  if (rf.verity_root_hash[0]) {
    verity.root_hash = rf.verity_root_hash;
    verity.data_blocks = rf.verity_data_blocks;
    verity.hash_offset = rf.verity_hash_offset;
    arf.verity = &verity;
  }
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.terminal = t->init.terminal;
  st.stdin = t->init.in.fd >= 0;
  st.stdout = t->init.out.fd >= 0;
  st.stderr = !t->init.terminal && t->init.err.fd >= 0;
  Coffer__Agent__V1__CreateContainerRequest creq = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  creq.container_id = t->id;
  creq.spec.data = (uint8_t *)spec;
  creq.spec.len = spec_len;
  creq.rootfs = &arf;
  creq.stdio = &st;
  creq.mounts = vols.mounts;
  creq.n_mounts = vols.n;
  op *o = op_new(s, call, t->id, "");
  if (!o) {
    task_teardown_local(s, t);
    shim_task_free(s, t);
    goto out;
  }
  shim_pod_agent_call(s, "CreateContainer", &creq.base, s->cfg.agent_timeout_ms, on_created, o);
  goto out;
fail:
  ttrpc_call_reply_status(call, cf_error_grpc_status(&err), "create task %s: %s", req->id, err.msg);
  task_teardown_local(s, t);
  shim_task_free(s, t);
out:
  free(spec);
  free(pull_ref);
  shim_volumes_free(&vols);
}

/* ------------------------------------------------------------------- start */

static void on_started(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  op *o = data;
  shim *s = o->s;
  shim_proc *p = shim_proc_find(s, o->id, o->exec_id);
  if (!p) {
    ttrpc_call_reply_status(o->call, CF_NOT_FOUND, "task %s: deleted while starting", o->id);
    free(o);
    return;
  }
  bool is_exec = *o->exec_id;
  if (status != CF_OK) {
    ttrpc_call_reply_status(o->call, status, "start %s of task %s: %s", pname(o->exec_id), o->id,
                            message);
    if (is_exec) {
      shim_stdio_close(s, p);
      p->status = ST_STOPPED;
      p->exited = p->reported = true;
      p->exit_status = SHIM_LOST_EXIT_STATUS;
      shim_now(&p->exited_sec, &p->exited_nsec);
    }
    free(o);
    return;
  }
  uint32_t pid = 0;
  if (is_exec) {
    Coffer__Agent__V1__ExecProcessResponse *r =
        coffer__agent__v1__exec_process_response__unpack(NULL, len, payload);
    pid = r ? r->pid : 0;
    if (r)
      coffer__agent__v1__exec_process_response__free_unpacked(r, NULL);
  } else {
    Coffer__Agent__V1__StartContainerResponse *r =
        coffer__agent__v1__start_container_response__unpack(NULL, len, payload);
    pid = r ? r->pid : 0;
    if (r)
      coffer__agent__v1__start_container_response__free_unpacked(r, NULL);
  }
  if (pid)
    p->pid = pid;
  p->status = ST_RUNNING;
  if (is_exec) {
    Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
    ev.container_id = p->task->id;
    ev.exec_id = p->exec_id;
    ev.pid = p->pid;
    shim_events_publish(s, "/tasks/exec-started", "containerd.events.TaskExecStarted", &ev.base);
  } else {
    Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
    ev.container_id = p->task->id;
    ev.pid = p->pid;
    shim_events_publish(s, "/tasks/start", "containerd.events.TaskStart", &ev.base);
  }
  Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
  resp.pid = p->pid;
  ttrpc_call_reply(o->call, &resp.base);
  free(o);
  if (is_exec) {
    shim_stdio_start_output(s, p);
    shim_stdio_start_input(s, p);
  }
  shim_proc_watch_exit(s, p);
}

static void h_start(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__StartRequest, containerd__task__v2__start_request, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (!p)
    goto out;
  if (p->status != ST_CREATED || proc_finished(p)) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "%s of task %s: already started",
                            pname(req->exec_id), req->id);
    goto out;
  }
  if (*p->exec_id && p->task->init.status != ST_RUNNING) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION,
                            "exec %s: task %s is not running", p->exec_id, req->id);
    goto out;
  }
  if (!shim_pod_ready_or_defer(s, h_start, call, payload, len))
    goto out;
  op *o = op_new(s, call, req->id, req->exec_id);
  if (!o)
    goto out;
  if (!*p->exec_id) {
    Coffer__Agent__V1__ContainerRequest creq = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
    creq.container_id = p->task->id;
    shim_pod_agent_call(s, "StartContainer", &creq.base, s->cfg.agent_timeout_ms, on_started, o);
    goto out;
  }
  cf_error err = {0};
  if (shim_stdio_open(s, p, &err) < 0) {
    ttrpc_call_reply_status(call, cf_error_grpc_status(&err), "exec %s: %s", p->exec_id, err.msg);
    shim_stdio_close(s, p);
    free(o);
    goto out;
  }
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.terminal = p->terminal;
  st.stdin = p->in.fd >= 0;
  st.stdout = p->out.fd >= 0;
  st.stderr = !p->terminal && p->err.fd >= 0;
  Coffer__Agent__V1__ExecProcessRequest ereq = COFFER__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
  ereq.container_id = p->task->id;
  ereq.exec_id = p->exec_id;
  ereq.process.data = (uint8_t *)p->spec;
  ereq.process.len = p->spec_len;
  ereq.stdio = &st;
  shim_pod_agent_call(s, "ExecProcess", &ereq.base, s->cfg.agent_timeout_ms, on_started, o);
out:;
}

/* ------------------------------------------------------------------ delete */

static void reply_delete(ttrpc_call *call, shim_proc *p) {
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = p->exited_sec;
  ts.nanos = p->exited_nsec;
  Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
  resp.pid = p->pid;
  resp.exit_status = p->exit_status;
  resp.exited_at = &ts;
  ttrpc_call_reply(call, &resp.base);
}

static void finish_delete(shim *s, shim_task *t, ttrpc_call *call) {
  shim_proc *p = &t->init;
  if (!p->exited_sec)
    shim_now(&p->exited_sec, &p->exited_nsec);
  task_teardown_local(s, t);
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = p->exited_sec;
  ts.nanos = p->exited_nsec;
  Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
  ev.container_id = t->id;
  ev.pid = p->pid;
  ev.exit_status = p->exit_status;
  ev.exited_at = &ts;
  ev.id = t->id;
  shim_events_publish(s, "/tasks/delete", "containerd.events.TaskDelete", &ev.base);
  reply_delete(call, p);
  shim_task_free(s, t);
}

static void on_removed(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  op *o = data;
  shim_task *t = shim_task_find(o->s, o->id);
  if (status != CF_OK && status != CF_NOT_FOUND)
    cf_warn("agent RemoveContainer %s: %s", o->id, message);
  if (t)
    finish_delete(o->s, t, o->call);
  else
    ttrpc_call_reply_status(o->call, CF_NOT_FOUND, "task %s: not found", o->id);
  free(o);
}

static void finish_exec_delete(shim *s, shim_proc *p, ttrpc_call *call) {
  if (!p->exited_sec)
    shim_now(&p->exited_sec, &p->exited_nsec);
  reply_delete(call, p);
  shim_exec_free(s, p);
}

/* The agent keeps a finished exec (its status, its unread output) until
 * RemoveProcess: free it there before containerd's Delete is answered, so
 * the exec id can be used again and the agent never has to prune. */
static void on_exec_removed(int status, const char *message, const uint8_t *payload, size_t len,
                            void *data) {
  op *o = data;
  if (status != CF_OK && status != CF_NOT_FOUND)
    cf_warn("agent RemoveProcess %s/%s: %s", o->id, o->exec_id, message);
  shim_proc *p = shim_proc_find(o->s, o->id, o->exec_id);
  if (p)
    finish_exec_delete(o->s, p, o->call);
  else
    ttrpc_call_reply_status(o->call, CF_NOT_FOUND, "exec %s of task %s: not found", o->exec_id,
                            o->id);
  free(o);
}

static void h_delete(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__DeleteRequest, containerd__task__v2__delete_request, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (!p)
    goto out;
  bool running = (p->status == ST_RUNNING || p->status == ST_PAUSED) && !p->reported;
  if (running) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION,
                            "%s of task %s is still running: cannot delete", pname(req->exec_id),
                            req->id);
    goto out;
  }
  if (*p->exec_id) {
    if (!shim_pod_alive(s)) {
      finish_exec_delete(s, p, call);
      goto out;
    }
    op *o = op_new(s, call, req->id, req->exec_id);
    if (!o)
      goto out;
    Coffer__Agent__V1__ProcessRequest rreq = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
    rreq.container_id = req->id;
    rreq.exec_id = req->exec_id;
    shim_pod_agent_call(s, "RemoveProcess", &rreq.base, s->cfg.agent_timeout_ms, on_exec_removed, o);
    goto out;
  }
  shim_task *t = p->task;
  if (t->agent_created && shim_pod_alive(s)) {
    op *o = op_new(s, call, t->id, "");
    if (!o)
      goto out;
    Coffer__Agent__V1__RemoveContainerRequest rreq =
        COFFER__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
    rreq.container_id = t->id;
    rreq.force = true;
    shim_pod_agent_call(s, "RemoveContainer", &rreq.base, s->cfg.agent_timeout_ms, on_removed, o);
    goto out;
  }
  finish_delete(s, t, call);
out:;
}

/* -------------------------------------------------------------------- exec */

static void h_exec(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__ExecProcessRequest, containerd__task__v2__exec_process_request, req);
  cf_error err = {0};
  shim_task *t = shim_task_find(s, req->id);
  if (!t) {
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "task %s: not found", req->id);
    goto out;
  }
  if (!cf_id_valid(req->exec_id)) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "invalid exec id \"%.*s\"", 140,
                            req->exec_id);
    goto out;
  }
  if (shim_proc_find(s, req->id, req->exec_id)) {
    ttrpc_call_reply_status(call, CF_ALREADY_EXISTS, "exec %s of task %s: already exists",
                            req->exec_id, req->id);
    goto out;
  }
  if (t->init.status != ST_RUNNING || proc_finished(&t->init)) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "task %s is %s: cannot exec", req->id,
                            t->init.status == ST_PAUSED ? "paused (resume it first)" : "not running");
    goto out;
  }
  if (!req->spec || req->spec->value.len == 0 || req->spec->value.len > SPEC_MAX) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "exec %s: missing or oversized process spec",
                            req->exec_id);
    goto out;
  }
  shim_proc *p = shim_exec_new(t, req->exec_id, &err);
  if (!p) {
    ttrpc_call_reply_error(call, &err);
    goto out;
  }
  p->spec = malloc(req->spec->value.len);
  if (!p->spec) {
    shim_exec_free(s, p);
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  memcpy(p->spec, req->spec->value.data, req->spec->value.len);
  p->spec_len = req->spec->value.len;
  shim_proc_set_stdio(p, req->stdin, req->stdout, req->stderr, req->terminal);
  Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
  ev.container_id = t->id;
  ev.exec_id = p->exec_id;
  shim_events_publish(s, "/tasks/exec-added", "containerd.events.TaskExecAdded", &ev.base);
  ttrpc_call_reply(call, NULL);
out:;
}

/* ------------------------------------------------------------------- state */

static void h_state(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__StateRequest, containerd__task__v2__state_request, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (p) {
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = p->exited_sec;
    ts.nanos = p->exited_nsec;
    Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    resp.id = *p->exec_id ? p->exec_id : p->task->id;
    resp.bundle = p->task->bundle;
    resp.pid = p->pid;
    resp.status = (Containerd__V1__Types__Status)(p->reported ? ST_STOPPED : p->status);
    resp.stdin = p->stdin_path ? p->stdin_path : "";
    resp.stdout = p->stdout_path ? p->stdout_path : "";
    resp.stderr = p->stderr_path ? p->stderr_path : "";
    resp.terminal = p->terminal;
    resp.exit_status = p->exit_status;
    if (p->reported)
      resp.exited_at = &ts;
    resp.exec_id = p->exec_id;
    ttrpc_call_reply(call, &resp.base);
  }
}

/* -------------------------------------------------------------------- pids */

static void on_pids(int status, const char *message, const uint8_t *payload, size_t len,
                    void *data) {
  op *o = data;
  if (status != CF_OK) {
    ttrpc_call_reply_status(o->call, status, "pids of task %s: %s", o->id, message);
    free(o);
    return;
  }
  Coffer__Agent__V1__ListProcessesResponse *r =
      coffer__agent__v1__list_processes_response__unpack(NULL, len, payload);
  size_t n = r ? r->n_processes : 0;
  Containerd__V1__Types__ProcessInfo *infos = calloc(n ? n : 1, sizeof(*infos));
  Containerd__V1__Types__ProcessInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  if (!infos || !ptrs) {
    ttrpc_call_reply_status(o->call, CF_RESOURCE_EXHAUSTED, "out of memory");
  } else {
    for (size_t i = 0; i < n; i++) {
      containerd__v1__types__process_info__init(&infos[i]);
      infos[i].pid = r->processes[i]->pid;
      ptrs[i] = &infos[i];
    }
    Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    resp.processes = ptrs;
    resp.n_processes = n;
    ttrpc_call_reply(o->call, &resp.base);
  }
  free(infos);
  free(ptrs);
  if (r)
    coffer__agent__v1__list_processes_response__free_unpacked(r, NULL);
  free(o);
}

/* Forward a per-container request whose reply is handled by cb. */
static void forward_container(shim *s, ttrpc_call *call, const char *id, const char *method,
                              ttrpc_reply_cb cb) {
  op *o = op_new(s, call, id, "");
  if (!o)
    return;
  Coffer__Agent__V1__ContainerRequest creq = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  creq.container_id = o->id;
  shim_pod_agent_call(s, method, &creq.base, s->cfg.agent_timeout_ms, cb, o);
}

static void h_pids(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__PidsRequest, containerd__task__v2__pids_request, req);
  if (need_proc(s, call, req->id, "") && shim_pod_ready_or_defer(s, h_pids, call, payload, len))
    forward_container(s, call, req->id, "ListProcesses", on_pids);
}

/* ------------------------------------------------------------ pause/resume */

static void on_paused(int status, const char *message, const uint8_t *payload, size_t len,
                      void *data) {
  op *o = data;
  shim_task *t = shim_task_find(o->s, o->id);
  if (status == CF_OK && t) {
    t->init.status = ST_PAUSED;
    Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
    ev.container_id = t->id;
    shim_events_publish(o->s, "/tasks/paused", "containerd.events.TaskPaused", &ev.base);
  }
  reply_empty_or_error(status, message, o, "pause task");
  free(o);
}

static void on_resumed(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  op *o = data;
  shim_task *t = shim_task_find(o->s, o->id);
  if (status == CF_OK && t) {
    if (t->init.status == ST_PAUSED)
      t->init.status = ST_RUNNING;
    Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
    ev.container_id = t->id;
    shim_events_publish(o->s, "/tasks/resumed", "containerd.events.TaskResumed", &ev.base);
  }
  reply_empty_or_error(status, message, o, "resume task");
  free(o);
}

static void h_pause(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__PauseRequest, containerd__task__v2__pause_request, req);
  shim_proc *p = need_proc(s, call, req->id, "");
  if (p && (p->status != ST_RUNNING || proc_finished(p)))
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "task %s is not running: cannot pause",
                            req->id);
  else if (p && shim_pod_ready_or_defer(s, h_pause, call, payload, len))
    forward_container(s, call, req->id, "PauseContainer", on_paused);
}

static void h_resume(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__ResumeRequest, containerd__task__v2__resume_request, req);
  shim_proc *p = need_proc(s, call, req->id, "");
  if (p && (p->status != ST_PAUSED || proc_finished(p)))
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "task %s is not paused: cannot resume",
                            req->id);
  else if (p && shim_pod_ready_or_defer(s, h_resume, call, payload, len))
    forward_container(s, call, req->id, "ResumeContainer", on_resumed);
}

/* -------------------------------------------------------------------- kill */

static void on_killed(int status, const char *message, const uint8_t *payload, size_t len,
                      void *data) {
  op *o = data;
  shim_proc *p = shim_proc_find(o->s, o->id, o->exec_id);
  /* a created, never started init can be killed too: learn its exit */
  if (status == CF_OK && p)
    shim_proc_watch_exit(o->s, p);
  if (status == CF_OK)
    ttrpc_call_reply(o->call, NULL);
  else
    ttrpc_call_reply_status(o->call, status, "kill %s of task %s: %s", pname(o->exec_id), o->id,
                            message);
  free(o);
}

static void h_kill(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__KillRequest, containerd__task__v2__kill_request, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (!p)
    goto out;
  if (proc_finished(p)) {
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "%s of task %s: process already finished",
                            pname(req->exec_id), req->id);
    goto out;
  }
  if (*p->exec_id && p->status == ST_CREATED) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "exec %s of task %s: not started",
                            req->exec_id, req->id);
    goto out;
  }
  if (req->signal == 0 || req->signal > 64) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "invalid signal %u", req->signal);
    goto out;
  }
  if (!shim_pod_ready_or_defer(s, h_kill, call, payload, len))
    goto out;
  op *o = op_new(s, call, req->id, req->exec_id);
  if (!o)
    goto out;
  Coffer__Agent__V1__SignalProcessRequest sreq = COFFER__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
  sreq.container_id = p->task->id;
  sreq.exec_id = p->exec_id;
  sreq.signal = req->signal;
  sreq.all = req->all;
  shim_pod_agent_call(s, "SignalProcess", &sreq.base, s->cfg.agent_timeout_ms, on_killed, o);
out:;
}

/* -------------------------------------------------------------------- wait */

static void h_wait(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__WaitRequest, containerd__task__v2__wait_request, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (p)
    shim_proc_add_waiter(s, p, call);
}

/* ------------------------------------------------------------------- stats */

static void on_stats(int status, const char *message, const uint8_t *payload, size_t len,
                     void *data) {
  op *o = data;
  if (status != CF_OK) {
    ttrpc_call_reply_status(o->call, status, "stats of task %s: %s", o->id, message);
    free(o);
    return;
  }
  Coffer__Agent__V1__StatsContainerResponse *st =
      coffer__agent__v1__stats_container_response__unpack(NULL, len, payload);
  if (!st) {
    ttrpc_call_reply_status(o->call, CF_INTERNAL, "stats of task %s: malformed agent reply", o->id);
    free(o);
    return;
  }
  cf_error err = {0};
  uint8_t *buf = NULL;
  size_t n = 0;
  const char *url = shim_metrics_pack(st, &buf, &n, &err);
  if (!url) {
    ttrpc_call_reply_error(o->call, &err);
  } else {
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)url;
    any.value.data = buf;
    any.value.len = n;
    Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
    resp.stats = &any;
    ttrpc_call_reply(o->call, &resp.base);
  }
  free(buf);
  coffer__agent__v1__stats_container_response__free_unpacked(st, NULL);
  free(o);
}

static void h_stats(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__StatsRequest, containerd__task__v2__stats_request, req);
  if (need_proc(s, call, req->id, "") && shim_pod_ready_or_defer(s, h_stats, call, payload, len))
    forward_container(s, call, req->id, "StatsContainer", on_stats);
}

/* ------------------------------------------------------------------ update */

static void on_updated(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  op *o = data;
  reply_empty_or_error(status, message, o, "update task");
  free(o);
}

static void h_update(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__UpdateTaskRequest, containerd__task__v2__update_task_request, req);
  shim_proc *p = need_proc(s, call, req->id, "");
  if (!p)
    goto out;
  if (!req->resources || req->resources->value.len == 0) {
    ttrpc_call_reply(call, NULL); /* annotations only: nothing to do */
    goto out;
  }
  if (proc_finished(p)) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "task %s is not running: cannot update",
                            req->id);
    goto out;
  }
  if (!shim_pod_ready_or_defer(s, h_update, call, payload, len))
    goto out;
  op *o = op_new(s, call, req->id, "");
  if (!o)
    goto out;
  Coffer__Agent__V1__UpdateContainerRequest ureq = COFFER__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
  ureq.container_id = o->id;
  ureq.resources = req->resources->value;
  shim_pod_agent_call(s, "UpdateContainer", &ureq.base, s->cfg.agent_timeout_ms, on_updated, o);
out:;
}

/* ------------------------------------------------------------ pty / stdin */

static void on_resized(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  op *o = data;
  reply_empty_or_error(status, message, o, "resize pty of task");
  free(o);
}

static void h_resize(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__ResizePtyRequest, containerd__task__v2__resize_pty_request, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (!p)
    goto out;
  if (!p->terminal) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION, "%s of task %s has no terminal",
                            pname(req->exec_id), req->id);
    goto out;
  }
  if (proc_finished(p) || p->status == ST_CREATED || (req->width == 0 && req->height == 0)) {
    ttrpc_call_reply(call, NULL); /* nothing to resize (yet / any more / unknown size) */
    goto out;
  }
  if (!shim_pod_ready_or_defer(s, h_resize, call, payload, len))
    goto out;
  op *o = op_new(s, call, req->id, req->exec_id);
  if (!o)
    goto out;
  Coffer__Agent__V1__ResizeTtyRequest rreq = COFFER__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
  rreq.container_id = p->task->id;
  rreq.exec_id = p->exec_id;
  rreq.width = req->width;
  rreq.height = req->height;
  shim_pod_agent_call(s, "ResizeTty", &rreq.base, s->cfg.agent_timeout_ms, on_resized, o);
out:;
}

static void h_closeio(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__CloseIORequest, containerd__task__v2__close_iorequest, req);
  shim_proc *p = need_proc(s, call, req->id, req->exec_id);
  if (p) {
    if (req->stdin && !proc_finished(p))
      shim_stdio_close_stdin(s, p);
    ttrpc_call_reply(call, NULL);
  }
}

/* ------------------------------------------------------- connect/shutdown */

static void h_connect(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__ConnectRequest, containerd__task__v2__connect_request, req);
  shim_task *t = shim_task_find(s, req->id);
  Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
  resp.shim_pid = (uint32_t)getpid();
  resp.task_pid = t ? t->init.pid : 0;
  resp.version = SHIM_VERSION;
  ttrpc_call_reply(call, &resp.base);
}

static void exit_soon(cf_loop *loop, void *data) {
  shim *s = data;
  s->exiting = true;
  cf_loop_quit(loop);
}

static void h_shutdown(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  shim *s = data;
  UNPACK(Containerd__Task__V2__ShutdownRequest, containerd__task__v2__shutdown_request, req);
  bool go = req->now || shim_task_count(s) == 0;
  /* No new connection may reach a shim that is on its way out: the next
   * `start` for this pod must spawn a fresh one. */
  if (go)
    unlink(s->socket_path);
  ttrpc_call_reply(call, NULL);
  if (go && !s->exiting) {
    cf_error err = {0};
    s->exiting = true;
    /* after this turn of the loop, so the reply goes out first */
    if (!cf_loop_timer(s->loop, 1, exit_soon, s, &err))
      cf_loop_quit(s->loop);
  }
}

static void h_checkpoint(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  ttrpc_call_reply_status(call, CF_UNIMPLEMENTED,
                          "checkpoint is not supported by the coffer runtime");
}

int shim_service_register(shim *s, cf_error *err) {
  static const struct {
    const char *method;
    ttrpc_handler h;
  } methods[] = {
      {"State", h_state},     {"Create", h_create},   {"Start", h_start},
      {"Delete", h_delete},   {"Pids", h_pids},       {"Pause", h_pause},
      {"Resume", h_resume},   {"Checkpoint", h_checkpoint}, {"Kill", h_kill},
      {"Exec", h_exec},       {"ResizePty", h_resize}, {"CloseIO", h_closeio},
      {"Update", h_update},   {"Wait", h_wait},       {"Stats", h_stats},
      {"Connect", h_connect}, {"Shutdown", h_shutdown},
  };
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if (ttrpc_server_register(s->srv, TASK_SERVICE, methods[i].method, methods[i].h, s, err) < 0)
      return -EINVAL;
  return 0;
}
