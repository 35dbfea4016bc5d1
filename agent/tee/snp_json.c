/* The SNP evidence JSON the broker parses (kbs-protocol.md B4): the serde
 * form of the report, which the verifier re-encodes to bytes before checking
 * the signature; so every byte the form cannot carry must be zero. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_internal.h"

static uint64_t le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;)
    v = v << 8 | p[i];
  return v;
}

/* Byte positions of a TCB's fields: Milan/Genoa have no FMC. */
static const int tcb_milan[5] = {-1, 0, 1, 6, 7}, tcb_turin[5] = {0, 1, 2, 3, 7};
static const char *const tcb_names[5] = {"fmc", "bootloader", "tee", "snp", "microcode"};

static void tcb(tee_buf *b, const char *key, const uint8_t *p, bool turin) {
  const int *pos = turin ? tcb_turin : tcb_milan;
  tee_buf_printf(b, ",\"%s\":{", key);
  for (int i = 0; i < 5; i++) {
    tee_buf_printf(b, "%s\"%s\":", i ? "," : "", tcb_names[i]);
    if (pos[i] < 0)
      tee_buf_printf(b, "null");
    else
      tee_buf_printf(b, "%u", p[pos[i]]);
  }
  tee_buf_printf(b, "}");
}

static void fw_version(tee_buf *b, const char *key, const uint8_t *p) {
  tee_buf_printf(b, ",\"%s\":{\"major\":%u,\"minor\":%u,\"build\":%u}", key, p[2], p[1], p[0]);
}

/* Marks what the serde form carries; the rest must be zero. */
static void cover(bool *m, size_t off, size_t n) {
  memset(m + off, 1, n);
}

static void cover_tcb(bool *m, size_t off, bool turin) {
  const int *pos = turin ? tcb_turin : tcb_milan;
  for (int i = 0; i < 5; i++)
    if (pos[i] >= 0)
      m[off + (size_t)pos[i]] = true;
}

static int check_reserved(const uint8_t *r, uint32_t version, bool turin, cf_error *err) {
  bool m[TEE_SNP_REPORT_SIZE] = {0};
  cover(m, 0x00, 0x38);             /* version … sig_algo */
  cover(m, 0x40, 0x0C);             /* plat_info, key_info */
  cover(m, 0x50, 0x180 - 0x50);     /* report_data … report_id_ma */
  if (version >= 3)
    cover(m, 0x188, 3);             /* cpuid fam/mod/step */
  cover(m, 0x1A0, 64);              /* chip_id */
  cover(m, 0x1E8, 3);               /* current */
  cover(m, 0x1EC, 3);               /* committed */
  if (version >= 5)
    cover(m, 0x1F8, 16);            /* mit vectors */
  cover(m, 0x2A0, 144);             /* signature r, s */
  const size_t tcbs[] = {0x38, 0x180, 0x1E0, 0x1F0};
  for (size_t i = 0; i < 4; i++)
    cover_tcb(m, tcbs[i], turin);
  for (size_t i = 0; i < TEE_SNP_REPORT_SIZE; i++)
    if (!m[i] && r[i])
      return cf_err(err, EPROTO,
                    "SNP report byte 0x%zx (reserved for version %u) is 0x%02x: the evidence "
                    "form cannot carry it, so the signature could not be checked",
                    i, version, r[i]);
  return 0;
}

static void report(tee_buf *b, const uint8_t *r, uint32_t version, bool turin) {
#define U(key, off, n) tee_buf_printf(b, ",\"%s\":%" PRIu64, key, le(r + (off), n))
#define B(key, off, n) (tee_buf_printf(b, ",\"%s\":", key), tee_buf_bytes(b, r + (off), n))
  tee_buf_printf(b, "{\"version\":%" PRIu64, le(r, 4));
  U("guest_svn", 0x04, 4);
  U("policy", 0x08, 8);
  B("family_id", 0x10, 16);
  B("image_id", 0x20, 16);
  U("vmpl", 0x30, 4);
  U("sig_algo", 0x34, 4);
  tcb(b, "current_tcb", r + 0x38, turin);
  U("plat_info", 0x40, 8);
  U("key_info", 0x48, 4);
  B("report_data", 0x50, 64);
  B("measurement", 0x90, 48);
  B("host_data", 0xC0, 32);
  B("id_key_digest", 0xE0, 48);
  B("author_key_digest", 0x110, 48);
  B("report_id", 0x140, 32);
  B("report_id_ma", 0x160, 32);
  tcb(b, "reported_tcb", r + 0x180, turin);
  const char *cpuid[] = {"cpuid_fam_id", "cpuid_mod_id", "cpuid_step"};
  for (int i = 0; i < 3; i++) {
    if (version >= 3)
      tee_buf_printf(b, ",\"%s\":%u", cpuid[i], r[0x188 + i]);
    else
      tee_buf_printf(b, ",\"%s\":null", cpuid[i]);
  }
  B("chip_id", 0x1A0, 64);
  tcb(b, "committed_tcb", r + 0x1E0, turin);
  fw_version(b, "current", r + 0x1E8);
  fw_version(b, "committed", r + 0x1EC);
  tcb(b, "launch_tcb", r + 0x1F0, turin);
  if (version >= 5) {
    U("launch_mit_vector", 0x1F8, 8);
    U("current_mit_vector", 0x200, 8);
  } else {
    tee_buf_printf(b, ",\"launch_mit_vector\":null,\"current_mit_vector\":null");
  }
  tee_buf_printf(b, ",\"signature\":{\"r\":");
  tee_buf_bytes(b, r + 0x2A0, 72);
  tee_buf_printf(b, ",\"s\":");
  tee_buf_bytes(b, r + 0x2E8, 72);
  tee_buf_printf(b, "}}");
#undef U
#undef B
}

static void cert_type(tee_buf *b, const tee_snp_cert *c) {
  static const char *const names[] = {"ARK", "ASK", "VCEK", "VLEK", "CRL"};
  if (c->kind != TEE_SNP_CERT_OTHER) {
    tee_buf_printf(b, "\"%s\"", names[c->kind]);
    return;
  }
  const uint8_t *g = c->guid;
  tee_buf_printf(b,
                 "{\"OTHER\":\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\"}",
                 g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12],
                 g[13], g[14], g[15]);
}

int tee_snp_evidence_json(const uint8_t rep[TEE_SNP_REPORT_SIZE], const tee_snp_cert *certs,
                          size_t n_certs, char **json, cf_error *err) {
  uint32_t version = (uint32_t)le(rep, 4);
  /* The verifier's rule for the TCB layout: family 0x1A is Turin. */
  bool turin = version >= 3 && rep[0x188] == 0x1A;
  int r = check_reserved(rep, version, turin, err);
  if (r)
    return r;
  tee_buf b = {0};
  tee_buf_printf(&b, "{\"attestation_report\":");
  report(&b, rep, version, turin);
  tee_buf_printf(&b, ",\"cert_chain\":");
  if (!n_certs)
    tee_buf_printf(&b, "null");
  for (size_t i = 0; i < n_certs; i++) {
    tee_buf_printf(&b, "%s{\"cert_type\":", i ? "," : "[");
    cert_type(&b, &certs[i]);
    tee_buf_printf(&b, ",\"data\":");
    tee_buf_bytes(&b, certs[i].data, certs[i].len);
    tee_buf_printf(&b, "}%s", i + 1 == n_certs ? "]" : "");
  }
  tee_buf_printf(&b, "}");
  *json = tee_buf_take(&b);
  return *json ? 0 : cf_err(err, ENOMEM, "SNP evidence");
}
