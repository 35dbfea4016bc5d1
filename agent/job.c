/* One worker thread and a completion queue read on the loop (job.h). */

#include "job.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "coffer/log.h"
#include "container.h"
#include "coffer/oci.h"

typedef struct job {
  struct job *next;
  agent_job_work work;
  agent_job_done done;
  void *data;
  struct agent_jobs *q;
  pthread_t thread; /* agent_job_spawn's own thread, joined at its completion */
  bool own;
} job;

struct agent_jobs {
  pthread_t thread;
  bool running;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job *todo, *todo_tail;  /* for the worker */
  job *finished, *finished_tail; /* for the loop */
  bool stop;
  int efd;                /* the worker's "finished" doorbell */
  cf_watch *watch;
  unsigned pending;       /* loop side only */
  unsigned own_running;   /* agent_job_spawn threads whose work has not ended */
};

/* Held by the loop's thread except while it waits for events. */
static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t loop_thread;
static bool guarding;

void agent_jobs_fork_enter(void) {
  if (guarding && !pthread_equal(pthread_self(), loop_thread))
    pthread_mutex_lock(&loop_lock);
}

void agent_jobs_fork_leave(void) {
  if (guarding && !pthread_equal(pthread_self(), loop_thread))
    pthread_mutex_unlock(&loop_lock);
}

static void push(job **head, job **tail, job *j) {
  j->next = NULL;
  if (*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

static job *pop(job **head, job **tail) {
  job *j = *head;
  if (j && !(*head = j->next))
    *tail = NULL;
  return j;
}

static void finish(struct agent_jobs *q, job *j) {
  pthread_mutex_lock(&q->lock);
  push(&q->finished, &q->finished_tail, j);
  if (j->own) {
    q->own_running--;
    pthread_cond_broadcast(&q->cond); /* agent_jobs_stop may wait for it */
  }
  uint64_t one = 1;
  ssize_t w = write(q->efd, &one, sizeof(one));
  (void)w; /* a full counter still wakes the loop */
  pthread_mutex_unlock(&q->lock);
}

static void *own_thread(void *data) {
  job *j = data;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  j->work(j->data);
  finish(j->q, j);
  return NULL;
}

static void *worker(void *data) {
  struct agent_jobs *q = data;
  /* signals are the loop's (signalfd): none is ever delivered here */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  pthread_mutex_lock(&q->lock);
  for (;;) {
    while (!q->todo && !q->stop)
      pthread_cond_wait(&q->cond, &q->lock);
    if (!q->todo)
      break; /* stopping, and nothing is left to do */
    job *j = pop(&q->todo, &q->todo_tail);
    pthread_mutex_unlock(&q->lock);
    j->work(j->data);
    finish(q, j);
    pthread_mutex_lock(&q->lock);
  }
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

static void run_completions(agent *a) {
  struct agent_jobs *q = a->jobs;
  for (;;) {
    pthread_mutex_lock(&q->lock);
    job *j = pop(&q->finished, &q->finished_tail);
    pthread_mutex_unlock(&q->lock);
    if (!j)
      break;
    q->pending--;
    if (j->own)
      pthread_join(j->thread, NULL); /* it ends right after finish() */
    j->done(a, j->data);
    free(j);
  }
  /* the exits the reaper left alone while jobs ran (agent_reap) */
  if (!q->pending)
    agent_reap(a);
}

static void on_finished(cf_loop *loop, int fd, uint32_t events, void *data) {
  (void)loop, (void)events;
  uint64_t n;
  ssize_t r = read(fd, &n, sizeof(n));
  (void)r;
  run_completions(data);
}

int agent_jobs_start(agent *a, cf_error *err) {
  struct agent_jobs *q = calloc(1, sizeof(*q));
  if (!q)
    return cf_err(err, ENOMEM, "job queue");
  q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (q->efd < 0) {
    int e = errno;
    free(q);
    return cf_err(err, e, "job queue: eventfd");
  }
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->cond, NULL);
  a->jobs = q;
  loop_thread = pthread_self();
  pthread_mutex_lock(&loop_lock);
  cf_loop_set_wait_lock(a->loop, &loop_lock);
  oci_set_fork_guard(agent_jobs_fork_enter, agent_jobs_fork_leave);
  guarding = true;
  if (!(q->watch = cf_loop_watch(a->loop, q->efd, EPOLLIN, on_finished, a, err))) {
    agent_jobs_stop(a);
    return -EIO;
  }
  int r = pthread_create(&q->thread, NULL, worker, q);
  if (r) {
    agent_jobs_stop(a);
    return cf_err(err, r, "job queue: start the worker thread");
  }
  q->running = true;
  return 0;
}

void agent_jobs_stop(agent *a) {
  struct agent_jobs *q = a->jobs;
  if (!q)
    return;
  pthread_mutex_lock(&q->lock);
  q->stop = true;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
  if (q->running) {
    /* the worker drains what was queued (each step has its own bound);
     * the completions then leave the agent consistent for its clean-up */
    pthread_mutex_unlock(&loop_lock); /* its forks wait for it */
    pthread_join(q->thread, NULL);
    pthread_mutex_lock(&q->lock);
    while (q->own_running)
      pthread_cond_wait(&q->cond, &q->lock);
    pthread_mutex_unlock(&q->lock);
    pthread_mutex_lock(&loop_lock);
    run_completions(a);
  }
  guarding = false;
  oci_set_fork_guard(NULL, NULL);
  cf_loop_set_wait_lock(a->loop, NULL);
  pthread_mutex_unlock(&loop_lock);
  if (q->watch)
    cf_loop_unwatch(q->watch);
  close(q->efd);
  pthread_cond_destroy(&q->cond);
  pthread_mutex_destroy(&q->lock);
  free(q);
  a->jobs = NULL;
}

int agent_job_submit(agent *a, agent_job_work work, agent_job_done done, void *data,
                     cf_error *err) {
  struct agent_jobs *q = a->jobs;
  job *j = calloc(1, sizeof(*j));
  if (!j)
    return cf_err(err, ENOMEM, "queue a job");
  *j = (job){.work = work, .done = done, .data = data};
  q->pending++;
  pthread_mutex_lock(&q->lock);
  push(&q->todo, &q->todo_tail, j);
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
  return 0;
}

int agent_job_spawn(agent *a, agent_job_work work, agent_job_done done, void *data,
                    cf_error *err) {
  struct agent_jobs *q = a->jobs;
  job *j = calloc(1, sizeof(*j));
  if (!j)
    return cf_err(err, ENOMEM, "start a job");
  *j = (job){.work = work, .done = done, .data = data, .q = q, .own = true};
  pthread_mutex_lock(&q->lock);
  q->own_running++;
  pthread_mutex_unlock(&q->lock);
  int r = pthread_create(&j->thread, NULL, own_thread, j);
  if (r) {
    pthread_mutex_lock(&q->lock);
    q->own_running--;
    pthread_mutex_unlock(&q->lock);
    free(j);
    return cf_err(err, r, "start a job's thread");
  }
  q->pending++;
  return 0;
}

unsigned agent_jobs_pending(const agent *a) {
  return a->jobs ? a->jobs->pending : 0;
}
