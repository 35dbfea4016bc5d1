/* base64 (standard, padded) and base64url (no padding), strict decoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/kbs_common.h"

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *encode(const uint8_t *b, size_t n, const char *alpha, bool pad) {
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (!out)
    return NULL;
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    out[o++] = alpha[(v >> 6) & 63];
    out[o++] = alpha[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0);
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    if (i + 1 < n)
      out[o++] = alpha[(v >> 6) & 63];
    else if (pad)
      out[o++] = '=';
    if (pad)
      out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

static int decode(const char *s, const char *alpha, bool pad, uint8_t **out, size_t *len) {
  size_t n = strlen(s);
  if (pad) {
    if (n % 4)
      return -EINVAL;
    if (n && s[n - 1] == '=')
      n--;
    if (n && s[n - 1] == '=')
      n--;
  } else if (n % 4 == 1) {
    return -EINVAL;
  }
  uint8_t *b = malloc(n / 4 * 3 + 3);
  if (!b)
    return -ENOMEM;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    const char *p = s[i] ? strchr(alpha, s[i]) : NULL;
    if (!p) {
      free(b);
      return -EINVAL;
    }
    acc = acc << 6 | (uint32_t)(p - alpha);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      b[o++] = (uint8_t)(acc >> bits);
    }
  }
  if (acc & ((1u << bits) - 1)) { /* non-canonical trailing bits */
    free(b);
    return -EINVAL;
  }
  *out = b;
  *len = o;
  return 0;
}

char *cf_kbs_b64std_encode(const uint8_t *b, size_t n) { return encode(b, n, STD, true); }
char *cf_kbs_b64url_encode(const uint8_t *b, size_t n) { return encode(b, n, URL, false); }
int cf_kbs_b64std_decode(const char *s, uint8_t **out, size_t *len) {
  return decode(s, STD, true, out, len);
}
int cf_kbs_b64url_decode(const char *s, uint8_t **out, size_t *len) {
  return decode(s, URL, false, out, len);
}

void cf_kbs_hex(const uint8_t *b, size_t n, char *out) {
  static const char h[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = h[b[i] >> 4];
    out[2 * i + 1] = h[b[i] & 15];
  }
  out[2 * n] = '\0';
}
