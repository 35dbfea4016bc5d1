/* The pod: its VM (through the vmm backend chosen by config) and the
 * connection to its agent. Started when the daemon starts; requests that
 * arrive before the agent answers wait in a queue. The VM's host process
 * is watched with a pidfd: when it dies, every task gets its TaskExit. */
#include "pod.h"

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
#include "image_seed.h"
#include "coffer/transport.h"
#include "agent.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "shim.h"
#include "events.h"
#include "process.h"
#include "net.h"
#include "relay.h"
#include "coffer/path.h"

/* Waiting for the agent: connects back off from 10 ms to 200 ms (doubling
 * every 4 tries). On a
 * virtio-serial channel the connect succeeds at once (the socket is QEMU's)
 * and a Health sent before the guest listens may be lost, so it is resent
 * on the same connection every HEALTH_RESEND_MS: the guest answers the
 * queued ones once it listens (measured: ~10 ms after its agent starts),
 * the first answer counts. A connection that never answers is replaced
 * after HEALTH_RECONNECT_MS (a fallback: it resets the guest's parser). */
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 200
#define HEALTH_RESEND_MS 100
#define HEALTH_RECONNECT_MS 10000
#define CONSOLE_ERROR_LINES 8
#define STOP_GRACE_MS 3000
/* DestroySandbox at shutdown: the agent kills what is left (SIGKILL: by then
 * containerd has stopped every task it cares about), syncs and powers the
 * guest off ~50 ms after its reply, so stop sees the VM end by itself instead
 * of waiting out STOP_GRACE_MS. Bounded: a hung agent costs this much. */
#define DESTROY_TIMEOUT_MS 2000

static void try_connect(cf_loop *loop, void *data);

bool shim_pod_alive(shim *s) { return s->pod.state == POD_READY && s->pod.agent; }

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

bool shim_pod_ready_or_defer(shim *s, ttrpc_handler h, ttrpc_call *call, const uint8_t *payload,
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
  if (pd->resend) {
    cf_loop_timer_cancel(pd->resend);
    pd->resend = NULL;
  }
  cf_error_log("pod %s: %s", s->group_id, pd->failure.msg);
  fail_waiting(s);
}

void shim_pod_agent_call(shim *s, const char *method, const ProtobufCMessage *req, int timeout_ms,
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
  /* the guest's last words (a panic, the agent's error) say why */
  const char *console = pd->ops->console_log && pd->vm ? pd->ops->console_log(pd->vm) : NULL;
  char tail[640] = "";
  shim_guest_log_last_lines(console, CONSOLE_ERROR_LINES, tail, sizeof(tail));
  cf_err_status(&pd->failure, CF_UNAVAILABLE, "the pod's VM/agent is gone: %s%s%s%s%s", why,
                console ? "; guest console " : "", console ? console : "",
                console ? " ends: " : "", console ? (*tail ? tail : "(empty)") : "");
  pod_failed(s, POD_DEAD);
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
  shim_procs_all_lost(s, why);
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
  shim_pod_agent_call(s, "GetOOMEvent", NULL, 0, on_oom, s);
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
    shim_events_publish(s, "/tasks/oom", "containerd.events.TaskOOM", &oom.base);
  }
  if (ev)
    coffer__agent__v1__oomevent__free_unpacked(ev, NULL);
  if (shim_pod_alive(s))
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

static void drop_agent(pod *pd) {
  if (pd->resend) {
    cf_loop_timer_cancel(pd->resend);
    pd->resend = NULL;
  }
  if (pd->agent) {
    ttrpc_client *c = pd->agent;
    pd->agent = NULL; /* its pending Health calls fail now: on_health ignores them */
    ttrpc_client_free(c);
  }
}

/* An attempt failed: try again after a back-off, or give up at the
 * deadline quoting the guest console's last lines. Never frees the client
 * (we may be inside its callback): the next try_connect does. */
static void agent_wait_next(shim *s, const char *why) {
  pod *pd = &s->pod;
  if (pd->timer)
    return; /* already scheduled */
  snprintf(pd->last_why, sizeof(pd->last_why), "%s", why);
  if (cf_now_ms() >= pd->deadline_ms) {
    const char *console = pd->ops->console_log ? pd->ops->console_log(pd->vm) : NULL;
    char tail[640] = "";
    shim_guest_log_last_lines(console, CONSOLE_ERROR_LINES, tail, sizeof(tail));
    cf_err_status(&pd->failure, CF_UNAVAILABLE,
                  "agent at %s did not answer within %d ms (config %s, key agent_timeout_ms; %u "
                  "connects): %s%s%s%s%s",
                  pd->ops->agent_address(pd->vm), s->cfg.agent_timeout_ms, s->cfg.source,
                  pd->attempts, pd->last_why, console ? "; guest console " : "",
                  console ? console : "", console ? " ends: " : "",
                  console ? (*tail ? tail : "(empty)") : "");
    drop_agent(pd);
    pod_failed(s, POD_FAILED);
    return;
  }
  /* 4 tries at each step: a host-process agent listens within ~10 ms */
  unsigned shift = pd->attempts / 4 < 5 ? pd->attempts / 4 : 5;
  uint64_t delay = (uint64_t)RETRY_MIN_MS << shift;
  if (delay > RETRY_MAX_MS)
    delay = RETRY_MAX_MS;
  cf_error err = {0};
  pd->timer = cf_loop_timer(s->loop, delay, try_connect, s, &err);
  if (!pd->timer) {
    pd->failure = err;
    drop_agent(pd);
    pod_failed(s, POD_FAILED);
  }
}

