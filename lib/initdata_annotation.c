/* The io.coffer.init-data annotation: base64 of gzip of the TOML. Bounded on
 * both sides; inflating stops at CF_INITDATA_MAX_TOML (gzip bomb guard). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "coffer/cleanup.h"
#include "coffer/initdata.h"

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Standard alphabet with padding; line breaks are skipped (as Go's decoder,
 * which Kata's tooling uses, does), anything else is refused. */
static int base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len, cf_error *err) {
  _cleanup_free_ uint8_t *o = malloc(len / 4 * 3 + 3);
  if (!o)
    return cf_err(err, ENOMEM, "init-data annotation");
  size_t n = 0, q = 0, pad = 0;
  uint32_t acc = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '\n' || c == '\r')
      continue;
    if (c == '=') {
      if (q < 2 || ++pad > 2)
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "init-data annotation: misplaced '=' at offset %zu", i);
      acc <<= 6;
      if (++q == 4) {
        o[n++] = (uint8_t)(acc >> 16);
        if (pad == 1)
          o[n++] = (uint8_t)(acc >> 8);
        q = 0, acc = 0;
      }
      continue;
    }
    int v = b64val(c);
    if (v < 0 || pad)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "init-data annotation is not base64: byte 0x%02x at offset %zu", c, i);
    acc = acc << 6 | (uint32_t)v;
    if (++q == 4) {
      o[n++] = (uint8_t)(acc >> 16);
      o[n++] = (uint8_t)(acc >> 8);
      o[n++] = (uint8_t)acc;
      q = 0, acc = 0;
    }
  }
  if (q != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "init-data annotation is not base64: length is not a multiple of 4");
  *out = cf_steal_ptr(o);
  *out_len = n;
  return 0;
}

static void inflate_endp(z_stream **z) { inflateEnd(*z); }

static int gunzip(const uint8_t *in, size_t len, char **toml, size_t *toml_len, cf_error *err) {
  if (len < 2 || in[0] != 0x1f || in[1] != 0x8b)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data annotation is not gzip (base64 of gzip of the TOML)");
  _cleanup_free_ char *o = malloc(CF_INITDATA_MAX_TOML + 1);
  if (!o)
    return cf_err(err, ENOMEM, "init-data annotation");
  z_stream z = {0};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return cf_err_status(err, CF_INTERNAL, "init-data annotation: zlib init failed");
  _cleanup_(inflate_endp) z_stream *zp = &z;
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  /* one byte more than allowed: producing it means the limit was passed */
  z.next_out = (Bytef *)o;
  z.avail_out = CF_INITDATA_MAX_TOML + 1;
  int r = inflate(zp, Z_FINISH);
  if (r != Z_STREAM_END) {
    if (z.avail_out == 0)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "init-data annotation inflates to more than %u bytes", CF_INITDATA_MAX_TOML);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data annotation: bad gzip data (%s)",
                         z.msg ? z.msg : r == Z_BUF_ERROR ? "truncated" : "corrupt");
  }
  if (z.total_out > CF_INITDATA_MAX_TOML)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "init-data annotation inflates to more than %u bytes", CF_INITDATA_MAX_TOML);
  if (z.avail_in != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "init-data annotation: %u bytes after the gzip stream", z.avail_in);
  *toml_len = z.total_out;
  o[*toml_len] = 0;
  *toml = cf_steal_ptr(o);
  return 0;
}

int cf_initdata_decode_annotation(const char *value, size_t len, char **toml, size_t *toml_len,
                                  cf_error *err) {
  if (len > CF_INITDATA_MAX_ANNOTATION)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "init-data annotation is %zu bytes, more than the limit of %u", len,
                         CF_INITDATA_MAX_ANNOTATION);
  _cleanup_free_ uint8_t *gz = NULL;
  size_t gz_len = 0;
  int r = base64_decode(value, len, &gz, &gz_len, err);
  if (r < 0)
    return r;
  return gunzip(gz, gz_len, toml, toml_len, err);
}
