/* SEV-SNP verification: VCEK/VLEK -> ASK/ASVK -> pinned ARK (RSA-PSS SHA-384),
 * the report's ECDSA P-384 signature, and the report's claims against the
 * signer certificate (TCB, chip id, signing key kind, product). */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"

typedef struct snp_cert {
  X509 *x;
  enum cf_snp_product product;
  bool is_root, pinned, from_file;
} snp_cert;

struct cf_snp_verifier {
  snp_cert *certs;
  size_t n, cap;
  /* Cache of the last signer: its chain verdict at `cache_at` and a verify
   * context for its key, so repeated reports cost one ECDSA verification. */
  bool cache_valid;
  uint8_t *cache_signer;
  size_t cache_signer_len;
  time_t cache_at;
  bool signer_parsed;
  cf_snp_cert_info info;
  enum cf_snp_product product;
  EVP_PKEY_CTX *signer_ctx; /* NULL when the key is not P-384 */
  cf_error signer_key_err; /* why the signer key cannot verify, when it cannot */
  /* Certificates that came after the signer in its file (ASK, ARK as a
   * cloud's certificate service returns them); trusted for this signer only. */
  snp_cert extra[4];
  size_t n_extra;
  cf_checks chain_checks;
  X509_CRL *crl; /* AMD KDS CRL (signed by the ARK), optional */
};

static int add_cert(cf_snp_verifier *v, X509 *x, enum cf_snp_product product, bool is_root,
                    bool pinned, bool from_file) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    snp_cert *c = realloc(v->certs, cap * sizeof(*c));
    if (!c)
      return -ENOMEM;
    v->certs = c;
    v->cap = cap;
  }
  v->certs[v->n++] = (snp_cert){x, product, is_root, pinned, from_file};
  return 0;
}

static void cache_drop(cf_snp_verifier *v) {
  free(v->cache_signer);
  v->cache_signer = NULL;
  EVP_PKEY_CTX_free(v->signer_ctx);
  v->signer_ctx = NULL;
  for (size_t i = 0; i < v->n_extra; i++)
    X509_free(v->extra[i].x);
  v->n_extra = 0;
  cf_checks_reset(&v->chain_checks);
  v->cache_valid = false;
}

void cf_snp_verifier_free(cf_snp_verifier *v) {
  if (!v)
    return;
  cache_drop(v);
  cf_checks_free(&v->chain_checks);
  for (size_t i = 0; i < v->n; i++)
    X509_free(v->certs[i].x);
  free(v->certs);
  X509_CRL_free(v->crl);
  free(v);
}

cf_snp_verifier *cf_snp_verifier_new(cf_error *err) {
  cf_snp_verifier *v = calloc(1, sizeof(*v));
  if (!v) {
    cf_err(err, ENOMEM, "allocating the SNP verifier");
    return NULL;
  }
  for (size_t i = 0; i < cf_snp_builtin_cert_count; i++) {
    const cf_snp_builtin_cert *b = &cf_snp_builtin_certs[i];
    X509 *x = cf_x509_load_one((const uint8_t *)b->pem, strlen(b->pem));
    uint8_t fp[32], want[32];
    if (x)
      cf_x509_sha256(x, fp);
    if (!x || cf_unhex(b->sha256_hex, want, 32) || memcmp(fp, want, 32) != 0) {
      X509_free(x);
      cf_err_status(err, CF_INTERNAL, "built-in %s %s certificate does not match its pinned SHA-256",
                    cf_snp_product_name(b->product), b->role);
      cf_snp_verifier_free(v);
      return NULL;
    }
    bool root = strcmp(b->role, "ARK") == 0;
    if (add_cert(v, x, b->product, root, root, false)) {
      X509_free(x);
      cf_err(err, ENOMEM, "allocating the SNP verifier");
      cf_snp_verifier_free(v);
      return NULL;
    }
  }
  return v;
}

static const snp_cert *pinned_ark_with_fp(const cf_snp_verifier *v, const uint8_t fp[32]) {
  for (size_t i = 0; i < v->n; i++) {
    if (!v->certs[i].pinned)
      continue;
    uint8_t f[32];
    cf_x509_sha256(v->certs[i].x, f);
    if (memcmp(f, fp, 32) == 0)
      return &v->certs[i];
  }
  return NULL;
}

/* A certificate from a file: a root counts as pinned only when its DER is one
 * of the pinned ARKs; otherwise the product is read from its name. */
