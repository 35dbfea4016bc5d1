/* TDX quote verification: quote signature by the attestation key, QE report
 * signature by the PCK key, QE report_data binding, PCK chain to the pinned
 * Intel SGX Root CA; collateral (TCB status) when given. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"

static const uint8_t INTEL_QE_VENDOR_ID[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

struct cf_tdx_verifier {
  X509 *root; /* pinned */
  /* PCK chain cache, keyed by the chain bytes and the verification time. */
  bool chain_cached;
  uint8_t *chain_pem;
  size_t chain_len;
  time_t chain_at;
  STACK_OF(X509) *chain;
  EVP_PKEY_CTX *pck_ctx;
  cf_checks chain_checks;
  bool pck_parsed;
  cf_tdx_pck_info pck;
  size_t cert_count;
  char subjects[3][160];
  char nb[32], na[32];
  uint8_t root_sha[32];
  /* Attestation key cache: the key object for the last raw key. */
  bool ak_cached;
  uint8_t ak_raw[64];
  EVP_PKEY_CTX *ak_ctx; /* NULL: not a P-256 point */
};

cf_tdx_verifier *cf_tdx_verifier_new(cf_error *err) {
  cf_tdx_verifier *v = calloc(1, sizeof(*v));
  if (!v) {
    cf_err(err, ENOMEM, "allocating the TDX verifier");
    return NULL;
  }
  v->root = cf_x509_load_one((const uint8_t *)cf_intel_root_ca_pem, strlen(cf_intel_root_ca_pem));
  uint8_t fp[32], want[32];
  if (v->root)
    cf_x509_sha256(v->root, fp);
  if (!v->root || cf_unhex(cf_intel_root_ca_sha256_hex, want, 32) || memcmp(fp, want, 32)) {
    cf_err_status(err, CF_INTERNAL, "built-in Intel SGX Root CA does not match its pinned SHA-256");
    cf_tdx_verifier_free(v);
    return NULL;
  }
  return v;
}

static void chain_drop(cf_tdx_verifier *v) {
  free(v->chain_pem);
  v->chain_pem = NULL;
  sk_X509_pop_free(v->chain, X509_free);
  v->chain = NULL;
  EVP_PKEY_CTX_free(v->pck_ctx);
  v->pck_ctx = NULL;
  cf_checks_reset(&v->chain_checks);
  v->chain_cached = false;
}

void cf_tdx_verifier_free(cf_tdx_verifier *v) {
  if (!v)
    return;
  chain_drop(v);
  cf_checks_free(&v->chain_checks);
  EVP_PKEY_CTX_free(v->ak_ctx);
  X509_free(v->root);
  free(v);
}

static void link_check(cf_checks *ck, const char *name, X509 *child, X509 *issuer) {
  cf_x509_check_signed(ck, name, child, issuer, cf_x509_sig_is_ecdsa_sha256);
}

