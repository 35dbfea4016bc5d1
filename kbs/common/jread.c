/* The in-place JSON reader (jread.h). Validation happens once, in
 * kbs_jr_document; the accessors then rely on the text being well formed. */
#include <errno.h>
#include <string.h>

#include "coffer/kbs_jread.h"

#define MAX_DEPTH 64

static const char *ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static bool hex(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* Past the string at p ('"'), or NULL. */
static const char *string(const char *p, const char *e) {
  for (p++; p < e;) {
    unsigned char c = (unsigned char)*p;
    if (c == '"')
      return p + 1;
    if (c < 0x20)
      return NULL;
    if (c == '\\') {
      if (p + 1 >= e)
        return NULL;
      char x = p[1];
      if (x == 'u') {
        if (e - p < 6 || !hex(p[2]) || !hex(p[3]) || !hex(p[4]) || !hex(p[5]))
          return NULL;
        p += 6;
      } else if (strchr("\"\\/bfnrt", x) && x) {
        p += 2;
      } else {
        return NULL;
      }
      continue;
    }
    if (c < 0x80) {
      p++;
      continue;
    }
    /* UTF-8: a lead byte and its continuation bytes, no overlong forms,
     * no surrogates, nothing above U+10FFFF. */
    int n = c >= 0xF0 && c <= 0xF4 ? 3 : c >= 0xE0 ? (c <= 0xEF ? 2 : -1) : c >= 0xC2 ? 1 : -1;
    if (n < 0 || e - p <= n)
      return NULL;
    unsigned char c1 = (unsigned char)p[1];
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 > 0x8F))
      return NULL;
    for (int i = 1; i <= n; i++)
      if (((unsigned char)p[i] & 0xC0) != 0x80)
        return NULL;
    p += n + 1;
  }
  return NULL;
}

static const char *digits(const char *p, const char *e) {
  const char *s = p;
  while (p < e && *p >= '0' && *p <= '9')
    p++;
  return p > s ? p : NULL;
}

static const char *number(const char *p, const char *e) {
  if (p < e && *p == '-')
    p++;
  if (p < e && *p == '0')
    p++;
  else if (!(p = digits(p, e)))
    return NULL;
  if (p < e && *p == '.' && !(p = digits(p + 1, e)))
    return NULL;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-'))
      p++;
    if (!(p = digits(p, e)))
      return NULL;
  }
  return p;
}

static const char *literal(const char *p, const char *e, const char *word) {
  size_t n = strlen(word);
  return (size_t)(e - p) >= n && !memcmp(p, word, n) ? p + n : NULL;
}

/* Past the value at p (no leading whitespace), or NULL. */
static const char *value(const char *p, const char *e, int depth) {
  if (p >= e || depth > MAX_DEPTH)
    return NULL;
  switch (*p) {
  case '"':
    return string(p, e);
  case 't':
    return literal(p, e, "true");
  case 'f':
    return literal(p, e, "false");
  case 'n':
    return literal(p, e, "null");
  case '{':
  case '[': {
    char close = *p == '{' ? '}' : ']';
    p = ws(p + 1, e);
    if (p < e && *p == close)
      return p + 1;
    for (;;) {
      if (close == '}') {
        if (p >= e || *p != '"' || !(p = string(p, e)))
          return NULL;
        p = ws(p, e);
        if (p >= e || *p != ':')
          return NULL;
        p = ws(p + 1, e);
      }
      /* Numbers inline: SNP evidence is thousands of them. */
      if (p >= e)
        return NULL;
      if (!(p = (*p >= '0' && *p <= '9') || *p == '-' ? number(p, e) : value(p, e, depth + 1)))
        return NULL;
      p = ws(p, e);
      if (p < e && *p == ',') {
        p = ws(p + 1, e);
        continue;
      }
      return p < e && *p == close ? p + 1 : NULL;
    }
  }
  default:
    return number(p, e);
  }
}

/* Bytes that matter when stepping over a container: quotes and brackets. */
static const bool special[256] = {['"'] = true, ['['] = true, [']'] = true, ['{'] = true, ['}'] = true};

/* Past the value at p in text already validated: brackets counted, strings
 * stepped over, everything else passed by a table lookup (a few
 * instructions a byte; the same arrays are stepped over at every level). */
static const char *skip(const char *p, const char *e) {
  if (*p != '"' && *p != '[' && *p != '{') {
    while (p < e && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' &&
           *p != '\r')
      p++;
    return p; /* number or literal */
  }
  int depth = 0;
  for (; p < e; p++) {
    while (e - p >= 4 && !special[(unsigned char)p[0]] && !special[(unsigned char)p[1]] &&
           !special[(unsigned char)p[2]] && !special[(unsigned char)p[3]])
      p += 4;
    while (p < e && !special[(unsigned char)*p])
      p++;
    if (p >= e)
      break;
    if (*p == '"') {
      for (p++; p < e && *p != '"'; p++)
        if (*p == '\\')
          p++;
      if (!depth)
        return p + 1;
    } else if (*p == '{' || *p == '[') {
      depth++;
    } else if (--depth == 0) {
      return p + 1;
    }
  }
  return p;
}

