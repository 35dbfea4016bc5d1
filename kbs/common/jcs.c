/* RFC 8785 JSON canonicalisation over jansson values. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/kbs_common.h"

typedef struct buf {
  char *p;
  size_t n, cap;
  bool oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 256) + n;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* Strings: only '"', '\\' and control characters are escaped; the short
 * forms where JSON has them, else \u00xx in lower case. */
static void put_string(buf *b, const char *s, size_t n) {
  put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    switch (c) {
    case '"': put(b, "\\\"", 2); break;
    case '\\': put(b, "\\\\", 2); break;
    case '\b': put(b, "\\b", 2); break;
    case '\f': put(b, "\\f", 2); break;
    case '\n': put(b, "\\n", 2); break;
    case '\r': put(b, "\\r", 2); break;
    case '\t': put(b, "\\t", 2); break;
    default:
      if (c < 0x20) {
        snprintf(esc, sizeof(esc), "\\u%04x", c);
        put(b, esc, 6);
      } else {
        put(b, (const char *)&s[i], 1);
      }
    }
  }
  put(b, "\"", 1);
}

/* ECMAScript Number::toString: the shortest digits that round-trip, plain
 * notation for exponents -7 < e < 21, else d.ddde+x. */
static int put_number(buf *b, double d) {
  if (!isfinite(d))
    return -EINVAL;
  if (d == 0) {
    puts_(b, "0");
    return 0;
  }
  char digits[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(digits, sizeof(digits), "%.*e", prec - 1, d);
    if (strtod(digits, NULL) == d)
      break;
  }
  /* digits = [-]D[.DDD]e[+-]XX */
  bool neg = digits[0] == '-';
  char *p = digits + neg, *e = strchr(p, 'e');
  int exp10 = atoi(e + 1);
  char mant[24];
  size_t k = 0;
  for (char *q = p; q < e; q++)
    if (*q != '.')
      mant[k++] = *q;
  mant[k] = '\0';
  while (k > 1 && mant[k - 1] == '0')
    mant[--k] = '\0';
  int n = exp10 + 1; /* position of the decimal point */
  char out[64];
  size_t o = 0;
  if (neg)
    out[o++] = '-';
  if ((int)k <= n && n <= 21) {
    memcpy(out + o, mant, k);
    o += k;
    for (int i = (int)k; i < n; i++)
      out[o++] = '0';
  } else if (0 < n && n <= 21) {
    memcpy(out + o, mant, (size_t)n);
    o += (size_t)n;
    out[o++] = '.';
    memcpy(out + o, mant + n, k - (size_t)n);
    o += k - (size_t)n;
  } else if (-6 < n && n <= 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -n; i++)
      out[o++] = '0';
    memcpy(out + o, mant, k);
    o += k;
  } else {
    out[o++] = mant[0];
    if (k > 1) {
      out[o++] = '.';
      memcpy(out + o, mant + 1, k - 1);
      o += k - 1;
    }
    o += (size_t)snprintf(out + o, sizeof(out) - o, "e%c%d", n - 1 < 0 ? '-' : '+',
                          abs(n - 1));
  }
  put(b, out, o);
  return 0;
}

/* Keys compare by UTF-16 code units: decode UTF-8 and compare code points,
 * mapping those above U+FFFF to their leading surrogate's order. */
static unsigned next_unit(const unsigned char **s, unsigned *pending) {
  if (*pending) {
    unsigned u = *pending;
    *pending = 0;
    return u;
  }
  const unsigned char *p = *s;
  unsigned cp;
  if (p[0] < 0x80) {
    cp = p[0];
    *s += 1;
  } else if ((p[0] & 0xE0) == 0xC0) {
    cp = (p[0] & 0x1Fu) << 6 | (p[1] & 0x3Fu);
    *s += 2;
  } else if ((p[0] & 0xF0) == 0xE0) {
    cp = (p[0] & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
    *s += 3;
  } else {
    cp = (p[0] & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu);
    *s += 4;
  }
  if (cp >= 0x10000) {
    cp -= 0x10000;
    *pending = 0xDC00 + (cp & 0x3FF);
    return 0xD800 + (cp >> 10);
  }
  return cp;
}

static int key_cmp(const void *a, const void *b) {
  const unsigned char *x = *(const unsigned char *const *)a, *y = *(const unsigned char *const *)b;
  unsigned px = 0, py = 0;
  while ((*x || px) && (*y || py)) {
    unsigned ux = next_unit(&x, &px), uy = next_unit(&y, &py);
    if (ux != uy)
      return ux < uy ? -1 : 1;
  }
  return (*x || px) ? 1 : (*y || py) ? -1 : 0;
}

static int emit(buf *b, const json_t *v, int depth) {
  if (depth > 64)
    return -E2BIG;
  switch (json_typeof(v)) {
  case JSON_NULL: puts_(b, "null"); return 0;
  case JSON_TRUE: puts_(b, "true"); return 0;
  case JSON_FALSE: puts_(b, "false"); return 0;
  case JSON_INTEGER: return put_number(b, (double)json_integer_value(v));
  case JSON_REAL: return put_number(b, json_real_value(v));
  case JSON_STRING: put_string(b, json_string_value(v), json_string_length(v)); return 0;
  case JSON_ARRAY: {
    put(b, "[", 1);
    for (size_t i = 0; i < json_array_size(v); i++) {
      if (i)
        put(b, ",", 1);
      int r = emit(b, json_array_get(v, i), depth + 1);
      if (r)
        return r;
    }
    put(b, "]", 1);
    return 0;
  }
  case JSON_OBJECT: {
    size_t n = json_object_size(v), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    if (!keys)
      return -ENOMEM;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)v, k, val) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), key_cmp);
    put(b, "{", 1);
    int r = 0;
    for (i = 0; i < n && !r; i++) {
      if (i)
        put(b, ",", 1);
      put_string(b, keys[i], strlen(keys[i]));
      put(b, ":", 1);
      r = emit(b, json_object_get(v, keys[i]), depth + 1);
    }
    put(b, "}", 1);
    free(keys);
    return r;
  }
  }
  return -EINVAL;
}

char *cf_kbs_jcs(const json_t *v, cf_error *err) {
  buf b = {0};
  int r = emit(&b, v, 0);
  if (!r && b.oom)
    r = -ENOMEM;
  if (r) {
    free(b.p);
    cf_err_status(err, CF_INVALID_ARGUMENT, "canonical JSON: %s",
                  r == -ENOMEM ? "out of memory" : r == -E2BIG ? "nested too deeply"
                                                               : "a number is not finite");
    return NULL;
  }
  return b.p;
}
