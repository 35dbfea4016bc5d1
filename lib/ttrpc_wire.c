/* Encoders for ttrpc.Request and ttrpc.Response (lib/proto/ttrpc.proto).
 *
 * Written by hand so the caller's message is packed directly into the output
 * queue behind the frame header: one copy in all. Empty proto3 fields are
 * omitted, as protobuf encoders do. Decoding uses the generated code. */
#include "ttrpc_internal.h"

#include <errno.h>
#include <string.h>

/* Field tags (field << 3 | wire type); every field number is below 16. */
enum {
  TAG_REQ_SERVICE = 1 << 3 | 2,
  TAG_REQ_METHOD = 2 << 3 | 2,
  TAG_REQ_PAYLOAD = 3 << 3 | 2,
  TAG_REQ_TIMEOUT = 4 << 3 | 0,
  TAG_REQ_METADATA = 5 << 3 | 2,
  TAG_KV_KEY = 1 << 3 | 2,
  TAG_KV_VALUE = 2 << 3 | 2,
  TAG_RESP_STATUS = 1 << 3 | 2,
  TAG_RESP_PAYLOAD = 2 << 3 | 2,
  TAG_STATUS_CODE = 1 << 3 | 0,
  TAG_STATUS_MESSAGE = 2 << 3 | 2,
};

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* Size of a length-delimited field, 0 when empty (omitted). */
static size_t field_size(size_t len) { return len ? 1 + varint_size(len) + len : 0; }

static uint8_t *put_field_header(uint8_t *p, uint8_t tag, size_t len) {
  *p++ = tag;
  return put_varint(p, len);
}

static uint8_t *put_string(uint8_t *p, uint8_t tag, const char *s, size_t len) {
  if (!len)
    return p;
  p = put_field_header(p, tag, len);
  memcpy(p, s, len);
  return p + len;
}

static size_t body_size(const ttrpc_body *b) {
  if (!b)
    return 0;
  return b->msg ? protobuf_c_message_get_packed_size(b->msg) : b->len;
}

static uint8_t *put_body(uint8_t *p, uint8_t tag, const ttrpc_body *b, size_t len) {
  if (!len)
    return p;
  p = put_field_header(p, tag, len);
  if (b->msg)
    protobuf_c_message_pack(b->msg, p);
  else
    memcpy(p, b->bytes, len);
  return p + len;
}

/* Reserves a frame of `total` payload bytes and writes its header. */
static uint8_t *begin_frame(ttrpc_outbuf *o, uint32_t stream_id, uint8_t type, size_t total) {
  uint8_t *p = ttrpc_outbuf_reserve(o, TTRPC_HEADER_SIZE + total);
  if (!p)
    return NULL;
  ttrpc_frame_header h = {.length = (uint32_t)total, .stream_id = stream_id, .type = type};
  ttrpc_header_encode(&h, p);
  return p + TTRPC_HEADER_SIZE;
}

int ttrpc_append_response(ttrpc_outbuf *o, uint32_t stream_id, int code,
                          const char *message, const ttrpc_body *body) {
  size_t msg_len = code != CF_OK && message ? strlen(message) : 0;
  uint64_t wire_code = (uint64_t)(int64_t)code; /* int32: negative sign-extends */
  size_t status_len = 0;
  if (code != CF_OK)
    status_len = 1 + varint_size(wire_code) + field_size(msg_len);
  size_t blen = body_size(body);
  size_t total = (code != CF_OK ? field_size(status_len) : 0) + field_size(blen);
  if (total > TTRPC_MAX_MESSAGE)
    return -EMSGSIZE;

  uint8_t *p = begin_frame(o, stream_id, TTRPC_TYPE_RESPONSE, total);
  if (!p)
    return -ENOMEM;
  if (code != CF_OK) {
    p = put_field_header(p, TAG_RESP_STATUS, status_len);
    *p++ = TAG_STATUS_CODE;
    p = put_varint(p, wire_code);
    p = put_string(p, TAG_STATUS_MESSAGE, message, msg_len);
  }
  put_body(p, TAG_RESP_PAYLOAD, body, blen);
  o->tail += TTRPC_HEADER_SIZE + total;
  return 0;
}

static size_t kv_size(const ttrpc_kv *kv) {
  return field_size(kv->key ? strlen(kv->key) : 0) + field_size(kv->value ? strlen(kv->value) : 0);
}

int ttrpc_append_request(ttrpc_outbuf *o, uint32_t stream_id, const char *service,
                         const char *method, const ttrpc_body *body,
                         int64_t timeout_nano, const ttrpc_kv *md, size_t n_md) {
  size_t svc_len = strlen(service), mth_len = strlen(method);
  size_t blen = body_size(body);
  size_t total = field_size(svc_len) + field_size(mth_len) + field_size(blen);
  if (timeout_nano)
    total += 1 + varint_size((uint64_t)timeout_nano);
  for (size_t i = 0; i < n_md; i++) {
    size_t kl = kv_size(&md[i]);
    total += 1 + varint_size(kl) + kl; /* an empty KeyValue is still an element */
  }
  if (total > TTRPC_MAX_MESSAGE)
    return -EMSGSIZE;

  uint8_t *p = begin_frame(o, stream_id, TTRPC_TYPE_REQUEST, total);
  if (!p)
    return -ENOMEM;
  p = put_string(p, TAG_REQ_SERVICE, service, svc_len);
  p = put_string(p, TAG_REQ_METHOD, method, mth_len);
  p = put_body(p, TAG_REQ_PAYLOAD, body, blen);
  if (timeout_nano) {
    *p++ = TAG_REQ_TIMEOUT;
    p = put_varint(p, (uint64_t)timeout_nano);
  }
  for (size_t i = 0; i < n_md; i++) {
    const char *k = md[i].key ? md[i].key : "", *v = md[i].value ? md[i].value : "";
    p = put_field_header(p, TAG_REQ_METADATA, kv_size(&md[i]));
    p = put_string(p, TAG_KV_KEY, k, strlen(k));
    p = put_string(p, TAG_KV_VALUE, v, strlen(v));
  }
  o->tail += TTRPC_HEADER_SIZE + total;
  return 0;
}