static void eval_chain(cf_tdx_verifier *v, time_t at) {
  cf_checks *ck = &v->chain_checks;
  int n = v->chain ? sk_X509_num(v->chain) : 0;
  v->cert_count = (size_t)n;
  for (int i = 0; i < n && i < 3; i++)
    cf_x509_name_rfc2253(X509_get_subject_name(sk_X509_value(v->chain, i)), v->subjects[i],
                         sizeof(v->subjects[i]));
  if (n != 3) {
    cf_check_add(ck, "pck_chain_parse", false,
                 "PCK certification data holds %d readable certificates, expected 3 (PCK, "
                 "Platform/Processor CA, Root CA)", n);
    return;
  }
  cf_check_add(ck, "pck_chain_parse", true, "3 certificates: PCK, intermediate CA, root CA");
  X509 *pck = sk_X509_value(v->chain, 0), *inter = sk_X509_value(v->chain, 1),
       *root = sk_X509_value(v->chain, 2);
  char hex[65], want[65];
  cf_x509_sha256(root, v->root_sha);
  cf_hex(v->root_sha, 32, hex);
  uint8_t pin[32];
  cf_x509_sha256(v->root, pin);
  cf_hex(pin, 32, want);
  bool pinned = memcmp(v->root_sha, pin, 32) == 0;
  cf_check_add(ck, "root==trusted_root", pinned, "chain root SHA-256 %s %s %s", hex,
               pinned ? "equals the pinned Intel SGX Root CA" : "differs from the pinned", want);
  link_check(ck, "CHAIN root self", root, root);
  link_check(ck, "CHAIN inter<-root", inter, root);
  link_check(ck, "CHAIN pck<-inter", pck, inter);

  /* Roles: only a PCK CA (a CA certificate) may issue the PCK certificate. */
  char lcn[64], icn[64];
  cf_x509_cn(X509_get_subject_name(pck), lcn, sizeof(lcn));
  cf_x509_cn(X509_get_subject_name(inter), icn, sizeof(icn));
  bool roles = !strcmp(lcn, "Intel SGX PCK Certificate") &&
               (!strcmp(icn, "Intel SGX PCK Platform CA") ||
                !strcmp(icn, "Intel SGX PCK Processor CA")) &&
               X509_check_ca(inter) > 0 && X509_check_ca(pck) == 0;
  ERR_clear_error();
  cf_check_add(ck, "pck_chain_roles", roles, "leaf '%s', intermediate '%s'%s", lcn, icn,
               roles ? ": a PCK certificate issued by a PCK CA"
                     : ": expected an Intel SGX PCK Certificate issued by the PCK Platform or "
                       "Processor CA");

  /* The window in which every certificate of the chain is valid. */
  const ASN1_TIME *nb = NULL, *na = NULL;
  int bad = -1;
  for (int i = 0; i < 3; i++) {
    X509 *x = sk_X509_value(v->chain, i);
    if (!nb || ASN1_TIME_compare(X509_get0_notBefore(x), nb) > 0)
      nb = X509_get0_notBefore(x);
    if (!na || ASN1_TIME_compare(X509_get0_notAfter(x), na) < 0)
      na = X509_get0_notAfter(x);
    if (bad < 0 && cf_x509_time_check(x, at) != 0)
      bad = i;
  }
  cf_asn1_time_str(nb, v->nb, sizeof(v->nb));
  cf_asn1_time_str(na, v->na, sizeof(v->na));
  if (bad >= 0) {
    char cn[64];
    cf_x509_cn(X509_get_subject_name(sk_X509_value(v->chain, bad)), cn, sizeof(cn));
    cf_check_add(ck, "pck_chain_valid_at", false,
                 "'%s' is not valid at the verification time (chain window %s .. %s)", cn, v->nb,
                 v->na);
  } else {
    cf_check_add(ck, "pck_chain_valid_at", true, "every certificate valid (window %s .. %s)",
                 v->nb, v->na);
  }

  cf_error perr = {0};
  v->pck_parsed = cf_tdx_pck_info_read(pck, &v->pck, &perr) == 0;
  cf_check_add(ck, "pck_extensions", v->pck_parsed, "%s",
               v->pck_parsed ? "FMSPC, PCE-ID, PCESVN, CPUSVN and 16 TCB components read"
                             : perr.msg);

  EVP_PKEY *key = X509_get0_pubkey(pck);
  if (cf_pkey_is_ec_curve(key, NID_X9_62_prime256v1)) {
    v->pck_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (v->pck_ctx && EVP_PKEY_verify_init(v->pck_ctx) != 1) {
      EVP_PKEY_CTX_free(v->pck_ctx);
      v->pck_ctx = NULL;
    }
  }
  ERR_clear_error();
}

static int load_chain(cf_tdx_verifier *v, const cf_tdx_quote *q, time_t at, cf_error *err) {
  size_t len = q->inner_cert_data_size;
  if (v->chain_cached && v->chain_at == at && v->chain_len == len &&
      memcmp(v->chain_pem, q->pck_chain, len) == 0)
    return 0;
  chain_drop(v);
  v->pck_parsed = false;
  v->cert_count = 0;
  memset(v->subjects, 0, sizeof(v->subjects));
  v->nb[0] = v->na[0] = '\0';
  memset(v->root_sha, 0, sizeof(v->root_sha));
  v->chain_pem = malloc(len ? len : 1);
  if (!v->chain_pem)
    return cf_err(err, ENOMEM, "caching the PCK chain");
  memcpy(v->chain_pem, q->pck_chain, len);
  v->chain_len = len;
  v->chain_at = at;
  v->chain_cached = true;
  v->chain = cf_x509_load_all(q->pck_chain, len);
  eval_chain(v, at);
  return 0;
}

