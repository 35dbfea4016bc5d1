/* The pod: its VM (through the vmm backend chosen by config) and the
 * connection to its agent. Started when the daemon starts; requests that
 * arrive before the agent answers wait in a queue. The VM's host process
 * is watched with a pidfd: when it dies, every task gets its TaskExit. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coffer/log.h"
#include "coffer/transport.h"
#include "agent.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "shim.h"

#define CONNECT_RETRY_MS 10
#define HEALTH_TIMEOUT_MS 2000
#define STOP_GRACE_MS 3000

static void try_connect(cf_loop *loop, void *data);

bool pod_alive(shim *s) { return s->pod.state == POD_READY && s->pod.agent; }

static void fail_waiting(shim *s) {
  pod *pd = &s->pod;
  while (pd->waiting) {
    deferred *d = pd->waiting;
    pd->waiting = d->next;
    ttrpc_call_reply_error(d->call, &pd->failure);
    free(d->payload);
    free(d);
  }
  pd->waiting_tail = &pd->waiting;
}

static void replay_waiting(shim *s) {
  pod *pd = &s->pod;
  deferred *d = pd->waiting;
  pd->waiting = NULL;
  pd->waiting_tail = &pd->waiting;
  while (d) {
    deferred *next = d->next;
    d->handler(d->call, d->payload, d->len, s);
    free(d->payload);
    free(d);
    d = next;
  }
}

bool pod_ready_or_defer(shim *s, ttrpc_handler h, ttrpc_call *call, const uint8_t *payload,
                        size_t len) {
  pod *pd = &s->pod;
  if (pd->state == POD_READY)
    return true;
  if (pd->state != POD_STARTING) {
    ttrpc_call_reply_error(call, &pd->failure);
    return false;
  }
  deferred *d = calloc(1, sizeof(*d));
  if (!d || !(d->payload = malloc(len ? len : 1))) {
    free(d);
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    return false;
  }
  memcpy(d->payload, payload, len);
  d->len = len;
  d->handler = h;
  d->call = call;
  *pd->waiting_tail = d;
  pd->waiting_tail = &d->next;
  return false;
}

static void pod_failed(shim *s, enum pod_state state) {
  pod *pd = &s->pod;
  pd->state = state;
  if (pd->timer) {
    cf_loop_timer_cancel(pd->timer);
    pd->timer = NULL;
  }
  cf_error_log("pod %s: %s", s->group_id, pd->failure.msg);
  fail_waiting(s);
}

void pod_agent_call(shim *s, const char *method, const ProtobufCMessage *req, int timeout_ms,
                    ttrpc_reply_cb cb, void *data) {
  pod *pd = &s->pod;
  cf_error err = {0};
  if (!pd->agent) {
    cb(CF_UNAVAILABLE, pd->failure.msg[0] ? pd->failure.msg : "the pod's agent is not connected",
       NULL, 0, data);
    return;
  }
  if (ttrpc_client_call(pd->agent, AGENT_SERVICE, method, req, timeout_ms, cb, data, &err) < 0)
    cb(cf_error_grpc_status(&err), err.msg, NULL, 0, data);
}

/* ------------------------------------------------------------- death */

static void reap_children(void) {
  /* Orphans of a dead agent are re-parented to us (child subreaper). */
  char path[64];
  DIR *d = opendir("/proc");
  if (!d)
    return;
  pid_t self = getpid();
  struct dirent *e;
  while ((e = readdir(d))) {
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0)
      continue;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
      continue;
    int ppid = 0;
    char state;
    /* comm may hold spaces: skip to the last ')' */
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self && state != 'Z')
      kill(pid, SIGKILL);
  }
  closedir(d);
}

