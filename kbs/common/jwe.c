/* The resource response JWE: A256GCM content, the CEK wrapped with
 * ECDH-ES+A256KW (libjose) or RSA-OAEP-256 (OpenSSL: Debian's libjose 11 is
 * built without OAEP, its only RSA key wrap is RSA1_5). The ephemeral key goes
 * into the protected header, as Trustee's clients read it from there. */
#include <errno.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_common.h"

static int rsa_oaep(const json_t *jwk, bool enc, const uint8_t *in, size_t inlen, uint8_t *out,
                    size_t *outlen) {
  EVP_PKEY *k = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
  EVP_PKEY_CTX *ctx = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
  int ok = ctx && (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
           (enc ? EVP_PKEY_encrypt(ctx, out, outlen, in, inlen)
                : EVP_PKEY_decrypt(ctx, out, outlen, in, inlen)) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(k);
  return ok ? 0 : -EINVAL;
}

json_t *cf_kbs_jwe_encrypt(const json_t *tee_pubkey, const uint8_t *pt, size_t len,
                           cf_error *err) {
  const char *kty = json_string_value(json_object_get(tee_pubkey, "kty"));
  bool rsa = kty && !strcmp(kty, "RSA");
  json_t *jwe = json_pack("{s:{s:s,s:s}}", "protected", "alg",
                          rsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW", "enc", "A256GCM");
  json_t *cek = NULL;
  const char *what = "wrapping the content key";
  if (!jwe)
    goto fail;
  if (rsa) {
    uint8_t key[32], wrapped[1024];
    size_t wl = sizeof(wrapped);
    if (RAND_bytes(key, sizeof(key)) != 1 || rsa_oaep(tee_pubkey, true, key, 32, wrapped, &wl))
      goto fail;
    cek = json_pack("{s:s,s:o}", "kty", "oct", "k", jose_b64_enc(key, sizeof(key)));
    OPENSSL_cleanse(key, sizeof(key));
    if (!cek || json_object_set_new(jwe, "encrypted_key", jose_b64_enc(wrapped, wl)))
      goto fail;
  } else {
    cek = json_object();
    if (!cek || !jose_jwe_enc_jwk(NULL, jwe, NULL, tee_pubkey, cek))
      goto fail;
    /* libjose leaves epk in the unprotected header: move it before the
     * protected header is encoded, so it is authenticated as the AAD. */
    json_t *hdr = json_object_get(jwe, "header");
    json_t *epk = json_object_get(hdr, "epk");
    if (!epk || json_object_set(json_object_get(jwe, "protected"), "epk", epk))
      goto fail;
    json_object_del(jwe, "header");
  }
  what = "encrypting the content";
  if (!jose_jwe_enc_cek(NULL, jwe, cek, pt, len))
    goto fail;
  json_decref(cek);
  json_object_del(jwe, "header");
  return jwe;
fail:
  json_decref(cek);
  json_decref(jwe);
  cf_err_status(err, CF_INTERNAL, "JWE to the TEE key (%s): %s failed", rsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW", what);
  return NULL;
}

int cf_kbs_jwe_decrypt(const json_t *priv, const json_t *jwe, uint8_t **out, size_t *len,
                       cf_error *err) {
  json_t *hdr = jose_jwe_hdr(jwe, NULL);
  const char *alg = json_string_value(json_object_get(hdr, "alg"));
  const char *enc = json_string_value(json_object_get(hdr, "enc"));
  const char *kty = json_string_value(json_object_get(priv, "kty"));
  bool rsa = kty && !strcmp(kty, "RSA");
  const char *want = rsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW";
  if (!alg || strcmp(alg, want) || !enc || strcmp(enc, "A256GCM")) {
    int r = cf_err_status(err, CF_INVALID_ARGUMENT, "JWE alg %s enc %s: expected %s with A256GCM",
                          alg ? alg : "(none)", enc ? enc : "(none)", want);
    json_decref(hdr);
    return r;
  }
  json_decref(hdr);
  void *pt = NULL;
  size_t ptl = 0;
  if (rsa) {
    uint8_t wrapped[1024], key[512];
    size_t wl = jose_b64_dec(json_object_get(jwe, "encrypted_key"), NULL, 0), kl = sizeof(key);
    if (wl == SIZE_MAX || wl > sizeof(wrapped) ||
        jose_b64_dec(json_object_get(jwe, "encrypted_key"), wrapped, sizeof(wrapped)) != wl ||
        rsa_oaep(priv, false, wrapped, wl, key, &kl) || kl != 32)
      return cf_err_status(err, CF_PERMISSION_DENIED, "JWE: the content key does not unwrap with this key");
    json_t *cek = json_pack("{s:s,s:o}", "kty", "oct", "k", jose_b64_enc(key, kl));
    OPENSSL_cleanse(key, sizeof(key));
    pt = cek ? jose_jwe_dec_cek(NULL, jwe, cek, &ptl) : NULL;
    json_decref(cek);
  } else {
    pt = jose_jwe_dec(NULL, jwe, NULL, priv, &ptl);
  }
  if (!pt)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "JWE does not decrypt with this key (wrong key or altered message)");
  *out = pt;
  *len = ptl;
  return 0;
}
