/* A strict tar reader: ustar headers, pax extended headers (path, linkpath,
 * size, uid, gid, mtime; global headers are skipped), GNU long names and
 * links. Anything else (sparse files, volume headers, bad checksums,
 * malformed numbers or records) is an error, never a guess. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "internal.h"

#define BLOCK 512
#define MAX_META (1u << 20)  /* a pax header's or a long name's data */
#define MAX_PATH_LEN 4096

struct tar_reader {
  struct tar_src src;
  uint64_t max_size;
  uint64_t left, pad; /* of the current entry's data */
  bool done;
  struct tar_entry e;
};

struct tar_reader *tar_reader_new(struct tar_src src, uint64_t max_entry_size) {
  struct tar_reader *t = calloc(1, sizeof(*t));
  if (t) {
    t->src = src;
    t->max_size = max_entry_size;
  }
  return t;
}

static void entry_clear(struct tar_entry *e) {
  free(e->path);
  free(e->link);
  memset(e, 0, sizeof(*e));
}

void tar_reader_free(struct tar_reader *t) {
  if (!t)
    return;
  entry_clear(&t->e);
  free(t);
}

/* exactly n bytes, or an error naming a truncated archive */
static int read_full(struct tar_reader *t, void *buf, size_t n, cf_error *err) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = t->src.read(t->src.ud, (char *)buf + got, n - got, err);
    if (r < 0)
      return (int)r;
    if (r == 0)
      return cf_err_status(err, CF_DATA_LOSS, "tar: truncated archive");
    got += (size_t)r;
  }
  return 0;
}

static int skip(struct tar_reader *t, uint64_t n, cf_error *err) {
  char buf[8192];
  while (n) {
    size_t c = n < sizeof(buf) ? (size_t)n : sizeof(buf);
    int r = read_full(t, buf, c, err);
    if (r < 0)
      return r;
    n -= c;
  }
  return 0;
}

/* octal (NUL/space terminated, leading spaces) or GNU base-256 */
static int parse_num(const unsigned char *f, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (f[0] & 0x80) {
    if (f[0] != 0x80) /* negative or huge */
      return -1;
    for (size_t i = 1; i < n; i++) {
      if (v >> 55)
        return -1;
      v = (v << 8) | f[i];
    }
    *out = v;
    return 0;
  }
  size_t i = 0;
  while (i < n && f[i] == ' ')
    i++;
  size_t digits = 0;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
    if (v >> 60)
      return -1;
    v = v * 8 + (uint64_t)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != '\0')
      return -1;
  if (!digits && f[0] != '\0' && f[0] != ' ')
    return -1;
  *out = v;
  return 0;
}

static bool zero_block(const unsigned char *b) {
  for (size_t i = 0; i < BLOCK; i++)
    if (b[i])
      return false;
  return true;
}

static bool checksum_ok(const unsigned char *b) {
  uint64_t want;
  if (parse_num(b + 148, 8, &want) < 0)
    return false;
  uint64_t u = 0;
  int64_t s = 0;
  for (size_t i = 0; i < BLOCK; i++) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
    u += c;
    s += (signed char)c;
  }
  return want == u || (int64_t)want == s;
}

static char *field_str(const unsigned char *f, size_t n) {
  size_t l = strnlen((const char *)f, n);
  char *s = malloc(l + 1);
  if (s) {
    memcpy(s, f, l);
    s[l] = '\0';
  }
  return s;
}

/* decimal digits only, no sign, no overflow */
static int parse_dec(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 19)
    return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 0;
}

struct pax {
  char *path, *link;
  bool has_size, has_uid, has_gid, has_mtime;
  uint64_t size, uid, gid;
  int64_t mtime;
};

static void pax_clear(struct pax *p) {
  free(p->path);
  free(p->link);
  memset(p, 0, sizeof(*p));
}

static int dup_value(char **dst, const char *v, size_t n) {
  if (n == 0 || n > MAX_PATH_LEN || memchr(v, '\0', n))
    return -1;
  free(*dst);
  if (!(*dst = strndup(v, n)))
    return -1;
  return 0;
}

