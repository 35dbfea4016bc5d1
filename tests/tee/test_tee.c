/* libcoffer_tee against a faked guest (tests/tee/fake.c): there is no TEE
 * hardware on this machine, so CPUID, configfs-tsm, the guest devices and
 * the QGS are replayed from recordings built out of real reports and quotes
 * (../shared/testdata/attestation). The evidence produced is handed to
 * coffer-kbs's own evidence verifier, which must accept it with the
 * report_data binding checked.
 *   test_tee CASE DATA_DIR */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake.h"
#include "kbs.h"
#include "tee_uapi.h"

static int failures;
static const char *data;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    bool ok_ = (cond);                                                                             \
    printf("%s: ", ok_ ? "ok" : "FAIL");                                                           \
    printf(__VA_ARGS__);                                                                           \
    printf("\n");                                                                                  \
    if (!ok_)                                                                                      \
      failures++;                                                                                  \
  } while (0)

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
}

/* ---- coffer-kbs's verifier ---- */

typedef struct verdict {
  bool ok;
  char error[CF_ERROR_MSG_MAX];
  char claim[256]; /* SNP: measurement; TDX: quote.body.mr_td; sample: report_data */
} verdict;

static time_t at(const char *rfc3339) {
  time_t t;
  if (cf_parse_rfc3339(rfc3339, &t))
    abort();
  return t;
}

static verdict kbs_verify(const char *tee, const char *evidence, const uint8_t runtime[48],
                          const uint8_t *init, size_t init_len, const char *verify_at) {
  verdict v = {0};
  kbs_config cfg;
  kbs_config_defaults(&cfg);
  cfg.insecure_http = cfg.sample_enabled = true;
  cfg.verify_at = at(verify_at);
  cfg.has_verify_at = true;
  static kbs_server s;
  cf_error err = {0};
  if (kbs_server_init(&s, &cfg, &err)) {
    snprintf(v.error, sizeof(v.error), "kbs init: %s", err.msg);
    return v;
  }
  kbs_binding b = {0};
  memcpy(b.runtime, runtime, 48);
  if (init) {
    b.has_init = true;
    memcpy(b.init, init, init_len);
    b.init_len = init_len;
  }
  json_t *ev = cf_kbs_json_parse(evidence, strlen(evidence), &err), *claims = NULL;
  kbs_ear ear;
  if (!ev) {
    snprintf(v.error, sizeof(v.error), "not JSON: %s", err.msg);
  } else if (kbs_evidence_verify(&s, tee, ev, &b, &claims, &ear, &err)) {
    snprintf(v.error, sizeof(v.error), "%s", err.msg);
  } else {
    v.ok = true;
    const char *c = json_string_value(json_object_get(claims, "measurement"));
    if (!c)
      c = json_string_value(json_object_get(json_object_get(json_object_get(claims, "quote"), "body"), "mr_td"));
    if (!c)
      c = json_string_value(json_object_get(claims, "report_data"));
    snprintf(v.claim, sizeof(v.claim), "%s", c ? c : "");
  }
  json_decref(claims);
  json_decref(ev);
  kbs_server_fini(&s);
  return v;
}

/* The broker's re-encoding of the evidence's report equals the hardware's
 * bytes: the JSON round-trips exactly. */
static bool snp_round_trips(const char *evidence, const uint8_t *report) {
  cf_error err = {0};
  json_t *ev = cf_kbs_json_parse(evidence, strlen(evidence), &err);
  uint8_t back[CF_SNP_REPORT_SIZE];
  bool ok = ev && !kbs_snp_report_from_json(json_object_get(ev, "attestation_report"), back, &err) &&
            !memcmp(back, report, CF_SNP_REPORT_SIZE);
  if (!ok)
    printf("  round trip: %s\n", err.msg);
  json_decref(ev);
  return ok;
}

static bool has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* ---- detection ---- */

static int detect(fake *f, cf_tee_kind *k, cf_error *err) {
  cf_error_clear(err);
  return cf_tee_detect(&f->env, k, err);
}

