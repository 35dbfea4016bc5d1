/* Tasks and exec processes: their state, their exit, and who waits for it.
 *
 * An exit is reported (TaskExit published, Wait calls answered) only when
 * the agent said the process exited AND its output reached containerd. */
#include "process.h"
#include "volume_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "agent.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "shim.h"
#include "events.h"
#include "pod.h"
#include "stdio_pump.h"

void shim_now(int64_t *sec, int32_t *nsec) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  *sec = ts.tv_sec;
  *nsec = (int32_t)ts.tv_nsec;
}

shim_task *shim_task_find(shim *s, const char *id) {
  for (shim_task *t = s->tasks; t; t = t->next)
    if (strcmp(t->id, id) == 0)
      return t;
  return NULL;
}

shim_proc *shim_proc_find(shim *s, const char *id, const char *exec_id) {
  shim_task *t = shim_task_find(s, id);
  if (!t)
    return NULL;
  if (!exec_id || !*exec_id)
    return &t->init;
  for (shim_proc *p = t->execs; p; p = p->next)
    if (strcmp(p->exec_id, exec_id) == 0)
      return p;
  return NULL;
}

size_t shim_task_count(shim *s) {
  size_t n = 0;
  for (shim_task *t = s->tasks; t; t = t->next)
    n++;
  return n;
}

static void proc_init(shim_proc *p, shim_task *t) {
  memset(p, 0, sizeof(*p));
  p->task = t;
  p->out.fd = p->err.fd = p->in.fd = -1;
  p->status = ST_CREATED;
}

shim_task *shim_task_new(shim *s, const char *id, const char *bundle, cf_error *err) {
  shim_task *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  proc_init(&t->init, t);
  t->id = strdup(id);
  t->bundle = strdup(bundle);
  t->init.exec_id = strdup("");
  if (t->bundle)
    t->rootfs = malloc(strlen(bundle) + sizeof("/rootfs"));
  if (!t->id || !t->bundle || !t->init.exec_id || !t->rootfs) {
    free(t->id);
    free(t->bundle);
    free(t->init.exec_id);
    free(t->rootfs);
    free(t);
    cf_err(err, ENOMEM, "task %s", id);
    return NULL;
  }
  strcpy(t->rootfs, bundle);
  strcat(t->rootfs, "/rootfs");
  t->next = s->tasks;
  s->tasks = t;
  return t;
}

static void drain_timer_cancel(shim_proc *p) {
  if (!p->drain_timer)
    return;
  cf_loop_timer_cancel(p->drain_timer);
  shim_proc_ref_free(p->drain_ref);
  p->drain_timer = NULL;
  p->drain_ref = NULL;
}

static void proc_release(shim *s, shim_proc *p) {
  drain_timer_cancel(p);
  shim_stdio_close(s, p);
  for (size_t i = 0; i < p->nwaiters; i++)
    ttrpc_call_reply_status(p->waiters[i], CF_NOT_FOUND, "process %s of task %s was deleted",
                            *p->exec_id ? p->exec_id : "init", p->task->id);
  free(p->waiters);
  p->waiters = NULL;
  p->nwaiters = 0;
  free(p->exec_id);
  free(p->stdin_path);
  free(p->stdout_path);
  free(p->stderr_path);
  free(p->spec);
}

shim_proc *shim_exec_new(shim_task *t, const char *exec_id, cf_error *err) {
  shim_proc *p = calloc(1, sizeof(*p));
  if (!p || !(p->exec_id = strdup(exec_id))) {
    free(p);
    cf_err(err, ENOMEM, "exec %s", exec_id);
    return NULL;
  }
  char *id = p->exec_id;
  proc_init(p, t);
  p->exec_id = id;
  p->next = t->execs;
  t->execs = p;
  return p;
}

void shim_exec_free(shim *s, shim_proc *p) {
  shim_task *t = p->task;
  for (shim_proc **pp = &t->execs; *pp; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  }
  proc_release(s, p);
  free(p);
}

