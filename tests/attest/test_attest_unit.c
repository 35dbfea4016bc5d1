/* Unit tests of the attest/ parsers and helpers: time and JSON-span parsing,
 * TCB layouts per product, product identification, report and quote parsers
 * on synthetic and truncated input, and (with the shared test data) a Turin
 * VCEK chained to the built-in Turin ARK. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"

static int failures;
#define EXPECT(c)                                                  \
  do {                                                             \
    if (!(c)) {                                                    \
      fprintf(stderr, "%s:%d: FAILED %s\n", __FILE__, __LINE__, #c); \
      failures++;                                                  \
    }                                                              \
  } while (0)

static void test_rfc3339(void) {
  time_t t;
  EXPECT(cf_parse_rfc3339("2025-11-01T00:00:00Z", &t) == 0 && t == 1761955200);
  EXPECT(cf_parse_rfc3339("2025-11-01T01:00:00+01:00", &t) == 0 && t == 1761955200);
  EXPECT(cf_parse_rfc3339("2025-11-01T00:00:00.123Z", &t) == 0 && t == 1761955200);
  EXPECT(cf_parse_rfc3339("2025-11-01", &t) < 0);
  EXPECT(cf_parse_rfc3339("2025-13-01T00:00:00Z", &t) < 0);
  EXPECT(cf_parse_rfc3339("2025-11-01T00:00:00", &t) < 0);
  EXPECT(cf_parse_rfc3339("2025-11-01T00:00:00Zjunk", &t) < 0);
}

static void test_json_span(void) {
  const char *doc = " {\"tcbInfo\":{\"a\":\"}\\\"{\",\"b\":[1,{\"c\":2}]}, \"signature\":\"ab\"}";
  const char *s;
  size_t n;
  EXPECT(cf_json_top_value_span(doc, strlen(doc), "tcbInfo", &s, &n) == 0);
  EXPECT(n == strlen("{\"a\":\"}\\\"{\",\"b\":[1,{\"c\":2}]}") &&
         memcmp(s, "{\"a\":\"}\\\"{\",\"b\":[1,{\"c\":2}]}", n) == 0);
  EXPECT(cf_json_top_value_span(doc, strlen(doc), "signature", &s, &n) == 0 && n == 4);
  EXPECT(cf_json_top_value_span(doc, strlen(doc), "missing", &s, &n) == -ENOENT);
  const char *dup = "{\"tcbInfo\":{},\"tcbInfo\":{\"x\":1}}";
  EXPECT(cf_json_top_value_span(dup, strlen(dup), "tcbInfo", &s, &n) < 0);
  const char *open = "{\"tcbInfo\":{\"a\":1}";
  EXPECT(cf_json_top_value_span(open, strlen(open), "tcbInfo", &s, &n) < 0);
}

static void test_tcb_layouts(void) {
  const uint8_t raw[8] = {1, 2, 3, 4, 0, 0, 7, 8};
  cf_snp_tcb t;
  cf_snp_tcb_decode(raw, CF_SNP_MILAN, &t);
  EXPECT(!t.has_fmc && t.bl == 1 && t.tee == 2 && t.snp == 7 && t.ucode == 8);
  cf_snp_tcb_decode(raw, CF_SNP_GENOA, &t);
  EXPECT(!t.has_fmc && t.bl == 1 && t.tee == 2 && t.snp == 7 && t.ucode == 8);
  cf_snp_tcb_decode(raw, CF_SNP_TURIN, &t);
  EXPECT(t.has_fmc && t.fmc == 1 && t.bl == 2 && t.tee == 3 && t.snp == 4 && t.ucode == 8);
}

static void test_report_parse_and_product(void) {
  static uint8_t buf[CF_SNP_REPORT_SIZE];
  cf_snp_report r;
  cf_error err = {0};
  memset(buf, 0, sizeof(buf));
  buf[0] = 3;
  buf[0x188] = 0x19;
  buf[0x189] = 0x01;
  EXPECT(cf_snp_report_parse(buf, sizeof(buf), &r, &err) == 0);
  EXPECT(cf_snp_product_from_cpuid(&r) == CF_SNP_MILAN);
  buf[0x189] = 0x11;
  cf_snp_report_parse(buf, sizeof(buf), &r, &err);
  EXPECT(cf_snp_product_from_cpuid(&r) == CF_SNP_GENOA);
  buf[0x189] = 0xa0;
  cf_snp_report_parse(buf, sizeof(buf), &r, &err);
  EXPECT(cf_snp_product_from_cpuid(&r) == CF_SNP_GENOA);
  buf[0x188] = 0x1a;
  buf[0x189] = 0x02;
  cf_snp_report_parse(buf, sizeof(buf), &r, &err);
  EXPECT(cf_snp_product_from_cpuid(&r) == CF_SNP_TURIN);
  buf[0x188] = 0x17;
  cf_snp_report_parse(buf, sizeof(buf), &r, &err);
  EXPECT(cf_snp_product_from_cpuid(&r) == CF_SNP_PRODUCT_UNKNOWN);
  buf[0] = 2; /* v2 reports carry no CPUID */
  buf[0x188] = 0x1a;
  cf_snp_report_parse(buf, sizeof(buf), &r, &err);
  EXPECT(cf_snp_product_from_cpuid(&r) == CF_SNP_PRODUCT_UNKNOWN);
  buf[0] = 5;
  buf[0x1F8] = 0x42;
  EXPECT(cf_snp_report_parse(buf, sizeof(buf), &r, &err) == 0 && r.launch_mit_vector == 0x42);
  buf[0] = 1;
  EXPECT(cf_snp_report_parse(buf, sizeof(buf), &r, &err) < 0 && strstr(err.msg, "version 1"));
  buf[0] = 6;
  EXPECT(cf_snp_report_parse(buf, sizeof(buf), &r, &err) < 0);
  buf[0] = 2;
  EXPECT(cf_snp_report_parse(buf, sizeof(buf) - 1, &r, &err) < 0 &&
         strstr(err.msg, "report length 1183 != 1184"));
  EXPECT(cf_snp_report_parse(buf, sizeof(buf) + 1, &r, &err) < 0);
}