static void create_sandbox(shim *s, const cf_error *net_err);

static void on_health(int status, const char *message, const uint8_t *payload, size_t len,
                      void *data) {
  shim *s = data;
  pod *pd = &s->pod;
  if (pd->state != POD_STARTING || !pd->agent || pd->answered)
    return; /* answered already, or the connection is being replaced */
  if (status != CF_OK) {
    agent_wait_next(s, message);
    return;
  }
  if (pd->timer) { /* a reconnect was due: this connection works after all */
    cf_loop_timer_cancel(pd->timer);
    pd->timer = NULL;
  }
  if (pd->resend) {
    cf_loop_timer_cancel(pd->resend);
    pd->resend = NULL;
  }
  pd->answered = true;
  cf_info("pod %s: agent answered after %u connect(s), %llu ms after the VM started",
          s->group_id, pd->attempts,
          (unsigned long long)(cf_now_ms() + (uint64_t)s->cfg.agent_timeout_ms - pd->deadline_ms));
  ttrpc_client_on_close(pd->agent, on_agent_closed, s);
  shim_net_configure(s, create_sandbox); /* net.c: the guest's NICs first */
}

static void create_sandbox(shim *s, const cf_error *net_err) {
  pod *pd = &s->pod;
  if (pd->state != POD_STARTING)
    return;
  if (net_err) {
    pd->failure = *net_err;
    pod_failed(s, POD_FAILED);
    return;
  }
  Coffer__Agent__V1__CreateSandboxRequest req = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  req.sandbox_id = s->group_id;
  req.hostname = s->hostname; /* a host-process agent ignores it */
  shim_pod_files_fill(&s->pod_files, &req);
  req.guest_log_level = s->cfg.log_level;
  req.exit_on_destroy = true;
  if (s->initdata.to_guest) { /* checked in the guest against the launch binding */
    req.init_data.data = (uint8_t *)s->initdata.to_guest;
    req.init_data.len = s->initdata.to_guest_len;
  }
  char *prefetch[SHIM_IMAGE_SEED_MAX_IMAGES];
  for (size_t i = 0; s->prefetch && i < s->prefetch->n; i++)
    prefetch[req.n_prefetch_images++] = s->prefetch->refs[i];
  req.prefetch_images = prefetch; /* the guest may start pulling them now */
  shim_pod_agent_call(s, "CreateSandbox", &req.base, s->cfg.agent_timeout_ms, on_sandbox, s);
}

static void on_resend(cf_loop *loop, void *data);

static void send_health(shim *s) {
  pod *pd = &s->pod;
  uint64_t now = cf_now_ms();
  int left = now < pd->deadline_ms ? (int)(pd->deadline_ms - now) : 1;
  cf_error err = {0};
  if (ttrpc_client_call(pd->agent, HEALTH_SERVICE, "Check", NULL, left, on_health, s, &err) < 0) {
    agent_wait_next(s, err.msg);
    return;
  }
  if (pd->state == POD_STARTING && !pd->timer)
    pd->resend = cf_loop_timer(s->loop, HEALTH_RESEND_MS, on_resend, s, &err);
}

static void on_resend(cf_loop *loop, void *data) {
  shim *s = data;
  pod *pd = &s->pod;
  pd->resend = NULL;
  if (pd->state != POD_STARTING || !pd->agent || pd->timer)
    return;
  uint64_t now = cf_now_ms();
  if (now >= pd->deadline_ms || now - pd->conn_ms >= HEALTH_RECONNECT_MS) {
    agent_wait_next(s, "no answer to Health");
    return;
  }
  send_health(s);
}

static void try_connect(cf_loop *loop, void *data) {
  shim *s = data;
  pod *pd = &s->pod;
  pd->timer = NULL;
  if (pd->state != POD_STARTING)
    return;
  drop_agent(pd);
  pd->attempts++;
  cf_error err = {0};
  int fd = cf_transport_connect(pd->ops->agent_address(pd->vm), 0, &err);
  if (fd < 0) {
    agent_wait_next(s, err.msg);
    return;
  }
  pd->agent = ttrpc_client_new(s->loop, fd, &err);
  if (!pd->agent) {
    agent_wait_next(s, err.msg);
    return;
  }
  pd->conn_ms = cf_now_ms();
  send_health(s);
}

/* ------------------------------------------------------------- console */

static void on_console_line(void *data, const char *line, size_t len) {
  shim *s = data;
  shim_guest_log_line(&s->pod.glog, line, len, cf_now_ms());
}

