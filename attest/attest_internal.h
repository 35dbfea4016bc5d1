/* Helpers shared by the attest/ sources; not part of the public API. */
#ifndef COFFER_ATTEST_INTERNAL_H
#define COFFER_ATTEST_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "coffer/attest.h"

/* ---- byte helpers (bytes.c) ---- */
static inline uint16_t cf_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t cf_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cf_le64(const uint8_t *p) {
  return (uint64_t)cf_le32(p) | (uint64_t)cf_le32(p + 4) << 32;
}
/* Lower-case hex of `n` bytes into `out` (2n+1 bytes). */
void cf_hex(const uint8_t *b, size_t n, char *out);
/* Decodes exactly `n` bytes of hex (either case); -EINVAL otherwise. */
int cf_unhex(const char *s, uint8_t *out, size_t n);
bool cf_all_zero(const uint8_t *b, size_t n);

/* ---- X.509 helpers (x509_util.c) ---- */
/* Every certificate in a PEM bundle, or the one DER certificate. */
STACK_OF(X509) *cf_x509_load_all(const uint8_t *buf, size_t len);
X509 *cf_x509_load_one(const uint8_t *buf, size_t len);
void cf_x509_sha256(X509 *x, uint8_t out[32]);
/* -1 before notBefore, 1 after notAfter, 0 inside, -2 unreadable. */
int cf_x509_time_check(X509 *x, time_t at);
/* "2029-09-24 00:55:28+00:00" */
void cf_asn1_time_str(const ASN1_TIME *t, char *out, size_t n);
time_t cf_asn1_time_t(const ASN1_TIME *t);
void cf_x509_name_rfc2253(const X509_NAME *n, char *out, size_t len);
void cf_x509_cn(const X509_NAME *n, char *out, size_t len);
/* Verifies `child`'s signature with `issuer`'s key and that its issuer name
 * is `issuer`'s subject; 0, or a negative errno with `err` saying why. */
int cf_x509_signed_by(X509 *child, X509 *issuer, cf_error *err);
/* Signature algorithm is RSASSA-PSS with SHA-384 (AMD chains). */
int cf_x509_sig_is_pss_sha384(X509 *x, cf_error *err);
/* Signature algorithm is ECDSA with SHA-256 (Intel chains). */
int cf_x509_sig_is_ecdsa_sha256(X509 *x, cf_error *err);
/* Adds check `name`: `child` signed by `issuer` with the algorithm `alg_ok`
 * accepts. Returns whether it passed. */
bool cf_x509_check_signed(cf_checks *ck, const char *name, X509 *child, X509 *issuer,
                          int (*alg_ok)(X509 *, cf_error *));
/* A DER or PEM CRL, or NULL. */
X509_CRL *cf_x509_crl_load(const uint8_t *buf, size_t len);
/* CRL checks; each adds check `name` describing what was compared. */
bool cf_x509_check_crl_fresh(cf_checks *ck, const char *name, X509_CRL *crl, time_t at);
bool cf_x509_check_crl_signed(cf_checks *ck, const char *name, X509_CRL *crl, X509 *issuer);
/* Passes when `subject`'s serial is not listed; `suffix` ends the reason. */
bool cf_x509_check_not_revoked(cf_checks *ck, const char *name, X509_CRL *crl, X509 *subject,
                               const char *suffix);
/* Extension contents by dotted OID, or NULL. */
const ASN1_OCTET_STRING *cf_x509_ext_data(X509 *x, const char *oid);

/* ---- ECDSA helpers (ecdsa_util.c) ---- */
/* P-256 public key from raw x||y (64 bytes). NULL if not a curve point. */
EVP_PKEY *cf_ec_p256_from_raw(const uint8_t xy[64]);
/* Verifies a signature given as big-endian r||s (2*n bytes) over `digest`. */
bool cf_ecdsa_verify_digest(EVP_PKEY_CTX *ctx, const uint8_t *digest, size_t dlen,
                            const uint8_t *r, const uint8_t *s, size_t n, bool little_endian);
/* Same with a one-shot context. */
bool cf_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t mlen,
                         const uint8_t *sig_rs, size_t n);
/* Key is EC on the named curve (NID). */
bool cf_pkey_is_ec_curve(EVP_PKEY *k, int nid);

/* ---- DER reader (der.c) ---- */
typedef struct cf_der {
  uint8_t tag;
  const uint8_t *val;
  size_t len;
} cf_der;
/* Reads one TLV at *p (< end) and advances *p past it. -EINVAL on bad DER. */
int cf_der_next(const uint8_t **p, const uint8_t *end, cf_der *out);
/* Small non-negative INTEGER value; -1 if not one. */
long cf_der_small_int(const cf_der *d);

/* ---- JSON span (json_span.c) ---- */
/* Finds the raw text of the value of top-level `key` in a JSON object text. */
int cf_json_top_value_span(const char *text, size_t len, const char *key,
                           const char **start, size_t *span_len);

/* ---- SNP certificate facts (snp_certs.c) ---- */
typedef struct cf_snp_builtin_cert {
  enum cf_snp_product product;
  const char *role; /* "ARK", "ASK", "ASVK" */
  const char *pem;
  const char *sha256_hex;
} cf_snp_builtin_cert;
extern const cf_snp_builtin_cert cf_snp_builtin_certs[];
extern const size_t cf_snp_builtin_cert_count;
int cf_snp_cert_info_read(X509 *x, cf_snp_cert_info *out);

/* ---- TDX helpers ---- */
extern const char cf_intel_root_ca_pem[];
extern const char cf_intel_root_ca_sha256_hex[];
int cf_tdx_pck_info_read(X509 *pck, cf_tdx_pck_info *out, cf_error *err);
/* Evaluates collateral, appending checks and filling the TCB fields of res. */
int cf_tdx_collateral_eval(const cf_tdx_collateral *c, X509 *root, X509 *platform_ca,
                           X509 *pck, time_t at, cf_tdx_result *res);

#endif
