/* Confidential Containers' attestation-agent keyprovider scheme: the
 * annotation carries, comma-separated, base64 JSON packets
 *   {"kid": "kbs:///repo/type/tag", "wrapped_data": b64, "iv": b64,
 *    "wrap_type": "A256GCM"}   (later versions add "version": "0.1.0" and
 *    "provider": "kbs")
 * where wrapped_data is the private options sealed with AES-256-GCM (16-byte
 * tag appended, no AAD) under a key-encryption key that the broker releases
 * as the resource kid. The unauthenticated A256CTR wrap type is refused. */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "ocicrypt_int.h"

#define KID_MAX 512
#define GCM_IV 12
#define GCM_TAG 16

struct kp_ctx {
  const struct cf_ocicrypt_keys *keys;
  uint8_t *opts;
  size_t len;
};

static inline void jsonp(json_t **j) { json_decref(*j); }

static const char *str(json_t *o, const char *name) {
  return json_string_value(json_object_get(o, name));
}

static int gcm_open(const uint8_t *kek, const uint8_t *iv, const uint8_t *in, size_t inlen,
                    uint8_t *out) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int l = 0, l2 = 0;
  int ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV, NULL) == 1 &&
           EVP_DecryptInit_ex(c, NULL, NULL, kek, iv) == 1 &&
           EVP_DecryptUpdate(c, out, &l, in, (int)(inlen - GCM_TAG)) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, (void *)(in + inlen - GCM_TAG)) ==
               1 &&
           EVP_DecryptFinal_ex(c, out + l, &l2) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -EBADMSG;
}

static int try_packet(void *ctx, const char *part, size_t plen, cf_error *err) {
  struct kp_ctx *c = ctx;
  _cleanup_free_ uint8_t *raw = NULL, *wrapped = NULL, *iv = NULL, *kek = NULL;
  size_t len = 0, wl = 0, ivl = 0, kl = 0;
  if (oc_b64_decode(part, plen, CF_OCICRYPT_ANNOTATION_MAX, &raw, &len, err))
    return cf_error_prefix(err, "keyprovider packet");
  __attribute__((cleanup(jsonp))) json_t *p =
      json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(p))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "keyprovider packet: not a JSON object");
  const char *kid = str(p, "kid"), *wd = str(p, "wrapped_data"), *ivs = str(p, "iv");
  const char *wt = str(p, "wrap_type"), *ver = str(p, "version"), *prov = str(p, "provider");
  if (!kid || !wd || !ivs || !wt)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "keyprovider packet: kid, wrapped_data, iv and wrap_type are required");
  if ((json_object_get(p, "version") && (!ver || strcmp(ver, "0.1.0"))) ||
      (json_object_get(p, "provider") && (!prov || strcmp(prov, "kbs"))))
    return cf_err_status(err, CF_UNIMPLEMENTED,
                         "keyprovider packet: only version 0.1.0 with provider kbs");
  if (strlen(kid) > KID_MAX || strncmp(kid, "kbs://", 6) || strstr(kid, ".."))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "keyprovider packet: kid \"%.80s\" is not a kbs:// resource URI", kid);
  if (strcmp(wt, "A256GCM"))
    return cf_err_status(err, CF_UNIMPLEMENTED,
                         "keyprovider packet %s: unsupported wrap_type \"%.32s\" (only A256GCM)",
                         kid, wt);
  if (oc_b64_decode(ivs, strlen(ivs), 64, &iv, &ivl, err) ||
      oc_b64_decode(wd, strlen(wd), OC_OPTS_MAX + GCM_TAG, &wrapped, &wl, err))
    return cf_error_prefix(err, "keyprovider packet %s", kid);
  if (ivl != GCM_IV || wl <= GCM_TAG)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "keyprovider packet %s: iv must be %d bytes and wrapped_data over %d",
                         kid, GCM_IV, GCM_TAG);
  int r = c->keys->get_resource(c->keys->ctx, kid, &kek, &kl, err);
  if (r)
    return cf_error_prefix(err, "key-encryption key %s", kid);
  if (!kek || kl != OC_SYMKEY_LEN) {
    if (kek)
      OPENSSL_cleanse(kek, kl);
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "key-encryption key %s: %zu bytes, expected %d", kid, kl, OC_SYMKEY_LEN);
  }
  uint8_t *out = malloc(wl);
  if (!out) {
    OPENSSL_cleanse(kek, kl);
    return cf_err(err, ENOMEM, "keyprovider packet");
  }
  r = gcm_open(kek, iv, wrapped, wl, out);
  OPENSSL_cleanse(kek, kl);
  if (r) {
    OPENSSL_cleanse(out, wl);
    free(out);
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "keyprovider packet %s: the key from the broker does not open it "
                         "(wrong key or altered packet)", kid);
  }
  c->opts = out;
  c->len = wl - GCM_TAG;
  return 0;
}

int oc_unwrap_keyprovider(const char *value, const struct cf_ocicrypt_keys *keys, uint8_t **opts,
                          size_t *len, cf_error *err) {
  struct kp_ctx c = {.keys = keys};
  int r = oc_for_each_part(value, try_packet, &c, err);
  if (r)
    return r;
  *opts = c.opts;
  *len = c.len;
  return 0;
}
