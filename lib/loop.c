/* The epoll event loop: fd watches and one-shot timers.
 *
 * Watches removed during a dispatch round are parked on a dead list and freed
 * after the round, so an event already returned by epoll_wait for them is
 * skipped instead of touching freed memory. Timers live in a binary min-heap
 * keyed by deadline; the epoll timeout is computed from the earliest one. */
#include "coffer/loop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"

#define LOOP_MAX_EVENTS 64

struct cf_watch {
  cf_loop *loop;
  int fd;
  uint32_t events;
  bool removed;
  cf_fd_cb cb;
  void *data;
  cf_watch *prev, *next; /* live list, or dead list once removed */
};

struct cf_timer {
  cf_loop *loop;
  uint64_t deadline;
  uint64_t seq;    /* creation order: ties fire in order, and timers created
                      while timers run wait for the next round */
  size_t heap_idx; /* SIZE_MAX while firing (not in the heap) */
  bool cancelled;
  cf_timer_cb cb;
  void *data;
};

struct cf_loop {
  int epfd;
  bool quit;
  cf_watch *live, *dead;
  cf_timer **heap;
  size_t heap_len, heap_cap;
  uint64_t timer_seq;
  int depth; /* nested dispatch rounds (a loop run from a callback) */
  unsigned busy_poll_us;
  unsigned spin_misses; /* windows in a row that saw no event */
  pthread_mutex_t *wait_lock; /* cf_loop_set_wait_lock */
};

/* Spinning pays while events come within the window of each other (a call
 * and its reply). After this many empty windows in a row the loop stops
 * spinning, and starts again once an event wakes it within the window: a
 * loop whose events come further apart burns a few windows, not a core. */
#define SPIN_MAX_MISSES 8

cf_loop *cf_loop_new(cf_error *err) {
  _cleanup_free_ cf_loop *loop = calloc(1, sizeof(*loop));
  if (!loop) {
    cf_err(err, ENOMEM, "cannot allocate event loop");
    return NULL;
  }
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (loop->epfd < 0) {
    cf_err(err, errno, "epoll_create1");
    return NULL;
  }
  return cf_steal_ptr(loop);
}

static void list_remove(cf_watch **head, cf_watch *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    *head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

static void list_push(cf_watch **head, cf_watch *w) {
  w->prev = NULL;
  w->next = *head;
  if (*head)
    (*head)->prev = w;
  *head = w;
}

static void free_dead_watches(cf_loop *loop) {
  while (loop->dead) {
    cf_watch *w = loop->dead;
    list_remove(&loop->dead, w);
    free(w);
  }
}

void cf_loop_free(cf_loop *loop) {
  if (!loop)
    return;
  while (loop->live) {
    cf_watch *w = loop->live;
    list_remove(&loop->live, w);
    free(w);
  }
  free_dead_watches(loop);
  for (size_t i = 0; i < loop->heap_len; i++)
    free(loop->heap[i]);
  free(loop->heap);
  close(loop->epfd);
  free(loop);
}

/* ------------------------------------------------------------------ watches */

cf_watch *cf_loop_watch(cf_loop *loop, int fd, uint32_t events, cf_fd_cb cb,
                        void *data, cf_error *err) {
  _cleanup_free_ cf_watch *w = calloc(1, sizeof(*w));
  if (!w) {
    cf_err(err, ENOMEM, "cannot allocate watch for fd %d", fd);
    return NULL;
  }
  *w = (cf_watch){.loop = loop, .fd = fd, .events = events, .cb = cb, .data = data};
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    cf_err(err, errno, "cannot watch fd %d", fd);
    return NULL;
  }
  list_push(&loop->live, w);
  return cf_steal_ptr(w);
}

int cf_loop_watch_modify(cf_watch *w, uint32_t events, cf_error *err) {
  if (w->removed)
    return cf_err(err, EBADF, "watch of fd %d was removed", w->fd);
  if (w->events == events)
    return 0;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
    return cf_err(err, errno, "cannot change events of fd %d", w->fd);
  w->events = events;
  return 0;
}

