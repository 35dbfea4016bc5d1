/* Pod sizing arithmetic; documented in coffer/vmm_sizing.h. */
#include "coffer/vmm_sizing.h"

#include <errno.h>
#include <stdlib.h>

#define MIB (1024ull * 1024ull)
#define PERIOD_DEFAULT_US 100000
#define MAX_VCPUS_DEFAULT 256u
#define MAX_MEMORY_DEFAULT_MIB (1024ull * 1024ull)

/* An absent or empty annotation is unset (returns 0, *set = false). */
static int parse_i64(const char *key, const char *s, int64_t lo, int64_t hi, int64_t *v,
                     bool *set, cf_error *err) {
  *set = false;
  if (!s || !*s)
    return 0;
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (errno || *end || end == s || x < lo || x > hi)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "annotation %s=\"%.40s\": not an integer in %lld..%lld",
                         key, s, (long long)lo, (long long)hi);
  *v = x;
  *set = true;
  return 0;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

int cf_pod_size_compute(const cf_pod_annotations *a, const cf_pod_size_limits *l,
                        cf_pod_size *out, cf_error *err) {
  if (l->default_vcpus < 1 || l->default_memory_mib < 64)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "pod sizing defaults: vcpus %u (>= 1), memory %llu MiB (>= 64)",
                         l->default_vcpus, (unsigned long long)l->default_memory_mib);
  unsigned max_vcpus = l->max_vcpus ? l->max_vcpus : MAX_VCPUS_DEFAULT;
  uint64_t max_mem = l->max_memory_mib ? l->max_memory_mib : MAX_MEMORY_DEFAULT_MIB;
  int64_t quota = 0, period = 0, shares = 0, mem = 0;
  bool has_quota, has_period, has_shares, has_mem;
  /* Bounds keep every sum below overflow: quota/period <= 2^40, mem <= 2^60. */
  if (parse_i64(CF_ANNOT_CPU_QUOTA, a->cpu_quota, -1, 1ll << 50, &quota, &has_quota, err) < 0 ||
      parse_i64(CF_ANNOT_CPU_PERIOD, a->cpu_period, 0, 1000000, &period, &has_period, err) < 0 ||
      parse_i64(CF_ANNOT_CPU_SHARES, a->cpu_shares, 0, 1ll << 40, &shares, &has_shares, err) < 0 ||
      parse_i64(CF_ANNOT_MEMORY, a->memory, 0, 1ll << 60, &mem, &has_mem, err) < 0)
    return -EINVAL;
  if (!has_period || period == 0)
    period = PERIOD_DEFAULT_US;

  uint64_t extra_cpus = 0;
  if (has_quota && quota > 0)
    extra_cpus = ceil_div((uint64_t)quota, (uint64_t)period);
  else if (has_shares && shares > 2)
    extra_cpus = ceil_div((uint64_t)shares, 1024);
  uint64_t vcpus = l->default_vcpus + extra_cpus;
  uint64_t memory = l->default_memory_mib + (has_mem && mem > 0 ? ceil_div((uint64_t)mem, MIB) : 0);

  out->clamped = false;
  if (vcpus > max_vcpus) {
    vcpus = max_vcpus;
    out->clamped = true;
  }
  if (memory > max_mem) {
    memory = max_mem;
    out->clamped = true;
  }
  out->vcpus = (unsigned)vcpus;
  out->memory_mib = memory;
  return 0;
}