/* records "<len> <key>=<value>\n", len counting the whole record */
static int pax_parse(const char *d, size_t n, struct pax *p, cf_error *err) {
  size_t off = 0;
  while (off < n) {
    size_t sp = off;
    while (sp < n && d[sp] >= '0' && d[sp] <= '9' && sp - off < 8)
      sp++;
    uint64_t rl;
    if (sp >= n || d[sp] != ' ' || parse_dec(d + off, sp - off, &rl) < 0 || rl > n - off ||
        rl < (sp - off) + 3 || d[off + rl - 1] != '\n')
      return cf_err_status(err, CF_INVALID_ARGUMENT, "tar: malformed pax record at %zu", off);
    const char *k = d + sp + 1, *end = d + off + rl - 1;
    const char *eq = memchr(k, '=', (size_t)(end - k));
    if (!eq || eq == k)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "tar: pax record without key at %zu", off);
    size_t kl = (size_t)(eq - k), vl = (size_t)(end - eq - 1);
    const char *v = eq + 1;
    int bad = 0;
#define KEY(s) (kl == sizeof(s) - 1 && !memcmp(k, s, kl))
    if (KEY("path")) {
      bad = dup_value(&p->path, v, vl);
    } else if (KEY("linkpath")) {
      bad = dup_value(&p->link, v, vl);
    } else if (KEY("size")) {
      bad = parse_dec(v, vl, &p->size);
      p->has_size = true;
    } else if (KEY("uid")) {
      bad = parse_dec(v, vl, &p->uid) || p->uid > UINT32_MAX;
      p->has_uid = true;
    } else if (KEY("gid")) {
      bad = parse_dec(v, vl, &p->gid) || p->gid > UINT32_MAX;
      p->has_gid = true;
    } else if (KEY("mtime")) {
      /* seconds, an optional fraction ignored; negative times are refused */
      const char *dot = memchr(v, '.', vl);
      uint64_t s = 0;
      bad = parse_dec(v, dot ? (size_t)(dot - v) : vl, &s) || s > INT64_MAX;
      p->mtime = (int64_t)s;
      p->has_mtime = true;
    }
#undef KEY
    if (bad)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "tar: bad pax value for %.*s", (int)kl, k);
    off += rl;
  }
  return 0;
}

static int read_meta(struct tar_reader *t, uint64_t size, char **out, cf_error *err) {
  if (size > MAX_META)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "tar: %llu-byte extended header",
                         (unsigned long long)size);
  char *d = malloc(size + 1);
  if (!d)
    return cf_err(err, ENOMEM, "tar");
  int r = read_full(t, d, size, err);
  if (r == 0)
    r = skip(t, (BLOCK - size % BLOCK) % BLOCK, err);
  if (r < 0) {
    free(d);
    return r;
  }
  d[size] = '\0';
  *out = d;
  return 0;
}