static snp_cert classify(const cf_snp_verifier *v, X509 *x) {
  bool self_issued = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
  uint8_t fp[32];
  cf_x509_sha256(x, fp);
  const snp_cert *pin = self_issued ? pinned_ark_with_fp(v, fp) : NULL;
  enum cf_snp_product product = pin ? pin->product : CF_SNP_PRODUCT_UNKNOWN;
  if (!pin) {
    char cn[64];
    cf_x509_cn(X509_get_subject_name(x), cn, sizeof(cn));
    const char *dash = strrchr(cn, '-');
    if (dash)
      product = cf_snp_product_from_name(dash + 1);
  }
  return (snp_cert){x, product, self_issued, pin != NULL, true};
}

int cf_snp_verifier_load_chain(cf_snp_verifier *v, const uint8_t *buf, size_t len,
                               cf_error *err) {
  STACK_OF(X509) *sk = cf_x509_load_all(buf, len);
  if (!sk)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "no PEM or DER certificate found");
  int r = 0;
  X509 *x;
  while (r == 0 && (x = sk_X509_shift(sk)) != NULL) {
    snp_cert c = classify(v, x);
    r = add_cert(v, x, c.product, c.is_root, c.pinned, true);
    if (r)
      X509_free(x);
  }
  sk_X509_pop_free(sk, X509_free);
  cache_drop(v);
  return r ? cf_err(err, ENOMEM, "loading certificates") : 0;
}

int cf_snp_verifier_load_crl(cf_snp_verifier *v, const uint8_t *buf, size_t len, cf_error *err) {
  X509_CRL *crl = cf_x509_crl_load(buf, len);
  if (!crl)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "not a DER or PEM CRL");
  X509_CRL_free(v->crl);
  v->crl = crl;
  cache_drop(v);
  return 0;
}

/* The issuer of `child` among the known certificates: from the signer's own
 * file first, then from a loaded file, then built in. */
static const snp_cert *find_issuer(const cf_snp_verifier *v, X509 *child, bool want_root) {
  const X509_NAME *iss = X509_get_issuer_name(child);
  for (size_t i = 0; i < v->n_extra; i++)
    if (v->extra[i].is_root == want_root &&
        X509_NAME_cmp(X509_get_subject_name(v->extra[i].x), iss) == 0)
      return &v->extra[i];
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < v->n; i++) {
      const snp_cert *c = &v->certs[i];
      if (c->from_file == (pass == 0) && c->is_root == want_root &&
          X509_NAME_cmp(X509_get_subject_name(c->x), iss) == 0)
        return c;
    }
  return NULL;
}

static void validity_check(cf_checks *ck, const char *name, X509 *x, time_t at) {
  char cn[64], nb[40], na[40];
  cf_x509_cn(X509_get_subject_name(x), cn, sizeof(cn));
  cf_asn1_time_str(X509_get0_notBefore(x), nb, sizeof(nb));
  cf_asn1_time_str(X509_get0_notAfter(x), na, sizeof(na));
  int t = cf_x509_time_check(x, at);
  cf_check_add(ck, name, t == 0, "'%s' valid %s .. %s: %s", cn, nb, na,
               t == 0 ? "inside the window" : t < 0 ? "verification time is before notBefore"
               : t == 1 ? "expired at the verification time" : "validity unreadable");
}

