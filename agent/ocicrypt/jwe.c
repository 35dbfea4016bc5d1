/* The JWE key-wrapping scheme: the annotation carries, comma-separated, base64
 * JWEs in JSON serialization (general with a "recipients" array, or flattened)
 * whose plaintext is the layer's private options. Recipients use RSA-OAEP
 * (SHA-1, what the encryptor picks for RSA keys), RSA-OAEP-256, or
 * ECDH-ES+A*KW (what it picks for EC keys). Debian's libjose has no RSA-OAEP,
 * so the RSA content key is unwrapped with OpenSSL and libjose decrypts the
 * content with it; ECDH-ES is libjose's throughout. */
#include <errno.h>
#include <jansson.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "ocicrypt_int.h"

struct privkey {
  EVP_PKEY *pkey; /* set for RSA */
  json_t *jwk;    /* always */
  bool rsa;
};

struct jwe_ctx {
  struct privkey keys[CF_OCICRYPT_KEYS_MAX];
  size_t n;
  uint8_t *opts;
  size_t len;
  unsigned recipients, jwes;
  char algs[160];
};

static int no_password(char *buf, int size, int rw, void *u) {
  (void)buf, (void)size, (void)rw, (void)u;
  return 0;
}

/* A PEM or JWK private key; keys that do not parse are an error (a caller's
 * mistake, not the image's). */
static int load_key(const struct cf_ocicrypt_blob *b, struct privkey *k, size_t idx,
                    cf_error *err) {
  if (!b->data || b->len == 0 || b->len > CF_OCICRYPT_KEY_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "private key %zu: empty or over %d bytes", idx,
                         CF_OCICRYPT_KEY_MAX);
  if (b->data[0] == '{') {
    k->jwk = json_loadb((const char *)b->data, b->len, 0, NULL);
    k->pkey = k->jwk ? jose_openssl_jwk_to_EVP_PKEY(NULL, k->jwk) : NULL;
  } else {
    BIO *bio = BIO_new_mem_buf(b->data, (int)b->len);
    k->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    k->jwk = k->pkey ? jose_openssl_jwk_from_EVP_PKEY(NULL, k->pkey) : NULL;
  }
  if (!k->jwk || !k->pkey)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "private key %zu: neither an unencrypted PEM private key nor a JWK", idx);
  k->rsa = EVP_PKEY_base_id(k->pkey) == EVP_PKEY_RSA;
  if (!k->rsa && EVP_PKEY_base_id(k->pkey) != EVP_PKEY_EC)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "private key %zu: neither RSA nor EC", idx);
  return 0;
}

static int cek_len(const char *enc) {
  static const struct {
    const char *enc;
    int len;
  } t[] = {{"A128GCM", 16},       {"A192GCM", 24},       {"A256GCM", 32},
           {"A128CBC-HS256", 32}, {"A192CBC-HS384", 48}, {"A256CBC-HS512", 64}};
  for (size_t i = 0; enc && i < sizeof(t) / sizeof(t[0]); i++)
    if (!strcmp(enc, t[i].enc))
      return t[i].len;
  return -1;
}

/* The content key wrapped with RSA-OAEP, as a JWK, or NULL. */
static json_t *rsa_unwrap(const struct privkey *k, const json_t *rcp, bool sha256, int want) {
  uint8_t wrapped[1024], cek[1024]; /* OpenSSL wants room for a modulus */
  size_t wl = jose_b64_dec(json_object_get(rcp, "encrypted_key"), NULL, 0), cl = sizeof(cek);
  if (wl == SIZE_MAX || wl > sizeof(wrapped) ||
      jose_b64_dec(json_object_get(rcp, "encrypted_key"), wrapped, sizeof(wrapped)) != wl)
    return NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
  const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha1();
  int ok = ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
           EVP_PKEY_decrypt(ctx, cek, &cl, wrapped, wl) == 1 && (int)cl == want;
  EVP_PKEY_CTX_free(ctx);
  json_t *jwk = ok ? json_pack("{s:s,s:o}", "kty", "oct", "k", jose_b64_enc(cek, cl)) : NULL;
  OPENSSL_cleanse(cek, sizeof(cek));
  return jwk;
}