static void case_detection(void) {
  cf_error err = {0};
  cf_tee_kind k;
  /* This machine: whatever it is, the real probes must run without error. */
  int r = cf_tee_detect(NULL, &k, &err);
  CHECK(r == 0, "real probes on this machine run: %s (%s); the cases below use a fake guest since "
        "there is no TEE hardware here", cf_tee_kind_name(k), err.msg);

  fake f;
  fake_init(&f);
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_NONE, "nothing present: none");
  f.env.sample_binding_hex = "ab";
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SAMPLE, "nothing present, sample enabled: sample");
  /* What the host controls says nothing: a kernel command line asking for a TEE. */
  fake_file(&f, "/proc/cmdline", "coffer.tee=snp tdx_guest sev_guest", 34);
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SAMPLE, "kernel command line naming a TEE: ignored");
  f.cpuid_tdx = true;
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_TDX,
        "CPUID leaf 0x21 IntelTDX: tdx, and the sample is not chosen though enabled");
  f.cpuid_tdx = false;
  f.cpuid_snp = true;
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SAMPLE,
        "CPUID SEV-SNP bit without the hypervisor bit (an SNP-capable host): not a guest");
  f.cpuid_hypervisor = true;
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SNP, "CPUID SEV-SNP in a VM: snp");
  f.cpuid_snp = f.cpuid_hypervisor = false;
  fake_file(&f, "/dev/sev-guest", "", 0);
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SNP,
        "/dev/sev-guest (CPUID hidden): snp, never the sample");
  fake_file(&f, "/dev/tdx_guest", "", 0);
  CHECK(detect(&f, &k, &err) < 0 && has(err.msg, "both TDX and SNP"),
        "signals of both: refused (%s)", err.msg);
  fake_fini(&f);

  fake_init(&f);
  f.env.sample_binding_hex = "ab";
  f.provider = "tdx_guest";
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_TDX, "configfs-tsm provider tdx_guest: tdx");
  CHECK(f.mkdirs == 1 && f.rmdirs == 1, "the probe's configfs instance is removed");
  f.provider = "sev_guest";
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SNP, "configfs-tsm provider sev_guest: snp");
  f.provider = "arm_cca_guest";
  CHECK(detect(&f, &k, &err) < 0 && has(err.msg, "unknown configfs-tsm provider"),
        "an unknown provider: refused, never the sample (%s)", err.msg);
  f.provider = "";
  CHECK(detect(&f, &k, &err) == 0 && k == CF_TEE_SAMPLE, "configfs-tsm without a provider: no TEE");
  fake_fini(&f);

  CHECK(!strcmp(cf_tee_kind_name(CF_TEE_SNP), "snp") && !strcmp(cf_tee_kind_name(CF_TEE_TDX), "tdx") &&
        !strcmp(cf_tee_kind_name(CF_TEE_SAMPLE), "sample") &&
        !strcmp(cf_tee_kind_name(CF_TEE_NONE), "none") && !strcmp(cf_tee_kind_name(42), "none"),
        "the broker's tee names");
}

/* ---- SNP ---- */

typedef struct snp_vec {
  const char *name, *report, *vcek, *verify_at;
  bool binds; /* report_data is a zero-padded SHA-384: the broker accepts it */
} snp_vec;

static const snp_vec snp_vecs[] = {
    {"gsg_milan", "snp/gsg_milan/attestation.bin", "snp/gsg_milan/vcek.der", "2023-01-01T00:00:00Z", true},
    {"virtee_milan", "snp/virtee_milan/report_milan.bin", "snp/virtee_milan/vcek_milan.der", "2023-04-06T00:00:00Z", false},
    {"trustee_genoa_e2e", "snp/trustee_genoa_e2e/report.bin", "snp/trustee_genoa_e2e/vcek.der", "2025-05-30T00:00:00Z", false},
};