static void on_console(cf_loop *loop, int fd, uint32_t events, void *data) {
  shim *s = data;
  cf_error err = {0};
  if (cf_console_tail_read(s->pod.console, on_console_line, s, &err) < 0) {
    cf_warn("pod %s: guest console: %s; no longer followed", s->group_id, err.msg);
    cf_loop_unwatch(s->pod.console_watch);
    s->pod.console_watch = NULL;
  }
}

/* Follow the backend's console log (if it has one) into our log. */
static void console_follow(shim *s) {
  pod *pd = &s->pod;
  const char *path = pd->ops->console_log ? pd->ops->console_log(pd->vm) : NULL;
  if (!path)
    return;
  cf_error err = {0};
  pd->console = cf_console_tail_new(path, 1, &err);
  if (pd->console)
    pd->console_watch =
        cf_loop_watch(s->loop, cf_console_tail_fd(pd->console), EPOLLIN, on_console, s, &err);
  if (!pd->console_watch)
    cf_warn("pod %s: guest console %s not followed: %s", s->group_id, path, err.msg);
}

static void console_stop(shim *s) {
  pod *pd = &s->pod;
  if (!pd->console)
    return;
  if (pd->console_watch) {
    /* the last lines (e.g. the guest's power-off) */
    cf_error err = {0};
    cf_console_tail_read(pd->console, on_console_line, s, &err);
    cf_loop_unwatch(pd->console_watch);
    pd->console_watch = NULL;
  }
  cf_console_tail_free(pd->console, on_console_line, s);
  pd->console = NULL;
  shim_guest_log_flush(&pd->glog);
}

void shim_pod_start(shim *s) {
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
  int r = cf_mkdir_p(s->state_dir, 0711, 0700);
  if (r < 0) {
    cf_err(&pd->failure, -r, "pod state directory %s", s->state_dir);
    pod_failed(s, POD_FAILED);
    return;
  }
  if ((r = cf_mkdir_p(s->sock_dir, 0711, 0700)) < 0) {
    cf_err(&pd->failure, -r, "pod socket directory %s (for the state directory %s)",
           s->sock_dir, s->state_dir);
    pod_failed(s, POD_FAILED);
    return;
  }
  if (s->size_err.status) {
    pd->failure = s->size_err;
    pod_failed(s, POD_FAILED);
    return;
  }
  if (s->initdata_err.status || s->initdata_err.msg[0]) {
    pd->failure = s->initdata_err;
    pod_failed(s, POD_FAILED);
    return;
  }
  cf_vm_config vc;
  shim_config_vm(&s->cfg, s->group_id, s->state_dir, &vc);
  vc.sock_dir = s->sock_dir;
  vc.vcpus = s->size.vcpus;
  vc.memory_mib = s->size.memory_mib;
  vc.init_data = (const uint8_t *)s->initdata.toml; /* the backend binds its digest */
  vc.init_data_len = s->initdata.len;
  vc.kernel_params = s->initdata.kernel_params;
  cf_info("pod %s: vcpus=%u memory_mib=%llu%s (config vcpus %u, memory_mib %llu, plus the "
          "sandbox's annotations)", s->group_id, vc.vcpus, (unsigned long long)vc.memory_mib,
          s->size.clamped ? " (clamped)" : "", s->cfg.vcpus,
          (unsigned long long)s->cfg.memory_mib);
  shim_net_prepare(s, &vc); /* net.c */
  /* the broker over the pod network where there is one, else the relay */
  vc.attests = shim_pod_has_broker(s); /* relay.c */
  vc.relay = !vc.net && vc.attests;
  pd->relay_on = vc.relay;
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
  console_follow(s);
  shim_relay_start(s); /* relay.c */
  pd->deadline_ms = cf_now_ms() + (uint64_t)s->cfg.agent_timeout_ms;
  try_connect(s->loop, s);
}

void shim_pod_power_off(shim *s) {
  pod *pd = &s->pod;
  if (pd->state != POD_READY || !pd->agent)
    return;
  uint64_t t0 = cf_now_ms();
  Coffer__Agent__V1__DestroySandboxRequest req = COFFER__AGENT__V1__DESTROY_SANDBOX_REQUEST__INIT;
  req.grace_ms = 0;
  cf_error err = {0};
  if (ttrpc_client_call_sync(pd->agent, AGENT_SERVICE, "DestroySandbox", &req.base, NULL, NULL,
                             DESTROY_TIMEOUT_MS, &err) < 0) {
    cf_warn("pod %s: DestroySandbox: %s; the VM is stopped from the host", s->group_id, err.msg);
    return;
  }
  cf_info("pod %s: sandbox destroyed in the guest after %llu ms; the guest powers off",
          s->group_id, (unsigned long long)(cf_now_ms() - t0));
}

void shim_pod_stop(shim *s) {
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
  drop_agent(pd);
  cf_err_status(&pd->failure, CF_FAILED_PRECONDITION, "the pod is shut down");
  fail_waiting(s);
  console_stop(s);
  shim_relay_stop(s);
  if (pd->vm) {
    cf_error err = {0};
    if (pd->ops->stop(pd->vm, STOP_GRACE_MS, &err) < 0)
      cf_warn("stopping pod %s: %s", s->group_id, err.msg);
    pd->vm = NULL;
  }
  reap_children();
  pd->state = POD_STOPPED;
}