/* One recipient against one key: the content key, or NULL. */
static json_t *unwrap_cek(const json_t *jwe, const json_t *rcp, const char *alg, const char *enc,
                          const struct privkey *k) {
  int want = cek_len(enc);
  if (want < 0)
    return NULL;
  if (!strcmp(alg, "RSA-OAEP") || !strcmp(alg, "RSA-OAEP-256"))
    return k->rsa ? rsa_unwrap(k, rcp, !strcmp(alg, "RSA-OAEP-256"), want) : NULL;
  if (strncmp(alg, "ECDH-ES+A", 9) || k->rsa)
    return NULL;
  return jose_jwe_dec_jwk(NULL, jwe, rcp, k->jwk);
}

static void note_alg(struct jwe_ctx *c, const char *alg) {
  size_t l = strlen(c->algs);
  if (strstr(c->algs, alg) || l + strlen(alg) + 3 >= sizeof(c->algs))
    return;
  snprintf(c->algs + l, sizeof(c->algs) - l, "%s%s", l ? ", " : "", alg);
}

static int try_recipient(struct jwe_ctx *c, json_t *jwe, json_t *rcp) {
  json_t *hdr = jose_jwe_hdr(jwe, rcp);
  const char *alg = json_string_value(json_object_get(hdr, "alg"));
  const char *enc = json_string_value(json_object_get(hdr, "enc"));
  int r = -ENOKEY;
  c->recipients++;
  note_alg(c, alg ? alg : "(no alg)");
  for (size_t i = 0; alg && enc && r && i < c->n; i++) {
    json_t *cek = unwrap_cek(jwe, rcp, alg, enc, &c->keys[i]);
    if (!cek)
      continue;
    size_t len = 0;
    uint8_t *pt = jose_jwe_dec_cek(NULL, jwe, cek, &len);
    json_decref(cek);
    if (pt && len <= OC_OPTS_MAX) {
      c->opts = pt;
      c->len = len;
      r = 0;
    } else if (pt) {
      OPENSSL_cleanse(pt, len);
      free(pt);
    }
  }
  json_decref(hdr);
  return r;
}

static int try_part(void *ctx, const char *part, size_t plen, cf_error *err) {
  struct jwe_ctx *c = ctx;
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (oc_b64_decode(part, plen, CF_OCICRYPT_ANNOTATION_MAX, &raw, &len, err))
    return cf_error_prefix(err, "JWE %u", c->jwes);
  c->jwes++;
  json_t *jwe = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(jwe) || !json_is_string(json_object_get(jwe, "ciphertext"))) {
    json_decref(jwe);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "JWE %u: not a JWE in JSON serialization",
                         c->jwes - 1);
  }
  json_t *rcps = json_object_get(jwe, "recipients");
  int r = -ENOKEY;
  if (!rcps) {
    r = try_recipient(c, jwe, jwe);
  } else if (!json_is_array(rcps) || json_array_size(rcps) > OC_RECIPIENTS_MAX) {
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "JWE %u: recipients not an array of at most %d",
                      c->jwes - 1, OC_RECIPIENTS_MAX);
  } else {
    for (size_t i = 0; r && i < json_array_size(rcps); i++)
      if (json_is_object(json_array_get(rcps, i)))
        r = try_recipient(c, jwe, json_array_get(rcps, i));
  }
  json_decref(jwe);
  return r;
}

int oc_unwrap_jwe(const char *value, const struct cf_ocicrypt_keys *keys, uint8_t **opts,
                  size_t *len, cf_error *err) {
  struct jwe_ctx c = {0};
  int r = 0;
  if (keys->n_privkeys > CF_OCICRYPT_KEYS_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%zu private keys (max %d)", keys->n_privkeys,
                         CF_OCICRYPT_KEYS_MAX);
  for (c.n = 0; c.n < keys->n_privkeys && !r; c.n++)
    r = load_key(&keys->privkeys[c.n], &c.keys[c.n], c.n, err);
  if (!r) {
    cf_error perr = {0};
    r = oc_for_each_part(value, try_part, &c, &perr);
    if (r && perr.msg[0] && c.recipients == 0)
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "%s", perr.msg);
    else if (r)
      r = cf_err_status(err, CF_PERMISSION_DENIED,
                        "no key matches: %u recipient(s) (%s) in %u JWE(s), %zu private key(s)%s%s",
                        c.recipients, c.algs, c.jwes, keys->n_privkeys, perr.msg[0] ? "; " : "",
                        perr.msg);
  }
  for (size_t i = 0; i < c.n; i++) {
    EVP_PKEY_free(c.keys[i].pkey);
    json_decref(c.keys[i].jwk);
  }
  if (r)
    return r;
  *opts = c.opts;
  *len = c.len;
  return 0;
}
