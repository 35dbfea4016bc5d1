/* Pod sizing: how many vCPUs and how much memory a pod's VM gets, from the
 * CRI annotations containerd puts on the sandbox plus configured defaults.
 *
 *   io.kubernetes.cri.sandbox-cpu-quota   CFS quota in us (sum of the pod's
 *                                          container limits); <= 0: no limit
 *   io.kubernetes.cri.sandbox-cpu-period  CFS period in us; 0/absent: 100000
 *   io.kubernetes.cri.sandbox-cpu-shares  cgroup shares (requests * 1024)
 *   io.kubernetes.cri.sandbox-memory      memory limit in bytes; 0: no limit
 *
 * Arithmetic (the defaults are what the guest itself needs: kernel, agent):
 *   vcpus  = default_vcpus + ceil(quota / period)      when a CPU limit is set
 *          = default_vcpus + ceil(shares / 1024)       else, when shares > 2
 *                                                      (a request; 2 = BestEffort)
 *          = default_vcpus                             otherwise
 *   memory = default_memory_mib + ceil(memory / 1 MiB) when a limit is set
 *          = default_memory_mib                        otherwise
 * Both are then clamped to [1, max_vcpus] / [64, max_memory_mib] (clamped is
 * set so the caller can log it). A malformed number (not an integer, or out
 * of range) is an error naming the annotation; absent or empty ones count as
 * unset. Memory and vCPUs are fixed at launch (no hotplug), so the size of
 * a pod is decided once, from the sandbox's annotations. */
#ifndef COFFER_VMM_SIZING_H
#define COFFER_VMM_SIZING_H

#include <stdbool.h>
#include <stdint.h>
#include "coffer/error.h"

#define CF_ANNOT_CPU_QUOTA "io.kubernetes.cri.sandbox-cpu-quota"
#define CF_ANNOT_CPU_PERIOD "io.kubernetes.cri.sandbox-cpu-period"
#define CF_ANNOT_CPU_SHARES "io.kubernetes.cri.sandbox-cpu-shares"
#define CF_ANNOT_MEMORY "io.kubernetes.cri.sandbox-memory"

typedef struct cf_pod_annotations {
  const char *cpu_quota, *cpu_period, *cpu_shares, *memory; /* NULL = absent */
} cf_pod_annotations;

typedef struct cf_pod_size_limits {
  unsigned default_vcpus;       /* >= 1 */
  uint64_t default_memory_mib;  /* >= 64 */
  unsigned max_vcpus;           /* 0 = 256 */
  uint64_t max_memory_mib;      /* 0 = 1 TiB */
} cf_pod_size_limits;

typedef struct cf_pod_size {
  unsigned vcpus;
  uint64_t memory_mib;
  bool clamped;
} cf_pod_size;

int cf_pod_size_compute(const cf_pod_annotations *a, const cf_pod_size_limits *l,
                        cf_pod_size *out, cf_error *err);

#endif
