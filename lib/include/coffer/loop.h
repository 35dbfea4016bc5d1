/* The single-threaded epoll event loop that owns every fd of a process.
 * Both the shim and the agent are built around one cf_loop; nothing blocks
 * inside a callback. */
#ifndef COFFER_LOOP_H
#define COFFER_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "coffer/clock.h" /* timers are on cf_now_ms() */
#include "coffer/error.h"

typedef struct cf_loop cf_loop;
typedef struct cf_watch cf_watch;   /* an fd registration */
typedef struct cf_timer cf_timer;   /* a one-shot timer */

/* events: EPOLLIN / EPOLLOUT / ... ; called with the epoll events seen. */
typedef void (*cf_fd_cb)(cf_loop *loop, int fd, uint32_t events, void *data);
typedef void (*cf_timer_cb)(cf_loop *loop, void *data);

cf_loop *cf_loop_new(cf_error *err);
void cf_loop_free(cf_loop *loop);

/* The watch is valid until cf_loop_unwatch(); unwatching from inside any
 * callback (including its own) is safe. The loop never closes fd. */
cf_watch *cf_loop_watch(cf_loop *loop, int fd, uint32_t events, cf_fd_cb cb,
                        void *data, cf_error *err);
int cf_loop_watch_modify(cf_watch *w, uint32_t events, cf_error *err);
void cf_loop_unwatch(cf_watch *w);

/* One-shot timer after ms milliseconds; cancel before it fires with
 * cf_loop_timer_cancel (safe from callbacks). Fired timers free themselves. */
cf_timer *cf_loop_timer(cf_loop *loop, uint64_t ms, cf_timer_cb cb, void *data,
                        cf_error *err);
void cf_loop_timer_cancel(cf_timer *t);

/* Run until cf_loop_quit(); returns 0, or negative errno on epoll failure. */
int cf_loop_run(cf_loop *loop);
/* Run until *done becomes true or timeout_ms passes (-1: no timeout);
 * returns 0 when done, -ETIMEDOUT otherwise. For CLI tools and tests. */
int cf_loop_run_until(cf_loop *loop, const bool *done, int timeout_ms);
void cf_loop_quit(cf_loop *loop);

/* Before sleeping in epoll_wait, keep polling for up to us microseconds
 * (0, the default: never). Trades that much CPU per wake-up for round-trip
 * latency: on a VM a sleep and wake-up costs tens of microseconds. Adaptive:
 * after 8 windows in a row without an event the loop sleeps at once, until
 * an event comes within a window of it going to sleep. */
void cf_loop_set_busy_poll(cf_loop *loop, unsigned us);
/* A mutex the loop's thread holds except while it waits for events (the
 * caller locks it before running the loop): another thread that takes it
 * knows the loop's thread is parked in epoll_wait, holding no lock of the
 * C library (a clone() without fork()'s care is then safe). NULL: none. */
void cf_loop_set_wait_lock(cf_loop *loop, pthread_mutex_t *lock);
/* Whether the loop spins before its next sleep (set, and not given up). */
bool cf_loop_busy_polling(const cf_loop *loop);


#endif