void cf_loop_unwatch(cf_watch *w) {
  if (!w || w->removed)
    return;
  /* Fails only if the owner closed the fd first; the kernel then already
   * dropped the registration. */
  (void)epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  w->removed = true;
  list_remove(&w->loop->live, w);
  list_push(&w->loop->dead, w);
}

/* ------------------------------------------------------------------- timers */

static bool timer_before(const cf_timer *a, const cf_timer *b) {
  if (a->deadline != b->deadline)
    return a->deadline < b->deadline;
  return a->seq < b->seq;
}

static void heap_set(cf_loop *loop, size_t i, cf_timer *t) {
  loop->heap[i] = t;
  t->heap_idx = i;
}

static void heap_up(cf_loop *loop, size_t i) {
  cf_timer *t = loop->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_before(t, loop->heap[parent]))
      break;
    heap_set(loop, i, loop->heap[parent]);
    i = parent;
  }
  heap_set(loop, i, t);
}

static void heap_down(cf_loop *loop, size_t i) {
  cf_timer *t = loop->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= loop->heap_len)
      break;
    if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child]))
      child++;
    if (!timer_before(loop->heap[child], t))
      break;
    heap_set(loop, i, loop->heap[child]);
    i = child;
  }
  heap_set(loop, i, t);
}

static void heap_remove(cf_loop *loop, cf_timer *t) {
  size_t i = t->heap_idx;
  cf_timer *last = loop->heap[--loop->heap_len];
  t->heap_idx = SIZE_MAX;
  if (last == t)
    return;
  heap_set(loop, i, last);
  heap_down(loop, i);
  heap_up(loop, last->heap_idx);
}

cf_timer *cf_loop_timer(cf_loop *loop, uint64_t ms, cf_timer_cb cb, void *data,
                        cf_error *err) {
  if (loop->heap_len == loop->heap_cap) {
    size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
    cf_timer **heap = realloc(loop->heap, cap * sizeof(*heap));
    if (!heap) {
      cf_err(err, ENOMEM, "cannot allocate timer");
      return NULL;
    }
    loop->heap = heap;
    loop->heap_cap = cap;
  }
  cf_timer *t = calloc(1, sizeof(*t));
  if (!t) {
    cf_err(err, ENOMEM, "cannot allocate timer");
    return NULL;
  }
  uint64_t now = cf_now_ms();
  *t = (cf_timer){.loop = loop,
                  .deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms,
                  .seq = loop->timer_seq++,
                  .cb = cb,
                  .data = data};
  loop->heap[loop->heap_len++] = t;
  heap_up(loop, loop->heap_len - 1);
  return t;
}

void cf_loop_timer_cancel(cf_timer *t) {
  if (!t)
    return;
  if (t->heap_idx == SIZE_MAX) { /* cancelling itself while it fires */
    t->cancelled = true;
    return;
  }
  heap_remove(t->loop, t);
  free(t);
}

/* Fires the timers due now that existed when the round began. */
static void run_timers(cf_loop *loop) {
  uint64_t now = cf_now_ms();
  uint64_t seq_limit = loop->timer_seq;
  while (loop->heap_len > 0 && !loop->quit) {
    cf_timer *t = loop->heap[0];
    if (t->deadline > now || t->seq >= seq_limit)
      break;
    heap_remove(loop, t);
    t->cb(loop, t->data);
    free(t);
  }
}

/* Milliseconds until the first timer, capped by cap_ms (-1: no cap). */
static int next_timeout(cf_loop *loop, int cap_ms) {
  int timeout = cap_ms;
  if (loop->heap_len > 0) {
    uint64_t now = cf_now_ms(), deadline = loop->heap[0]->deadline;
    uint64_t wait = deadline > now ? deadline - now : 0;
    if (wait > INT_MAX)
      wait = INT_MAX;
    if (timeout < 0 || (int)wait < timeout)
      timeout = (int)wait;
  }
  return timeout;
}