/* Evaluates the signer's chain once and fills the cache. */
static void eval_chain(cf_snp_verifier *v, X509 *signer, time_t at) {
  cf_checks *ck = &v->chain_checks;
  const snp_cert *inter = find_issuer(v, signer, false);
  if (!inter) {
    cf_check_add(ck, "vcek_signed_by_ask", false,
                 "no ASK/ASVK named '%s' is known (pass it with --chain)", v->info.issuer_cn);
    return;
  }
  const snp_cert *root = find_issuer(v, inter->x, true);
  char icn[64];
  cf_x509_cn(X509_get_issuer_name(inter->x), icn, sizeof(icn));
  if (!root) {
    cf_check_add(ck, "ark_pinned", false, "no ARK named '%s' is known", icn);
  } else {
    uint8_t fp[32];
    char hex[65];
    cf_x509_sha256(root->x, fp);
    cf_hex(fp, 32, hex);
    cf_check_add(ck, "ark_pinned", root->pinned, "'%s' SHA-256 %s %s", icn, hex,
                 root->pinned ? "is a pinned AMD ARK" : "is not one of the pinned AMD ARKs");
    v->product = root->pinned ? root->product : CF_SNP_PRODUCT_UNKNOWN;
    cf_x509_check_signed(ck, "ark_self_signed", root->x, root->x, cf_x509_sig_is_pss_sha384);
    cf_x509_check_signed(ck, "ask_signed_by_ark", inter->x, root->x, cf_x509_sig_is_pss_sha384);
  }
  cf_x509_check_signed(ck, "vcek_signed_by_ask", signer, inter->x, cf_x509_sig_is_pss_sha384);
  if (root) {
    /* Roles by name: ARK-<P> issues SEV-<P> (issuing SEV-VCEK) or SEV-VLEK-<P>
     * (issuing SEV-VLEK), P being the product of the pinned ARK. */
    const char *p = cf_snp_product_name(root->product);
    char ark[64], ask[64], leaf[64], want_ark[48], want_ask[48], want_vlek[48];
    cf_x509_cn(X509_get_subject_name(root->x), ark, sizeof(ark));
    cf_x509_cn(X509_get_subject_name(inter->x), ask, sizeof(ask));
    cf_x509_cn(X509_get_subject_name(signer), leaf, sizeof(leaf));
    snprintf(want_ark, sizeof(want_ark), "ARK-%s", p);
    snprintf(want_ask, sizeof(want_ask), "SEV-%s", p);
    snprintf(want_vlek, sizeof(want_vlek), "SEV-VLEK-%s", p);
    bool roles = !strcmp(ark, want_ark) &&
                 ((!strcmp(ask, want_ask) && !strcmp(leaf, "SEV-VCEK")) ||
                  (!strcmp(ask, want_vlek) && !strcmp(leaf, "SEV-VLEK")));
    cf_check_add(ck, "chain_roles", roles, "'%s' <- '%s' <- '%s'%s", ark, ask, leaf,
                 roles ? "" : ": expected ARK-<product> <- SEV-<product> <- SEV-VCEK or "
                              "ARK-<product> <- SEV-VLEK-<product> <- SEV-VLEK");
  }
  if (v->crl) {
    /* The KDS CRL is issued by the ARK and lists revoked ASKs/ASVKs. */
    if (!root)
      cf_check_add(ck, "crl_sig_valid", false, "no ARK to verify the CRL with");
    else
      cf_x509_check_crl_signed(ck, "crl_sig_valid", v->crl, root->x);
    cf_x509_check_crl_fresh(ck, "crl_fresh_at", v->crl, at);
    cf_x509_check_not_revoked(ck, "ask_not_revoked", v->crl, inter->x, "");
  }
  if (root)
    validity_check(ck, "ark_valid_at", root->x, at);
  validity_check(ck, "ask_valid_at", inter->x, at);
  validity_check(ck, "vcek_valid_at", signer, at);
}

static int fill_cache(cf_snp_verifier *v, const uint8_t *signer, size_t signer_len, time_t at,
                      cf_error *err) {
  cache_drop(v);
  v->signer_parsed = false;
  v->product = CF_SNP_PRODUCT_UNKNOWN;
  cf_error_clear(&v->signer_key_err);
  v->cache_signer = malloc(signer_len ? signer_len : 1);
  if (!v->cache_signer)
    return cf_err(err, ENOMEM, "caching the signer certificate");
  memcpy(v->cache_signer, signer, signer_len);
  v->cache_signer_len = signer_len;
  v->cache_at = at;
  v->cache_valid = true;
  /* The signer is the first certificate; any after it (ASK, ARK, as a cloud's
   * certificate service sends them) may complete its chain. */
  STACK_OF(X509) *sk = cf_x509_load_all(signer, signer_len);
  X509 *x = sk ? sk_X509_shift(sk) : NULL;
  if (!x || sk_X509_num(sk) > (int)(sizeof(v->extra) / sizeof(v->extra[0]))) {
    X509_free(x);
    sk_X509_pop_free(sk, X509_free);
    cf_check_add(&v->chain_checks, "signer_cert_parse", false,
                 "the signer file holds no readable X.509 certificate (PEM or DER: the signer, "
                 "optionally followed by up to 4 chain certificates)");
    return 0;
  }
  X509 *extra;
  while ((extra = sk_X509_shift(sk)) != NULL)
    v->extra[v->n_extra++] = classify(v, extra);
  sk_X509_free(sk);
  v->signer_parsed = true;
  cf_snp_cert_info_read(x, &v->info);
  eval_chain(v, x, at);
  EVP_PKEY *key = X509_get0_pubkey(x);
  if (!cf_pkey_is_ec_curve(key, NID_secp384r1)) {
    cf_err_status(&v->signer_key_err, CF_INVALID_ARGUMENT,
                  "the key of '%s' is not an ECDSA P-384 key", v->info.issuer_cn);
  } else {
    v->signer_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!v->signer_ctx || EVP_PKEY_verify_init(v->signer_ctx) != 1) {
      EVP_PKEY_CTX_free(v->signer_ctx);
      v->signer_ctx = NULL;
      cf_err_status(&v->signer_key_err, CF_INTERNAL, "cannot use the signer key");
    }
  }
  ERR_clear_error();
  X509_free(x);
  return 0;
}