/* A structurally complete v4 quote with an empty PCK chain. */
static size_t synth_quote(uint8_t *q, size_t cap) {
  memset(q, 0, cap);
  q[0] = 4;
  q[2] = 2;
  q[4] = 0x81;
  size_t p = 48 + 584;
  size_t chain = 5, auth = 32;
  size_t outer = 384 + 64 + 2 + auth + 6 + chain;
  size_t sig = 134 + outer;
  q[p] = (uint8_t)sig;
  q[p + 1] = (uint8_t)(sig >> 8);
  p += 4;
  q[p + 128] = 6;
  q[p + 130] = (uint8_t)outer;
  q[p + 131] = (uint8_t)(outer >> 8);
  p += 134;
  q[p + 384 + 64] = (uint8_t)auth;
  p += 384 + 64 + 2 + auth;
  q[p] = 5;
  q[p + 2] = (uint8_t)chain;
  p += 6;
  memcpy(q + p, "junk!", chain);
  return p + chain;
}

static void test_quote_parse(void) {
  static uint8_t q[8192];
  size_t len = synth_quote(q, sizeof(q));
  cf_tdx_quote tq;
  cf_error err = {0};
  EXPECT(cf_tdx_quote_parse(q, len, &tq, &err) == 0);
  EXPECT(tq.total_used == len && tq.inner_cert_data_size == 5 && tq.qe_auth_data_len == 32);
  EXPECT(cf_tdx_quote_parse(q, len + 100, &tq, &err) == 0 && tq.total_used == len);
  for (size_t n = 0; n < len; n++) {
    uint8_t *copy = malloc(n ? n : 1); /* exact-size copy: ASan sees any over-read */
    memcpy(copy, q, n);
    EXPECT(cf_tdx_quote_parse(copy, n, &tq, &err) < 0);
    free(copy);
  }
  /* Verification of a structurally valid but unsigned quote fails by name. */
  cf_tdx_verifier *v = cf_tdx_verifier_new(&err);
  EXPECT(v != NULL);
  cf_tdx_result res = {0};
  EXPECT(cf_tdx_verify(v, q, len, 1761955200, NULL, &res, &err) == 0);
  EXPECT(!cf_checks_all_pass(&res.checks));
  const cf_check *c = cf_checks_find(&res.checks, "pck_chain_parse");
  EXPECT(c && !c->pass);
  c = cf_checks_find(&res.checks, "QUOTE_SIG_VALID");
  EXPECT(c && !c->pass);
  cf_tdx_result_free(&res);
  q[2] = 3;
  EXPECT(cf_tdx_quote_parse(q, len, &tq, &err) < 0 && strstr(err.msg, "attestation key type 3"));
  q[2] = 2;
  q[4] = 0;
  EXPECT(cf_tdx_quote_parse(q, len, &tq, &err) < 0 && strstr(err.msg, "tee_type"));
  cf_tdx_verifier_free(v);
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  uint8_t *buf = malloc(1 << 16);
  *len = buf ? fread(buf, 1, 1 << 16, f) : 0;
  fclose(f);
  return buf;
}

