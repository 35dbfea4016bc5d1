/* bench_agent: coffer-agent's memory with one idle container and the
 * latency of a no-op RPC (Health/Check), printed, not asserted.
 * Usage: bench_agent AGENT_BIN [CALLS]   (root, runc, /bin/busybox). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s AGENT_BIN [CALLS]\n", argv[0]);
    return 2;
  }
  int calls = argc > 2 ? atoi(argv[2]) : 20000;
  harness h;
  h_setup(&h, argv[1], NULL);
  char msg[512];
  long rss0 = h_proc_status_kb(h.agent_pid, "VmRSS"), anon0 = h_proc_status_kb(h.agent_pid, "RssAnon");
  const char *const args[] = {"sleep", "1000", NULL};
  if (h_create(&h, "idle", args, NULL, NULL, msg, sizeof(msg)) != CF_OK ||
      h_start(&h, "idle", msg, sizeof(msg)) != CF_OK) {
    fprintf(stderr, "container: %s\n", msg);
    h_teardown(&h);
    return 1;
  }
  h_sleep_ms(200);
  long rss1 = h_proc_status_kb(h.agent_pid, "VmRSS"), anon1 = h_proc_status_kb(h.agent_pid, "RssAnon");
  long file1 = h_proc_status_kb(h.agent_pid, "RssFile");

  uint64_t *lat = calloc((size_t)calls, sizeof(*lat));
  uint64_t t0 = now_ns();
  for (int i = 0; i < calls; i++) {
    uint64_t s = now_ns();
    if (h_call(&h, "Check", NULL, &coffer__agent__v1__check_response__descriptor, NULL, msg,
               sizeof(msg)) != CF_OK) {
      fprintf(stderr, "Check: %s\n", msg);
      break;
    }
    lat[i] = now_ns() - s;
  }
  double total_s = (double)(now_ns() - t0) / 1e9;
  qsort(lat, (size_t)calls, sizeof(*lat), cmp_u64);
  long rss2 = h_proc_status_kb(h.agent_pid, "VmRSS");

  printf("coffer-agent memory: VmRSS %ld kB idle, %ld kB with one idle container "
         "(RssAnon %ld -> %ld kB, RssFile %ld kB); %ld kB after %d calls (target <= 2048 kB)\n",
         rss0, rss1, anon0, anon1, file1, rss2, calls);
  printf("no-op RPC (Health/Check, sync ttrpc over a unix socket): median %.1f us, p99 %.1f us, "
         "%.0f calls/s\n",
         (double)lat[calls / 2] / 1e3, (double)lat[calls * 99 / 100] / 1e3, calls / total_s);
  free(lat);
  h_remove(&h, "idle", true);
  h_stop_agent(&h);
  h_teardown(&h);
  return 0;
}