int tar_next(struct tar_reader *t, struct tar_entry **out, cf_error *err) {
  if (t->done)
    return 0;
  int r = skip(t, t->left + t->pad, err);
  if (r < 0)
    return r;
  t->left = t->pad = 0;
  entry_clear(&t->e);
  struct pax pax = {0};
  char *gnu_path = NULL, *gnu_link = NULL;
  unsigned char b[BLOCK];
  for (;;) {
    if ((r = read_full(t, b, BLOCK, err)) < 0)
      goto fail;
    if (zero_block(b)) {
      if (pax.path || pax.link || pax.has_size || gnu_path || gnu_link) {
        r = cf_err_status(err, CF_INVALID_ARGUMENT, "tar: extended header without an entry");
        goto fail;
      }
      t->done = true; /* what follows the end marker is ignored */
      return 0;
    }
    if (!checksum_ok(b)) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "tar: header checksum mismatch");
      goto fail;
    }
    bool ustar = !memcmp(b + 257, "ustar\0" "00", 8);
    bool gnu = !memcmp(b + 257, "ustar  \0", 8);
    if (!ustar && !gnu) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "tar: not a ustar header");
      goto fail;
    }
    uint64_t size, mode, uid, gid, mtime;
    if (parse_num(b + 124, 12, &size) < 0 || parse_num(b + 100, 8, &mode) < 0 ||
        parse_num(b + 108, 8, &uid) < 0 || parse_num(b + 116, 8, &gid) < 0 ||
        parse_num(b + 136, 12, &mtime) < 0) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "tar: malformed number in header");
      goto fail;
    }
    char type = (char)b[156];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      char *d = NULL;
      if ((r = read_meta(t, size, &d, err)) < 0)
        goto fail;
      if (type == 'x')
        r = pax_parse(d, size, &pax, err);
      else if (type == 'L' || type == 'K') {
        char **dst = type == 'L' ? &gnu_path : &gnu_link;
        size_t l = strnlen(d, size);
        if (l == 0 || l > MAX_PATH_LEN)
          r = cf_err_status(err, CF_INVALID_ARGUMENT, "tar: bad GNU long name");
        else {
          free(*dst);
          *dst = strndup(d, l);
        }
      }
      free(d);
      if (r < 0)
        goto fail;
      continue;
    }
    if (type == '\0' || type == '7')
      type = '0';
    if (!strchr("0123456", type)) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "tar: unsupported entry type '%c'",
                        type >= 0x20 && type < 0x7f ? type : '?');
      goto fail;
    }
    struct tar_entry *e = &t->e;
    e->type = type;
    e->mode = (uint32_t)(mode & 07777);
    e->uid = pax.has_uid ? pax.uid : uid;
    e->gid = pax.has_gid ? pax.gid : gid;
    e->mtime = pax.has_mtime ? pax.mtime : (int64_t)(mtime & INT64_MAX);
    e->size = pax.has_size ? pax.size : size;
    if (pax.path)
      e->path = cf_steal_ptr(pax.path);
    else if (gnu_path)
      e->path = cf_steal_ptr(gnu_path);
    else if (ustar && b[345]) { /* prefix "/" name */
      char *pre = field_str(b + 345, 155), *nm = field_str(b, 100);
      if (pre && nm && asprintf(&e->path, "%s/%s", pre, nm) < 0)
        e->path = NULL;
      free(pre);
      free(nm);
    } else {
      e->path = field_str(b, 100);
    }
    if (pax.link)
      e->link = cf_steal_ptr(pax.link);
    else if (gnu_link)
      e->link = cf_steal_ptr(gnu_link);
    else
      e->link = field_str(b + 157, 100);
    pax_clear(&pax);
    free(gnu_path);
    free(gnu_link);
    if (!e->path || !e->link)
      return cf_err(err, ENOMEM, "tar");
    if (!e->path[0])
      return cf_err_status(err, CF_INVALID_ARGUMENT, "tar: entry without a name");
    if ((type == '1' || type == '2') && !e->link[0])
      return cf_err_status(err, CF_INVALID_ARGUMENT, "tar: %s: link without a target", e->path);
    /* only regular files carry data (a hard link's size field is ignored) */
    if (type == '1')
      e->size = 0;
    if (type != '0' && e->size)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "tar: %s: data on a non-file entry",
                           e->path);
    if (e->size > t->max_size)
      return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "tar: %s: %llu bytes exceed the limit",
                           e->path, (unsigned long long)e->size);
    t->left = e->size;
    t->pad = (BLOCK - e->size % BLOCK) % BLOCK;
    *out = e;
    return 1;
  }
fail:
  pax_clear(&pax);
  free(gnu_path);
  free(gnu_link);
  return r;
}

ssize_t tar_read(struct tar_reader *t, void *buf, size_t n, cf_error *err) {
  if (!t->left)
    return 0;
  if (n > t->left)
    n = (size_t)t->left;
  int r = read_full(t, buf, n, err);
  if (r < 0)
    return r;
  t->left -= n;
  return (ssize_t)n;
}
