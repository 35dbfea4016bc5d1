/* Pod sizing arithmetic (coffer/vmm_sizing.h) against worked examples. */
#include <stdio.h>
#include <string.h>

#include "coffer/vmm_sizing.h"

#include "expect.h"

static const cf_pod_size_limits defaults = {.default_vcpus = 1, .default_memory_mib = 256,
                                            .max_vcpus = 8, .max_memory_mib = 16384};

static void ok(const char *q, const char *p, const char *s, const char *m, unsigned vcpus,
               unsigned long long mib, int clamped) {
  cf_pod_annotations a = {q, p, s, m};
  cf_pod_size out;
  cf_error err = {0};
  int r = cf_pod_size_compute(&a, &defaults, &out, &err);
  EXPECT(r == 0, "quota=%s period=%s shares=%s mem=%s: %s", q, p, s, m, err.msg);
  EXPECT(r != 0 || (out.vcpus == vcpus && out.memory_mib == mib && out.clamped == clamped),
         "quota=%s period=%s shares=%s mem=%s: got %u vCPUs %llu MiB clamped=%d, want %u %llu %d",
         q, p, s, m, out.vcpus, (unsigned long long)out.memory_mib, out.clamped, vcpus, mib, clamped);
}

static void bad(const char *q, const char *p, const char *s, const char *m, const char *needle) {
  cf_pod_annotations a = {q, p, s, m};
  cf_pod_size out;
  cf_error err = {0};
  int r = cf_pod_size_compute(&a, &defaults, &out, &err);
  EXPECT(r < 0, "quota=%s period=%s shares=%s mem=%s accepted", q, p, s, m);
  EXPECT(r >= 0 || strstr(err.msg, needle), "error \"%s\" does not name %s", err.msg, needle);
  EXPECT(r >= 0 || err.status == CF_INVALID_ARGUMENT, "status %d", err.status);
}

int main(void) {
  /* no annotations: the defaults (the guest's own needs) */
  ok(NULL, NULL, NULL, NULL, 1, 256, 0);
  ok("", "", "", "", 1, 256, 0);
  /* CPU limit 1.5 (150000/100000) → ceil = 2 extra */
  ok("150000", "100000", NULL, NULL, 3, 256, 0);
  /* exactly 2 CPUs */
  ok("200000", "100000", NULL, NULL, 3, 256, 0);
  /* quota with absent or zero period: period 100000 assumed */
  ok("50000", NULL, NULL, NULL, 2, 256, 0);
  ok("50000", "0", NULL, NULL, 2, 256, 0);
  /* unlimited quota (-1) falls back to shares (requests): 2048 → 2 */
  ok("-1", "100000", "2048", NULL, 3, 256, 0);
  /* BestEffort shares (2) add nothing; 1025 shares round up to 2 */
  ok(NULL, NULL, "2", NULL, 1, 256, 0);
  ok(NULL, NULL, "1025", NULL, 3, 256, 0);
  /* a limit wins over shares */
  ok("100000", "100000", "4096", NULL, 2, 256, 0);
  /* memory: 128 MiB limit adds 128; 1 byte rounds up to 1 MiB */
  ok(NULL, NULL, NULL, "134217728", 1, 384, 0);
  ok(NULL, NULL, NULL, "1", 1, 257, 0);
  ok(NULL, NULL, NULL, "0", 1, 256, 0);
  /* bounds: 100 CPUs clamp to 8; 64 GiB clamps to 16 GiB */
  ok("10000000", "100000", NULL, "68719476736", 8, 16384, 1);
  /* malformed */
  bad("1.5", NULL, NULL, NULL, "sandbox-cpu-quota");
  bad(NULL, "-5", NULL, NULL, "sandbox-cpu-period");
  bad(NULL, NULL, "x", NULL, "sandbox-cpu-shares");
  bad(NULL, NULL, NULL, "-1", "sandbox-memory");
  bad(NULL, NULL, NULL, "99999999999999999999999", "sandbox-memory");
  bad(NULL, NULL, NULL, "12 ", "sandbox-memory");
  /* bad defaults */
  {
    cf_pod_annotations a = {0};
    cf_pod_size_limits l = {.default_vcpus = 0, .default_memory_mib = 256};
    cf_pod_size out;
    cf_error err = {0};
    EXPECT(cf_pod_size_compute(&a, &l, &out, &err) < 0, "zero default vCPUs accepted");
  }
  if (!failed)
    printf("PASS pod sizing\n");
  return failed;
}
