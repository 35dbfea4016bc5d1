/* OOM kills, from the memory cgroup of each container (no helper process):
 * cgroup v1 notifies an eventfd registered through cgroup.event_control on
 * memory.oom_control; cgroup v2 rewrites memory.events (inotify). Either
 * way the oom_kill counter tells whether a process was actually killed.
 * Events queue (bounded) until a GetOOMEvent call takes them. */

#include "oom.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"

static void cgroup_file(const agent *a, const container *c, const char *name, char *buf,
                        size_t cap) {
  if (a->cgroup_version == 1)
    snprintf(buf, cap, "/sys/fs/cgroup/memory%s/%s", c->cgroup_path, name);
  else
    snprintf(buf, cap, "/sys/fs/cgroup%s/%s", c->cgroup_path, name);
}

/* The "oom_kill N" line of memory.oom_control (v1) or memory.events (v2). */
static int read_oom_kills(const agent *a, const container *c, uint64_t *out) {
  char path[PATH_MAX], line[128];
  cgroup_file(a, c, a->cgroup_version == 1 ? "memory.oom_control" : "memory.events", path,
              sizeof(path));
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f)
    return -errno;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "oom_kill %" SCNu64, out) == 1)
      return 0;
  return -ENOENT;
}

/* True when the kill counter rose (and the event was queued). */
bool oom_check(agent *a, container *c) {
  uint64_t kills = 0;
  if (read_oom_kills(a, c, &kills) < 0 || kills <= c->oom_kills)
    return false;
  c->oom_kills = kills;
  cf_info("container %s: OOM kill in its memory cgroup", c->id);
  oom_push(a, c->id);
  return true;
}

static void oom_recheck(cf_loop *loop, void *data) {
  container *c = data;
  c->oom_timer = NULL;
  if (oom_check(c->a, c) || ++c->oom_rechecks >= 5)
    return;
  cf_error err = {0};
  c->oom_timer = cf_loop_timer(loop, 20u << c->oom_rechecks, oom_recheck, c, &err);
}

static void oom_event(cf_loop *loop, int fd, uint32_t events, void *data) {
  container *c = data;
  agent *a = c->a;
  uint8_t buf[4096];
  ssize_t r = read(fd, buf, sizeof(buf)); /* eventfd counter or inotify records */
  uint64_t kills = 0;
  if (read_oom_kills(a, c, &kills) < 0 || (r <= 0 && errno != EAGAIN)) {
    oom_unwatch_container(c); /* the cgroup went away */
    return;
  }
  /* v1 notifies when the OOM starts, before the victim is counted: look
   * again a little later */
  if (!oom_check(a, c) && !c->oom_timer) {
    cf_error err = {0};
    c->oom_rechecks = 0;
    c->oom_timer = cf_loop_timer(loop, 10, oom_recheck, c, &err);
  }
}

int oom_watch_container(agent *a, container *c) {
  char path[PATH_MAX];
  cf_error err = {0};
  read_oom_kills(a, c, &c->oom_kills);
  if (a->cgroup_version == 1) {
    cgroup_file(a, c, "memory.oom_control", path, sizeof(path));
    _cleanup_close_ int ctl = open(path, O_RDONLY | O_CLOEXEC);
    cgroup_file(a, c, "cgroup.event_control", path, sizeof(path));
    _cleanup_close_ int ev = open(path, O_WRONLY | O_CLOEXEC);
    if (ctl < 0 || ev < 0) {
      cf_warn("container %s: no OOM events (%s: %s)", c->id, path, strerror(errno));
      return -errno;
    }
    c->oom_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->oom_fd < 0 || dprintf(ev, "%d %d", c->oom_fd, ctl) < 0) {
      cf_warn("container %s: no OOM events (register eventfd: %s)", c->id, strerror(errno));
      oom_unwatch_container(c);
      return -EIO;
    }
  } else {
    cgroup_file(a, c, "memory.events", path, sizeof(path));
    c->oom_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c->oom_fd < 0 || inotify_add_watch(c->oom_fd, path, IN_MODIFY) < 0) {
      cf_warn("container %s: no OOM events (inotify %s: %s)", c->id, path, strerror(errno));
      oom_unwatch_container(c);
      return -EIO;
    }
  }
  c->oom_watch = cf_loop_watch(a->loop, c->oom_fd, EPOLLIN, oom_event, c, &err);
  if (!c->oom_watch) {
    oom_unwatch_container(c);
    return -EIO;
  }
  return 0;
}

void oom_unwatch_container(container *c) {
  if (c->oom_timer)
    cf_loop_timer_cancel(c->oom_timer);
  c->oom_timer = NULL;
  if (c->oom_watch)
    cf_loop_unwatch(c->oom_watch);
  c->oom_watch = NULL;
  if (c->oom_fd >= 0)
    close(c->oom_fd);
  c->oom_fd = -1;
}

static void reply_oom(ttrpc_call *call, const char *id) {
  Coffer__Agent__V1__OOMEvent ev = COFFER__AGENT__V1__OOMEVENT__INIT;
  ev.container_id = (char *)id;
  ttrpc_call_reply(call, &ev.base);
}

void oom_push(agent *a, const char *id) {
  if (a->n_oom_waiters) {
    ttrpc_call *call = a->oom_waiters[0];
    memmove(a->oom_waiters, a->oom_waiters + 1, --a->n_oom_waiters * sizeof(*a->oom_waiters));
    reply_oom(call, id);
    return;
  }
  if (a->oom_count == AGENT_OOM_QUEUE) { /* full: the oldest goes */
    cf_warn("OOM event queue full: dropping the event of %s", a->oom_queue[a->oom_head]);
    free(a->oom_queue[a->oom_head]);
    a->oom_head = (a->oom_head + 1) % AGENT_OOM_QUEUE;
    a->oom_count--;
  }
  a->oom_queue[(a->oom_head + a->oom_count) % AGENT_OOM_QUEUE] = strdup(id);
  a->oom_count++;
}

static void oom_cancel(ttrpc_call *call, void *data) {
  agent *a = data;
  for (size_t i = 0; i < a->n_oom_waiters; i++)
    if (a->oom_waiters[i] == call) {
      memmove(a->oom_waiters + i, a->oom_waiters + i + 1,
              (a->n_oom_waiters - i - 1) * sizeof(*a->oom_waiters));
      a->n_oom_waiters--;
      break;
    }
  ttrpc_call_reply_status(call, CF_CANCELLED, "connection closed");
}

void oom_get(agent *a, ttrpc_call *call) {
  while (a->oom_count) {
    char *id = a->oom_queue[a->oom_head];
    a->oom_queue[a->oom_head] = NULL;
    a->oom_head = (a->oom_head + 1) % AGENT_OOM_QUEUE;
    a->oom_count--;
    if (!id)
      continue;
    reply_oom(call, id);
    free(id);
    return;
  }
  ttrpc_call **n = realloc(a->oom_waiters, (a->n_oom_waiters + 1) * sizeof(*n));
  if (!n) {
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  a->oom_waiters = n;
  a->oom_waiters[a->n_oom_waiters++] = call;
  ttrpc_call_on_cancel(call, oom_cancel, a);
}