/* ------------------------------------------------------------------ running */

void cf_loop_set_wait_lock(cf_loop *loop, pthread_mutex_t *lock) {
  loop->wait_lock = lock;
}

void cf_loop_set_busy_poll(cf_loop *loop, unsigned us) {
  loop->busy_poll_us = us;
  loop->spin_misses = 0;
}

bool cf_loop_busy_polling(const cf_loop *loop) {
  return loop->busy_poll_us && loop->spin_misses < SPIN_MAX_MISSES;
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Poll without sleeping for up to busy_poll_us (never past the next timer):
 * a reply that comes back within that window skips a sleep and wake-up,
 * which costs tens of microseconds on a VM. */
static int busy_poll(cf_loop *loop, struct epoll_event *events, int timeout) {
  uint64_t spin = loop->busy_poll_us;
  if (timeout >= 0 && (uint64_t)timeout * 1000u < spin)
    spin = (uint64_t)timeout * 1000u;
  uint64_t until = now_us() + spin;
  int n;
  do
    n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, 0);
  while (n == 0 && now_us() < until);
  return n;
}

static int loop_iterate(cf_loop *loop, int cap_ms) {
  struct epoll_event events[LOOP_MAX_EVENTS];
  int timeout = next_timeout(loop, cap_ms);
  int n = 0;
  if (loop->wait_lock)
    pthread_mutex_unlock(loop->wait_lock);
  bool spinning = cf_loop_busy_polling(loop);
  if (spinning && timeout != 0) {
    n = busy_poll(loop, events, timeout);
    if (n > 0) {
      loop->spin_misses = 0;
    } else {
      loop->spin_misses++;
      timeout = next_timeout(loop, cap_ms);
    }
  }
  if (n == 0) {
    uint64_t slept = loop->busy_poll_us && !spinning ? now_us() : 0;
    n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout);
    if (slept && n > 0 && now_us() - slept <= loop->busy_poll_us)
      loop->spin_misses = 0; /* a window would have caught it: spin again */
  }
  int e = errno;
  if (loop->wait_lock)
    pthread_mutex_lock(loop->wait_lock);
  errno = e;
  if (n < 0) {
    if (errno == EINTR)
      return 0;
    return -errno;
  }
  loop->depth++;
  for (int i = 0; i < n && !loop->quit; i++) {
    cf_watch *w = events[i].data.ptr;
    if (w->removed)
      continue;
    w->cb(loop, w->fd, events[i].events, w->data);
  }
  run_timers(loop);
  /* An outer round may still hold events for watches removed here. */
  if (--loop->depth == 0)
    free_dead_watches(loop);
  return 0;
}

int cf_loop_run(cf_loop *loop) {
  loop->quit = false;
  while (!loop->quit) {
    int r = loop_iterate(loop, -1);
    if (r < 0)
      return r;
  }
  loop->quit = false;
  return 0;
}

int cf_loop_run_until(cf_loop *loop, const bool *done, int timeout_ms) {
  uint64_t deadline = timeout_ms >= 0 ? cf_now_ms() + (uint64_t)timeout_ms : 0;
  loop->quit = false;
  while (!*done) {
    int cap = -1;
    if (timeout_ms >= 0) {
      uint64_t now = cf_now_ms();
      if (now >= deadline)
        return -ETIMEDOUT;
      cap = (int)(deadline - now > INT_MAX ? INT_MAX : deadline - now);
    }
    int r = loop_iterate(loop, cap);
    if (r < 0)
      return r;
    if (loop->quit) {
      loop->quit = false;
      return *done ? 0 : -ECANCELED;
    }
  }
  return 0;
}

void cf_loop_quit(cf_loop *loop) { loop->quit = true; }