static void case_snp_vectors(void) {
  for (size_t i = 0; i < sizeof(snp_vecs) / sizeof(snp_vecs[0]); i++) {
    const snp_vec *v = &snp_vecs[i];
    size_t rl, vl, tl;
    uint8_t *rep = load(data, v->report, &rl), *der = load(data, v->vcek, &vl);
    uint8_t *table = cert_table_vcek(der, vl, &tl);
    const uint8_t *rd = rep + 0x50;
    for (int path = 0; path < 2; path++) {
      fake f;
      fake_init(&f);
      const char *how = path ? "SNP_GET_EXT_REPORT" : "configfs-tsm";
      if (path == 0) {
        f.provider = "sev_guest";
        f.privlevel_attr = true;
        f.outblob = rep, f.outblob_len = rl;
        f.auxblob = table, f.auxblob_len = tl;
      } else {
        fake_file(&f, "/dev/sev-guest", "", 0);
        f.snp_report = rep;
        f.snp_certs = table, f.snp_certs_len = tl;
        f.snp_need_len = 20480; /* a table larger than the first buffer: one sized retry */
      }
      cf_error err = {0};
      char *ev = NULL;
      int r = cf_tee_evidence(&f.env, CF_TEE_SNP, rd, &ev, &err);
      CHECK(r == 0, "%s via %s: evidence produced (%s)", v->name, how, err.msg);
      if (r) {
        fake_fini(&f);
        continue;
      }
      if (path == 0) {
        CHECK(f.inblob_seen_len == 64 && !memcmp(f.inblob_seen, rd, 64) &&
              !strcmp(f.privlevel_seen, "0") && f.mkdirs == 1 && f.rmdirs == 1,
              "%s: one instance, inblob = the 64 report_data bytes, privlevel \"0\", removed", v->name);
      } else {
        CHECK(f.ioctl_calls == 2 && f.ioctl_last == TEE_SNP_GET_EXT_REPORT &&
              f.ioctl_msg_version == 1 && f.ioctl_vmpl == 0 && f.ioctl_certs_len[0] == 16384 &&
              f.ioctl_certs_len[1] == 20480,
              "%s: EXT_REPORT at VMPL 0, msg_version 1, retried once with the 20480 bytes the "
              "kernel asked for (%d calls)", v->name, f.ioctl_calls);
      }
      CHECK(snp_round_trips(ev, rep), "%s: the broker re-encodes the JSON to the exact report bytes", v->name);
      CHECK(has(ev, "\"cert_chain\":[{\"cert_type\":\"VCEK\",\"data\":["), "%s: VCEK in cert_chain", v->name);
      verdict vd = kbs_verify("snp", ev, rd, NULL, 0, v->verify_at);
      if (v->binds) {
        char m[97];
        hex(rep + 0x90, 48, m);
        CHECK(vd.ok && !strcmp(vd.claim, m),
              "%s: coffer-kbs verifies signature, chain and report_data binding; measurement claim "
              "%.16s… (%s)", v->name, vd.claim, vd.error);
        uint8_t other[48];
        memcpy(other, rd, 48);
        other[0] ^= 1;
        vd = kbs_verify("snp", ev, other, NULL, 0, v->verify_at);
        CHECK(!vd.ok && has(vd.error, "report_data does not bind"),
              "%s: bound to other runtime data: refused (%s)", v->name, vd.error);
        /* init-data: HOST_DATA of this report is zero; a digest is refused */
        uint8_t dig[32];
        memset(dig, 0x5a, 32);
        vd = kbs_verify("snp", ev, rd, dig, 32, v->verify_at);
        CHECK(!vd.ok && has(vd.error, "HOST_DATA"), "%s: init-data digest not in HOST_DATA: refused", v->name);
      } else {
        CHECK(!vd.ok && has(vd.error, "report_data does not bind"),
              "%s: signature verified, then refused only on the binding (the vector's report_data "
              "is not a padded SHA-384): %s", v->name, vd.error);
      }
      free(ev);
      fake_fini(&f);
    }
    free(table);
    free(rep);
    free(der);
  }
}

static void case_snp_binding(void) {
  size_t rl;
  uint8_t *rep = load(data, "snp/gsg_milan/attestation.bin", &rl);
  memset(rep + 0x50, 0, 64);    /* a report for zero report_data … */
  memset(rep + 0xC0, 0xAB, 32); /* … with an init-data digest in HOST_DATA */
  for (int path = 0; path < 2; path++) {
    fake f;
    fake_init(&f);
    if (path == 0) {
      f.provider = "sev_guest";
      f.privlevel_attr = true;
      f.outblob = rep, f.outblob_len = rl;
    } else {
      fake_file(&f, "/dev/sev-guest", "", 0);
      f.snp_report = rep;
    }
    uint8_t out[64], want[32];
    memset(want, 0xAB, 32);
    size_t len = 0;
    cf_error err = {0};
    int r = cf_tee_init_data_binding(&f.env, CF_TEE_SNP, out, &len, &err);
    CHECK(r == 0 && len == 32 && !memcmp(out, want, 32) &&
          (path == 0 ? f.inblob_seen_len == 64 && !f.inblob_seen[0]
                     : f.ioctl_calls == 1 && f.ioctl_last == TEE_SNP_GET_REPORT),
          "SNP binding via %s: HOST_DATA (32 B) of a zero-report_data report (%s)",
          path ? "SNP_GET_REPORT" : "configfs-tsm", err.msg);
    fake_fini(&f);
  }
  free(rep);
}

/* One hostile configfs-tsm reply: the error must name the problem, and the
 * instance must still be removed. */
