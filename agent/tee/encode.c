/* The encodings evidence JSON uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_internal.h"

char *tee_b64(const uint8_t *b, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)b[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)b[i + 1] << 8;
    if (i + 2 < n)
      v |= b[i + 2];
    *o++ = a[v >> 18];
    *o++ = a[(v >> 12) & 63];
    *o++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
    *o++ = i + 2 < n ? a[v & 63] : '=';
  }
  *o = 0;
  return out;
}

void tee_hex(const uint8_t *b, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[b[i] >> 4];
    out[2 * i + 1] = d[b[i] & 15];
  }
  out[2 * n] = 0;
}

static int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int tee_unhex(const char *s, uint8_t *out, size_t max, size_t *len) {
  size_t n = strlen(s);
  if (n % 2 || n / 2 > max)
    return -EINVAL;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *len = n / 2;
  return 0;
}

void tee_buf_printf(tee_buf *b, const char *fmt, ...) {
  if (b->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if (b->s && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= (size_t)n)
      cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = true;
      return;
    }
    b->s = s, b->cap = cap;
  }
}

void tee_buf_bytes(tee_buf *b, const uint8_t *p, size_t n) {
  tee_buf_printf(b, "[");
  for (size_t i = 0; i < n; i++)
    tee_buf_printf(b, i ? ",%u" : "%u", p[i]);
  tee_buf_printf(b, "]");
}

char *tee_buf_take(tee_buf *b) {
  char *s = b->oom ? NULL : b->s;
  if (b->oom)
    free(b->s);
  memset(b, 0, sizeof(*b));
  return s;
}
