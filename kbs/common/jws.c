/* Compact ES256 JWTs (attestation tokens, admin tokens) through libjose. */
#include <errno.h>
#include <jose/jose.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_common.h"

char *cf_kbs_jwt_sign(const json_t *priv, const json_t *claims, bool embed_jwk, cf_error *err) {
  _cleanup_free_ char *payload = json_dumps(claims, JSON_COMPACT);
  json_t *hdr = json_pack("{s:s,s:s}", "alg", "ES256", "typ", "JWT");
  json_t *pub = embed_jwk ? cf_kbs_key_public(priv, err) : NULL;
  if (pub)
    json_object_del(pub, "alg"), json_object_set_new(hdr, "jwk", pub);
  json_t *jws = payload ? json_pack("{s:o}", "payload", jose_b64_enc(payload, strlen(payload))) : NULL;
  json_t *sig = hdr ? json_pack("{s:o}", "protected", hdr) : NULL;
  char *out = NULL;
  if (jws && sig && jose_jws_sig(NULL, jws, sig, priv)) {
    const char *p = json_string_value(json_object_get(jws, "protected"));
    const char *b = json_string_value(json_object_get(jws, "payload"));
    const char *s = json_string_value(json_object_get(jws, "signature"));
    if (p && b && s && asprintf(&out, "%s.%s.%s", p, b, s) < 0)
      out = NULL;
  }
  if (!sig)
    json_decref(hdr);
  json_decref(sig);
  json_decref(jws);
  if (!out)
    cf_err_status(err, CF_INTERNAL, "signing a JWT with ES256 failed (is the key EC P-256 with d?)");
  return out;
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
