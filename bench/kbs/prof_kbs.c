/* coffer-kbs handler profile: RCAR handshakes (/auth + /attest) with real SNP
 * evidence driven straight into the handlers (no HTTP), next to raw
 * cf_snp_verify calls, so that `valgrind --tool=callgrind` counts the
 * instructions of each part reproducibly:
 *
 *   prof_kbs ATTEST_DATA [N] [raw|snp|sample]
 *
 * Prints the per-iteration CPU time; run it under callgrind for the split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/file.h"
#include "coffer/kbs_client.h"
#include "kbs.h"
#include "snp_evidence.h"

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int handshake(kbs_server *s, const char *tee, const json_t *pub, const char *evidence) {
  kbs_response rs = {0};
  char auth[128];
  snprintf(auth, sizeof(auth), "{\"version\":\"0.4.0\",\"tee\":\"%s\",\"extra-params\":\"\"}", tee);
  kbs_request rq = {.method = "POST", .path = "/auth", .body = auth, .body_len = strlen(auth)};
  kbs_handle(s, &rq, &rs);
  json_t *ch = rs.status == 200 ? json_loads(rs.body, 0, NULL) : NULL;
  const char *nonce = json_string_value(json_object_get(ch, "nonce"));
  char id[64];
  if (!nonce || sscanf(rs.cookie, "kbs-session-id=%32[0-9a-f]", id) != 1)
    return fprintf(stderr, "auth failed: %s\n", rs.body), -1;
  free(rs.body);
  rs = (kbs_response){0};
  uint8_t d[48];
  char *ev = NULL;
  cf_error err = {0};
  if (cf_kbs_runtime_digest(pub, nonce, "", d, &err) ||
      (!evidence && cf_kbs_sample_evidence(NULL, tee, d, &ev, &err)))
    return fprintf(stderr, "%s\n", err.msg), -1;
  /* The attestation as the client library writes it. */
  char *pk = json_dumps(pub, JSON_COMPACT);
  size_t cap = strlen(evidence ? evidence : ev) + strlen(pk) + 256;
  char *body = malloc(cap);
  snprintf(body, cap,
           "{\"runtime-data\":{\"nonce\":\"%s\",\"tee-pubkey\":%s},\"tee-evidence\":"
           "{\"primary_evidence\":%s,\"additional_evidence\":\"\"}}",
           nonce, pk, evidence ? evidence : ev);
  json_decref(ch);
  rq = (kbs_request){.method = "POST", .path = "/attest", .session = id, .body = body,
                     .body_len = strlen(body)};
  kbs_handle(s, &rq, &rs);
  int r = rs.status == 200 ? 0 : -1;
  if (r)
    fprintf(stderr, "attest failed: %s\n", rs.body);
  free(rs.body);
  free(body);
  free(pk);
  free(ev);
  return r;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return fprintf(stderr, "usage: prof_kbs ATTEST_DATA [N] [raw|snp|sample]\n"), 2;
  int n = argc > 2 ? atoi(argv[2]) : 200;
  const char *mode = argc > 3 ? argv[3] : "snp";
  char path[1024], *report, *vcek;
  size_t rlen, vlen;
  cf_error err = {0};
  snprintf(path, sizeof(path), "%s/snp/gsg_milan/attestation.bin", argv[1]);
  if (cf_read_file(path, 1 << 20, &report, &rlen, &err))
    return fprintf(stderr, "%s\n", err.msg), 77;
  snprintf(path, sizeof(path), "%s/snp/gsg_milan/vcek.der", argv[1]);
  if (cf_read_file(path, 1 << 20, &vcek, &vlen, &err))
    return fprintf(stderr, "%s\n", err.msg), 77;
  time_t at;
  cf_parse_rfc3339("2023-01-01T00:00:00Z", &at);
  double t0 = cpu();
  if (!strcmp(mode, "raw")) {
    cf_snp_verifier *v = cf_snp_verifier_new(&err);
    cf_snp_result res = {0};
    for (int i = 0; i < n; i++)
      if (cf_snp_verify(v, (uint8_t *)report, rlen, (uint8_t *)vcek, vlen, at, &res, &err) ||
          !cf_checks_all_pass(&res.checks))
        return fprintf(stderr, "raw verification failed\n"), 1;
    cf_snp_result_free(&res);
    cf_snp_verifier_free(v);
  } else {
    char *evidence = strcmp(mode, "snp") ? NULL
                                         : bench_snp_evidence((uint8_t *)report, (uint8_t *)vcek, vlen);
    kbs_config cfg;
    kbs_config_defaults(&cfg);
    cfg.dev = cfg.insecure_http = cfg.sample_enabled = true;
    cfg.has_verify_at = true;
    cfg.verify_at = at;
    cfg.max_sessions = 10000000;
    static kbs_server s;
    if (kbs_server_init(&s, &cfg, &err))
      return fprintf(stderr, "%s\n", err.msg), 1;
    s.bench_skip_snp_binding = true;
    json_t *key = cf_kbs_key_generate("ec", &err), *pub = key ? cf_kbs_key_public(key, &err) : NULL;
    if (!pub)
      return fprintf(stderr, "%s\n", err.msg), 1;
    t0 = cpu();
    for (int i = 0; i < n; i++)
      if (handshake(&s, evidence ? "snp" : "sample", pub, evidence))
        return 1;
    json_decref(key);
    json_decref(pub);
    free(evidence);
    kbs_server_fini(&s);
  }
  printf("prof_kbs %s: %d iterations, %.3f ms CPU each\n", mode, n, (cpu() - t0) * 1e3 / n);
  free(report);
  free(vcek);
  return 0;
}