static void snp_tsm_hostile(const char *what, const char *provider, const uint8_t *out, size_t ol,
                            const uint8_t *aux, size_t al, const char *generation,
                            const uint8_t rd[64], const char *expect) {
  fake f;
  fake_init(&f);
  f.provider = provider;
  f.privlevel_attr = true;
  f.outblob = out, f.outblob_len = ol;
  f.auxblob = aux, f.auxblob_len = al;
  f.generation = generation;
  cf_error err = {0};
  char *ev = NULL;
  int r = cf_tee_evidence(&f.env, CF_TEE_SNP, rd, &ev, &err);
  CHECK(r < 0 && !ev && has(err.msg, expect) && f.rmdirs == f.mkdirs,
        "%s: refused, instance removed (%s)", what, err.msg);
  free(ev);
  fake_fini(&f);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void case_snp_hostile(void) {
  size_t rl, vl, tl, xl;
  uint8_t *rep = load(data, "snp/gsg_milan/attestation.bin", &rl);
  uint8_t *der = load(data, "snp/gsg_milan/vcek.der", &vl);
  uint8_t *vlek = load(data, "snp/trustee_milan_vlek/test-vlek-report.bin", &xl);
  uint8_t *table = cert_table_vcek(der, vl, &tl);
  const uint8_t *rd = rep + 0x50;

  snp_tsm_hostile("provider tdx_guest when SNP is asked", "tdx_guest", rep, rl, table, tl, NULL, rd,
                  "provider is \"tdx_guest\", expected \"sev_guest\"");
  snp_tsm_hostile("generation 3 after our 2 writes (a concurrent writer)", "sev_guest", rep, rl,
                  table, tl, "3\n", rd, "another writer");
  snp_tsm_hostile("generation not a number", "sev_guest", rep, rl, table, tl, "x2\n", rd, "not a number");
  snp_tsm_hostile("short outblob (1183 bytes)", "sev_guest", rep, rl - 1, table, tl, NULL, rd,
                  "1183 bytes");
  uint8_t *big = calloc(1, 8192);
  memcpy(big, rep, rl);
  snp_tsm_hostile("oversized outblob (8192 bytes)", "sev_guest", big, 8192, table, tl, NULL, rd,
                  "larger than");
  snp_tsm_hostile("empty outblob", "sev_guest", rep, 0, table, tl, NULL, rd, "empty");
  uint8_t *huge = calloc(1, 70000);
  memcpy(huge, table, tl);
  snp_tsm_hostile("oversized auxblob (70000 bytes)", "sev_guest", rep, rl, huge, 70000, NULL, rd,
                  "larger than");
  uint8_t *bad = malloc(tl);
  memcpy(bad, table, tl);
  put32(bad + 16, (uint32_t)tl); /* offset at the end */
  snp_tsm_hostile("cert table entry past the table's end", "sev_guest", rep, rl, bad, tl, NULL, rd,
                  "lie outside");
  memcpy(bad, table, tl);
  put32(bad + 20, 0xFFFFFFF0u); /* length wraps */
  snp_tsm_hostile("cert table entry with a wrapping length", "sev_guest", rep, rl, bad, tl, NULL, rd,
                  "lie outside");
  memcpy(bad, table, tl);
  put32(bad + 16, 8); /* points into the entries */
  snp_tsm_hostile("cert table entry pointing into the table", "sev_guest", rep, rl, bad, tl, NULL, rd,
                  "lie outside");
  uint8_t unterminated[24 * 3];
  memset(unterminated, 0x11, sizeof(unterminated));
  snp_tsm_hostile("cert table without its terminating entry", "sev_guest", rep, rl, unterminated,
                  sizeof(unterminated), NULL, rd, "no terminating entry");
  uint8_t other[64];
  memcpy(other, rd, 64);
  other[63] ^= 0x80;
  snp_tsm_hostile("a report whose report_data differs from the request", "sev_guest", rep, rl,
                  table, tl, NULL, other, "other report_data");
  snp_tsm_hostile("a report from VMPL 1", "sev_guest", vlek, xl, NULL, 0, NULL, vlek + 0x50, "VMPL 1");
  uint8_t *res = malloc(rl);
  memcpy(res, rep, rl);
  res[0x4C] = 1; /* reserved after key_info */
  snp_tsm_hostile("a report with a non-zero reserved byte", "sev_guest", res, rl, NULL, 0, NULL, rd,
                  "reserved");
  memcpy(res, rep, rl);
  res[0] = 9;
  snp_tsm_hostile("an unknown report version", "sev_guest", res, rl, NULL, 0, NULL, rd, "version 9");

  /* /dev/sev-guest */
  struct {
    const char *what;
    int err;
    uint64_t exitinfo2;
    uint32_t need, status, size;
    int calls;
    const char *expect;
  } io[] = {
      {"EIO, firmware error 0x16", EIO, 0x16, 0, 0, 0, 1, "firmware error 0x16 invalid parameter"},
      {"EIO, VMM busy", EIO, 2ull << 32, 0, 0, 0, 1, "VMM error 0x2 busy"},
      {"ENOTTY (VMPCK wiped earlier)", ENOTTY, 0, 0, 0, 0, 1, "disabled the guest's VMPCK"},
      {"INVALID_LEN asking for 1 MiB", 0, 0, 1u << 20, 0, 0, 1, "asked for a certificate buffer of 1048576"},
      {"INVALID_LEN asking for an unaligned size", 0, 0, 20000, 0, 0, 1, "page-aligned"},
      {"MSG_REPORT_RSP status 0x16", 0, 0, 0, 0x16, 0, 1, "status 0x16"},
      {"MSG_REPORT_RSP report_size 0x400", 0, 0, 0, 0, 0x400, 1, "1024 report bytes"},
  };
  for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
    fake f;
    fake_init(&f);
    fake_file(&f, "/dev/sev-guest", "", 0);
    f.snp_report = rep;
    f.snp_certs = table, f.snp_certs_len = tl;
    f.snp_errno = io[i].err, f.snp_exitinfo2 = io[i].exitinfo2;
    f.snp_need_len = io[i].need;
    f.snp_status = io[i].status, f.snp_report_size = io[i].size;
    cf_error err = {0};
    char *ev = NULL;
    int r = cf_tee_evidence(&f.env, CF_TEE_SNP, rd, &ev, &err);
    CHECK(r < 0 && !ev && has(err.msg, io[i].expect) && f.ioctl_calls == io[i].calls,
          "ioctl %s: refused after %d request(s) (%s)", io[i].what, f.ioctl_calls, err.msg);
    free(ev);
    fake_fini(&f);
  }
  /* A table larger than the first buffer: one retry with the size asked. */
  fake f;
  fake_init(&f);
  fake_file(&f, "/dev/sev-guest", "", 0);
  f.snp_report = rep;
  f.snp_need_len = 40960;
  cf_error err = {0};
  char *ev = NULL;
  int r = cf_tee_evidence(&f.env, CF_TEE_SNP, rd, &ev, &err);
  CHECK(r == 0 && f.ioctl_calls == 2 && f.ioctl_certs_len[1] == 40960,
        "a 40960-byte table: one retry with the size asked (%s)", err.msg);
  free(ev);
  ev = NULL;
  /* A kernel asking again after the retry: no third request. */
  f.ioctl_calls = 0;
  f.snp_need_len = 0;
  f.snp_invalid_len_always = true;
  r = cf_tee_evidence(&f.env, CF_TEE_SNP, rd, &ev, &err);
  CHECK(r < 0 && f.ioctl_calls == 2 && has(err.msg, "certificate buffer too small"),
        "INVALID_LEN again after the retry: refused, no third request (%s)", err.msg);
  f.ioctl_calls = 0;
  f.snp_invalid_len_always = false;
  uint8_t zero[64] = {0};
  r = cf_tee_evidence(&f.env, CF_TEE_SNP, zero, &ev, &err);
  CHECK(r < 0 && has(err.msg, "other report_data") && f.ioctl_calls == 1,
        "ioctl reply carrying other report_data: refused (%s)", err.msg);
  fake_fini(&f);
  CHECK(cf_tee_evidence(NULL, CF_TEE_SNP, NULL, &ev, &err) < 0, "no report_data: refused before any request");
  free(huge);
  free(big);
  free(bad);
  free(res);
  free(table);
  free(rep);
  free(der);
  free(vlek);
}