/* The Turin VCEK (no report of its own in the test data) against the built-in
 * Turin chain, with a report shaped after its TCB and hwID. */
static int test_turin(const char *data) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/snp/certs/extra_vcek_turin_no_report.der", data);
  size_t len;
  uint8_t *der = slurp(path, &len);
  if (!der) {
    printf("SKIP: %s not found (shared attestation test data absent)\n", path);
    return 77;
  }
  cf_error err = {0};
  cf_snp_verifier *v = cf_snp_verifier_new(&err);
  EXPECT(v != NULL);
  static uint8_t report[CF_SNP_REPORT_SIZE];
  memset(report, 0, sizeof(report));
  report[0] = 3;
  report[0x34] = 1;
  report[0x188] = 0x1a;
  report[0x189] = 0x02;
  time_t at;
  cf_parse_rfc3339("2025-06-01T00:00:00Z", &at);
  cf_snp_result res = {0};
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  EXPECT(res.product == CF_SNP_TURIN && res.signer.hwid_len == 8 && res.signer.fmc >= 0);
  EXPECT(!strcmp(res.signer.product_name, "Turin"));
  const char *pass[] = {"ark_pinned", "ark_self_signed", "ask_signed_by_ark", "vcek_signed_by_ask",
                        "vcek_valid_at", "product_consistent"};
  for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
    const cf_check *c = cf_checks_find(&res.checks, pass[i]);
    EXPECT(c && c->pass);
    if (c && !c->pass)
      fprintf(stderr, "  %s: %s\n", c->name, c->reason);
  }
  /* Turin layout: [0]=FMC [1]=BL [2]=TEE [3]=SNP [7]=UCODE; 8-byte hwID. */
  report[0x180] = (uint8_t)res.signer.fmc;
  report[0x181] = (uint8_t)res.signer.bl;
  report[0x182] = (uint8_t)res.signer.tee;
  report[0x183] = (uint8_t)res.signer.snp;
  report[0x187] = (uint8_t)res.signer.ucode;
  memcpy(report + 0x1A0, res.signer.hwid, 8);
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  const cf_check *c = cf_checks_find(&res.checks, "reported_tcb_matches_cert");
  EXPECT(c && c->pass);
  c = cf_checks_find(&res.checks, "chip_id_matches_hwID");
  EXPECT(c && c->pass);
  c = cf_checks_find(&res.checks, "report_sig_valid");
  EXPECT(c && !c->pass); /* no signature: the report is synthetic */
  report[0x1A0 + 9] = 1; /* Turin chip_id beyond 8 bytes must be zero */
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  c = cf_checks_find(&res.checks, "chip_id_matches_hwID");
  EXPECT(c && !c->pass);
  report[0x1A0 + 9] = 0;
  report[0x181] ^= 1; /* a Milan-layout reading would not notice this byte */
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  c = cf_checks_find(&res.checks, "reported_tcb_matches_cert");
  EXPECT(c && !c->pass);
  report[0x189] = 0x01; /* Milan CPUID with a Turin chain */
  report[0x188] = 0x19;
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  c = cf_checks_find(&res.checks, "product_consistent");
  EXPECT(c && !c->pass);
  /* Reserved fields: policy bit 17 must be one, MBZ bytes zero. */
  c = cf_checks_find(&res.checks, "report_reserved_fields");
  EXPECT(c && !c->pass && strstr(c->reason, "bit 17"));
  report[0x0A] = 0x02; /* policy bit 17 */
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  c = cf_checks_find(&res.checks, "report_reserved_fields");
  EXPECT(c && c->pass);
  report[0x4C] = 1;
  EXPECT(cf_snp_verify(v, report, sizeof(report), der, len, at, &res, &err) == 0);
  c = cf_checks_find(&res.checks, "report_reserved_fields");
  EXPECT(c && !c->pass && strstr(c->reason, "0x4c"));
  cf_snp_result_free(&res);
  cf_snp_verifier_free(v);
  free(der);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "turin")) {
    int r = test_turin(argv[2]);
    if (r == 77)
      return 77;
  } else {
    test_rfc3339();
    test_json_span();
    test_tcb_layouts();
    test_report_parse_and_product();
    test_quote_parse();
  }
  if (failures) {
    fprintf(stderr, "%d expectation(s) failed\n", failures);
    return 1;
  }
  puts("all expectations met");
  return 0;
}
