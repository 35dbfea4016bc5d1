/* Strict TOML 1.0 subset parser (see coffer/toml.h). One pass over the
 * bytes after a UTF-8 check; every error names line and column (bytes, from 1). */
#include "coffer/toml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"

/* How a table came to exist decides what may later extend it (TOML 1.0). */
enum {
  TBL_HEADER = 1,   /* [a] defined it: a second [a] is a duplicate */
  TBL_IMPLICIT = 2, /* only a parent of a header ([a.b] makes a): [a] may still come */
  TBL_DOTTED = 4,   /* made by a dotted key (a.b = 1): more dotted keys may extend it */
  TBL_INLINE = 8,   /* { ... }: closed for good */
};

struct cf_toml {
  cf_toml_type type;
  int flags;
  char *key; /* in the parent table */
  char *str;
  size_t len;
  int64_t i;
  bool b;
  cf_toml **items;
  size_t n, cap;
};

typedef struct parser {
  const char *s;
  size_t len, pos;
  unsigned line;
  size_t line_start;
  size_t nodes;
  cf_error *err;
} parser;

typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static int perr_at(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr_at(parser *p, size_t pos, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* the column of pos on the current line (pos never precedes line_start) */
  size_t col = pos >= p->line_start ? pos - p->line_start + 1 : 1;
  return cf_err_status(p->err, CF_INVALID_ARGUMENT, "line %u, column %zu: %s", p->line, col, msg);
}
#define perr(p, ...) perr_at((p), (p)->pos, __VA_ARGS__)

static int buf_put(buf *b, const char *d, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q)
      return -ENOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

static cf_toml *node_new(parser *p, cf_toml_type type) {
  if (p->nodes >= CF_TOML_MAX_NODES) {
    perr(p, "more than %d values", CF_TOML_MAX_NODES);
    return NULL;
  }
  cf_toml *t = calloc(1, sizeof(*t));
  if (!t) {
    cf_err(p->err, ENOMEM, "toml");
    return NULL;
  }
  p->nodes++;
  t->type = type;
  return t;
}

void cf_toml_free(cf_toml *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->n; i++)
    cf_toml_free(t->items[i]);
  free(t->items);
  free(t->key);
  free(t->str);
  free(t);
}

/* Takes ownership of child (freed on failure). */
static int node_add(parser *p, cf_toml *parent, cf_toml *child) {
  if (parent->n == parent->cap) {
    size_t cap = parent->cap ? parent->cap * 2 : 4;
    cf_toml **q = realloc(parent->items, cap * sizeof(*q));
    if (!q) {
      cf_toml_free(child);
      return cf_err(p->err, ENOMEM, "toml");
    }
    parent->items = q;
    parent->cap = cap;
  }
  parent->items[parent->n++] = child;
  return 0;
}

const cf_toml *cf_toml_child(const cf_toml *t, const char *key) {
  if (!t || t->type != CF_TOML_TABLE || !key)
    return NULL;
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->items[i]->key, key))
      return t->items[i];
  return NULL;
}

static cf_toml *child_mut(cf_toml *t, const char *key) { return (cf_toml *)cf_toml_child(t, key); }

/* ------------------------------------------------------------ UTF-8 check */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t len;
  unsigned min, cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

static int check_utf8(parser *p) {
  for (size_t i = 0; i < p->len;) {
    if (p->s[i] == '\n') {
      p->line++;
      p->line_start = i + 1;
    }
    size_t l = utf8_len((const unsigned char *)p->s + i, p->len - i);
    if (!l)
      return perr_at(p, i, "invalid UTF-8");
    i += l;
  }
  p->line = 1;
  p->line_start = 0;
  return 0;
}

/* --------------------------------------------------------------- scanning */

static bool at_end(const parser *p) { return p->pos >= p->len; }
static int peek(const parser *p) { return at_end(p) ? -1 : (unsigned char)p->s[p->pos]; }
static int peek_at(const parser *p, size_t k) {
  return p->pos + k >= p->len ? -1 : (unsigned char)p->s[p->pos + k];
}
static bool starts(const parser *p, const char *lit) {
  size_t n = strlen(lit);
  return p->len - p->pos >= n && !memcmp(p->s + p->pos, lit, n);
}

static void skip_ws(parser *p) {
  while (peek(p) == ' ' || peek(p) == '\t')
    p->pos++;
}

/* A newline (LF or CRLF) at pos: consumes it and returns true. */
static bool eat_newline(parser *p) {
  size_t n = peek(p) == '\n' ? 1 : (peek(p) == '\r' && peek_at(p, 1) == '\n') ? 2 : 0;
  if (!n)
    return false;
  p->pos += n;
  p->line++;
  p->line_start = p->pos;
  return true;
}

