/* A layer's tar stream from its blob: plain, gzip (zlib) or zstd (libzstd),
 * hashed as it is produced so the result can be checked against diff_id. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "internal.h"

#define INBUF (64u << 10)

enum comp { C_TAR, C_GZIP, C_ZSTD };

struct img_stream {
  int fd;
  enum comp comp;
  uint64_t out, max_out;
  struct img_hash hash;
  unsigned char *in;
  size_t in_len, in_pos;
  bool in_eof, end; /* input exhausted; decompressor saw its end */
  z_stream z;
  bool z_init;
  ZSTD_DStream *zs;
};

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

const char *img_layer_compression(const char *mt) {
  if (!mt || strstr(mt, "encrypted"))
    return NULL;
  static const char *const tar[] = {"application/vnd.oci.image.layer.v1.tar",
                                    "application/vnd.oci.image.layer.nondistributable.v1.tar",
                                    "application/vnd.docker.image.rootfs.diff.tar"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(tar[i]);
    if (strncmp(mt, tar[i], n))
      continue;
    const char *rest = mt + n;
    if (!*rest)
      return "tar";
    if (!strcmp(rest, "+gzip") || !strcmp(rest, ".gzip"))
      return "gzip";
    if (!strcmp(rest, "+zstd"))
      return "zstd";
  }
  return ends_with(mt, ".tar.gzip") ? "gzip" : NULL;
}

int img_stream_open(int fd, const char *media_type, uint64_t max_out, struct img_stream **out,
                    cf_error *err) {
  const char *c = img_layer_compression(media_type);
  if (!c)
    return cf_err_status(err, CF_UNIMPLEMENTED, "layer media type %s cannot be unpacked",
                         media_type ? media_type : "(none)");
  struct img_stream *s = calloc(1, sizeof(*s));
  if (!s || !(s->in = malloc(INBUF))) {
    free(s);
    return cf_err(err, ENOMEM, "layer stream");
  }
  s->fd = fd;
  s->max_out = max_out;
  s->comp = !strcmp(c, "gzip") ? C_GZIP : !strcmp(c, "zstd") ? C_ZSTD : C_TAR;
  int r = img_hash_init(&s->hash, "sha256", err);
  if (r == 0 && s->comp == C_GZIP) {
    if (inflateInit2(&s->z, 15 + 16) != Z_OK)
      r = cf_err(err, ENOMEM, "zlib");
    else
      s->z_init = true;
  } else if (r == 0 && s->comp == C_ZSTD) {
    if (!(s->zs = ZSTD_createDStream()))
      r = cf_err(err, ENOMEM, "zstd");
    /* bounds the window a hostile frame can make us allocate (128 MiB) */
    else if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, 27)))
      r = cf_err(err, EINVAL, "zstd window limit");
  }
  if (r < 0) {
    img_stream_free(s);
    return r;
  }
  *out = s;
  return 0;
}

void img_stream_free(struct img_stream *s) {
  if (!s)
    return;
  if (s->z_init)
    inflateEnd(&s->z);
  ZSTD_freeDStream(s->zs);
  img_hash_free(&s->hash);
  free(s->in);
  free(s);
}

static int fill(struct img_stream *s, cf_error *err) {
  if (s->in_pos < s->in_len || s->in_eof)
    return 0;
  ssize_t n;
  do
    n = read(s->fd, s->in, INBUF);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return cf_err(err, errno, "reading the layer");
  s->in_len = (size_t)n;
  s->in_pos = 0;
  s->in_eof = n == 0;
  return 0;
}

static ssize_t raw_read(struct img_stream *s, void *buf, size_t n, cf_error *err) {
  for (;;) {
    int r = fill(s, err);
    if (r < 0)
      return r;
    if (s->comp == C_TAR) {
      size_t c = s->in_len - s->in_pos;
      if (c > n)
        c = n;
      memcpy(buf, s->in + s->in_pos, c);
      s->in_pos += c;
      return (ssize_t)c;
    }
    if (s->end) {
      /* gzip: another member may follow; zstd continues by itself */
      if (s->in_pos == s->in_len && s->in_eof)
        return 0;
      if (s->comp == C_GZIP) {
        inflateReset(&s->z);
        s->end = false;
      }
    }
    if (s->comp == C_GZIP) {
      s->z.next_in = s->in + s->in_pos;
      s->z.avail_in = (uInt)(s->in_len - s->in_pos);
      s->z.next_out = buf;
      s->z.avail_out = (uInt)(n > (1u << 30) ? (1u << 30) : n);
      uInt before = s->z.avail_out;
      int zr = inflate(&s->z, Z_NO_FLUSH);
      s->in_pos = s->in_len - s->z.avail_in;
      if (zr == Z_STREAM_END)
        s->end = true;
      else if (zr != Z_OK && zr != Z_BUF_ERROR)
        return cf_err_status(err, CF_DATA_LOSS, "gzip: %s", s->z.msg ? s->z.msg : "corrupt");
      size_t got = before - s->z.avail_out;
      if (got)
        return (ssize_t)got;
      if (s->in_eof && !s->end)
        return cf_err_status(err, CF_DATA_LOSS, "gzip: truncated stream");
      if (s->in_eof && s->end)
        return 0;
      continue;
    }
    ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
    ZSTD_outBuffer o = {buf, n, 0};
    size_t zr = ZSTD_decompressStream(s->zs, &o, &in);
    s->in_pos = in.pos;
    if (ZSTD_isError(zr))
      return cf_err_status(err, CF_DATA_LOSS, "zstd: %s", ZSTD_getErrorName(zr));
    s->end = zr == 0; /* a frame is complete */
    if (o.pos)
      return (ssize_t)o.pos;
    if (s->in_eof && s->in_pos == s->in_len)
      return s->end ? 0 : cf_err_status(err, CF_DATA_LOSS, "zstd: truncated stream");
  }
}

ssize_t img_stream_read(void *ud, void *buf, size_t n, cf_error *err) {
  struct img_stream *s = ud;
  ssize_t r = raw_read(s, buf, n, err);
  if (r <= 0)
    return r;
  s->out += (uint64_t)r;
  if (s->out > s->max_out) /* a decompression bomb, or padding without end */
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "layer: tar stream over %llu bytes",
                         (unsigned long long)s->max_out);
  img_hash_update(&s->hash, buf, (size_t)r);
  return r;
}

int img_stream_finish(struct img_stream *s, char *diff_id, cf_error *err) {
  char buf[16384];
  ssize_t r;
  while ((r = img_stream_read(s, buf, sizeof(buf), err)) > 0)
    ;
  if (r < 0)
    return (int)r;
  img_hash_final(&s->hash, diff_id);
  return 0;
}