void shim_task_free(shim *s, shim_task *t) {
  while (t->execs)
    shim_exec_free(s, t->execs);
  proc_release(s, &t->init);
  for (shim_task **pp = &s->tasks; *pp; pp = &(*pp)->next) {
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  }
  shim_vwatch_free(t->vwatch);
  free(t->id);
  free(t->bundle);
  free(t->rootfs);
  free(t);
}

static char *dup_or_null(const char *v) { return v && *v ? strdup(v) : NULL; }

void shim_proc_set_stdio(shim_proc *p, const char *in, const char *out, const char *err_path,
                    bool terminal) {
  p->stdin_path = dup_or_null(in);
  p->stdout_path = dup_or_null(out);
  p->stderr_path = dup_or_null(err_path);
  p->terminal = terminal;
}

/* ------------------------------------------------------------------ exits */

proc_ref *shim_proc_ref_new(shim *s, const shim_proc *p) {
  proc_ref *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->s = s;
  r->id = strdup(p->task->id);
  r->exec_id = strdup(p->exec_id);
  if (!r->id || !r->exec_id) {
    shim_proc_ref_free(r);
    return NULL;
  }
  return r;
}

void shim_proc_ref_free(proc_ref *r) {
  free(r->id);
  free(r->exec_id);
  free(r);
}

static void on_wait(int status, const char *message, const uint8_t *payload, size_t len,
                    void *data) {
  proc_ref *r = data;
  shim *s = r->s;
  shim_proc *p = shim_proc_find(s, r->id, r->exec_id);
  if (!p) {
    shim_proc_ref_free(r);
    return;
  }
  if (status != CF_OK) {
    /* The agent went away (pod death reports every process) or forgot
     * the process: report it lost rather than wait forever. */
    if (status != CF_UNAVAILABLE) {
      cf_warn("wait for %s/%s failed: %s", r->id, *r->exec_id ? r->exec_id : "init", message);
      int64_t sec;
      int32_t nsec;
      shim_now(&sec, &nsec);
      shim_stdio_abandon(s, p);
      shim_proc_exited(s, p, SHIM_LOST_EXIT_STATUS, sec, nsec);
    }
    shim_proc_ref_free(r);
    return;
  }
  Coffer__Agent__V1__WaitProcessResponse *w =
      coffer__agent__v1__wait_process_response__unpack(NULL, len, payload);
  int64_t sec;
  int32_t nsec;
  shim_now(&sec, &nsec);
  uint32_t code = SHIM_LOST_EXIT_STATUS;
  if (w) {
    code = w->exit_status;
    if (w->exited_at && w->exited_at->seconds > 0) {
      sec = w->exited_at->seconds;
      nsec = w->exited_at->nanos;
    }
    coffer__agent__v1__wait_process_response__free_unpacked(w, NULL);
  }
  shim_proc_exited(s, p, code, sec, nsec);
  shim_proc_ref_free(r);
}

void shim_proc_watch_exit(shim *s, shim_proc *p) {
  if (p->wait_issued || p->exited)
    return;
  p->wait_issued = true;
  proc_ref *r = shim_proc_ref_new(s, p);
  if (!r)
    return;
  Coffer__Agent__V1__ProcessRequest req = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  req.container_id = p->task->id;
  req.exec_id = p->exec_id;
  shim_pod_agent_call(s, "WaitProcess", &req.base, 0, on_wait, r);
}

/* The output is still open at the deadline: some writer (a child that
 * outlived the process) holds it. Report the exit without the rest, so
 * containerd's stop and wait never hang on it. */
static void drain_timeout(cf_loop *loop, void *data) {
  proc_ref *r = data;
  shim *s = r->s;
  shim_proc *p = shim_proc_find(s, r->id, r->exec_id);
  if (p) {
    p->drain_timer = NULL;
    p->drain_ref = NULL;
  }
  if (p && !p->reported) {
    cf_warn("container %s: process %s exited but its output is still open after %d ms "
            "(a child keeps it open?); reporting the exit without the rest of the output",
            r->id, *r->exec_id ? r->exec_id : "init", SHIM_DRAIN_TIMEOUT_MS);
    shim_stdio_abandon(s, p);
    shim_proc_maybe_report(s, p);
  }
  shim_proc_ref_free(r);
}

