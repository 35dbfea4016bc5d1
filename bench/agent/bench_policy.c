/* The policy check's cost per request, as the agent pays it: the request's
 * JSON (the spec, the exec process) parsed, then the verdict. Input: a cases
 * file of tests/agent/policy/cases (its policy and base spec: a generated
 * pod's policy with regex env, mounts, devices, annotations). Prints the
 * median and p99 per CreateContainer and per ExecProcess, allowed and
 * denied; target <= 50 us. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "coffer/policy.h"

#define N 20000

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double samples[N];

static void report(const char *what) {
  qsort(samples, N, sizeof(double), cmp);
  printf("%-44s median %6.2f us  p99 %6.2f us\n", what, samples[N / 2], samples[N * 99 / 100]);
}

static void bench_create(const cf_policy *p, const char *spec_text, const char *root_hash,
                         const char *what, bool want) {
  const char *shared[] = {"/data"};
  for (int i = 0; i < N; i++) {
    double t0 = now_us();
    json_object *spec = json_tokener_parse(spec_text);
    cf_policy_create req = {.container_id = "c1", .spec = spec, .shared_dsts = shared,
                            .n_shared = 1, .root_hash = root_hash};
    cf_verdict v;
    int rule;
    cf_policy_check_create(p, &req, &rule, &v);
    json_object_put(spec);
    samples[i] = now_us() - t0;
    if (v.allowed != want) {
      fprintf(stderr, "%s: unexpected verdict: %s\n", what, v.msg);
      exit(1);
    }
  }
  report(what);
}

static void bench_exec(const cf_policy *p, const char *proc_text, const char *what, bool want) {
  for (int i = 0; i < N; i++) {
    double t0 = now_us();
    json_object *proc = json_tokener_parse(proc_text);
    cf_verdict v;
    cf_policy_check_exec(p, 1, "c1", "e1", proc, false, &v);
    json_object_put(proc);
    samples[i] = now_us() - t0;
    if (v.allowed != want) {
      fprintf(stderr, "%s: unexpected verdict: %s\n", what, v.msg);
      exit(1);
    }
  }
  report(what);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s tests/agent/policy/cases/verdicts.json\n", argv[0]);
    return 2;
  }
  json_object *doc = json_object_from_file(argv[1]), *pol, *spec;
  if (!doc || !json_object_object_get_ex(doc, "policy", &pol) ||
      !json_object_object_get_ex(doc, "spec", &spec)) {
    fprintf(stderr, "%s: no policy and spec\n", argv[1]);
    return 1;
  }
  const char *ptext = json_object_to_json_string(pol);
  cf_error err = {0};
  double t0 = now_us();
  cf_policy *p = cf_policy_parse(ptext, strlen(ptext), &err);
  double parse_us = now_us() - t0;
  if (!p) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  printf("policy: %zu bytes, parsed once at start in %.1f us\n", strlen(ptext), parse_us);
  const char *hash = "9d1f4bb4f2c5d5a6e0b3c2a1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1";
  char *ok = strdup(json_object_to_json_string(spec));
  printf("spec: %zu bytes\n", strlen(ok));
  bench_create(p, ok, hash, "CreateContainer, allowed (all checks run)", true);
  json_object *proc;
  json_object_object_get_ex(spec, "process", &proc);
  json_object_object_add(proc, "args", json_tokener_parse("[\"sh\"]"));
  char *bad = strdup(json_object_to_json_string(spec));
  bench_create(p, bad, hash, "CreateContainer, denied (changed command)", false);
  bench_exec(p, "{\"args\":[\"cat\",\"/tmp/healthy\"],\"cwd\":\"/\",\"env\":[\"PATH=/usr/local/sbin:"
                "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"HOSTNAME=app-pod\"],"
                "\"user\":{\"uid\":0,\"gid\":0}}",
             "ExecProcess, allowed (probe)", true);
  bench_exec(p, "{\"args\":[\"test\",\"-f\",\"/tmp/ready-7\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}}",
             "ExecProcess, allowed (by pattern)", true);
  bench_exec(p, "{\"args\":[\"/bin/sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}}",
             "ExecProcess, denied (a shell)", false);
  for (int i = 0; i < N; i++) {
    cf_verdict v;
    double t = now_us();
    cf_policy_check_rpc(p, "ReadStdout", &v);
    samples[i] = now_us() - t;
  }
  report("RPC-level verdict (every call)");
  free(ok);
  free(bad);
  cf_policy_free(p);
  json_object_put(doc);
  return 0;
}
