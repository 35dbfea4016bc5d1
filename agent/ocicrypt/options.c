/* The two option sets of an encrypted layer: the public ones in the pubopts
 * annotation (cipher name and the expected HMAC; anyone can read or change
 * them) and the private ones wrapped per recipient (layer key, CTR nonce,
 * plaintext digest; authenticated by the key wrapping). Go's encoding/json
 * writes []byte fields as standard base64. */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "ocicrypt_int.h"

static inline void jsonp(json_t **j) { json_decref(*j); }

/* A base64 member of exactly n bytes. */
static int b64_field(json_t *obj, const char *name, uint8_t *dst, size_t n, cf_error *err) {
  json_t *v = json_object_get(obj, name);
  if (!json_is_string(v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"%s\" missing or not a string", name);
  _cleanup_free_ uint8_t *b = NULL;
  size_t len = 0;
  if (oc_b64_decode(json_string_value(v), json_string_length(v), 64, &b, &len, err))
    return cf_error_prefix(err, "\"%s\"", name);
  if (len != n) {
    OPENSSL_cleanse(b, len);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"%s\" is %zu bytes, expected %zu", name, len,
                         n);
  }
  memcpy(dst, b, n);
  OPENSSL_cleanse(b, len);
  return 0;
}

static json_t *load(const char *what, const void *buf, size_t len, cf_error *err) {
  json_error_t je;
  json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s: not JSON (%s at %d)", what, je.text, je.position);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s: not a JSON object", what);
    return NULL;
  }
  return j;
}

int oc_parse_pubopts(const char *b64, struct oc_pubopts *p, cf_error *err) {
  _cleanup_free_ uint8_t *raw = NULL;
  size_t len = 0;
  if (oc_b64_decode(b64, strlen(b64), OC_OPTS_MAX, &raw, &len, err))
    return cf_error_prefix(err, "pubopts");
  __attribute__((cleanup(jsonp))) json_t *j = load("pubopts", raw, len, err);
  if (!j)
    return -EINVAL;
  json_t *c = json_object_get(j, "cipher");
  if (!json_is_string(c))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "pubopts: no cipher named");
  if (strcmp(json_string_value(c), OC_CIPHER))
    return cf_err_status(err, CF_UNIMPLEMENTED, "pubopts: unsupported cipher \"%.64s\" (only %s)",
                         json_string_value(c), OC_CIPHER);
  /* The CTR nonce is read from the wrapped options only: a public one would
   * let the host pick the keystream. */
  json_t *co = json_object_get(j, "cipheroptions");
  if (co && !json_is_null(co) && (!json_is_object(co) || json_object_size(co)))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "pubopts: public cipheroptions are not accepted");
  if (b64_field(j, "hmac", p->hmac, OC_HMAC_LEN, err))
    return cf_error_prefix(err, "pubopts");
  return 0;
}

static bool digest_ok(const char *d) {
  if (strncmp(d, "sha256:", 7) || strlen(d) != 7 + 64)
    return false;
  for (const char *c = d + 7; *c; c++)
    if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
      return false;
  return true;
}

int oc_parse_privopts(const uint8_t *buf, size_t len, struct oc_privopts *p, cf_error *err) {
  if (len > OC_OPTS_MAX)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "wrapped options: %zu bytes (max %d)", len,
                         OC_OPTS_MAX);
  __attribute__((cleanup(jsonp))) json_t *j = load("wrapped options", buf, len, err);
  if (!j)
    return -EINVAL;
  if (b64_field(j, "symkey", p->symkey, OC_SYMKEY_LEN, err))
    return cf_error_prefix(err, "wrapped options");
  json_t *co = json_object_get(j, "cipheroptions");
  if (!json_is_object(co) || b64_field(co, "nonce", p->nonce, OC_NONCE_LEN, err)) {
    OPENSSL_cleanse(p->symkey, sizeof(p->symkey));
    if (!json_is_object(co))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "wrapped options: no cipheroptions");
    return cf_error_prefix(err, "wrapped options: cipheroptions");
  }
  p->digest[0] = '\0';
  json_t *d = json_object_get(j, "digest");
  if (d && !json_is_null(d)) {
    const char *s = json_string_value(d);
    if (!s || (*s && !digest_ok(s))) {
      OPENSSL_cleanse(p, sizeof(*p));
      return cf_err_status(err, CF_INVALID_ARGUMENT, "wrapped options: malformed digest");
    }
    snprintf(p->digest, sizeof(p->digest), "%s", s);
  }
  return 0;
}