/* ---- TDX ---- */

static const char *tdx_q6 = "tdx/trustee/tdx_quote_6.dat";
static const char *tdx_q6_day = "2025-04-10T00:00:00Z"; /* PCK chain valid from 2025-04-08 */

static void case_tdx_vectors(void) {
  size_t ql, cl;
  uint8_t *q = load(data, tdx_q6, &ql); /* 5006 bytes: the quote (4936) and zero padding */
  const uint8_t *rd = q + 0x238;
  uint8_t ccel[100];
  for (size_t i = 0; i < sizeof(ccel); i++)
    ccel[i] = (uint8_t)i;
  for (int path = 0; path < 2; path++) {
    fake f;
    fake_init(&f);
    const char *how = path ? "TDREPORT + QGS" : "configfs-tsm";
    fake_file(&f, "/sys/firmware/acpi/tables/data/CCEL", ccel, sizeof(ccel));
    if (path == 0) {
      f.provider = "tdx_guest";
      f.privlevel_attr = true; /* present, and must not be written for TDX */
      f.generation = "1\n";
      f.outblob = q, f.outblob_len = ql;
    } else {
      fake_file(&f, "/dev/tdx_guest", "", 0);
      fake_file(&f, "/etc/tdx-attest.conf", "# QGS\nport=4051\n", 16);
      memset(f.tdreport, 0x42, sizeof(f.tdreport));
      f.qgs_quote = q, f.qgs_quote_len = ql;
    }
    cf_error err = {0};
    char *ev = NULL;
    int r = cf_tee_evidence(&f.env, CF_TEE_TDX, rd, &ev, &err);
    fake_join_qgs(&f);
    CHECK(r == 0, "tdx_quote_6 via %s: evidence produced (%s)", how, err.msg);
    if (r) {
      fake_fini(&f);
      continue;
    }
    if (path == 0)
      CHECK(f.inblob_seen_len == 64 && !memcmp(f.inblob_seen, rd, 64) && !f.privlevel_written &&
            f.rmdirs == 1, "configfs-tsm: inblob = report_data, privlevel untouched, instance removed");
    else
      CHECK(f.ioctl_last == TEE_TDX_CMD_GET_REPORT0 && f.qgs_request_ok && f.qgs_port == 4051,
            "TDREPORT from GET_REPORT0 sent to the QGS in a well-formed request on port 4051 from "
            "/etc/tdx-attest.conf (%s)", f.qgs_request_problem);
    cf_error e2 = {0};
    json_t *j = cf_kbs_json_parse(ev, strlen(ev), &e2);
    uint8_t *raw = NULL, *craw = NULL;
    size_t rawl = 0, crawl = 0;
    const char *q64 = json_string_value(json_object_get(j, "quote"));
    const char *c64 = json_string_value(json_object_get(j, "cc_eventlog"));
    CHECK(q64 && !cf_kbs_b64std_decode(q64, &raw, &rawl) && rawl == 4936 && !memcmp(raw, q, 4936),
          "quote: base64 of the quote's own 4936 bytes, trailing padding dropped (%zu)", rawl);
    CHECK(c64 && !cf_kbs_b64std_decode(c64, &craw, &crawl) && crawl == sizeof(ccel) &&
          !memcmp(craw, ccel, sizeof(ccel)), "cc_eventlog: base64 of the CCEL table");
    free(raw);
    free(craw);
    json_decref(j);
    verdict vd = kbs_verify("tdx", ev, rd, NULL, 0, tdx_q6_day);
    CHECK(vd.ok && !strcmp(vd.claim, "21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88"),
          "coffer-kbs verifies the quote (signature, QE, PCK chain) and the report_data binding; "
          "mr_td claim %.16s… (%s)", vd.claim, vd.error);
    uint8_t other[48];
    memcpy(other, rd, 48);
    other[47] ^= 1;
    vd = kbs_verify("tdx", ev, other, NULL, 0, tdx_q6_day);
    CHECK(!vd.ok && has(vd.error, "report_data does not bind"), "bound to other runtime data: refused");
    uint8_t dig[32];
    memset(dig, 0x11, 32);
    vd = kbs_verify("tdx", ev, rd, dig, 32, tdx_q6_day);
    CHECK(!vd.ok && has(vd.error, "MRCONFIGID"), "an init-data digest not in MRCONFIGID: refused");
    free(ev);
    fake_fini(&f);
  }
  (void)cl;
  free(q);
}

