/* SNP evidence: {"attestation_report": <serde form of the report>,
 * "cert_chain": [{"cert_type", "data": [DER bytes]}] | null}, re-encoded to
 * the 1184 report bytes and verified through attest/. */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "kbs.h"

static int bytes(const json_t *o, const char *key, uint8_t *out, size_t n, cf_error *err) {
  const json_t *a = json_object_get(o, key);
  if (!json_is_array(a) || json_array_size(a) != n)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be an array of %zu bytes", key, n);
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(a, i);
    if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 255)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s[%zu] is not a byte", key, i);
    out[i] = (uint8_t)json_integer_value(e);
  }
  return 0;
}

static int uint_le(const json_t *o, const char *key, size_t width, bool nullable, uint8_t *out,
                   cf_error *err) {
  const json_t *v = json_object_get(o, key);
  if (nullable && (!v || json_is_null(v)))
    return 0; /* absent in older report versions: zero bytes */
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (width < 8 && (uint64_t)json_integer_value(v) >> (8 * width)))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be an integer of %zu bytes", key, width);
  uint64_t x = (uint64_t)json_integer_value(v);
  for (size_t i = 0; i < width; i++)
    out[i] = (uint8_t)(x >> (8 * i));
  return 0;
}

/* {"fmc", "bootloader", "tee", "snp", "microcode"} in the generation's layout. */
static int tcb(const json_t *o, const char *key, bool turin, uint8_t out[8], cf_error *err) {
  const json_t *t = json_object_get(o, key);
  static const char *const names[] = {"fmc", "bootloader", "tee", "snp", "microcode"};
  const int milan[] = {-1, 0, 1, 6, 7}, turin_pos[] = {0, 1, 2, 3, 7};
  if (!json_is_object(t))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be a TCB object", key);
  memset(out, 0, 8);
  for (int i = 0; i < 5; i++) {
    int pos = turin ? turin_pos[i] : milan[i];
    const json_t *v = json_object_get(t, names[i]);
    if (pos < 0 || (!v && i == 0) || json_is_null(v)) {
      if (i && !v)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s.%s is missing", key, names[i]);
      continue;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s.%s is not a byte", key, names[i]);
    out[pos] = (uint8_t)json_integer_value(v);
  }
  return 0;
}

static int version3(const json_t *o, const char *key, uint8_t *out, cf_error *err) {
  const json_t *v = json_object_get(o, key);
  const char *n[] = {"build", "minor", "major"};
  if (!json_is_object(v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report.%s must be {major, minor, build}", key);
  for (int i = 0; i < 3; i++)
    if (uint_le(v, n[i], 1, false, out + i, err))
      return cf_error_prefix(err, "%s", key);
  return 0;
}

int kbs_snp_report_from_json(const json_t *ar, uint8_t b[CF_SNP_REPORT_SIZE], cf_error *err) {
  memset(b, 0, CF_SNP_REPORT_SIZE);
  if (!json_is_object(ar))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "attestation_report must be an object");
  const json_t *fam = json_object_get(ar, "cpuid_fam_id");
  bool turin = json_is_integer(fam) && json_integer_value(fam) == 0x1A;
  const json_t *sig = json_object_get(ar, "signature");
  int r = uint_le(ar, "version", 4, false, b + 0x000, err);
  if (!r) r = uint_le(ar, "guest_svn", 4, false, b + 0x004, err);
  if (!r) r = uint_le(ar, "policy", 8, false, b + 0x008, err);
  if (!r) r = bytes(ar, "family_id", b + 0x010, 16, err);
  if (!r) r = bytes(ar, "image_id", b + 0x020, 16, err);
  if (!r) r = uint_le(ar, "vmpl", 4, false, b + 0x030, err);
  if (!r) r = uint_le(ar, "sig_algo", 4, false, b + 0x034, err);
  if (!r) r = tcb(ar, "current_tcb", turin, b + 0x038, err);
  if (!r) r = uint_le(ar, "plat_info", 8, false, b + 0x040, err);
  if (!r) r = uint_le(ar, "key_info", 4, false, b + 0x048, err);
  if (!r) r = bytes(ar, "report_data", b + 0x050, 64, err);
  if (!r) r = bytes(ar, "measurement", b + 0x090, 48, err);
  if (!r) r = bytes(ar, "host_data", b + 0x0C0, 32, err);
  if (!r) r = bytes(ar, "id_key_digest", b + 0x0E0, 48, err);
  if (!r) r = bytes(ar, "author_key_digest", b + 0x110, 48, err);
  if (!r) r = bytes(ar, "report_id", b + 0x140, 32, err);
  if (!r) r = bytes(ar, "report_id_ma", b + 0x160, 32, err);
  if (!r) r = tcb(ar, "reported_tcb", turin, b + 0x180, err);
  if (!r) r = uint_le(ar, "cpuid_fam_id", 1, true, b + 0x188, err);
  if (!r) r = uint_le(ar, "cpuid_mod_id", 1, true, b + 0x189, err);
  if (!r) r = uint_le(ar, "cpuid_step", 1, true, b + 0x18A, err);
  if (!r) r = bytes(ar, "chip_id", b + 0x1A0, 64, err);
  if (!r) r = tcb(ar, "committed_tcb", turin, b + 0x1E0, err);
  if (!r) r = version3(ar, "current", b + 0x1E8, err);
  if (!r) r = version3(ar, "committed", b + 0x1EC, err);
  if (!r) r = tcb(ar, "launch_tcb", turin, b + 0x1F0, err);
  if (!r) r = uint_le(ar, "launch_mit_vector", 8, true, b + 0x1F8, err);
  if (!r) r = uint_le(ar, "current_mit_vector", 8, true, b + 0x200, err);
  if (!r && !json_is_object(sig))
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "report.signature must be {r, s}");
  if (!r) r = bytes(sig, "r", b + 0x2A0, 72, err);
  if (!r) r = bytes(sig, "s", b + 0x2E8, 72, err);
  return r;
}

/* The VCEK/VLEK's DER when cert_chain holds nothing else to add (the common
 * case: no PEM round trip); NULL otherwise. */
static char *signer_der_only(const json_t *chain, size_t *len, cf_error *err) {
  const json_t *leaf = NULL;
  size_t i;
  json_t *e;
  json_array_foreach(chain, i, e) {
    const char *t = json_string_value(json_object_get(e, "cert_type"));
    if (t && (!strcmp(t, "ASK") || !strcmp(t, "ARK")))
      return NULL;
    if (t && (!strcmp(t, "VCEK") || !strcmp(t, "VLEK")) && !leaf)
      leaf = e;
  }
  size_t n = json_array_size(json_object_get(leaf, "data"));
  char *der = leaf && n && n <= 16384 ? malloc(n) : NULL;
  if (der && bytes(leaf, "data", (uint8_t *)der, n, err)) {
    free(der);
    return NULL;
  }
  *len = n;
  return der;
}

/* The signer PEM: the VCEK/VLEK of cert_chain, then its ASK/ARK. */
static char *signer_bundle(const json_t *chain, size_t *len, cf_error *err) {
  char *der = signer_der_only(chain, len, err);
  if (der || err->msg[0])
    return der;
  BIO *out = BIO_new(BIO_s_mem());
  bool have_leaf = false;
  for (int pass = 0; pass < 2 && out; pass++) {
    size_t i;
    json_t *e;
    json_array_foreach(chain, i, e) {
      const char *t = json_string_value(json_object_get(e, "cert_type"));
      bool leaf = t && (!strcmp(t, "VCEK") || !strcmp(t, "VLEK"));
      bool inter = t && (!strcmp(t, "ASK") || !strcmp(t, "ARK"));
      if ((pass == 0 && !leaf) || (pass == 1 && !inter) || (leaf && have_leaf))
        continue;
      const json_t *d = json_object_get(e, "data");
      size_t n = json_array_size(d);
      if (!n || n > 16384)
        continue;
      _cleanup_free_ uint8_t *der = malloc(n);
      if (!der || bytes(e, "data", der, n, err))
        goto fail;
      const uint8_t *p = der;
      X509 *x = d2i_X509(NULL, &p, (long)n);
      if (!x) {
        cf_err_status(err, CF_INVALID_ARGUMENT, "cert_chain[%zu] (%s) is not a DER certificate", i, t);
        goto fail;
      }
      PEM_write_bio_X509(out, x);
      X509_free(x);
      have_leaf |= leaf;
    }
  }
  if (!out || !have_leaf) {
    BIO_free(out);
    return NULL;
  }
  char *mem;
  long n = BIO_get_mem_data(out, &mem);
  char *copy = malloc((size_t)n + 1);
  if (copy) {
    memcpy(copy, mem, (size_t)n);
    *len = (size_t)n;
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

int kbs_evidence_snp(kbs_server *s, const json_t *ev, const kbs_binding *b, json_t **claims,
                     kbs_ear *ear, cf_error *err) {
  uint8_t report[CF_SNP_REPORT_SIZE];
  if (!json_is_object(ev) || kbs_snp_report_from_json(json_object_get(ev, "attestation_report"), report, err))
    return err->msg[0] ? cf_error_prefix(err, "SNP evidence")
                       : cf_err_status(err, CF_INVALID_ARGUMENT, "SNP evidence is not an object");
  const json_t *chain = json_object_get(ev, "cert_chain");
  size_t blen = 0;
  _cleanup_free_ char *bundle = json_is_array(chain) ? signer_bundle(chain, &blen, err) : NULL;
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
