/* X.509 loading, fingerprints, validity and signature checks (OpenSSL). */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"

static bool looks_pem(const uint8_t *buf, size_t len) {
  return len >= 10 && memmem(buf, len, "-----BEGIN", 10) != NULL;
}

STACK_OF(X509) *cf_x509_load_all(const uint8_t *buf, size_t len) {
  if (!buf || len == 0 || len > (1u << 24))
    return NULL;
  STACK_OF(X509) *sk = sk_X509_new_null();
  if (!sk)
    return NULL;
  if (!looks_pem(buf, len)) {
    const uint8_t *p = buf;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != buf + len || !sk_X509_push(sk, x)) {
      X509_free(x);
      sk_X509_free(sk);
      return NULL;
    }
    return sk;
  }
  BIO *bio = BIO_new_mem_buf(buf, (int)len);
  if (!bio) {
    sk_X509_free(sk);
    return NULL;
  }
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (!sk_X509_push(sk, x)) {
      X509_free(x);
      break;
    }
  }
  ERR_clear_error();
  BIO_free(bio);
  if (sk_X509_num(sk) == 0) {
    sk_X509_free(sk);
    return NULL;
  }
  return sk;
}

X509 *cf_x509_load_one(const uint8_t *buf, size_t len) {
  STACK_OF(X509) *sk = cf_x509_load_all(buf, len);
  if (!sk)
    return NULL;
  X509 *x = NULL;
  if (sk_X509_num(sk) == 1)
    x = sk_X509_shift(sk);
  sk_X509_pop_free(sk, X509_free);
  return x;
}

void cf_x509_sha256(X509 *x, uint8_t out[32]) {
  unsigned int n = 32;
  if (!X509_digest(x, EVP_sha256(), out, &n))
    memset(out, 0, 32);
}

int cf_x509_time_check(X509 *x, time_t at) {
  time_t t = at;
  int a = X509_cmp_time(X509_get0_notBefore(x), &t);
  int b = X509_cmp_time(X509_get0_notAfter(x), &t);
  if (a == 0 || b == 0)
    return -2;
  if (a > 0)
    return -1;
  if (b < 0)
    return 1;
  return 0;
}

time_t cf_asn1_time_t(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || !ASN1_TIME_to_tm(t, &tm))
    return (time_t)-1;
  return timegm(&tm);
}

void cf_asn1_time_str(const ASN1_TIME *t, char *out, size_t n) {
  struct tm tm;
  if (!t || !ASN1_TIME_to_tm(t, &tm)) {
    snprintf(out, n, "?");
    return;
  }
  strftime(out, n, "%Y-%m-%d %H:%M:%S+00:00", &tm);
}

void cf_x509_name_rfc2253(const X509_NAME *n, char *out, size_t len) {
  out[0] = '\0';
  BIO *b = BIO_new(BIO_s_mem());
  if (!b)
    return;
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  int r = BIO_read(b, out, (int)len - 1);
  out[r > 0 ? r : 0] = '\0';
  BIO_free(b);
}

void cf_x509_cn(const X509_NAME *n, char *out, size_t len) {
  out[0] = '\0';
  int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
  if (i < 0)
    return;
  const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
  size_t l = (size_t)ASN1_STRING_length(s);
  if (l >= len)
    l = len - 1;
  memcpy(out, ASN1_STRING_get0_data(s), l);
  out[l] = '\0';
  for (size_t k = 0; k < l; k++)
    if ((unsigned char)out[k] < 0x20 || (unsigned char)out[k] > 0x7e)
      out[k] = '?';
}

int cf_x509_signed_by(X509 *child, X509 *issuer, cf_error *err) {
  char cn[64], icn[64];
  cf_x509_cn(X509_get_subject_name(child), cn, sizeof(cn));
  cf_x509_cn(X509_get_subject_name(issuer), icn, sizeof(icn));
  if (X509_NAME_cmp(X509_get_issuer_name(child), X509_get_subject_name(issuer)) != 0) {
    char in[64];
    cf_x509_cn(X509_get_issuer_name(child), in, sizeof(in));
    return cf_err_status(err, CF_PERMISSION_DENIED, "issuer of '%s' is '%s', not '%s'", cn, in,
                         icn);
  }
  EVP_PKEY *k = X509_get0_pubkey(issuer);
  if (!k)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "public key of '%s' unreadable", icn);
  int r = X509_verify(child, k);
  ERR_clear_error();
  if (r != 1)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "signature on '%s' does not verify with the key of '%s'", cn, icn);
  return 0;
}