static void pod_lost(shim *s, const char *why) {
  pod *pd = &s->pod;
  if (pd->state == POD_DEAD || pd->state == POD_STOPPED)
    return;
  cf_err_status(&pd->failure, CF_UNAVAILABLE, "the pod's VM/agent is gone: %s", why);
  bool was_starting = pd->state == POD_STARTING;
  pod_failed(s, POD_DEAD);
  (void)was_starting;
  if (pd->pid_watch) {
    cf_loop_unwatch(pd->pid_watch);
    pd->pid_watch = NULL;
  }
  if (pd->pidfd >= 0) {
    close(pd->pidfd);
    pd->pidfd = -1;
  }
  if (pd->agent) {
    ttrpc_client *c = pd->agent;
    pd->agent = NULL;
    ttrpc_client_free(c);
  }
  reap_children();
  procs_all_lost(s, why);
}

static void on_vm_exit(cf_loop *loop, int fd, uint32_t events, void *data) {
  shim *s = data;
  pod_lost(s, "its host process exited");
}

static void on_agent_closed(ttrpc_client *c, void *data) {
  shim *s = data;
  if (s->pod.agent != c)
    return;
  if (s->pod.state == POD_READY)
    pod_lost(s, "the agent connection closed");
}

/* ------------------------------------------------------------- start */

static void on_oom(int status, const char *message, const uint8_t *payload, size_t len,
                   void *data);

static void watch_oom(shim *s) {
  pod_agent_call(s, "GetOOMEvent", NULL, 0, on_oom, s);
}

static void on_oom(int status, const char *message, const uint8_t *payload, size_t len,
                   void *data) {
  shim *s = data;
  if (status != CF_OK) {
    if (status != CF_UNAVAILABLE)
      cf_debug("OOM events unavailable: %s", message);
    return;
  }
  Coffer__Agent__V1__OOMEvent *ev = coffer__agent__v1__oomevent__unpack(NULL, len, payload);
  /* published even when the task is gone already: the kill explains its exit */
  if (ev && ev->container_id && *ev->container_id) {
    Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
    oom.container_id = ev->container_id;
    events_publish(s, "/tasks/oom", "containerd.events.TaskOOM", &oom.base);
  }
  if (ev)
    coffer__agent__v1__oomevent__free_unpacked(ev, NULL);
  if (pod_alive(s))
    watch_oom(s);
}

static void on_sandbox(int status, const char *message, const uint8_t *payload, size_t len,
                       void *data) {
  shim *s = data;
  pod *pd = &s->pod;
  if (pd->state != POD_STARTING)
    return;
  if (status != CF_OK && status != CF_ALREADY_EXISTS) {
    cf_err_status(&pd->failure, status, "agent CreateSandbox: %s", message);
    pod_failed(s, POD_FAILED);
    return;
  }
  pd->state = POD_READY;
  cf_info("pod %s ready (backend %s)", s->group_id, pd->ops->name);
  watch_oom(s);
  replay_waiting(s);
}

static void retry_connect(shim *s, const char *why) {
  pod *pd = &s->pod;
  if (pd->agent) {
    ttrpc_client *c = pd->agent;
    pd->agent = NULL;
    ttrpc_client_free(c);
  }
  if (cf_now_ms() >= pd->deadline_ms) {
    const char *console = pd->ops->console_log ? pd->ops->console_log(pd->vm) : NULL;
    cf_err_status(&pd->failure, CF_UNAVAILABLE,
                  "agent at %s did not answer within %d ms (config %s, key agent_timeout_ms)%s%s: %s",
                  pd->ops->agent_address(pd->vm), s->cfg.agent_timeout_ms, s->cfg.source,
                  console ? "; guest console log: " : "", console ? console : "", why);
    pod_failed(s, POD_FAILED);
    return;
  }
  cf_error err = {0};
  pd->timer = cf_loop_timer(s->loop, CONNECT_RETRY_MS, try_connect, s, &err);
}

static void on_health(int status, const char *message, const uint8_t *payload, size_t len,
                      void *data) {
  shim *s = data;
  pod *pd = &s->pod;
  if (pd->state != POD_STARTING)
    return;
  if (status != CF_OK) {
    retry_connect(s, message);
    return;
  }
  ttrpc_client_on_close(pd->agent, on_agent_closed, s);
  Coffer__Agent__V1__CreateSandboxRequest req = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  req.sandbox_id = s->group_id;
  req.hostname = s->hostname; /* a host-process agent ignores it */
  req.guest_log_level = s->cfg.log_level;
  req.exit_on_destroy = true;
  pod_agent_call(s, "CreateSandbox", &req.base, s->cfg.agent_timeout_ms, on_sandbox, s);
}

