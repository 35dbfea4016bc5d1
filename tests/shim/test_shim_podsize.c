/* The shim's annotation -> pod size path: a sandbox config.json's CRI
 * annotations over the config's vcpus/memory_mib, through the backend's
 * cf_pod_size_compute(); malformed annotations are errors naming them. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "podsize.h"

#include "check.h"

static shim_config cfg(unsigned vcpus, unsigned long long mem) {
  shim_config c = {0};
  cf_error err = {0};
  shim_config_defaults(&c, &err);
  c.vcpus = vcpus;
  c.memory_mib = mem;
  return c;
}

static void expect(const char *spec, unsigned vcpus, unsigned long long mem, bool clamped) {
  shim_config c = cfg(2, 512);
  cf_error err = {0};
  cf_pod_size sz = {0};
  int r = shim_pod_size(&c, spec, &sz, &err);
  if (r != 0 || sz.vcpus != vcpus || sz.memory_mib != mem || sz.clamped != clamped) {
    fprintf(stderr, "spec %s: want %u/%llu/%d, got r=%d %u/%llu/%d (%s)\n", spec, vcpus, mem,
            clamped, r, sz.vcpus, (unsigned long long)sz.memory_mib, sz.clamped, err.msg);
    failures++;
  }
  shim_config_free(&c);
}

static void expect_error(const char *spec, const char *needle) {
  shim_config c = cfg(1, 256);
  cf_error err = {0};
  cf_pod_size sz = {0};
  int r = shim_pod_size(&c, spec, &sz, &err);
  if (r >= 0 || err.status != CF_INVALID_ARGUMENT || !strstr(err.msg, needle)) {
    fprintf(stderr, "spec %s: expected an error naming %s, got r=%d \"%s\"\n", spec, needle, r,
            err.msg);
    failures++;
  }
  shim_config_free(&c);
}

#define ANN(body) "{\"ociVersion\":\"1.0.2\",\"annotations\":{" body "}}"
#define Q "\"io.kubernetes.cri.sandbox-cpu-quota\""
#define P "\"io.kubernetes.cri.sandbox-cpu-period\""
#define S "\"io.kubernetes.cri.sandbox-cpu-shares\""
#define M "\"io.kubernetes.cri.sandbox-memory\""

int main(void) {
  /* no annotations (ctr run), none of ours, unparsable or absent spec: defaults */
  expect("{\"ociVersion\":\"1.0.2\"}", 2, 512, false);
  expect(ANN("\"io.kubernetes.cri.container-type\":\"sandbox\""), 2, 512, false);
  expect(NULL, 2, 512, false);
  expect("{\"annotations\":[1,2]}", 2, 512, false);
  /* a CPU limit: quota/period rounded up; memory limit rounded up to MiB */
  expect(ANN(Q ":\"150000\"," P ":\"100000\"," M ":\"268435456\""), 4, 768, false);
  expect(ANN(Q ":\"250000\"," P ":\"50000\"," M ":\"1\""), 7, 513, false);
  /* quota without period: period 100000 */
  expect(ANN(Q ":\"100001\""), 4, 512, false);
  /* no limit (-1): a request through shares; 2 shares = BestEffort */
  expect(ANN(Q ":\"-1\"," S ":\"1536\""), 4, 512, false);
  expect(ANN(S ":\"2\"," M ":\"0\""), 2, 512, false);
  /* empty values count as unset; a limit beyond the maxima is clamped */
  expect(ANN(Q ":\"\"," M ":\"\""), 2, 512, false);
  expect(ANN(Q ":\"100000000\""), 256, 512, true);
  /* malformed: errors naming the annotation */
  expect_error(ANN(Q ":\"1.5\""), "io.kubernetes.cri.sandbox-cpu-quota");
  expect_error(ANN(P ":\"abc\""), "io.kubernetes.cri.sandbox-cpu-period");
  expect_error(ANN(S ":\"-5\""), "io.kubernetes.cri.sandbox-cpu-shares");
  expect_error(ANN(M ":\"99999999999999999999999\""), "io.kubernetes.cri.sandbox-memory");
  expect_error(ANN(M ":1048576"), "io.kubernetes.cri.sandbox-memory");
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
