/* SNP evidence: {"attestation_report": <serde form of the report>,
 * "cert_chain": [{"cert_type", "data": [DER bytes]}] | null}, re-encoded to
 * the 1184 report bytes and verified through attest/. */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_jread.h"
#include "kbs.h"

/* The report's fields in its serde form, at their offsets. */
enum kind { U, BYTES, TCB, VER3, SIG };
static const struct field {
  const char *name;
  enum kind kind;
  unsigned off, n; /* n: integer width or array length */
  bool nullable;   /* absent in older report versions: zero bytes */
} fields[] = {
    {"version", U, 0x000, 4, false},        {"guest_svn", U, 0x004, 4, false},
    {"policy", U, 0x008, 8, false},         {"family_id", BYTES, 0x010, 16, false},
    {"image_id", BYTES, 0x020, 16, false},  {"vmpl", U, 0x030, 4, false},
    {"sig_algo", U, 0x034, 4, false},       {"current_tcb", TCB, 0x038, 8, false},
    {"plat_info", U, 0x040, 8, false},      {"key_info", U, 0x048, 4, false},
    {"report_data", BYTES, 0x050, 64, false}, {"measurement", BYTES, 0x090, 48, false},
    {"host_data", BYTES, 0x0C0, 32, false}, {"id_key_digest", BYTES, 0x0E0, 48, false},
    {"author_key_digest", BYTES, 0x110, 48, false}, {"report_id", BYTES, 0x140, 32, false},
    {"report_id_ma", BYTES, 0x160, 32, false}, {"reported_tcb", TCB, 0x180, 8, false},
    {"cpuid_fam_id", U, 0x188, 1, true},    {"cpuid_mod_id", U, 0x189, 1, true},
    {"cpuid_step", U, 0x18A, 1, true},      {"chip_id", BYTES, 0x1A0, 64, false},
    {"committed_tcb", TCB, 0x1E0, 8, false}, {"current", VER3, 0x1E8, 3, false},
    {"committed", VER3, 0x1EC, 3, false},   {"launch_tcb", TCB, 0x1F0, 8, false},
    {"launch_mit_vector", U, 0x1F8, 8, true}, {"current_mit_vector", U, 0x200, 8, true},
    {"signature", SIG, 0x2A0, 0, false},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static bool present(kbs_span v) { return v.p && !kbs_jr_is(v, 'n'); }

static int bytes(kbs_span v, const char *key, uint8_t *out, size_t n, cf_error *err) {
  if (kbs_jr_bytes(v, out, n) != (long)n)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be an array of %zu bytes", key, n);
  return 0;
}

static int uint_le(kbs_span v, const char *key, size_t width, bool nullable, uint8_t *out,
                   cf_error *err) {
  uint64_t x;
  if (nullable && !present(v))
    return 0;
  if (!v.p || kbs_jr_uint(v, &x) || (width < 8 && x >> (8 * width)))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be an integer of %zu bytes", key, width);
  for (size_t i = 0; i < width; i++)
    out[i] = (uint8_t)(x >> (8 * i));
  return 0;
}

/* {"fmc", "bootloader", "tee", "snp", "microcode"} in the generation's layout. */
static int tcb(kbs_span t, const char *key, bool turin, uint8_t out[8], cf_error *err) {
  static const char *const names[] = {"fmc", "bootloader", "tee", "snp", "microcode"};
  const int milan[] = {-1, 0, 1, 6, 7}, turin_pos[] = {0, 1, 2, 3, 7};
  kbs_span v[5];
  char what[48];
  snprintf(what, sizeof(what), "report.%s", key);
  if (!t.p || !kbs_jr_is(t, '{'))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be a TCB object", key);
  if (kbs_jr_members(t, what, names, sizeof(names[0]), 5, v, err))
    return -EINVAL;
  memset(out, 0, 8);
  for (int i = 0; i < 5; i++) {
    int pos = turin ? turin_pos[i] : milan[i];
    uint64_t x;
    if (pos < 0 || (!v[i].p && i == 0) || (v[i].p && kbs_jr_is(v[i], 'n'))) {
      if (i && !v[i].p)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s.%s is missing", key, names[i]);
      continue;
    }
    if (!v[i].p || kbs_jr_uint(v[i], &x) || x > 255)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s.%s is not a byte", key, names[i]);
    out[pos] = (uint8_t)x;
  }
  return 0;
}

static int version3(kbs_span o, const char *key, uint8_t *out, cf_error *err) {
  static const char *const n[] = {"build", "minor", "major"};
  kbs_span v[3];
  char what[48];
  snprintf(what, sizeof(what), "report.%s", key);
  if (!o.p || !kbs_jr_is(o, '{'))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be {major, minor, build}", key);
  if (kbs_jr_members(o, what, n, sizeof(n[0]), 3, v, err))
    return -EINVAL;
  for (int i = 0; i < 3; i++)
    if (uint_le(v[i], n[i], 1, false, out + i, err))
      return cf_error_prefix(err, "%s", key);
  return 0;
}

static int report_from_span(kbs_span ar, uint8_t b[CF_SNP_REPORT_SIZE], cf_error *err) {
  memset(b, 0, CF_SNP_REPORT_SIZE);
  kbs_span v[NFIELDS];
  if (!ar.p || !kbs_jr_is(ar, '{'))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "attestation_report must be an object");
  if (kbs_jr_members(ar, "report", &fields[0].name, sizeof(fields[0]), NFIELDS, v, err))
    return -EINVAL;
  uint64_t fam;
  const kbs_span *fs = &v[18]; /* cpuid_fam_id */
  bool turin = fs->p && !kbs_jr_uint(*fs, &fam) && fam == 0x1A;
  for (size_t i = 0; i < NFIELDS; i++) {
    const struct field *f = &fields[i];
    int r = 0;
    switch (f->kind) {
    case U:
      r = uint_le(v[i], f->name, f->n, f->nullable, b + f->off, err);
      break;
    case BYTES:
      r = v[i].p ? bytes(v[i], f->name, b + f->off, f->n, err)
                 : cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be an array of %u bytes",
                                 f->name, f->n);
      break;
    case TCB:
      r = tcb(v[i], f->name, turin, b + f->off, err);
      break;
    case VER3:
      r = version3(v[i], f->name, b + f->off, err);
      break;
    case SIG: {
      static const char *const rs[] = {"r", "s"};
      kbs_span sv[2];
      if (!v[i].p || !kbs_jr_is(v[i], '{'))
        return cf_err_status(err, CF_INVALID_ARGUMENT, "report.signature must be {r, s}");
      r = kbs_jr_members(v[i], "report.signature", rs, sizeof(rs[0]), 2, sv, err);
      if (!r)
        r = sv[0].p ? bytes(sv[0], "r", b + 0x2A0, 72, err)
                    : cf_err_status(err, CF_INVALID_ARGUMENT, "report.r must be an array of 72 bytes");
      if (!r)
        r = sv[1].p ? bytes(sv[1], "s", b + 0x2E8, 72, err)
                    : cf_err_status(err, CF_INVALID_ARGUMENT, "report.s must be an array of 72 bytes");
      break;
    }
    }
    if (r)
      return r;
  }
  return 0;
}