static void tcb_str(const cf_snp_tcb *t, char *out, size_t n) {
  if (t->has_fmc)
    snprintf(out, n, "fmc=%u bl=%u tee=%u snp=%u ucode=%u", t->fmc, t->bl, t->tee, t->snp, t->ucode);
  else
    snprintf(out, n, "bl=%u tee=%u snp=%u ucode=%u", t->bl, t->tee, t->snp, t->ucode);
}

/* Reserved (must-be-zero) ranges of the report for its version; the high 24
 * bytes of the 72-byte R and S are zero for P-384. */
static bool reserved_zero(const uint8_t *raw, uint32_t version, size_t *bad) {
  const size_t ranges[][2] = {
      {0x04C, 0x050},
      {version >= 3 ? 0x18B : 0x188, 0x1A0},
      {0x1EB, 0x1EC},
      {0x1EF, 0x1F0},
      {version >= 5 ? 0x208 : 0x1F8, 0x2A0},
      {0x2A0 + 48, 0x2A0 + 72},
      {0x2E8 + 48, 0x2E8 + 72},
      {0x330, CF_SNP_REPORT_SIZE},
  };
  for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
    for (size_t o = ranges[i][0]; o < ranges[i][1]; o++)
      if (raw[o]) {
        *bad = o;
        return false;
      }
  return true;
}

