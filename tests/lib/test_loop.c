/* The event loop: timers fire in deadline order, cancelling and unwatching
 * from inside callbacks is safe (ASan would catch a use after free), and
 * run_until honours its timeout. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static char order[16];
static int n_order;
static cf_timer *victim;

static void mark(cf_loop *loop, void *data) { order[n_order++] = *(const char *)data; }
static void cancel_victim(cf_loop *loop, void *data) {
  order[n_order++] = *(const char *)data;
  cf_loop_timer_cancel(victim); /* due in the same round */
  victim = NULL;
}

static void timers_fire_in_order_and_cancel_safely(cf_loop *loop) {
  cf_error err = {0};
  CHECK(cf_loop_timer(loop, 30, mark, "c", &err));
  CHECK(cf_loop_timer(loop, 10, mark, "a", &err));
  CHECK(cf_loop_timer(loop, 20, cancel_victim, "b", &err));
  victim = cf_loop_timer(loop, 20, mark, "X", &err); /* same deadline, later seq */
  cf_timer *never = cf_loop_timer(loop, 25, mark, "Y", &err);
  cf_loop_timer_cancel(never);
  bool done = false;
  CHECK(cf_loop_run_until(loop, &done, 80) == -ETIMEDOUT);
  order[n_order] = '\0';
  CHECK(strcmp(order, "abc") == 0);
}

static int rearms;
static void rearm(cf_loop *loop, void *data) {
  if (++rearms < 5)
    CHECK(cf_loop_timer(loop, 0, rearm, NULL, NULL));
}

/* A timer that re-arms itself with 0 ms does not starve the loop. */
static void zero_timers_do_not_spin(cf_loop *loop) {
  CHECK(cf_loop_timer(loop, 0, rearm, NULL, NULL));
  bool done = false;
  CHECK(cf_loop_run_until(loop, &done, 50) == -ETIMEDOUT);
  CHECK(rearms == 5);
}

typedef struct pair_watch {
  cf_watch *w[2];
  int fds[2][2];
  int calls;
} pair_watch;

/* Both fds are readable in the same epoll round; whichever callback runs
 * first removes both watches, so the other must not run. */
static void unwatch_both(cf_loop *loop, int fd, uint32_t events, void *data) {
  pair_watch *p = data;
  p->calls++;
  cf_loop_unwatch(p->w[0]);
  cf_loop_unwatch(p->w[1]);
}

static void unwatch_inside_callback(cf_loop *loop) {
  cf_error err = {0};
  pair_watch p = {0};
  for (int i = 0; i < 2; i++) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p.fds[i]) == 0);
    CHECK(write(p.fds[i][1], "x", 1) == 1);
  }
  for (int i = 0; i < 2; i++)
    CHECK((p.w[i] = cf_loop_watch(loop, p.fds[i][0], EPOLLIN, unwatch_both, &p, &err)));
  bool done = false;
  cf_loop_run_until(loop, &done, 50);
  CHECK(p.calls == 1);
  for (int i = 0; i < 2; i++) {
    close(p.fds[i][0]);
    close(p.fds[i][1]);
  }
}

static void quit_cb(cf_loop *loop, void *data) { cf_loop_quit(loop); }

static void quit_stops_run(cf_loop *loop) {
  CHECK(cf_loop_timer(loop, 5, quit_cb, NULL, NULL));
  uint64_t t0 = cf_now_ms();
  CHECK(cf_loop_run(loop) == 0);
  CHECK(cf_now_ms() - t0 < 1000);
}

static void bad_fd_is_reported(cf_loop *loop) {
  cf_error err = {0};
  CHECK(!cf_loop_watch(loop, 12345, EPOLLIN, unwatch_both, NULL, &err));
  CHECK(strstr(err.msg, "12345"));
}

static void busy_poll_keeps_timers_and_events(cf_loop *loop) {
  cf_error err = {0};
  cf_loop_set_busy_poll(loop, 1000);
  n_order = 0;
  uint64_t t0 = cf_now_ms();
  CHECK(cf_loop_timer(loop, 5, mark, "t", &err));
  bool done = false;
  CHECK(cf_loop_run_until(loop, &done, 30) == -ETIMEDOUT);
  CHECK(n_order == 1 && order[0] == 't');
  CHECK(cf_now_ms() - t0 < 200);
  unwatch_inside_callback(loop);
  cf_loop_set_busy_poll(loop, 0);
}

/* A loop woken only by timers 10 ms apart never catches anything in a 2 ms
 * spin: it stops spinning after 8 empty windows (~16 ms of CPU, not 2 ms per
 * wake-up), and spins again once an event wakes it within a window. The CPU
 * bound holds on a loaded machine too (being descheduled only lowers it). */
static int ticks_left;
static void tick(cf_loop *loop, void *data) {
  bool *done = data;
  cf_error err = {0};
  if (--ticks_left > 0)
    CHECK(cf_loop_timer(loop, 10, tick, data, &err));
  else
    *done = true;
}
static uint64_t cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static uint64_t cpu_for_ticks(cf_loop *loop, int n) {
  cf_error err = {0};
  bool done = false;
  ticks_left = n;
  uint64_t c0 = cpu_ms();
  CHECK(cf_loop_timer(loop, 10, tick, &done, &err));
  CHECK(cf_loop_run_until(loop, &done, 5000) == 0);
  return cpu_ms() - c0;
}
static void drain(cf_loop *loop, int fd, uint32_t events, void *data) {
  char b[8];
  CHECK(read(fd, b, sizeof(b)) > 0);
  *(bool *)data = true;
}
static void busy_poll_gives_up_and_resumes(cf_loop *loop) {
  cf_error err = {0};
  cf_loop_set_busy_poll(loop, 2000);
  uint64_t idle = cpu_for_ticks(loop, 20);
  CHECK(idle < 28); /* without giving up: 20 windows, >= 40 ms */
  CHECK(!cf_loop_busy_polling(loop));

  int p[2];
  CHECK(pipe(p) == 0);
  bool got = false;
  cf_watch *w = cf_loop_watch(loop, p[0], EPOLLIN, drain, &got, &err);
  CHECK(w);
  CHECK(write(p[1], "x", 1) == 1); /* wakes the sleeping loop at once */
  CHECK(cf_loop_run_until(loop, &got, 1000) == 0);
  cf_loop_unwatch(w);
  close(p[0]);
  close(p[1]);
  CHECK(cf_loop_busy_polling(loop)); /* that event came within a window */
  cpu_for_ticks(loop, 10);
  CHECK(!cf_loop_busy_polling(loop)); /* and given up again */
  cf_loop_set_busy_poll(loop, 0);
}

int main(void) {
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  CHECK(loop);
  timers_fire_in_order_and_cancel_safely(loop);
  zero_timers_do_not_spin(loop);
  unwatch_inside_callback(loop);
  quit_stops_run(loop);
  bad_fd_is_reported(loop);
  busy_poll_keeps_timers_and_events(loop);
  busy_poll_gives_up_and_resumes(loop);
  /* pending timers and watches are released by cf_loop_free */
  CHECK(cf_loop_timer(loop, 100000, mark, "z", &err));
  cf_loop_free(loop);
  printf("ok\n");
  return 0;
}
