/* Guest pulls started at CreateSandbox (see prefetch.h). */
#include "prefetch.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "coffer/clock.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "image_pull.h"
#include "job.h"

enum item_state { ITEM_WAITING, ITEM_RUNNING, ITEM_DONE, ITEM_FAILED, ITEM_TAKEN };

typedef struct item {
  char *ref;
  char dir[PATH_MAX];
  enum item_state state;
  bool mounted;   /* dir holds its tmpfs (until taken or freed) */
  char *out;      /* ITEM_DONE: the tool's JSON */
  uint64_t ms;
  cf_error err;   /* ITEM_FAILED */
} item;

struct agent_prefetch {
  agent *a;
  pthread_mutex_t lock; /* the items' states; cond: one became final */
  pthread_cond_t cond;
  agent_pull_child child;
  item items[AGENT_PREFETCH_MAX];
  size_t n;
  uint64_t bound_ms; /* how long a take may wait for one pull */
};

static void finish_item(struct agent_prefetch *pf, item *it, enum item_state st, char *out,
                        uint64_t ms, const cf_error *err) {
  if (st == ITEM_FAILED && it->mounted) { /* a partial tree: gone at once */
    umount2(it->dir, MNT_DETACH);
    rmdir(it->dir);
    it->mounted = false;
  }
  pthread_mutex_lock(&pf->lock);
  it->state = st;
  it->out = out;
  it->ms = ms;
  if (err)
    it->err = *err;
  pthread_cond_broadcast(&pf->cond);
  pthread_mutex_unlock(&pf->lock);
}

static void work(void *data) {
  struct agent_prefetch *pf = data;
  agent *a = pf->a;
  char ca[PATH_MAX];
  snprintf(ca, sizeof(ca), "%s/prefetch/registry-ca.pem", a->state_dir);
  for (size_t i = 0; i < pf->n; i++) {
    item *it = &pf->items[i];
    cf_error err = {0};
    pthread_mutex_lock(&pf->child.lock);
    bool cancelled = pf->child.cancelled;
    pthread_mutex_unlock(&pf->child.lock);
    if (cancelled) {
      cf_err_status(&err, CF_CANCELLED, "image %s: the sandbox is being destroyed", it->ref);
      finish_item(pf, it, ITEM_FAILED, NULL, 0, &err);
      continue;
    }
    pthread_mutex_lock(&pf->lock);
    it->state = ITEM_RUNNING;
    pthread_mutex_unlock(&pf->lock);
    uint64_t t0 = cf_now_ms();
    char *out = NULL;
    int rc = 0;
    if (cf_mkdir_p(it->dir, 0755, 0700) < 0 ||
        mount("coffer-image", it->dir, "tmpfs", 0, "mode=0755") < 0)
      rc = cf_err(&err, errno, "image %s: tmpfs on %s", it->ref, it->dir);
    else
      it->mounted = true;
    if (rc == 0)
      rc = agent_image_pull_into(a, it->ref, it->dir, ca, &pf->child, &out, &err);
    uint64_t ms = cf_now_ms() - t0;
    if (rc < 0)
      cf_warn("image %s: the pull started at CreateSandbox failed after %llu ms (reported to "
              "the container that takes it): %s", it->ref, (unsigned long long)ms, err.msg);
    else
      cf_info("image %s: pulled and unpacked in %llu ms, started at CreateSandbox", it->ref,
              (unsigned long long)ms);
    finish_item(pf, it, rc < 0 ? ITEM_FAILED : ITEM_DONE, out, ms, &err);
  }
}

static void done(agent *a, void *data) {
  (void)a, (void)data; /* the items stay for CreateContainer; freed with the sandbox */
}