int kbs_snp_report_from_json(const char *text, size_t len, uint8_t b[CF_SNP_REPORT_SIZE], cf_error *err) {
  kbs_span ar;
  if (kbs_jr_document(text, len, &ar))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "attestation_report is not well-formed JSON");
  return report_from_span(ar, b, err);
}

/* cert_chain entries: {"cert_type": "VCEK"|"VLEK"|"ASK"|"ARK"|…, "data": [DER]}. */
#define MAX_CHAIN 16
typedef struct chain_entry {
  char type[8];
  kbs_span data;
  long n;
} chain_entry;

static size_t chain_entries(kbs_span chain, chain_entry *ce) {
  kbs_jr_iter it;
  kbs_span e;
  size_t n = 0;
  if (kbs_jr_array(chain, &it))
    return 0;
  static const char *const names[] = {"cert_type", "data"};
  while (n < MAX_CHAIN && kbs_jr_element(&it, &e) == 1) {
    kbs_span v[2];
    cf_error ignored = {0};
    if (!kbs_jr_is(e, '{') || kbs_jr_members(e, "cert_chain[]", names, sizeof(names[0]), 2, v, &ignored) ||
        !v[0].p || kbs_jr_plain_string(v[0], ce[n].type, sizeof(ce[n].type)))
      continue; /* not a certificate entry this broker knows */
    ce[n].data = v[1];
    ce[n].n = v[1].p ? kbs_jr_bytes(v[1], NULL, 0) : -1;
    n++;
  }
  return n;
}