static void try_connect(cf_loop *loop, void *data) {
  shim *s = data;
  pod *pd = &s->pod;
  pd->timer = NULL;
  if (pd->state != POD_STARTING)
    return;
  cf_error err = {0};
  int fd = cf_transport_connect(pd->ops->agent_address(pd->vm), 0, &err);
  if (fd < 0) {
    retry_connect(s, err.msg);
    return;
  }
  pd->agent = ttrpc_client_new(s->loop, fd, &err);
  if (!pd->agent) {
    retry_connect(s, err.msg);
    return;
  }
  cf_error e2 = {0};
  if (ttrpc_client_call(pd->agent, HEALTH_SERVICE, "Check", NULL, HEALTH_TIMEOUT_MS, on_health, s,
                        &e2) < 0)
    retry_connect(s, e2.msg);
}

static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0711) < 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(buf, 0700) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

void pod_start(shim *s) {
  pod *pd = &s->pod;
  pd->state = POD_STARTING;
  pd->pidfd = -1;
  pd->waiting_tail = &pd->waiting;
  pd->ops = cf_vmm_lookup(s->cfg.backend);
  if (!pd->ops) {
    cf_err_status(&pd->failure, CF_FAILED_PRECONDITION,
                  "config %s: key \"backend\": \"%s\" is not built into this shim",
                  s->cfg.source, s->cfg.backend);
    pod_failed(s, POD_FAILED);
    return;
  }
  int r = mkdir_p(s->state_dir);
  if (r < 0) {
    cf_err(&pd->failure, -r, "pod state directory %s", s->state_dir);
    pod_failed(s, POD_FAILED);
    return;
  }
  cf_vm_config vc;
  shim_config_vm(&s->cfg, s->group_id, s->state_dir, &vc);
  if (pd->ops->start(&vc, &pd->vm, &pd->failure) < 0) {
    cf_error_prefix(&pd->failure, "starting the pod's %s backend", pd->ops->name);
    pod_failed(s, POD_FAILED);
    return;
  }
  pid_t pid = pd->ops->pid(pd->vm);
  if (pid > 0)
    pd->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pd->pidfd >= 0) {
    cf_error err = {0};
    pd->pid_watch = cf_loop_watch(s->loop, pd->pidfd, EPOLLIN, on_vm_exit, s, &err);
  } else if (pid > 0) {
    cf_warn("pidfd_open(%d): %s; VM death is noticed through the agent connection only", pid,
            strerror(errno));
  }
  pd->deadline_ms = cf_now_ms() + (uint64_t)s->cfg.agent_timeout_ms;
  try_connect(s->loop, s);
}

void pod_stop(shim *s) {
  pod *pd = &s->pod;
  if (pd->state == POD_STOPPED)
    return;
  if (pd->timer) {
    cf_loop_timer_cancel(pd->timer);
    pd->timer = NULL;
  }
  if (pd->pid_watch) {
    cf_loop_unwatch(pd->pid_watch);
    pd->pid_watch = NULL;
  }
  if (pd->pidfd >= 0) {
    close(pd->pidfd);
    pd->pidfd = -1;
  }
  if (pd->agent) {
    ttrpc_client *c = pd->agent;
    pd->agent = NULL;
    ttrpc_client_free(c);
  }
  cf_err_status(&pd->failure, CF_FAILED_PRECONDITION, "the pod is shut down");
  fail_waiting(s);
  if (pd->vm) {
    cf_error err = {0};
    if (pd->ops->stop(pd->vm, STOP_GRACE_MS, &err) < 0)
      cf_warn("stopping pod %s: %s", s->group_id, err.msg);
    pd->vm = NULL;
  }
  reap_children();
  pd->state = POD_STOPPED;
}