/* Control characters other than tab are never allowed in comments or strings. */
static bool is_control(int c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F; }

static int skip_comment(parser *p) {
  if (peek(p) != '#')
    return 0;
  for (; !at_end(p) && peek(p) != '\n'; p->pos++)
    if (is_control(peek(p)) && !(peek(p) == '\r' && peek_at(p, 1) == '\n'))
      return perr(p, "control character 0x%02x in a comment", peek(p));
  return 0;
}

/* After a key/value pair or a table header: spaces, a comment, then a
 * newline or the end. */
static int end_of_line(parser *p) {
  skip_ws(p);
  int r = skip_comment(p);
  if (r < 0)
    return r;
  if (at_end(p) || eat_newline(p))
    return 0;
  return perr(p, "expected the end of the line");
}

/* Whitespace, newlines and comments (inside arrays). */
static int skip_blank(parser *p) {
  for (;;) {
    skip_ws(p);
    int r = skip_comment(p);
    if (r < 0)
      return r;
    if (!eat_newline(p))
      return 0;
  }
}

/* ---------------------------------------------------------------- strings */

static int put_utf8(buf *b, uint32_t cp) {
  char o[4];
  size_t n;
  if (cp < 0x80) {
    o[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
  } else if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
  } else {
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
  }
  return buf_put(b, o, n);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* An escape after the backslash (pos at the letter). */
static int escape(parser *p, buf *b) {
  size_t start = p->pos - 1;
  int c = peek(p);
  const char *simple = "b\bt\tn\nf\fr\r\"\"\\\\";
  for (const char *s = simple; *s; s += 2)
    if (c == s[0]) {
      p->pos++;
      return buf_put(b, s + 1, 1);
    }
  if (c != 'u' && c != 'U')
    return perr_at(p, start, "invalid escape sequence");
  int digits = c == 'u' ? 4 : 8;
  p->pos++;
  uint32_t cp = 0;
  for (int i = 0; i < digits; i++) {
    int h = hexval(peek(p));
    if (h < 0)
      return perr_at(p, start, "\\%c needs %d hex digits", c, digits);
    cp = cp << 4 | (uint32_t)h;
    p->pos++;
  }
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return perr_at(p, start, "escape is not a Unicode scalar value");
  return put_utf8(b, cp);
}

/* Takes one source character (a whole UTF-8 sequence) into b. */
static int take_char(parser *p, buf *b) {
  size_t l = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
  int r = buf_put(b, p->s + p->pos, l);
  p->pos += l;
  return r;
}

/* pos at the opening quote(s). Multi-line: a newline right after the
 * opening delimiter is dropped; up to two quotes may end the content. */
static int string(parser *p, buf *b, bool *multiline) {
  char q = (char)peek(p);
  bool literal = q == '\'';
  bool ml = starts(p, literal ? "'''" : "\"\"\"");
  size_t open = p->pos;
  *multiline = ml;
  p->pos += ml ? 3 : 1;
  if (ml)
    eat_newline(p);
  int r = 0;
  for (;;) {
    if (at_end(p))
      return perr_at(p, open, "unterminated string");
    int c = peek(p);
    if (c == q) {
      if (!ml) {
        p->pos++;
        break;
      }
      if (peek_at(p, 1) == q && peek_at(p, 2) == q) {
        /* """"" : the closing delimiter is the last three quotes */
        size_t extra = 0;
        while (extra < 2 && peek_at(p, 3 + extra) == q)
          extra++;
        if ((r = buf_put(b, p->s + p->pos, extra)) < 0)
          return cf_err(p->err, -r, "toml");
        p->pos += 3 + extra;
        break;
      }
      p->pos++;
      if ((r = buf_put(b, &q, 1)) < 0)
        return cf_err(p->err, -r, "toml");
      continue;
    }
    if (ml && (c == '\n' || c == '\r')) {
      size_t at = p->pos;
      if (!eat_newline(p))
        return perr(p, "bare carriage return in a string");
      if ((r = buf_put(b, p->s + at, p->pos - at)) < 0)
        return cf_err(p->err, -r, "toml");
      continue;
    }
    if (!ml && (c == '\n' || c == '\r'))
      return perr_at(p, open, "unterminated string");
    if (is_control(c))
      return perr(p, "control character 0x%02x in a string", c);
    if (c == '\\' && !literal) {
      p->pos++;
      if (ml) {
        /* line-ending backslash: drop whitespace and newlines up to the next text */
        size_t save = p->pos;
        skip_ws(p);
        if (eat_newline(p)) {
          for (;;) {
            skip_ws(p);
            if (!eat_newline(p))
              break;
          }
          continue;
        }
        p->pos = save;
      }
      if ((r = escape(p, b)) < 0)
        return r == -ENOMEM ? cf_err(p->err, ENOMEM, "toml") : r;
      continue;
    }
    if ((r = take_char(p, b)) < 0)
      return cf_err(p->err, -r, "toml");
  }
  if (!b->p && buf_put(b, "", 0) < 0)
    return cf_err(p->err, ENOMEM, "toml");
  return 0;
}

/* ------------------------------------------------------------------- keys */

#define MAX_KEY_PARTS CF_TOML_MAX_DEPTH

typedef struct key {
  char *part[MAX_KEY_PARTS];
  size_t pos[MAX_KEY_PARTS];
  size_t n;
} key;

static void key_clear(key *k) {
  for (size_t i = 0; i < k->n; i++)
    free(k->part[i]);
  k->n = 0;
}

static bool bare_char(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/* A dotted key: bare or quoted parts separated by dots (spaces allowed around them). */
static int parse_key(parser *p, key *k) {
  for (;;) {
    skip_ws(p);
    if (k->n == MAX_KEY_PARTS)
      return perr(p, "key has more than %d parts", MAX_KEY_PARTS);
    size_t at = p->pos;
    buf b = {0};
    int c = peek(p);
    if (c == '"' || c == '\'') {
      bool ml;
      int r = string(p, &b, &ml);
      if (r < 0) {
        free(b.p);
        return r;
      }
      if (ml) {
        free(b.p);
        return perr_at(p, at, "a key cannot be a multi-line string");
      }
      if (strlen(b.p) != b.n) {
        free(b.p);
        return perr_at(p, at, "key contains NUL");
      }
    } else {
      while (bare_char(peek(p)))
        p->pos++;
      if (p->pos == at)
        return perr(p, "expected a key");
      if (buf_put(&b, p->s + at, p->pos - at) < 0)
        return cf_err(p->err, ENOMEM, "toml");
    }
    k->part[k->n] = b.p;
    k->pos[k->n++] = at;
    skip_ws(p);
    if (peek(p) != '.')
      return 0;
    p->pos++;
  }
}

/* ----------------------------------------------------------------- values */

static int value(parser *p, cf_toml **out, int depth);

/* The key/value pair at pos, into table t. inline_ctx: inside { }. */
static int keyval(parser *p, cf_toml *t, bool inline_ctx, int depth) {
  key k = {0};
  int r = parse_key(p, &k);
  if (r < 0)
    goto out;
  if (peek(p) != '=') {
    r = perr(p, "expected '=' after the key");
    goto out;
  }
  p->pos++;
  skip_ws(p);
  for (size_t i = 0; i + 1 < k.n; i++) {
    cf_toml *c = child_mut(t, k.part[i]);
    if (!c) {
      if (!(c = node_new(p, CF_TOML_TABLE))) {
        r = -EINVAL;
        goto out;
      }
      c->flags = TBL_DOTTED | (inline_ctx ? TBL_INLINE : 0);
      c->key = k.part[i];
      k.part[i] = NULL;
      if ((r = node_add(p, t, c)) < 0)
        goto out;
    } else if (c->type != CF_TOML_TABLE || !(c->flags & TBL_DOTTED) ||
               ((c->flags & TBL_INLINE) && !inline_ctx)) {
      r = perr_at(p, k.pos[i], "\"%s\" is already defined and cannot be extended", c->key);
      goto out;
    }
    t = c;
  }
  const char *last = k.part[k.n - 1];
  if (child_mut(t, last)) {
    r = perr_at(p, k.pos[k.n - 1], "duplicate key \"%s\"", last);
    goto out;
  }
  cf_toml *v = NULL;
  if ((r = value(p, &v, depth)) < 0)
    goto out;
  v->key = k.part[k.n - 1];
  k.part[k.n - 1] = NULL;
  r = node_add(p, t, v);
out:
  key_clear(&k);
  return r;
}

static int integer(parser *p, cf_toml **out) {
  size_t start = p->pos;
  bool neg = false;
  if (peek(p) == '+' || peek(p) == '-') {
    neg = peek(p) == '-';
    p->pos++;
  }
  int base = 10;
  if (peek(p) == '0' && (peek_at(p, 1) == 'x' || peek_at(p, 1) == 'o' || peek_at(p, 1) == 'b')) {
    if (p->pos != start)
      return perr_at(p, start, "a prefixed integer cannot have a sign");
    base = peek_at(p, 1) == 'x' ? 16 : peek_at(p, 1) == 'o' ? 8 : 2;
    p->pos += 2;
  }
  size_t digits_at = p->pos;
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  bool prev_digit = false;
  for (;;) {
    int c = peek(p);
    int d = c == '_' ? -2 : hexval(c);
    if (d == -2) {
      if (!prev_digit || hexval(peek_at(p, 1)) < 0 || hexval(peek_at(p, 1)) >= base)
        return perr(p, "'_' must be between digits");
      prev_digit = false;
      p->pos++;
      continue;
    }
    if (d < 0 || d >= base || (base != 16 && !(c >= '0' && c <= '9')))
      break;
    if (v > (limit - (uint64_t)d) / (uint64_t)base)
      return perr_at(p, start, "integer out of range");
    v = v * (uint64_t)base + (uint64_t)d;
    prev_digit = true;
    p->pos++;
  }
  if (p->pos == digits_at)
    return perr_at(p, start, "expected a value");
  if (base == 10 && p->s[digits_at] == '0' && p->pos - digits_at > 1)
    return perr_at(p, start, "leading zeros are not allowed");
  int c = peek(p);
  if (c == '.' || c == 'e' || c == 'E' || c == ':' || c == '-')
    return perr_at(p, start, "floats and dates are not supported");
  if (!(*out = node_new(p, CF_TOML_INTEGER)))
    return -EINVAL;
  (*out)->i = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

static int array(parser *p, cf_toml **out, int depth) {
  _cleanup_(cf_toml_freep) cf_toml *a = node_new(p, CF_TOML_ARRAY);
  if (!a)
    return -EINVAL;
  p->pos++; /* [ */
  int r;
  for (;;) {
    if ((r = skip_blank(p)) < 0)
      return r;
    if (peek(p) == ']')
      break;
    cf_toml *v = NULL;
    if ((r = value(p, &v, depth + 1)) < 0 || (r = node_add(p, a, v)) < 0)
      return r;
    if ((r = skip_blank(p)) < 0)
      return r;
    if (peek(p) == ',') {
      p->pos++;
      continue;
    }
    if (peek(p) != ']')
      return perr(p, "expected ',' or ']' in an array");
    break;
  }
  p->pos++;
  *out = cf_steal_ptr(a);
  return 0;
}

static int inline_table(parser *p, cf_toml **out, int depth) {
  _cleanup_(cf_toml_freep) cf_toml *t = node_new(p, CF_TOML_TABLE);
  if (!t)
    return -EINVAL;
  t->flags = TBL_INLINE;
  p->pos++; /* { */
  skip_ws(p);
  int r;
  if (peek(p) != '}')
    for (;;) {
      if ((r = keyval(p, t, true, depth + 1)) < 0)
        return r;
      skip_ws(p);
      if (peek(p) == ',') {
        p->pos++;
        skip_ws(p);
        continue;
      }
      if (peek(p) != '}')
        return perr(p, "expected ',' or '}' in an inline table");
      break;
    }
  p->pos++;
  *out = cf_steal_ptr(t);
  return 0;
}

static int value(parser *p, cf_toml **out, int depth) {
  if (depth >= CF_TOML_MAX_DEPTH)
    return perr(p, "values nested deeper than %d", CF_TOML_MAX_DEPTH);
  int c = peek(p);
  if (c == '"' || c == '\'') {
    buf b = {0};
    bool ml;
    int r = string(p, &b, &ml);
    if (r < 0 || !(*out = node_new(p, CF_TOML_STRING))) {
      free(b.p);
      return r < 0 ? r : -EINVAL;
    }
    (*out)->str = b.p;
    (*out)->len = b.n;
    return 0;
  }
  if (c == '[')
    return array(p, out, depth);
  if (c == '{')
    return inline_table(p, out, depth);
  if (starts(p, "true") || starts(p, "false")) {
    bool v = c == 't';
    p->pos += v ? 4 : 5;
    if (bare_char(peek(p)))
      return perr(p, "unexpected text after a boolean");
    if (!(*out = node_new(p, CF_TOML_BOOL)))
      return -EINVAL;
    (*out)->b = v;
    return 0;
  }
  if (starts(p, "inf") || starts(p, "nan") || starts(p, "+inf") || starts(p, "-inf") ||
      starts(p, "+nan") || starts(p, "-nan"))
    return perr(p, "floats are not supported");
  if ((c >= '0' && c <= '9') || c == '+' || c == '-')
    return integer(p, out);
  return perr(p, "expected a value");
}

/* ----------------------------------------------------------------- tables */

/* [a.b.c] at pos: makes (or completes) the table and returns it in *cur. */
static int header(parser *p, cf_toml *root, cf_toml **cur) {
  size_t open = p->pos;
  if (starts(p, "[["))
    return perr(p, "arrays of tables ([[...]]) are not supported");
  p->pos++;
  key k = {0};
  int r = parse_key(p, &k);
  if (r < 0)
    goto out;
  if (peek(p) != ']') {
    r = perr(p, "expected ']' after the table name");
    goto out;
  }
  p->pos++;
  cf_toml *t = root;
  for (size_t i = 0; i < k.n; i++) {
    bool last = i + 1 == k.n;
    cf_toml *c = child_mut(t, k.part[i]);
    if (!c) {
      if (!(c = node_new(p, CF_TOML_TABLE))) {
        r = -EINVAL;
        goto out;
      }
      c->flags = last ? TBL_HEADER : TBL_IMPLICIT;
      c->key = k.part[i];
      k.part[i] = NULL;
      if ((r = node_add(p, t, c)) < 0)
        goto out;
    } else if (c->type != CF_TOML_TABLE || (c->flags & TBL_INLINE)) {
      r = perr_at(p, k.pos[i], "\"%s\" is already defined as a value", c->key);
      goto out;
    } else if (last && (c->flags & (TBL_HEADER | TBL_DOTTED))) {
      r = perr_at(p, open, "table \"%s\" is defined twice", c->key);
      goto out;
    } else if (last) {
      c->flags = TBL_HEADER;
    }
    t = c;
  }
  *cur = t;
out:
  key_clear(&k);
  return r;
}

cf_toml *cf_toml_parse(const char *text, size_t len, cf_error *err) {
  parser p = {.s = text, .len = len, .line = 1, .err = err};
  if (memchr(text, 0, len)) {
    const char *z = memchr(text, 0, len);
    p.pos = (size_t)(z - text);
    for (size_t i = 0; i < p.pos; i++)
      if (text[i] == '\n')
        p.line++, p.line_start = i + 1;
    perr(&p, "NUL byte");
    return NULL;
  }
  if (check_utf8(&p) < 0)
    return NULL;
  _cleanup_(cf_toml_freep) cf_toml *root = node_new(&p, CF_TOML_TABLE);
  if (!root)
    return NULL;
  root->flags = TBL_HEADER;
  cf_toml *cur = root;
  if (starts(&p, "\xEF\xBB\xBF")) /* a byte order mark is allowed and ignored */
    p.pos += 3;
  for (;;) {
    skip_ws(&p);
    if (at_end(&p))
      break;
    int c = peek(&p), r;
    if (c == '#' || c == '\n' || c == '\r')
      r = end_of_line(&p);
    else if (c == '[')
      r = header(&p, root, &cur) < 0 ? -1 : end_of_line(&p);
    else
      r = keyval(&p, cur, false, 0) < 0 ? -1 : end_of_line(&p);
    if (r < 0)
      return NULL;
  }
  return cf_steal_ptr(root);
}

/* ---------------------------------------------------------------- readers */

cf_toml_type cf_toml_type_of(const cf_toml *t) { return t ? t->type : CF_TOML_TABLE; }

const cf_toml *cf_toml_get(const cf_toml *t, const char *path) {
  if (!path)
    return NULL;
  while (t) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    char part[256];
    if (n >= sizeof(part))
      return NULL;
    memcpy(part, path, n);
    part[n] = 0;
    t = cf_toml_child(t, part);
    if (!dot)
      return t;
    path = dot + 1;
  }
  return NULL;
}

size_t cf_toml_count(const cf_toml *t) {
  return t && (t->type == CF_TOML_TABLE || t->type == CF_TOML_ARRAY) ? t->n : 0;
}

const cf_toml *cf_toml_at(const cf_toml *t, size_t i, const char **key) {
  if (i >= cf_toml_count(t))
    return NULL;
  if (key)
    *key = t->items[i]->key;
  return t->items[i];
}

const char *cf_toml_string(const cf_toml *t, size_t *len) {
  if (!t || t->type != CF_TOML_STRING)
    return NULL;
  if (len)
    *len = t->len;
  return t->str;
}

const char *cf_toml_cstr(const cf_toml *t) {
  size_t n;
  const char *s = cf_toml_string(t, &n);
  return s && strlen(s) == n ? s : NULL;
}

bool cf_toml_int(const cf_toml *t, int64_t *out) {
  if (!t || t->type != CF_TOML_INTEGER)
    return false;
  *out = t->i;
  return true;
}

bool cf_toml_bool(const cf_toml *t, bool *out) {
  if (!t || t->type != CF_TOML_BOOL)
    return false;
  *out = t->b;
  return true;
}