void agent_prefetch_start(agent *a, char *const *refs, size_t n) {
  if (!n || a->prefetch)
    return;
  if (n > AGENT_PREFETCH_MAX) {
    cf_info("sandbox: %zu images to pull in the guest; the first %d start now, the rest at "
            "CreateContainer", n, AGENT_PREFETCH_MAX);
    n = AGENT_PREFETCH_MAX;
  }
  struct agent_prefetch *pf = calloc(1, sizeof(*pf));
  if (!pf) {
    cf_warn("sandbox: no memory to start pulling its images early");
    return;
  }
  pf->a = a;
  pthread_mutex_init(&pf->lock, NULL);
  pthread_cond_init(&pf->cond, NULL);
  pthread_mutex_init(&pf->child.lock, NULL);
  uint32_t ms = a->initdata ? a->initdata->image_timeout_ms : 600000;
  pf->bound_ms = (uint64_t)ms + 10000;
  for (size_t i = 0; i < n; i++) {
    bool dup = false;
    for (size_t k = 0; k < pf->n; k++)
      dup |= !strcmp(pf->items[k].ref, refs[i]);
    if (dup || !refs[i][0])
      continue;
    item *it = &pf->items[pf->n];
    if (!(it->ref = strdup(refs[i])))
      break;
    snprintf(it->dir, sizeof(it->dir), "%s/prefetch/%zu", a->state_dir, pf->n);
    pf->n++;
  }
  a->prefetch = pf;
  cf_error err = {0};
  if (!pf->n || agent_job_spawn(a, work, done, pf, &err) < 0) {
    if (pf->n)
      cf_warn("sandbox: cannot start pulling its images early (%s); CreateContainer pulls them",
              err.msg);
    agent_prefetch_free(a);
    return;
  }
  cf_info("sandbox: pulling %zu image(s) in the guest from now on, first %s", pf->n,
          pf->items[0].ref);
}

int agent_prefetch_take(agent *a, const char *ref, char **dir, char **out, uint64_t *ms,
                        cf_error *err) {
  struct agent_prefetch *pf = a->prefetch;
  *dir = *out = NULL;
  *ms = 0;
  if (!pf)
    return 0;
  item *it = NULL;
  for (size_t i = 0; i < pf->n && !it; i++)
    if (!strcmp(pf->items[i].ref, ref))
      it = &pf->items[i];
  if (!it)
    return 0;
  /* bounded: each pull before it and its own end within their time limit */
  size_t pos = (size_t)(it - pf->items) + 1;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  uint64_t wait_ms = pf->bound_ms * pos;
  until.tv_sec += (time_t)(wait_ms / 1000);
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000)
    until.tv_sec++, until.tv_nsec -= 1000000000;
  pthread_mutex_lock(&pf->lock);
  int w = 0;
  while ((it->state == ITEM_WAITING || it->state == ITEM_RUNNING) && w != ETIMEDOUT)
    w = pthread_cond_timedwait(&pf->cond, &pf->lock, &until);
  int rc = 0;
  switch (it->state) {
  case ITEM_DONE:
    it->state = ITEM_TAKEN;
    it->mounted = false; /* the caller's now */
    *out = it->out;
    it->out = NULL;
    *ms = it->ms;
    rc = (*dir = strdup(it->dir)) ? 1 : cf_err(err, ENOMEM, "image %s", ref);
    break;
  case ITEM_FAILED:
    it->state = ITEM_TAKEN; /* reported once; a later container pulls anew */
    *err = it->err;
    rc = -1;
    break;
  case ITEM_TAKEN:
    break; /* another container has it: this one pulls */
  default:
    rc = cf_err_status(err, CF_DEADLINE_EXCEEDED,
                       "image %s: the pull started at CreateSandbox did not end within %llu ms",
                       ref, (unsigned long long)wait_ms);
  }
  pthread_mutex_unlock(&pf->lock);
  return rc;
}

void agent_prefetch_cancel(agent *a) {
  struct agent_prefetch *pf = a->prefetch;
  if (!pf)
    return;
  pthread_mutex_lock(&pf->child.lock);
  pf->child.cancelled = true;
  if (pf->child.pid > 0)
    kill(pf->child.pid, SIGKILL);
  pthread_mutex_unlock(&pf->child.lock);
}

void agent_prefetch_free(agent *a) {
  struct agent_prefetch *pf = a->prefetch;
  if (!pf)
    return;
  for (size_t i = 0; i < pf->n; i++) {
    item *it = &pf->items[i];
    if (it->mounted) {
      umount2(it->dir, MNT_DETACH);
      rmdir(it->dir);
    }
    free(it->out);
    free(it->ref);
  }
  pthread_mutex_destroy(&pf->lock);
  pthread_cond_destroy(&pf->cond);
  pthread_mutex_destroy(&pf->child.lock);
  free(pf);
  a->prefetch = NULL;
}
