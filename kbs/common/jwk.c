/* TEE keys: the shapes the protocol accepts, generation, public halves. */
#include <errno.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <pthread.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_common.h"

static size_t b64url_len(const json_t *jwk, const char *key) {
  json_t *v = json_object_get(jwk, key);
  if (!json_is_string(v))
    return 0;
  size_t n = jose_b64_dec(v, NULL, 0);
  return n == SIZE_MAX ? 0 : n;
}

/* The curves' groups, built once: building one costs more than the check. */
static EC_GROUP *groups[2];
static BIGNUM *primes[2];
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;
static void groups_init(void) {
  const int nids[2] = {NID_X9_62_prime256v1, NID_secp521r1};
  for (int i = 0; i < 2; i++) {
    groups[i] = EC_GROUP_new_by_curve_name(nids[i]);
    primes[i] = BN_new();
    if (groups[i] && primes[i] && EC_GROUP_get_curve(groups[i], primes[i], NULL, NULL, NULL) != 1) {
      EC_GROUP_free(groups[i]);
      groups[i] = NULL;
    }
  }
}

/* x, y (already known to be coordinate-sized) must be field elements (< p)
 * naming a point on the curve. P-256 and P-521 have cofactor 1, so every
 * such point generates the whole group: no separate order check (which
 * would be a full scalar multiplication per request) is needed. */
static int ec_point_check(const json_t *jwk, cf_error *err) {
  pthread_once(&groups_once, groups_init);
  int i = strcmp(json_string_value(json_object_get(jwk, "crv")), "P-256") ? 1 : 0;
  if (!groups[i])
    return cf_err_status(err, CF_INTERNAL, "EC group unavailable");
  _cleanup_free_ uint8_t *x = NULL, *y = NULL;
  size_t xl, yl;
  BIGNUM *bx = NULL, *by = NULL;
  EC_POINT *pt = NULL;
  bool ok = !cf_kbs_b64url_decode(json_string_value(json_object_get(jwk, "x")), &x, &xl) &&
            !cf_kbs_b64url_decode(json_string_value(json_object_get(jwk, "y")), &y, &yl) &&
            (bx = BN_bin2bn(x, (int)xl, NULL)) && (by = BN_bin2bn(y, (int)yl, NULL)) &&
            BN_cmp(bx, primes[i]) < 0 && BN_cmp(by, primes[i]) < 0 &&
            (pt = EC_POINT_new(groups[i])) &&
            EC_POINT_set_affine_coordinates(groups[i], pt, bx, by, NULL) == 1 &&
            EC_POINT_is_on_curve(groups[i], pt, NULL) == 1 && !EC_POINT_is_at_infinity(groups[i], pt);
  EC_POINT_free(pt);
  BN_free(bx);
  BN_free(by);
  ERR_clear_error();
  return ok ? 0 : cf_err_status(err, CF_INVALID_ARGUMENT, "tee-pubkey is not a point on %s",
                                i ? "P-521" : "P-256");
}

int cf_kbs_tee_pubkey_check(const json_t *jwk, cf_error *err) {
  if (!json_is_object(jwk))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "tee-pubkey is not a JWK object");
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  const char *alg = json_string_value(json_object_get(jwk, "alg"));
  if (json_object_get(jwk, "d") || json_object_get(jwk, "p"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "tee-pubkey carries private key members");
  if (kty && !strcmp(kty, "EC")) {
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t want = crv && !strcmp(crv, "P-256") ? 32 : crv && !strcmp(crv, "P-521") ? 66 : 0;
    if (!want)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "tee-pubkey curve %s is not accepted (P-256, P-521)", crv ? crv : "(none)");
    if (!alg || strcmp(alg, "ECDH-ES+A256KW"))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "tee-pubkey alg %s: an EC key must say ECDH-ES+A256KW", alg ? alg : "(none)");
    if (b64url_len(jwk, "x") != want || b64url_len(jwk, "y") != want)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "tee-pubkey x/y are not %zu-byte base64url coordinates", want);
  } else if (kty && !strcmp(kty, "RSA")) {
    if (!alg || strcmp(alg, "RSA-OAEP-256"))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "tee-pubkey alg %s: an RSA key must say RSA-OAEP-256", alg ? alg : "(none)");
    size_t n = b64url_len(jwk, "n");
    if (n < 256 || n > 1024 || !b64url_len(jwk, "e"))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "tee-pubkey RSA modulus of %zu bytes (2048..8192 bits accepted)", n);
  } else {
    return cf_err_status(err, CF_INVALID_ARGUMENT, "tee-pubkey kty %s is not EC or RSA",
                         kty ? kty : "(none)");
  }
  if (!strcmp(kty, "EC"))
    return ec_point_check(jwk, err);
  /* The modulus must make a usable key. */
  EVP_PKEY *k = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
  if (!k)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "tee-pubkey is not a valid %s public key", kty);
  EVP_PKEY_free(k);
  return 0;
}

json_t *cf_kbs_key_generate(const char *kind, cf_error *err) {
  bool rsa = kind && !strcmp(kind, "rsa");
  if (kind && !rsa && strcmp(kind, "ec")) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "key type %s is not ec or rsa", kind);
    return NULL;
  }
  json_t *k = rsa ? json_pack("{s:s,s:i}", "kty", "RSA", "bits", 3072)
                  : json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
  if (!k || !jose_jwk_gen(NULL, k) ||
      json_object_set_new(k, "alg", json_string(rsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW"))) {
    json_decref(k);
    cf_err_status(err, CF_INTERNAL, "generating a %s key failed", rsa ? "RSA" : "EC");
    return NULL;
  }
  return k;
}

json_t *cf_kbs_key_public(const json_t *jwk, cf_error *err) {
  json_t *p = json_deep_copy(jwk);
  if (!p || !jose_jwk_pub(NULL, p)) {
    json_decref(p);
    cf_err_status(err, CF_INVALID_ARGUMENT, "not a JWK with a public part");
    return NULL;
  }
  json_object_del(p, "key_ops");
  return p;
}