static bool is_leaf(const chain_entry *c) { return !strcmp(c->type, "VCEK") || !strcmp(c->type, "VLEK"); }
static bool is_inter(const chain_entry *c) { return !strcmp(c->type, "ASK") || !strcmp(c->type, "ARK"); }

/* The signer for attest/: the VCEK/VLEK's DER when cert_chain holds nothing
 * else to add (the common case: no PEM round trip), else a PEM of the
 * VCEK/VLEK then its ASK/ARK. NULL (err empty) when there is no signer. */
static char *signer_bundle(kbs_span chain, size_t *len, cf_error *err) {
  chain_entry ce[MAX_CHAIN];
  size_t n = chain_entries(chain, ce), leaf = n;
  bool inter = false;
  for (size_t i = 0; i < n; i++) {
    if (is_inter(&ce[i]))
      inter = true;
    if (is_leaf(&ce[i]) && leaf == n)
      leaf = i;
  }
  if (leaf == n)
    return NULL;
  if (!inter) {
    if (ce[leaf].n <= 0 || ce[leaf].n > 16384)
      return NULL;
    char *der = malloc((size_t)ce[leaf].n);
    if (der)
      kbs_jr_bytes(ce[leaf].data, (uint8_t *)der, (size_t)ce[leaf].n);
    *len = (size_t)ce[leaf].n;
    return der;
  }
  BIO *out = BIO_new(BIO_s_mem());
  bool have_leaf = false;
  for (int pass = 0; pass < 2 && out; pass++)
    for (size_t i = 0; i < n; i++) {
      bool l = is_leaf(&ce[i]);
      if ((pass == 0 && !l) || (pass == 1 && !is_inter(&ce[i])) || (l && have_leaf))
        continue;
      if (ce[i].n <= 0 || ce[i].n > 16384)
        continue;
      _cleanup_free_ uint8_t *der = malloc((size_t)ce[i].n);
      if (!der)
        goto fail;
      kbs_jr_bytes(ce[i].data, der, (size_t)ce[i].n);
      const uint8_t *p = der;
      X509 *x = d2i_X509(NULL, &p, ce[i].n);
      if (!x) {
        cf_err_status(err, CF_INVALID_ARGUMENT, "cert_chain (%s) is not a DER certificate", ce[i].type);
        goto fail;
      }
      PEM_write_bio_X509(out, x);
      X509_free(x);
      have_leaf |= l;
    }
  if (!out || !have_leaf) {
    BIO_free(out);
    return NULL;
  }
  char *mem;
  long blen = BIO_get_mem_data(out, &mem);
  char *copy = malloc((size_t)blen + 1);
  if (copy) {
    memcpy(copy, mem, (size_t)blen);
    *len = (size_t)blen;
  }
  BIO_free(out);
  return copy;
fail:
  BIO_free(out);
  return NULL;
}

static json_t *claims_of(const cf_snp_report *r, enum cf_snp_product p) {
  char m[97], rd[129], hd[65], chip[129];
  cf_kbs_hex(r->measurement, 48, m);
  cf_kbs_hex(r->report_data, 64, rd);
  cf_kbs_hex(r->host_data, 32, hd);
  cf_kbs_hex(r->chip_id, 64, chip);
  cf_snp_tcb t;
  cf_snp_tcb_decode(r->reported_tcb, p, &t);
  return json_pack("{s:I,s:I,s:b,s:b,s:b,s:b,s:i,s:i,s:i,s:i,s:b,s:b,s:s,s:s,s:s,s:s,s:i}",
                   "policy_abi_major", (json_int_t)((r->policy >> 8) & 0xff), "policy_abi_minor",
                   (json_int_t)(r->policy & 0xff), "policy_smt_allowed", (int)((r->policy >> 16) & 1),
                   "policy_migrate_ma", (int)((r->policy >> 18) & 1), "policy_debug_allowed",
                   (int)((r->policy >> 19) & 1), "policy_single_socket", (int)((r->policy >> 20) & 1),
                   "reported_tcb_bootloader", t.bl, "reported_tcb_tee", t.tee, "reported_tcb_snp",
                   t.snp, "reported_tcb_microcode", t.ucode, "platform_smt_enabled",
                   (int)(r->platform_info & 1), "platform_tsme_enabled",
                   (int)((r->platform_info >> 1) & 1), "measurement", m, "report_data", rd,
                   "init_data", hd, "chip_id", chip, "vmpl", (int)r->vmpl);
}