static int sig_info(X509 *x, int want_md, int want_pk, const char *label, cf_error *err) {
  int mdnid = NID_undef, pknid = NID_undef;
  if (X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL) && mdnid == want_md &&
      pknid == want_pk)
    return 0;
  ERR_clear_error();
  char cn[64];
  cf_x509_cn(X509_get_subject_name(x), cn, sizeof(cn));
  const X509_ALGOR *alg;
  X509_get0_signature(NULL, &alg, x);
  char name[80] = "?";
  if (alg)
    OBJ_obj2txt(name, sizeof(name), alg->algorithm, 0);
  return cf_err_status(err, CF_PERMISSION_DENIED, "'%s' is signed with %s (digest %s), expected %s",
                       cn, name, mdnid != NID_undef ? OBJ_nid2sn(mdnid) : "?", label);
}

int cf_x509_sig_is_pss_sha384(X509 *x, cf_error *err) {
  return sig_info(x, NID_sha384, NID_rsassaPss, "RSASSA-PSS with SHA-384", err);
}

int cf_x509_sig_is_ecdsa_sha256(X509 *x, cf_error *err) {
  return sig_info(x, NID_sha256, NID_X9_62_id_ecPublicKey, "ECDSA with SHA-256", err);
}

bool cf_x509_check_signed(cf_checks *ck, const char *name, X509 *child, X509 *issuer,
                          int (*alg_ok)(X509 *, cf_error *)) {
  cf_error err = {0}, alg_err = {0};
  bool ok = cf_x509_signed_by(child, issuer, &err) == 0;
  bool alg = alg_ok(child, &alg_err) == 0;
  if (ok && alg) {
    char cn[64], icn[64];
    cf_x509_cn(X509_get_subject_name(child), cn, sizeof(cn));
    cf_x509_cn(X509_get_subject_name(issuer), icn, sizeof(icn));
    cf_check_add(ck, name, true, "'%s' is signed by '%s'", cn, icn);
  } else {
    cf_check_add(ck, name, false, "%s", ok ? alg_err.msg : err.msg);
  }
  return ok && alg;
}

const ASN1_OCTET_STRING *cf_x509_ext_data(X509 *x, const char *oid) {
  ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
  if (!obj)
    return NULL;
  int i = X509_get_ext_by_OBJ(x, obj, -1);
  ASN1_OBJECT_free(obj);
  if (i < 0)
    return NULL;
  return X509_EXTENSION_get_data(X509_get_ext(x, i));
}

X509_CRL *cf_x509_crl_load(const uint8_t *buf, size_t len) {
  if (!buf || len == 0 || len > (1u << 24))
    return NULL;
  X509_CRL *crl = NULL;
  if (looks_pem(buf, len)) {
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    if (b)
      crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
    BIO_free(b);
  } else {
    const uint8_t *p = buf;
    crl = d2i_X509_CRL(NULL, &p, (long)len);
    if (crl && p != buf + len) {
      X509_CRL_free(crl);
      crl = NULL;
    }
  }
  ERR_clear_error();
  return crl;
}

bool cf_x509_check_crl_fresh(cf_checks *ck, const char *name, X509_CRL *crl, time_t at) {
  time_t t = at;
  const ASN1_TIME *lu = X509_CRL_get0_lastUpdate(crl), *nu = X509_CRL_get0_nextUpdate(crl);
  bool fresh = lu && nu && X509_cmp_time(lu, &t) < 0 && X509_cmp_time(nu, &t) > 0;
  char a[40], b[40];
  cf_asn1_time_str(lu, a, sizeof(a));
  cf_asn1_time_str(nu, b, sizeof(b));
  cf_check_add(ck, name, fresh, "CRL this update %s, next update %s: %s", a, b,
               fresh ? "current at the verification time" : "not current at the verification time");
  return fresh;
}

bool cf_x509_check_crl_signed(cf_checks *ck, const char *name, X509_CRL *crl, X509 *issuer) {
  char icn[64], ccn[64];
  cf_x509_cn(X509_CRL_get_issuer(crl), ccn, sizeof(ccn));
  cf_x509_cn(X509_get_subject_name(issuer), icn, sizeof(icn));
  bool same = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) == 0;
  bool ok = same && X509_CRL_verify(crl, X509_get0_pubkey(issuer)) == 1;
  ERR_clear_error();
  cf_check_add(ck, name, ok, "CRL issued by '%s' %s '%s'", ccn,
               !same ? "is not from" : ok ? "is signed by" : "has a bad signature for", icn);
  return ok;
}

bool cf_x509_check_not_revoked(cf_checks *ck, const char *name, X509_CRL *crl, X509 *subject,
                               const char *suffix) {
  X509_REVOKED *rev = NULL;
  bool revoked = X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(subject)) == 1;
  char cn[64];
  cf_x509_cn(X509_get_subject_name(subject), cn, sizeof(cn));
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(subject), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  cf_check_add(ck, name, !revoked, "'%s' serial %s %s the CRL%s", cn, hex ? hex : "?",
               revoked ? "is listed in" : "is not listed in", suffix);
  OPENSSL_free(hex);
  BN_free(bn);
  return !revoked;
}