static void drain_timer_start(shim *s, shim_proc *p) {
  if (p->drain_timer)
    return;
  proc_ref *r = shim_proc_ref_new(s, p);
  cf_error err = {0};
  cf_timer *t = r ? cf_loop_timer(s->loop, SHIM_DRAIN_TIMEOUT_MS, drain_timeout, r, &err) : NULL;
  if (!t) {
    cf_warn("container %s: no drain timer (%s); reporting the exit now", p->task->id,
            r ? err.msg : "out of memory");
    if (r)
      shim_proc_ref_free(r);
    shim_stdio_abandon(s, p);
    shim_proc_maybe_report(s, p);
    return;
  }
  p->drain_timer = t;
  p->drain_ref = r;
}

void shim_proc_exited(shim *s, shim_proc *p, uint32_t status, int64_t sec, int32_t nsec) {
  if (p->exited)
    return;
  p->exited = true;
  p->exit_status = status;
  p->exited_sec = sec;
  p->exited_nsec = nsec;
  cf_debug("process %s/%s exited with %u", p->task->id, *p->exec_id ? p->exec_id : "init",
           status);
  shim_proc_maybe_report(s, p);
  if (!p->reported)
    drain_timer_start(s, p);
}

static void reply_wait(shim_proc *p, ttrpc_call *call) {
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = p->exited_sec;
  ts.nanos = p->exited_nsec;
  Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
  resp.exit_status = p->exit_status;
  resp.exited_at = &ts;
  ttrpc_call_reply(call, &resp.base);
}

void shim_proc_maybe_report(shim *s, shim_proc *p) {
  if (!p->exited || p->reported || !shim_stdio_drained(p))
    return;
  p->reported = true;
  p->status = ST_STOPPED;
  drain_timer_cancel(p);
  shim_stdio_close(s, p);

  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = p->exited_sec;
  ts.nanos = p->exited_nsec;
  Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
  ev.container_id = p->task->id;
  ev.id = *p->exec_id ? p->exec_id : p->task->id;
  ev.pid = p->pid;
  ev.exit_status = p->exit_status;
  ev.exited_at = &ts;
  shim_events_publish(s, "/tasks/exit", "containerd.events.TaskExit", &ev.base);

  for (size_t i = 0; i < p->nwaiters; i++)
    reply_wait(p, p->waiters[i]);
  free(p->waiters);
  p->waiters = NULL;
  p->nwaiters = 0;
}

static void waiter_cancelled(ttrpc_call *call, void *data) {
  shim_proc *p = data;
  for (size_t i = 0; i < p->nwaiters; i++) {
    if (p->waiters[i] == call) {
      p->waiters[i] = p->waiters[--p->nwaiters];
      ttrpc_call_reply_status(call, CF_CANCELLED, "cancelled");
      return;
    }
  }
}

void shim_proc_add_waiter(shim *s, shim_proc *p, ttrpc_call *call) {
  if (p->reported) {
    reply_wait(p, call);
    return;
  }
  ttrpc_call **w = realloc(p->waiters, (p->nwaiters + 1) * sizeof(*w));
  if (!w) {
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  p->waiters = w;
  p->waiters[p->nwaiters++] = call;
  ttrpc_call_on_cancel(call, waiter_cancelled, p);
}

static void proc_lost(shim *s, shim_proc *p, int64_t sec, int32_t nsec) {
  if (p->exited)
    return;
  shim_stdio_abandon(s, p);
  shim_proc_exited(s, p, SHIM_LOST_EXIT_STATUS, sec, nsec);
}

void shim_procs_all_lost(shim *s, const char *why) {
  int64_t sec;
  int32_t nsec;
  shim_now(&sec, &nsec);
  for (shim_task *t = s->tasks; t; t = t->next) {
    for (shim_proc *p = t->execs; p; p = p->next)
      proc_lost(s, p, sec, nsec);
    if (!t->init.exited)
      cf_warn("task %s lost: %s", t->id, why);
    proc_lost(s, &t->init, sec, nsec);
  }
}