static void case_tdx_binding(void) {
  fake f;
  fake_init(&f);
  fake_file(&f, "/dev/tdx_guest", "", 0);
  for (int i = 0; i < 48; i++)
    f.tdreport[576 + i] = (uint8_t)(0xC0 + i);
  uint8_t out[64];
  size_t len = 0;
  cf_error err = {0};
  int r = cf_tee_init_data_binding(&f.env, CF_TEE_TDX, out, &len, &err);
  CHECK(r == 0 && len == 48 && !memcmp(out, f.tdreport + 576, 48) && f.ioctl_calls == 1 &&
        !f.qgs_running, "TDX binding: MRCONFIGID (48 B) at TDREPORT offset 576, no QGS (%s)", err.msg);
  f.tdreport_keep_rd = true;
  memset(f.tdreport + 128, 7, 64);
  r = cf_tee_init_data_binding(&f.env, CF_TEE_TDX, out, &len, &err);
  CHECK(r < 0 && has(err.msg, "other report_data"), "a TDREPORT for other report_data: refused (%s)", err.msg);
  f.tdx_errno = EIO;
  r = cf_tee_init_data_binding(&f.env, CF_TEE_TDX, out, &len, &err);
  CHECK(r < 0 && has(err.msg, "GET_REPORT0"), "GET_REPORT0 failing with EIO: refused (%s)", err.msg);
  fake_fini(&f);

  /* configfs-tsm only (no /dev/tdx_guest): the quote's MRCONFIGID. */
  size_t ql;
  uint8_t *q = load(data, "tdx/gotdx/cos-113-tdx-quote.dat", &ql); /* report_data all zero */
  fake_init(&f);
  f.provider = "tdx_guest";
  f.outblob = q, f.outblob_len = ql;
  memset(q + 0xE8, 0x3C, 48);
  r = cf_tee_init_data_binding(&f.env, CF_TEE_TDX, out, &len, &err);
  uint8_t want[48];
  memset(want, 0x3C, 48);
  CHECK(r == 0 && len == 48 && !memcmp(out, want, 48), "TDX binding via configfs-tsm: the quote's MRCONFIGID (%s)", err.msg);
  fake_fini(&f);
  free(q);
}