static void quote_checks(cf_tdx_verifier *v, cf_tdx_result *res) {
  cf_checks *ck = &res->checks;
  const cf_tdx_quote *q = &res->quote;

  size_t qe_need = 384 + 64 + 2 + (size_t)q->qe_auth_data_len + 6 + q->inner_cert_data_size;
  bool consistent = (size_t)q->sig_data_len == 134 + (size_t)q->outer_cert_data_size &&
                    (size_t)q->outer_cert_data_size == qe_need;
  cf_check_add(ck, "outer_cert_data_size_consistent", consistent,
               "signature data %u bytes = 134 + certification data %u (= QE report, signature, "
               "%u auth bytes and a %u-byte PCK chain: %zu)%s",
               q->sig_data_len, q->outer_cert_data_size, q->qe_auth_data_len,
               q->inner_cert_data_size, qe_need, consistent ? "" : ": sizes disagree");

  char vid[33];
  cf_hex(q->qe_vendor_id, 16, vid);
  bool intel = memcmp(q->qe_vendor_id, INTEL_QE_VENDOR_ID, 16) == 0;
  cf_check_add(ck, "qe_vendor_id_intel", intel, "QE vendor id %s %s", vid,
               intel ? "is Intel's quoting enclave" : "is not Intel's quoting enclave "
                                                      "(939a7233f79c4ca9940a0db3957f0607)");

  /* Attestation key: P-256 point, cached by its raw bytes. */
  if (!v->ak_cached || memcmp(v->ak_raw, q->attestation_key, 64) != 0) {
    EVP_PKEY_CTX_free(v->ak_ctx);
    v->ak_ctx = NULL;
    EVP_PKEY *ak = cf_ec_p256_from_raw(q->attestation_key);
    if (ak) {
      v->ak_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ak, NULL);
      if (v->ak_ctx && EVP_PKEY_verify_init(v->ak_ctx) != 1) {
        EVP_PKEY_CTX_free(v->ak_ctx);
        v->ak_ctx = NULL;
      }
      EVP_PKEY_free(ak);
    }
    memcpy(v->ak_raw, q->attestation_key, 64);
    v->ak_cached = true;
  }
  uint8_t dig[32];
  if (!v->ak_ctx) {
    cf_check_add(ck, "QUOTE_SIG_VALID", false, "attestation key is not a valid P-256 point");
  } else {
    SHA256(q->signed_data, q->signed_len, dig);
    bool ok = cf_ecdsa_verify_digest(v->ak_ctx, dig, 32, q->signature, q->signature + 32, 32, false);
    cf_check_add(ck, "QUOTE_SIG_VALID", ok,
                 "ECDSA P-256 signature over header and TD report (%zu bytes) %s", q->signed_len,
                 ok ? "verifies with the attestation key" : "does not verify with the attestation key");
  }

  if (!v->pck_ctx) {
    cf_check_add(ck, "QE_REPORT_SIG_VALID(PCK)", false,
                 "no usable P-256 PCK key in the certification data");
  } else {
    SHA256(q->qe_report_raw, 384, dig);
    bool ok = cf_ecdsa_verify_digest(v->pck_ctx, dig, 32, q->qe_report_sig, q->qe_report_sig + 32,
                                     32, false);
    cf_check_add(ck, "QE_REPORT_SIG_VALID(PCK)", ok, "QE report signature %s with the PCK key",
                 ok ? "verifies" : "does not verify");
  }

  EVP_MD_CTX *md = EVP_MD_CTX_new();
  bool hashed = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                EVP_DigestUpdate(md, q->attestation_key, 64) == 1 &&
                EVP_DigestUpdate(md, q->qe_auth_data, q->qe_auth_data_len) == 1 &&
                EVP_DigestFinal_ex(md, dig, NULL) == 1;
  EVP_MD_CTX_free(md);
  bool bind = hashed && memcmp(dig, q->qe_report.report_data, 32) == 0 &&
              cf_all_zero(q->qe_report.report_data + 32, 32);
  char have[129], want[65];
  cf_hex(q->qe_report.report_data, 64, have);
  cf_hex(dig, 32, want);
  cf_check_add(ck, "QE_REPORTDATA_BINDING_OK", bind,
               "QE report_data %s; SHA-256(attestation key || auth data) %s followed by 32 zero "
               "bytes %s", have, want, bind ? "matches" : "expected");
}

int cf_tdx_verify(cf_tdx_verifier *v, const uint8_t *quote, size_t len, time_t at,
                  const cf_tdx_collateral *coll, cf_tdx_result *res, cf_error *err) {
  if (!v || !res || (!quote && len))
    return cf_err(err, EINVAL, "cf_tdx_verify: missing argument");
  cf_checks saved = res->checks;
  memset(res, 0, sizeof(*res));
  res->checks = saved;
  cf_checks_reset(&res->checks);

  cf_error perr = {0};
  res->parsed = cf_tdx_quote_parse(quote, len, &res->quote, &perr) == 0;
  cf_check_add(&res->checks, "quote_parse", res->parsed, "%s",
               res->parsed ? "quote structure, certification data and PCK chain located"
                           : perr.msg);
  if (!res->parsed)
    return 0;
  int r = load_chain(v, &res->quote, at, err);
  if (r)
    return r;
  for (size_t i = 0; i < v->chain_checks.n; i++) {
    const cf_check *c = &v->chain_checks.items[i];
    if (cf_check_add(&res->checks, c->name, c->pass, "%s", c->reason))
      return cf_err(err, ENOMEM, "recording checks");
  }
  res->chain_cert_count = v->cert_count;
  memcpy(res->chain_subjects, v->subjects, sizeof(res->chain_subjects));
  memcpy(res->chain_not_before, v->nb, sizeof(v->nb));
  memcpy(res->chain_not_after, v->na, sizeof(v->na));
  memcpy(res->root_sha256, v->root_sha, 32);
  res->pck_parsed = v->pck_parsed;
  res->pck = v->pck;
  quote_checks(v, res);

  if (coll && (coll->tcb_info || coll->qe_identity || coll->pck_crl || coll->root_crl)) {
    X509 *inter = v->cert_count == 3 ? sk_X509_value(v->chain, 1) : NULL;
    X509 *pck = v->cert_count == 3 ? sk_X509_value(v->chain, 0) : NULL;
    r = cf_tdx_collateral_eval(coll, v->root, inter, pck, at, res);
    if (r)
      return cf_err(err, -r, "evaluating collateral");
  }
  return 0;
}

void cf_tdx_result_free(cf_tdx_result *res) {
  if (res)
    cf_checks_free(&res->checks);
}
