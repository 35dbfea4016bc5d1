/* Verifications per second of coffer_attest on real evidence:
 *   SNP: one report against a VCEK whose chain was verified once and cached
 *        (one SHA-384 and one ECDSA P-384 verification per report);
 *   TDX: one quote with its PCK chain and attestation key cached
 *        (two ECDSA P-256 verifications, quote parse and QE binding).
 * usage: bench_attest DATA_DIR SECONDS   (prints per wall second and per
 * user-CPU second rates; exit 77 when the test data is absent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "coffer/attest.h"

static uint8_t *slurp(const char *dir, const char *rel, size_t *len) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  uint8_t *buf = malloc(1 << 16);
  *len = buf ? fread(buf, 1, 1 << 16, f) : 0;
  fclose(f);
  return buf;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* User CPU time: what `openssl speed` divides by (unless -elapsed), so the
 * rates compare like with like on a loaded machine. */
static double user_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_attest DATA_DIR SECONDS\n");
    return 2;
  }
  const char *dir = argv[1];
  double secs = atof(argv[2]);
  size_t rlen, slen, qlen;
  uint8_t *report = slurp(dir, "snp/gsg_milan/attestation.bin", &rlen);
  uint8_t *signer = slurp(dir, "snp/gsg_milan/vcek.der", &slen);
  uint8_t *quote = slurp(dir, "tdx/gotdx/tdx_prod_quote_SPR_E4.dat", &qlen);
  if (!report || !signer || !quote) {
    printf("SKIP: attestation test data not found under %s\n", dir);
    return 77;
  }
  cf_error err = {0};
  time_t at;
  cf_parse_rfc3339("2025-06-01T00:00:00Z", &at);

  cf_snp_verifier *sv = cf_snp_verifier_new(&err);
  cf_snp_result sres = {0};
  long n = 0;
  double t0 = now(), c0 = user_cpu(), t;
  do {
    for (int i = 0; i < 50; i++, n++)
      if (cf_snp_verify(sv, report, rlen, signer, slen, at, &sres, &err) ||
          !cf_checks_all_pass(&sres.checks)) {
        fprintf(stderr, "SNP verification failed: %s\n", err.msg);
        return 1;
      }
  } while ((t = now() - t0) < secs);
  printf("snp_verify_per_s %.0f\nsnp_verify_per_cpu_s %.0f\n", n / t, n / (user_cpu() - c0));

  cf_tdx_verifier *tv = cf_tdx_verifier_new(&err);
  cf_tdx_result tres = {0};
  n = 0;
  t0 = now();
  c0 = user_cpu();
  do {
    for (int i = 0; i < 100; i++, n++)
      if (cf_tdx_verify(tv, quote, qlen, at, NULL, &tres, &err) ||
          !cf_checks_all_pass(&tres.checks)) {
        fprintf(stderr, "TDX verification failed: %s\n", err.msg);
        return 1;
      }
  } while ((t = now() - t0) < secs);
  printf("tdx_verify_per_s %.0f\ntdx_verify_per_cpu_s %.0f\n", n / t, n / (user_cpu() - c0));

  cf_snp_result_free(&sres);
  cf_tdx_result_free(&tres);
  cf_snp_verifier_free(sv);
  cf_tdx_verifier_free(tv);
  free(report);
  free(signer);
  free(quote);
  return 0;
}