static void case_tdx_hostile(void) {
  size_t ql, vl;
  uint8_t *q = load(data, tdx_q6, &ql);
  uint8_t *v3 = load(data, "tdx/negative/spr_e4_version_byte_3.dat", &vl);
  const uint8_t *rd = q + 0x238;
  struct {
    const char *what, *provider;
    const uint8_t *out;
    size_t len;
    const char *generation, *expect;
  } t[] = {
      {"provider sev_guest when TDX is asked", "sev_guest", q, ql, "1\n", "expected \"tdx_guest\""},
      {"generation 2 after our one write", "tdx_guest", q, ql, "2\n", "another writer"},
      {"a quote of version 3", "tdx_guest", v3, vl, "1\n", "version 3"},
      {"a truncated quote (600 bytes)", "tdx_guest", q, 600, "1\n", "shorter than its body"},
      {"a quote cut inside its signature data", "tdx_guest", q, 4000, "1\n", "signature bytes"},
      {"a quote larger than 64 KiB", "tdx_guest", NULL, 70000, "1\n", "larger than"},
  };
  uint8_t *huge = calloc(1, 70000);
  memcpy(huge, q, ql);
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    fake f;
    fake_init(&f);
    f.provider = t[i].provider;
    f.outblob = t[i].out ? t[i].out : huge, f.outblob_len = t[i].len;
    f.generation = t[i].generation;
    cf_error err = {0};
    char *ev = NULL;
    int r = cf_tee_evidence(&f.env, CF_TEE_TDX, rd, &ev, &err);
    CHECK(r < 0 && !ev && has(err.msg, t[i].expect) && f.rmdirs == f.mkdirs,
          "configfs-tsm %s: refused (%s)", t[i].what, err.msg);
    free(ev);
    fake_fini(&f);
  }
  uint8_t *other = malloc(ql);
  memcpy(other, q, ql);
  struct {
    const char *what;
    uint32_t error, len_override;
    bool hang_up, wrong_rd;
    const char *expect;
  } g[] = {
      {"QGS error code 0x12001", 0x12001, 0, false, false, "QGS could not make a quote (error 0x12001)"},
      {"QGS frame of 16 MiB", 0, 16u << 20, false, false, "QGS reply of 16777216 bytes"},
      {"QGS frame shorter than its message", 0, 30, false, false, "says"},
      {"QGS hanging up", 0, 0, true, false, "closed the connection"},
      {"QGS quote for other report_data", 0, 0, false, true, "other report_data"},
  };
  for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
    fake f;
    fake_init(&f);
    fake_file(&f, "/dev/tdx_guest", "", 0);
    f.qgs_quote = q, f.qgs_quote_len = ql;
    f.qgs_error = g[i].error, f.qgs_len_override = g[i].len_override, f.qgs_hang_up = g[i].hang_up;
    uint8_t req[64];
    memcpy(req, rd, 64);
    if (g[i].wrong_rd)
      req[0] ^= 1;
    cf_error err = {0};
    char *ev = NULL;
    int r = cf_tee_evidence(&f.env, CF_TEE_TDX, req, &ev, &err);
    fake_join_qgs(&f);
    CHECK(r < 0 && !ev && has(err.msg, g[i].expect), "%s: refused (%s)", g[i].what, err.msg);
    free(ev);
    fake_fini(&f);
  }
  free(other);
  free(huge);
  free(q);
  free(v3);
}

/* A v5 quote (TDX 1.5 body behind its descriptor) goes through as well;
 * its report_data is not a padded SHA-384, so the broker verifies it and
 * then refuses only the binding. */
static void case_tdx_v5(void) {
  size_t ql;
  uint8_t *q = load(data, "tdx/trustee/tdx_quote_5.dat", &ql);
  const uint8_t *rd = q + 48 + 6 + 520;
  fake f;
  fake_init(&f);
  f.provider = "tdx_guest";
  f.outblob = q, f.outblob_len = ql;
  cf_error err = {0};
  char *ev = NULL;
  int r = cf_tee_evidence(&f.env, CF_TEE_TDX, rd, &ev, &err);
  CHECK(r == 0 && f.inblob_seen_len == 64 && !memcmp(f.inblob_seen, rd, 64),
        "tdx_quote_5 (v5): evidence for the report_data at its v5 offset (%s)", err.msg);
  verdict vd = kbs_verify("tdx", ev ? ev : "", rd, NULL, 0, "2024-03-20T00:00:00Z");
  CHECK(!vd.ok && has(vd.error, "report_data does not bind"),
        "coffer-kbs verifies the v5 quote, refuses only the binding (%s)", vd.error);
  free(ev);
  fake_fini(&f);
  free(q);
}

/* ---- requests are serialised process-wide ---- */

static fake *shared;
static int in_flight, overlaps;

static int slow_ioctl(void *ctx, int fd, unsigned long req, void *arg) {
  if (__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST) > 1)
    __atomic_add_fetch(&overlaps, 1, __ATOMIC_SEQ_CST);
  struct timespec ts = {0, 2 * 1000 * 1000};
  nanosleep(&ts, NULL);
  int r = shared->ops_real.ioctl(ctx, fd, req, arg);
  __atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
  return r;
}

static void *requester(void *arg) {
  const uint8_t *rd = arg;
  for (int i = 0; i < 10; i++) {
    cf_error err = {0};
    char *ev = NULL;
    if (cf_tee_evidence(&shared->env, CF_TEE_SNP, rd, &ev, &err))
      __atomic_add_fetch(&overlaps, 1000, __ATOMIC_SEQ_CST);
    free(ev);
  }
  return NULL;
}

