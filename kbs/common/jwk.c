/* TEE keys: the shapes the protocol accepts, generation, public halves. */
#include <errno.h>
#include <jose/jose.h>
#include <jose/openssl.h>
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
  /* The point must be on the curve, the modulus a usable key. */
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