static void report_checks(cf_snp_verifier *v, const uint8_t *raw, cf_snp_result *res) {
  cf_checks *ck = &res->checks;
  const cf_snp_report *r = &res->report;
  const cf_snp_cert_info *ci = &res->signer;

  size_t bad = 0;
  if (!reserved_zero(raw, r->version, &bad))
    cf_check_add(ck, "report_reserved_fields", false,
                 "reserved byte at offset 0x%zx is 0x%02x, must be zero", bad, raw[bad]);
  else if (!((r->policy >> 17) & 1))
    cf_check_add(ck, "report_reserved_fields", false,
                 "policy 0x%llx: reserved bit 17 must be one", (unsigned long long)r->policy);
  else if (r->key_info >> 5)
    cf_check_add(ck, "report_reserved_fields", false,
                 "key_info 0x%x: reserved bits 5..31 must be zero", r->key_info);
  else
    cf_check_add(ck, "report_reserved_fields", true,
                 "reserved fields zero, policy bit 17 set, key_info reserved bits clear");

  cf_check_add(ck, "signature_algo", r->signature_algo == 1,
               "signature_algo %u (1 = ECDSA P-384 with SHA-384)", r->signature_algo);

  if (!v->signer_ctx) {
    cf_check_add(ck, "report_sig_valid", false, "%s", v->signer_key_err.msg);
  } else {
    uint8_t dig[48];
    SHA384(raw, CF_SNP_SIGNED_SIZE, dig);
    bool ok = cf_ecdsa_verify_digest(v->signer_ctx, dig, sizeof(dig), r->sig_r, r->sig_s, 72, true);
    cf_check_add(ck, "report_sig_valid", ok, "ECDSA P-384 signature over bytes 0x000..0x29F %s",
                 ok ? "verifies with the signer key" : "does not verify with the signer key");
  }

  unsigned sk = CF_SNP_SIGNING_KEY(r);
  unsigned want = ci->is_vlek ? 1 : 0;
  cf_check_add(ck, "signing_key_matches_signer", sk == want,
               "report signing_key %u (0 VCEK, 1 VLEK, 7 none); signer issued by '%s' is a %s", sk,
               ci->issuer_cn, ci->is_vlek ? "VLEK" : "VCEK");

  enum cf_snp_product cpu = cf_snp_product_from_cpuid(r);
  char cert_prod[32];
  snprintf(cert_prod, sizeof(cert_prod), "%s", ci->product_name);
  char *dash = strchr(cert_prod, '-');
  if (dash)
    *dash = '\0';
  bool cpuid_known = r->version >= 3 && (r->cpuid_fam || r->cpuid_mod || r->cpuid_step);
  bool ok = res->product != CF_SNP_PRODUCT_UNKNOWN;
  const char *mismatch = "the chain's ARK";
  if (ok && cpuid_known && cpu != res->product) {
    ok = false;
    mismatch = "CPUID family/model";
  }
  if (ok && cert_prod[0] && cf_snp_product_from_name(cert_prod) != res->product) {
    ok = false;
    mismatch = "the signer's productName";
  }
  cf_check_add(ck, "product_consistent", ok,
               "chain product %s; CPUID fam 0x%02x mod 0x%02x -> %s; signer productName '%s'%s%s",
               cf_snp_product_name(res->product), r->cpuid_fam, r->cpuid_mod,
               cpuid_known ? cf_snp_product_name(cpu) : "not reported", ci->product_name,
               ok ? "" : "; mismatch in ", ok ? "" : mismatch);

  cf_snp_tcb t;
  enum cf_snp_product layout = res->product != CF_SNP_PRODUCT_UNKNOWN ? res->product : cpu;
  cf_snp_tcb_decode(r->reported_tcb, layout, &t);
  char have[96];
  tcb_str(&t, have, sizeof(have));
  bool tcb_ok = ci->bl >= 0 && ci->tee >= 0 && ci->snp >= 0 && ci->ucode >= 0 && ci->bl == t.bl &&
                ci->tee == t.tee && ci->snp == t.snp && ci->ucode == t.ucode;
  if (t.has_fmc)
    tcb_ok = tcb_ok && ci->fmc >= 0 && ci->fmc == t.fmc;
  cf_check_add(ck, "reported_tcb_matches_cert", tcb_ok,
               "reported_tcb %s; signer blSPL=%d teeSPL=%d snpSPL=%d ucodeSPL=%d fmcSPL=%d", have,
               ci->bl, ci->tee, ci->snp, ci->ucode, ci->fmc);

  if (!ci->is_vlek) {
    char chip[129], hw[129];
    cf_hex(r->chip_id, 64, chip);
    cf_hex(ci->hwid, ci->hwid_len, hw);
    bool id_ok = false;
    if (ci->hwid_len == 64)
      id_ok = memcmp(ci->hwid, r->chip_id, 64) == 0;
    else if (ci->hwid_len == 8) /* Turin: 8-byte hwID, the rest of chip_id is zero */
      id_ok = memcmp(ci->hwid, r->chip_id, 8) == 0 && cf_all_zero(r->chip_id + 8, 56);
    cf_check_add(ck, "chip_id_matches_hwID", id_ok, "chip_id %s; signer hwID %s", chip,
                 ci->hwid_len ? hw : "(absent or malformed)");
  }
}

int cf_snp_verify(cf_snp_verifier *v, const uint8_t *report, size_t report_len,
                  const uint8_t *signer, size_t signer_len, time_t at, cf_snp_result *res,
                  cf_error *err) {
  if (!v || !res || (!report && report_len) || (!signer && signer_len))
    return cf_err(err, EINVAL, "cf_snp_verify: missing argument");
  cf_checks saved = res->checks; /* keep the list's storage across calls */
  memset(res, 0, sizeof(*res));
  res->checks = saved;
  cf_checks_reset(&res->checks);
  res->product = CF_SNP_PRODUCT_UNKNOWN;

  if (!v->cache_valid || v->cache_at != at || v->cache_signer_len != signer_len ||
      memcmp(v->cache_signer, signer, signer_len) != 0) {
    int r = fill_cache(v, signer, signer_len, at, err);
    if (r)
      return r;
  }

  cf_error perr = {0};
  res->parsed = cf_snp_report_parse(report, report_len, &res->report, &perr) == 0;
  cf_check_add(&res->checks, "report_parse", res->parsed, "%s",
               res->parsed ? "0x4A0-byte report, supported version" : perr.msg);

  for (size_t i = 0; i < v->chain_checks.n; i++) {
    const cf_check *c = &v->chain_checks.items[i];
    if (cf_check_add(&res->checks, c->name, c->pass, "%s", c->reason))
      return cf_err(err, ENOMEM, "recording checks");
  }
  res->signer_parsed = v->signer_parsed;
  if (!v->signer_parsed || !res->parsed)
    return 0;
  res->signer = v->info;
  res->product = v->product;
  report_checks(v, report, res);
  return 0;
}

void cf_snp_result_free(cf_snp_result *res) {
  if (res)
    cf_checks_free(&res->checks);
}
