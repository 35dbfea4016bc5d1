/* Unary ttrpc round trips over a unix socket, client and server in separate
 * processes (the same protocol and message as the Go peer in
 * tests/lib/go/ttrpc-peer: coffer.bench.Bench/Ping echoing a message with a
 * 64-byte string in field 1).
 *
 *   ttrpc_bench server SOCKET [CPU]
 *   ttrpc_bench client SOCKET SECONDS DEPTH [CPU]
 *
 * The client keeps DEPTH calls in flight and prints
 * "calls_per_sec=N median_us=N p99_us=N". With TTRPC_BENCH_BUSY_POLL_US=N in
 * the environment both sides use cf_loop_set_busy_poll(N). */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/loop.h"
#include "coffer/transport.h"
#include "coffer/ttrpc.h"
#include "ttrpc.pb-c.h"

#define SERVICE "coffer.bench.Bench"
#define METHOD "Ping"
#define WARMUP_CALLS 1000

static void die(const char *what, const cf_error *err) {
  fprintf(stderr, "ttrpc_bench: %s: %s\n", what, err ? err->msg : strerror(errno));
  exit(1);
}

static void pin(const char *cpu) {
  if (!cpu)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(atoi(cpu), &set);
  if (sched_setaffinity(0, sizeof(set), &set) < 0)
    die("sched_setaffinity", NULL);
}

static void busy_poll_from_env(cf_loop *loop) {
  const char *us = getenv("TTRPC_BENCH_BUSY_POLL_US");
  if (us && *us)
    cf_loop_set_busy_poll(loop, (unsigned)atoi(us));
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ server */
static void ping(ttrpc_call *call, const uint8_t *p, size_t len, void *data) {
  Ttrpc__KeyValue *in = ttrpc__key_value__unpack(NULL, len, p);
  if (!in) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "bad Ping request");
    return;
  }
  ttrpc_call_reply(call, &in->base);
  ttrpc__key_value__free_unpacked(in, NULL);
}

static int run_server(const char *sock, const char *cpu) {
  pin(cpu);
  cf_error err = {0};
  char addr[256];
  snprintf(addr, sizeof(addr), "unix:%s", sock);
  cf_loop *loop = cf_loop_new(&err);
  if (!loop)
    die("loop", &err);
  busy_poll_from_env(loop);
  ttrpc_server *srv = ttrpc_server_new(loop, &err);
  if (!srv || ttrpc_server_register(srv, SERVICE, METHOD, ping, NULL, &err) < 0)
    die("server", &err);
  int lfd = cf_transport_listen(addr, &err);
  if (lfd < 0 || ttrpc_server_listen_fd(srv, lfd, &err) < 0)
    die("listen", &err);
  printf("ready\n");
  fflush(stdout);
  return cf_loop_run(loop) < 0;
}

/* ------------------------------------------------------------------ client */
typedef struct bench {
  cf_loop *loop;
  ttrpc_client *c;
  Ttrpc__KeyValue req;
  uint64_t end_ns;
  bool measuring, stop;
  int in_flight;
  long warmup_left;
  uint32_t *lat_ns;
  size_t n_lat, cap_lat;
  bool done;
} bench;

typedef struct slot {
  bench *b;
  uint64_t start;
} slot;

static void issue(slot *s);

static void on_reply(int status, const char *message, const uint8_t *payload, size_t len,
                     void *data) {
  slot *s = data;
  bench *b = s->b;
  uint64_t t = now_ns();
  if (status != CF_OK) {
    fprintf(stderr, "ttrpc_bench: Ping failed: %s (%d)\n", message, status);
    exit(1);
  }
  b->in_flight--;
  if (b->measuring) {
    if (b->n_lat == b->cap_lat) {
      b->cap_lat = b->cap_lat ? b->cap_lat * 2 : 1 << 20;
      b->lat_ns = realloc(b->lat_ns, b->cap_lat * sizeof(*b->lat_ns));
      if (!b->lat_ns)
        die("realloc", NULL);
    }
    uint64_t d = t - s->start;
    b->lat_ns[b->n_lat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    if (t >= b->end_ns)
      b->stop = true;
  } else if (--b->warmup_left <= 0) {
    b->measuring = true; /* calls issued from now on are measured */
  }
  if (!b->stop)
    issue(s);
  if (b->in_flight == 0)
    b->done = true;
}

static void issue(slot *s) {
  bench *b = s->b;
  cf_error err = {0};
  s->start = now_ns();
  if (ttrpc_client_call(b->c, SERVICE, METHOD, &b->req.base, 0, on_reply, s, &err) < 0)
    die("call", &err);
  b->in_flight++;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int run_client(const char *sock, double seconds, int depth, const char *cpu) {
  pin(cpu);
  cf_error err = {0};
  char addr[256], payload[65];
  snprintf(addr, sizeof(addr), "unix:%s", sock);
  memset(payload, 'x', 64);
  payload[64] = '\0';
  bench b = {.warmup_left = WARMUP_CALLS};
  b.loop = cf_loop_new(&err);
  if (!b.loop)
    die("loop", &err);
  busy_poll_from_env(b.loop);
  int fd = cf_transport_connect(addr, 5000, &err);
  if (fd < 0)
    die("connect", &err);
  b.c = ttrpc_client_new(b.loop, fd, &err);
  if (!b.c)
    die("client", &err);
  ttrpc__key_value__init(&b.req);
  b.req.key = payload;

  slot *slots = calloc((size_t)depth, sizeof(*slots));
  if (!slots)
    die("calloc", NULL);
  /* warm up (unmeasured), then measure for `seconds` */
  b.end_ns = UINT64_MAX;
  for (int i = 0; i < depth; i++) {
    slots[i].b = &b;
    issue(&slots[i]);
  }
  while (!b.measuring) {
    bool never = false;
    cf_loop_run_until(b.loop, &never, 1);
  }
  uint64_t start = now_ns();
  b.end_ns = start + (uint64_t)(seconds * 1e9);
  if (cf_loop_run_until(b.loop, &b.done, -1) < 0)
    die("loop run", NULL);
  double elapsed = (double)(now_ns() - start) / 1e9;

  qsort(b.lat_ns, b.n_lat, sizeof(*b.lat_ns), cmp_u32);
  printf("calls_per_sec=%.0f median_us=%.1f p99_us=%.1f\n", (double)b.n_lat / elapsed,
         b.lat_ns[b.n_lat / 2] / 1000.0, b.lat_ns[b.n_lat * 99 / 100] / 1000.0);
  ttrpc_client_free(b.c);
  cf_loop_free(b.loop);
  free(b.lat_ns);
  free(slots);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "server") == 0)
    return run_server(argv[2], argc > 3 ? argv[3] : NULL);
  if (argc >= 5 && strcmp(argv[1], "client") == 0)
    return run_client(argv[2], atof(argv[3]), atoi(argv[4]), argc > 5 ? argv[5] : NULL);
  fprintf(stderr, "usage: ttrpc_bench server SOCKET [CPU]\n"
                  "       ttrpc_bench client SOCKET SECONDS DEPTH [CPU]\n");
  return 2;
}
