/* Strict standard base64: what Go's base64.StdEncoding writes. OpenSSL
 * decodes; this file only rejects what OpenSSL would tolerate (whitespace,
 * missing padding) and removes the padding bytes from the count. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ocicrypt_int.h"

static bool b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

int oc_b64_decode(const char *s, size_t slen, size_t max, uint8_t **out, size_t *len,
                  cf_error *err) {
  if (slen % 4)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "base64 of %zu characters (not a multiple of 4)",
                         slen);
  if (slen / 4 * 3 > max + 2)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "base64 of %zu characters exceeds %zu bytes",
                         slen, max);
  size_t pad = 0;
  for (size_t i = 0; i < slen; i++) {
    if (s[i] == '=' && i >= slen - 2) {
      pad++;
      continue;
    }
    if (pad || !b64_char(s[i]))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "invalid base64 character at offset %zu", i);
  }
  uint8_t *b = malloc(slen / 4 * 3 + 1);
  if (!b)
    return cf_err(err, ENOMEM, "base64 decode");
  int n = slen ? EVP_DecodeBlock(b, (const unsigned char *)s, (int)slen) : 0;
  if (n < 0 || (size_t)n < pad) {
    free(b);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "invalid base64");
  }
  *len = (size_t)n - pad;
  if (*len > max) {
    free(b);
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "base64 decodes to %zu bytes (max %zu)", *len,
                         max);
  }
  *out = b;
  return 0;
}

int oc_for_each_part(const char *value,
                     int (*fn)(void *ctx, const char *part, size_t len, cf_error *err), void *ctx,
                     cf_error *err) {
  const char *p = value;
  int r = -ENOENT;
  for (int n = 0;; n++) {
    if (n == OC_WRAPPED_MAX)
      return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "more than %d wrapped keys",
                           OC_WRAPPED_MAX);
    const char *c = strchr(p, ',');
    size_t l = c ? (size_t)(c - p) : strlen(p);
    r = fn(ctx, p, l, err);
    if (r == 0 || !c)
      return r;
    p = c + 1;
  }
}
