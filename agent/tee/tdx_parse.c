/* What the TDX side hands back, checked before anything trusts it: DCAP
 * quotes (v4, v5) and QGS replies. */
#include <errno.h>
#include <string.h>

#include "tee_internal.h"

#define HEADER 48
#define BODY_V4 584
#define BODY_V5_15 648
#define BODY_REPORT_DATA 520 /* 0x238 - header */
#define BODY_MRCONFIGID 184  /* 0xE8 - header */
#define QGS_HEADER 16
#define QGS_GET_QUOTE_RESP 1

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The TD body's offset and the end of the signed part. */
static int layout(const uint8_t *q, size_t len, size_t *body, size_t *end, cf_error *err) {
  if (len < HEADER)
    return cf_err(err, EPROTO, "TDX quote of %zu bytes is shorter than its header", len);
  if (len > TEE_TDX_QUOTE_MAX)
    return cf_err(err, EFBIG, "TDX quote of %zu bytes (at most %d)", len, TEE_TDX_QUOTE_MAX);
  uint16_t version = le16(q), key = le16(q + 2);
  uint32_t tee = le32(q + 4);
  if (version != 4 && version != 5)
    return cf_err(err, EPROTO, "TDX quote version %u (known: 4, 5)", version);
  if (key != 2 || tee != 0x81)
    return cf_err(err, EPROTO, "quote is not an ECDSA-P256 TDX quote (key type %u, TEE type 0x%x)",
                  key, tee);
  size_t size = BODY_V4;
  *body = HEADER;
  if (version == 5) {
    if (len < HEADER + 6)
      return cf_err(err, EPROTO, "TDX v5 quote of %zu bytes has no body descriptor", len);
    uint16_t type = le16(q + HEADER);
    size = le32(q + HEADER + 2);
    if (!((type == 2 && size == BODY_V4) || (type == 3 && size == BODY_V5_15)))
      return cf_err(err, EPROTO, "TDX v5 quote body type %u of %zu bytes (known: 2/584, 3/648)",
                    type, size);
    *body = HEADER + 6;
  }
  if (len < *body + size + 4)
    return cf_err(err, EPROTO, "TDX quote of %zu bytes is shorter than its body", len);
  uint32_t sig = le32(q + *body + size);
  if (sig > len - (*body + size + 4))
    return cf_err(err, EPROTO, "TDX quote declares %u signature bytes, %zu are there", sig,
                  len - (*body + size + 4));
  if (sig < 64 + 64)
    return cf_err(err, EPROTO, "TDX quote signature data of %u bytes is too short", sig);
  *end = *body + size + 4 + sig;
  return 0;
}

int tee_tdx_quote_check(const uint8_t *q, size_t len, const uint8_t report_data[64], size_t *used,
                        cf_error *err) {
  size_t body, end;
  int r = layout(q, len, &body, &end, err);
  if (r)
    return r;
  if (memcmp(q + body + BODY_REPORT_DATA, report_data, 64))
    return cf_err(err, EPROTO, "TDX quote carries other report_data than requested (a stale or "
                  "substituted quote)");
  *used = end;
  return 0;
}

int tee_tdx_quote_mrconfigid(const uint8_t *q, size_t len, uint8_t out[48], cf_error *err) {
  size_t body, end;
  int r = layout(q, len, &body, &end, err);
  if (!r)
    memcpy(out, q + body + BODY_MRCONFIGID, 48);
  return r;
}

int tee_tdx_qgs_reply_parse(const uint8_t *m, size_t len, const uint8_t **quote, size_t *quote_len,
                            cf_error *err) {
  if (len < QGS_HEADER + 8)
    return cf_err(err, EPROTO, "QGS reply of %zu bytes is too short", len);
  uint16_t major = le16(m);
  uint32_t type = le32(m + 4), size = le32(m + 8), code = le32(m + 12);
  if (major != 1 || type != QGS_GET_QUOTE_RESP)
    return cf_err(err, EPROTO, "QGS reply of version %u, type %u (expected 1, %d)", major, type,
                  QGS_GET_QUOTE_RESP);
  if (size != len)
    return cf_err(err, EPROTO, "QGS reply says %u bytes, its frame holds %zu", size, len);
  if (code)
    return cf_err(err, EIO, "QGS could not make a quote (error 0x%x)", code);
  uint32_t id = le32(m + QGS_HEADER), ql = le32(m + QGS_HEADER + 4);
  size_t room = len - QGS_HEADER - 8;
  if (id > room || ql > room - id || !ql)
    return cf_err(err, EPROTO, "QGS reply: an id of %u and a quote of %u bytes in %zu bytes", id,
                  ql, room);
  *quote = m + QGS_HEADER + 8 + id;
  *quote_len = ql;
  return 0;
}
