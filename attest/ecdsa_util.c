/* ECDSA verification with raw (r||s) signatures and raw public keys. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <string.h>

#include "attest_internal.h"

EVP_PKEY *cf_ec_p256_from_raw(const uint8_t xy[64]) {
  uint8_t pub[65];
  pub[0] = 0x04;
  memcpy(pub + 1, xy, 64);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    key = NULL;
  EVP_PKEY_CTX_free(ctx);
  if (key) {
    /* fromdata does not prove the point is on the curve: check explicitly. */
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!chk || EVP_PKEY_public_check(chk) != 1) {
      EVP_PKEY_free(key);
      key = NULL;
    }
    EVP_PKEY_CTX_free(chk);
  }
  ERR_clear_error();
  return key;
}

bool cf_pkey_is_ec_curve(EVP_PKEY *k, int nid) {
  if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
    return false;
  char name[64];
  if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), NULL))
    return false;
  return OBJ_sn2nid(name) == nid || OBJ_ln2nid(name) == nid || EC_curve_nist2nid(name) == nid;
}

static BIGNUM *scalar(const uint8_t *b, size_t n, bool le) {
  return le ? BN_lebin2bn(b, (int)n, NULL) : BN_bin2bn(b, (int)n, NULL);
}

bool cf_ecdsa_verify_digest(EVP_PKEY_CTX *ctx, const uint8_t *digest, size_t dlen,
                            const uint8_t *r, const uint8_t *s, size_t n, bool le) {
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *br = scalar(r, n, le), *bs = scalar(s, n, le);
  bool ok = false;
  if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs)) {
    br = bs = NULL; /* owned by sig now */
    uint8_t der[160], *p = der;
    int dl = i2d_ECDSA_SIG(sig, NULL);
    if (dl > 0 && (size_t)dl <= sizeof(der) && i2d_ECDSA_SIG(sig, &p) == dl)
      ok = EVP_PKEY_verify(ctx, der, (size_t)dl, digest, dlen) == 1;
  }
  BN_free(br);
  BN_free(bs);
  ECDSA_SIG_free(sig);
  ERR_clear_error();
  return ok;
}

bool cf_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg, size_t mlen,
                         const uint8_t *sig_rs, size_t n) {
  uint8_t dig[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  if (!key || !EVP_Digest(msg, mlen, dig, &dl, md, NULL))
    return false;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
            cf_ecdsa_verify_digest(ctx, dig, dl, sig_rs, sig_rs + n, n, false);
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}
