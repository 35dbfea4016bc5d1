/* Compact ES256 JWTs (attestation tokens, admin tokens): signed with
 * OpenSSL from a key prepared once, verified through libjose. */
#include <errno.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_common.h"

static bool is_p256(EVP_PKEY *k) {
  char name[32];
  return EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
         EVP_PKEY_get_group_name(k, name, sizeof(name), NULL) == 1 && !strcmp(name, "prime256v1");
}

struct cf_kbs_signer {
  EVP_PKEY *key;
  char *hdr; /* base64url of the protected header: the same for every token */
};

void cf_kbs_signer_free(cf_kbs_signer *g) {
  if (!g)
    return;
  EVP_PKEY_free(g->key);
  free(g->hdr);
  free(g);
}

/* The key is converted and checked once here, not per token: libjose's
 * jose_jws_sig rebuilds and re-validates the EC key from the JWK on every
 * call, ~1.3 M instructions of the ~1.6 M a token cost (callgrind). */
cf_kbs_signer *cf_kbs_signer_new(const json_t *priv, bool embed_jwk, cf_error *err) {
  cf_kbs_signer *g = calloc(1, sizeof(*g));
  const char *crv = json_string_value(json_object_get(priv, "crv"));
  if (g && crv && !strcmp(crv, "P-256") && json_object_get(priv, "d"))
    g->key = jose_openssl_jwk_to_EVP_PKEY(NULL, priv);
  if (!g || !g->key || !is_p256(g->key)) {
    cf_kbs_signer_free(g);
    cf_err_status(err, CF_INVALID_ARGUMENT, "the ES256 signing key is not an EC P-256 private JWK");
    return NULL;
  }
  json_t *hdr = json_pack("{s:s,s:s}", "alg", "ES256", "typ", "JWT");
  json_t *pub = embed_jwk ? cf_kbs_key_public(priv, err) : NULL;
  if (pub)
    json_object_del(pub, "alg"), json_object_set_new(hdr, "jwk", pub);
  _cleanup_free_ char *text = hdr && (pub || !embed_jwk) ? json_dumps(hdr, JSON_COMPACT) : NULL;
  json_decref(hdr);
  g->hdr = text ? cf_kbs_b64url_encode((const uint8_t *)text, strlen(text)) : NULL;
  if (!g->hdr) {
    cf_kbs_signer_free(g);
    cf_err(err, ENOMEM, "JWS header");
    return NULL;
  }
  return g;
}

/* ES256 (RFC 7518 3.4): ECDSA P-256 over SHA-256 of "header.payload", the
 * signature as the 32-byte big-endian R then S. */
char *cf_kbs_signer_jwt(const cf_kbs_signer *g, const json_t *claims, cf_error *err) {
  _cleanup_free_ char *payload = json_dumps(claims, JSON_COMPACT);
  _cleanup_free_ char *b = payload ? cf_kbs_b64url_encode((const uint8_t *)payload, strlen(payload)) : NULL;
  char *input = NULL, *out = NULL;
  if (!b || asprintf(&input, "%s.%s", g->hdr, b) < 0) {
    cf_err(err, ENOMEM, "JWT");
    return NULL;
  }
  uint8_t dig[32], der[80], raw[64];
  size_t dlen = sizeof(der);
  SHA256((const uint8_t *)input, strlen(input), dig);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, g->key, NULL);
  ECDSA_SIG *sig = NULL;
  const uint8_t *p = der;
  if (ctx && EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_sign(ctx, der, &dlen, dig, sizeof(dig)) == 1 &&
      (sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) &&
      BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 &&
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32) {
    _cleanup_free_ char *s = cf_kbs_b64url_encode(raw, sizeof(raw));
    if (!s || asprintf(&out, "%s.%s", input, s) < 0)
      out = NULL;
  }
  ECDSA_SIG_free(sig);
  EVP_PKEY_CTX_free(ctx);
  free(input);
  if (!out)
    cf_err_status(err, CF_INTERNAL, "signing a JWT with ES256 failed");
  return out;
}

char *cf_kbs_jwt_sign(const json_t *priv, const json_t *claims, bool embed_jwk, cf_error *err) {
  cf_kbs_signer *g = cf_kbs_signer_new(priv, embed_jwk, err);
  char *jwt = g ? cf_kbs_signer_jwt(g, claims, err) : NULL;
  cf_kbs_signer_free(g);
  return jwt;
}

json_t *cf_kbs_jwt_verify(const json_t *pub, const char *jwt, long long now, cf_error *err) {
  const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.') || strlen(jwt) > 65536) {
    cf_err_status(err, CF_UNAUTHENTICATED, "token is not a compact JWS");
    return NULL;
  }
  json_t *jws = json_pack("{s:s%,s:s%,s:s}", "protected", jwt, (size_t)(d1 - jwt), "payload",
                          d1 + 1, (size_t)(d2 - d1 - 1), "signature", d2 + 1);
  json_t *hdr = jws ? jose_b64_dec_load(json_object_get(jws, "protected")) : NULL;
  const char *alg = json_string_value(json_object_get(hdr, "alg"));
  json_t *claims = NULL;
  if (!alg || strcmp(alg, "ES256")) {
    cf_err_status(err, CF_UNAUTHENTICATED, "token alg %s is not ES256", alg ? alg : "(none)");
  } else if (!jose_jws_ver(NULL, jws, NULL, pub, false)) {
    cf_err_status(err, CF_UNAUTHENTICATED, "token signature does not verify with the trusted key");
  } else if (!(claims = jose_b64_dec_load(json_object_get(jws, "payload"))) ||
             !json_is_object(claims)) {
    cf_err_status(err, CF_UNAUTHENTICATED, "token payload is not a JSON object");
    json_decref(claims);
    claims = NULL;
  } else {
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    if (!json_is_integer(exp) || json_integer_value(exp) <= now ||
        (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now))) {
      cf_err_status(err, CF_UNAUTHENTICATED, "token expired or not yet valid (exp %lld, now %lld)",
                    json_is_integer(exp) ? (long long)json_integer_value(exp) : -1LL, now);
      json_decref(claims);
      claims = NULL;
    }
  }
  json_decref(hdr);
  json_decref(jws);
  return claims;
}