int kbs_evidence_snp(kbs_server *s, const char *text, size_t len, const kbs_binding *b,
                     json_t **claims, kbs_ear *ear, cf_error *err) {
  uint8_t report[CF_SNP_REPORT_SIZE];
  static const char *const top[] = {"attestation_report", "cert_chain"};
  kbs_span ev = {text, text + len}, v[2]; /* validated by the caller */
  if (!kbs_jr_is(ev, '{'))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "SNP evidence is not an object");
  if (kbs_jr_members(ev, "SNP evidence", top, sizeof(top[0]), 2, v, err) || report_from_span(v[0], report, err))
    return cf_error_prefix(err, "SNP evidence");
  size_t blen = 0;
  _cleanup_free_ char *bundle = v[1].p && kbs_jr_is(v[1], '[') ? signer_bundle(v[1], &blen, err) : NULL;
  if (!bundle && err->msg[0])
    return cf_error_prefix(err, "SNP evidence");
  /* Candidates: the evidence's own VCEK/VLEK, else each configured signer. */
  const uint8_t *cand[9];
  size_t cand_len[9], n = 0;
  if (bundle)
    cand[n] = (const uint8_t *)bundle, cand_len[n++] = blen;
  for (size_t i = 0; !bundle && i < s->cfg.n_snp_signers; i++)
    cand[n] = s->snp_signers[i], cand_len[n++] = s->snp_signer_len[i];
  if (!n)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "SNP evidence has no VCEK/VLEK in cert_chain and none is configured");
  cf_snp_result res = {0};
  cf_checks ref = {0};
  int r = -EPERM;
  pthread_mutex_lock(&s->snp_lock);
  for (size_t i = 0; i < n && r; i++) {
    if (cf_snp_verify(s->snp, report, sizeof(report), cand[i], cand_len[i], kbs_verify_time(s),
                      &res, err))
      break;
    r = cf_checks_all_pass(&res.checks) ? 0 : -EPERM;
  }
  pthread_mutex_unlock(&s->snp_lock);
  if (r) {
    const cf_check *f = cf_checks_first_failure(&res.checks);
    if (f)
      cf_err_status(err, CF_PERMISSION_DENIED, "SNP report rejected by check %s: %s", f->name, f->reason);
    cf_snp_result_free(&res);
    return r;
  }
  uint8_t want[64];
  cf_kbs_fit(b->runtime, 48, want, 64);
  if (memcmp(res.report.report_data, want, 64) && !s->bench_skip_snp_binding)
    r = cf_err_status(err, CF_PERMISSION_DENIED,
                      "SNP report_data does not bind this nonce and tee-pubkey "
                      "(expected the SHA-384 of the canonical runtime data, zero-padded)");
  else if (res.report.vmpl != 0)
    r = cf_err_status(err, CF_PERMISSION_DENIED, "SNP report from VMPL %u: only VMPL 0 is accepted",
                      res.report.vmpl);
  else if (b->has_init) {
    uint8_t hd[32];
    cf_kbs_fit(b->init, b->init_len, hd, 32);
    if (memcmp(res.report.host_data, hd, 32)) {
      char a[65], h[65];
      cf_kbs_hex(hd, 32, a);
      cf_kbs_hex(res.report.host_data, 32, h);
      r = cf_err_status(err, CF_PERMISSION_DENIED, "init-data digest %s does not match HOST_DATA %s", a, h);
    }
  }
  if (!r) {
    if (s->reference) {
      cf_reference_appraise_snp(s->reference, &res, &ref);
      kbs_appraise(&ref, NULL, ear);
    } else {
      kbs_ear_unappraised(ear);
      ear->instance_identity = 2;
    }
    *claims = claims_of(&res.report, res.product);
    if (!*claims)
      r = cf_err(err, ENOMEM, "SNP claims");
  }
  cf_checks_free(&ref);
  cf_snp_result_free(&res);
  return r;
}