static void case_serialised(void) {
  size_t rl;
  uint8_t *rep = load(data, "snp/gsg_milan/attestation.bin", &rl);
  fake f;
  fake_init(&f);
  f.provider = ""; /* configfs-tsm without a provider: the device is used */
  fake_file(&f, "/dev/sev-guest", "", 0);
  f.snp_report = rep;
  f.ops_real = f.ops;
  f.ops.ioctl = slow_ioctl;
  shared = &f;
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, requester, rep + 0x50);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  CHECK(overlaps == 0 && f.ioctl_calls == 40,
        "4 threads x 10 SNP requests: all succeed, never two in flight (%d overlaps, %d calls)",
        overlaps, f.ioctl_calls);
  fake_fini(&f);
  free(rep);
}

/* ---- sample ---- */

static void case_sample(void) {
  uint8_t rd[64] = {0}, init[32];
  for (int i = 0; i < 48; i++)
    rd[i] = (uint8_t)(i * 7);
  memset(init, 0xA5, 32);
  char init_hex[65];
  hex(init, 32, init_hex);
  fake f;
  fake_init(&f);
  cf_error err = {0};
  char *ev = NULL;
  int r = cf_tee_evidence(&f.env, CF_TEE_SAMPLE, rd, &ev, &err);
  CHECK(r < 0 && has(err.msg, "sample attester refused"), "sample not enabled: refused (%s)", err.msg);
  f.env.sample_binding_hex = init_hex;
  r = cf_tee_evidence(&f.env, CF_TEE_SAMPLE, rd, &ev, &err);
  CHECK(r == 0 && has(ev, "\"attester\":\"sample: no TEE hardware"), "sample evidence says it is the sample: %s", ev);
  verdict vd = kbs_verify("sample", ev ? ev : "", rd, init, 32, "2025-01-01T00:00:00Z");
  CHECK(vd.ok, "coffer-kbs's sample verifier accepts it with the runtime and init-data bindings (%s)", vd.error);
  uint8_t other[32];
  memset(other, 0x5A, 32);
  vd = kbs_verify("sample", ev ? ev : "", rd, other, 32, "2025-01-01T00:00:00Z");
  CHECK(!vd.ok && has(vd.error, "init-data digest"), "other init-data: refused (%s)", vd.error);
  free(ev);
  ev = NULL;
  uint8_t out[64];
  size_t len;
  r = cf_tee_init_data_binding(&f.env, CF_TEE_SAMPLE, out, &len, &err);
  CHECK(r == 0 && len == 32 && !memcmp(out, init, 32), "sample binding: the configured bytes");
  /* In a TEE guest the sample is refused even when asked for. */
  f.cpuid_tdx = true;
  r = cf_tee_evidence(&f.env, CF_TEE_SAMPLE, rd, &ev, &err);
  CHECK(r < 0 && !ev && has(err.msg, "this guest is tdx"), "sample asked for in a TDX guest: refused (%s)", err.msg);
  r = cf_tee_init_data_binding(&f.env, CF_TEE_SAMPLE, out, &len, &err);
  CHECK(r < 0, "sample binding in a TDX guest: refused");
  f.cpuid_tdx = false;
  f.env.sample_binding_hex = "zz";
  r = cf_tee_init_data_binding(&f.env, CF_TEE_SAMPLE, out, &len, &err);
  CHECK(r < 0 && has(err.msg, "not hex"), "a malformed sample binding: refused (%s)", err.msg);
  r = cf_tee_evidence(&f.env, CF_TEE_NONE, rd, &ev, &err);
  CHECK(r < 0, "evidence with no TEE: refused (%s)", err.msg);
  fake_fini(&f);
}

int main(int argc, char **argv) {
  if (argc != 3)
    return fprintf(stderr, "usage: test_tee CASE DATA_DIR\n"), 2;
  data = argv[2];
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("No TEE hardware here: CPUID, configfs-tsm, /dev/sev-guest, /dev/tdx_guest and the QGS "
         "are faked from recorded replies.\n");
  const struct {
    const char *name;
    void (*fn)(void);
  } cases[] = {
      {"detection", case_detection},       {"snp_vectors", case_snp_vectors},
      {"snp_binding", case_snp_binding},   {"snp_hostile", case_snp_hostile},
      {"tdx_vectors", case_tdx_vectors},   {"tdx_binding", case_tdx_binding},
      {"tdx_hostile", case_tdx_hostile},   {"sample", case_sample},
      {"tdx_v5", case_tdx_v5},             {"serialised", case_serialised},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (!strcmp(argv[1], cases[i].name)) {
      cases[i].fn();
      printf("%s: %d failure(s)\n", argv[1], failures);
      return failures ? 1 : 0;
    }
  return fprintf(stderr, "unknown case %s\n", argv[1]), 2;
}