int kbs_jr_document(const char *text, size_t len, kbs_span *out) {
  const char *e = text + len, *p = ws(text, e);
  const char *v = value(p, e, 0);
  if (!v || ws(v, e) != e)
    return -EINVAL;
  *out = (kbs_span){p, v};
  return 0;
}

bool kbs_jr_is(kbs_span v, char kind) {
  if (v.p >= v.end)
    return false;
  if (kind == '0')
    return *v.p == '-' || (*v.p >= '0' && *v.p <= '9');
  return *v.p == kind;
}

static int open_(kbs_span v, char c, kbs_jr_iter *it) {
  if (!kbs_jr_is(v, c))
    return -EINVAL;
  *it = (kbs_jr_iter){v.p + 1, v.end - 1, true};
  return 0;
}

int kbs_jr_object(kbs_span v, kbs_jr_iter *it) { return open_(v, '{', it); }
int kbs_jr_array(kbs_span v, kbs_jr_iter *it) { return open_(v, '[', it); }

/* Steps over the separator before the next item; 0 at the end. */
static int step(kbs_jr_iter *it) {
  it->p = ws(it->p, it->end);
  if (!it->first && it->p < it->end && *it->p == ',')
    it->p = ws(it->p + 1, it->end);
  it->first = false;
  return it->p < it->end;
}

int kbs_jr_member(kbs_jr_iter *it, char *key, size_t cap, kbs_span *val) {
  if (!step(it))
    return 0;
  const char *k = it->p + 1, *ke = string(it->p, it->end) - 1;
  size_t n = (size_t)(ke - k);
  if (n < cap && !memchr(k, '\\', n)) {
    memcpy(key, k, n);
    key[n] = '\0';
  } else {
    key[0] = '\0';
  }
  const char *p = ws(ws(ke + 1, it->end) + 1, it->end); /* past ':' */
  *val = (kbs_span){p, skip(p, it->end)};
  it->p = val->end;
  return 1;
}

int kbs_jr_element(kbs_jr_iter *it, kbs_span *val) {
  if (!step(it))
    return 0;
  *val = (kbs_span){it->p, skip(it->p, it->end)};
  it->p = val->end;
  return 1;
}

int kbs_jr_uint(kbs_span v, uint64_t *out) {
  uint64_t x = 0;
  const char *p = v.p;
  if (p >= v.end || *p < '0' || *p > '9')
    return -EINVAL;
  for (; p < v.end; p++) {
    if (*p < '0' || *p > '9' || x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
      return -EINVAL;
    x = x * 10 + (uint64_t)(*p - '0');
  }
  *out = x;
  return 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The span ends in ']', which stops every digit run, so the loop reads no
 * byte past e without a bounds check per digit. */
long kbs_jr_bytes(kbs_span v, uint8_t *out, size_t cap) {
  if (!kbs_jr_is(v, '[') || v.end - v.p < 2 || v.end[-1] != ']')
    return -EINVAL;
  const char *p = ws(v.p + 1, v.end - 1), *e = v.end - 1;
  long n = 0;
  if (p >= e)
    return 0;
  for (;;) {
    unsigned d = (unsigned)(unsigned char)*p - '0';
    if (d > 9)
      return -EINVAL;
    unsigned x = d;
    p++;
    /* Exactly an integer 0..255: not 1.0, 1e2, -0 or 007. */
    if ((d = (unsigned)(unsigned char)*p - '0') <= 9) {
      if (!x)
        return -EINVAL;
      x = x * 10 + d;
      p++;
      if ((d = (unsigned)(unsigned char)*p - '0') <= 9) {
        x = x * 10 + d;
        p++;
      }
    }
    if (x > 255)
      return -EINVAL;
    if ((size_t)n < cap)
      out[n] = (uint8_t)x;
    n++;
    if (*p != ',') {
      while (p < e && is_ws(*p))
        p++;
      if (p >= e)
        return n;
      if (*p != ',')
        return -EINVAL;
    }
    p++;
    while (p < e && is_ws(*p))
      p++;
    if (p >= e)
      return -EINVAL;
  }
}

int kbs_jr_plain_string(kbs_span v, char *out, size_t cap) {
  if (!kbs_jr_is(v, '"'))
    return -EINVAL;
  size_t n = (size_t)(v.end - v.p - 2);
  if (n >= cap || memchr(v.p + 1, '\\', n))
    return -EINVAL;
  memcpy(out, v.p + 1, n);
  out[n] = '\0';
  return 0;
}

int kbs_jr_members(kbs_span o, const char *what, const char *const *names, size_t stride, size_t n,
                   kbs_span *v, cf_error *err) {
  kbs_jr_iter it;
  if (kbs_jr_object(o, &it))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", what);
  memset(v, 0, n * sizeof(*v));
  char key[32];
  kbs_span val;
  while (kbs_jr_member(&it, key, sizeof(key), &val) == 1)
    for (size_t i = 0; i < n; i++) {
      const char *name = *(const char *const *)((const char *)names + i * stride);
      if (strcmp(key, name))
        continue;
      if (v[i].p)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s appears twice", what, name);
      v[i] = val;
      break;
    }
  return 0;
}
