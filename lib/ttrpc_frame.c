/* ttrpc frame header codec and the incremental frame reader.
 *
 * The reader takes whatever the socket returned and emits whole frames.
 * A frame that sits entirely in the caller's buffer is passed through without
 * a copy; a split one is assembled in a buffer that grows with the bytes
 * that actually arrived (a header alone cannot make us allocate 4 MiB). An
 * oversized frame is never buffered: its bytes are counted off as they
 * arrive and only then reported, so the stream stays in sync. */
#include "ttrpc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_FIRST_ALLOC (64u * 1024u)

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

void ttrpc_header_encode(const ttrpc_frame_header *h, uint8_t out[TTRPC_HEADER_SIZE]) {
  put_be32(out, h->length);
  put_be32(out + 4, h->stream_id);
  out[8] = h->type;
  out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], ttrpc_frame_header *h) {
  h->length = get_be32(in);
  h->stream_id = get_be32(in + 4);
  h->type = in[8];
  h->flags = in[9];
}

bool ttrpc_reader_idle(const ttrpc_reader *r) {
  return r->state == TTRPC_RD_HEADER && r->hdr_len == 0;
}

void ttrpc_reader_reset(ttrpc_reader *r) {
  free(r->payload);
  memset(r, 0, sizeof(*r));
  r->state = TTRPC_RD_HEADER;
}

/* The header is complete: decide how its payload will be consumed. */
static int begin_payload(ttrpc_reader *r, ttrpc_frame_cb cb, void *ctx) {
  r->hdr_len = 0;
  if (r->h.length > TTRPC_MAX_MESSAGE) {
    r->state = TTRPC_RD_DISCARD;
    r->discard_left = r->h.length;
    return 0;
  }
  if (r->h.length == 0) {
    ttrpc_frame_header h = r->h;
    return cb(ctx, &h, NULL, 0, false);
  }
  r->payload = NULL;
  r->have = r->cap = 0;
  r->state = TTRPC_RD_PAYLOAD;
  return 0;
}

/* Make room for n more payload bytes, doubling up to the frame's length. */
static int grow_payload(ttrpc_reader *r, size_t n) {
  size_t need = r->have + n;
  if (need <= r->cap)
    return 0;
  size_t cap = r->cap ? r->cap : PAYLOAD_FIRST_ALLOC;
  while (cap < need)
    cap *= 2;
  if (cap > r->h.length)
    cap = r->h.length;
  uint8_t *p = realloc(r->payload, cap);
  if (!p)
    return -ENOMEM;
  r->payload = p;
  r->cap = cap;
  return 0;
}

int ttrpc_reader_feed(ttrpc_reader *r, const uint8_t *data, size_t len,
                      ttrpc_frame_cb cb, void *ctx) {
  while (len > 0) {
    int ret = 0;
    switch (r->state) {
    case TTRPC_RD_HEADER: {
      if (r->hdr_len == 0 && len >= TTRPC_HEADER_SIZE) {
        ttrpc_frame_header h;
        ttrpc_header_decode(data, &h);
        size_t rest = len - TTRPC_HEADER_SIZE;
        if (h.length <= TTRPC_MAX_MESSAGE && h.length <= rest) { /* zero-copy */
          const uint8_t *payload = h.length ? data + TTRPC_HEADER_SIZE : NULL;
          data += TTRPC_HEADER_SIZE + h.length;
          len -= TTRPC_HEADER_SIZE + h.length;
          ret = cb(ctx, &h, payload, h.length, false);
          break;
        }
      }
      size_t n = TTRPC_HEADER_SIZE - r->hdr_len;
      if (n > len)
        n = len;
      memcpy(r->hdr + r->hdr_len, data, n);
      r->hdr_len += n;
      data += n;
      len -= n;
      if (r->hdr_len == TTRPC_HEADER_SIZE) {
        ttrpc_header_decode(r->hdr, &r->h);
        ret = begin_payload(r, cb, ctx);
      }
      break;
    }
    case TTRPC_RD_PAYLOAD: {
      size_t n = r->h.length - r->have;
      if (n > len)
        n = len;
      ret = grow_payload(r, n);
      if (ret < 0)
        return ret;
      memcpy(r->payload + r->have, data, n);
      r->have += n;
      data += n;
      len -= n;
      if (r->have == r->h.length) {
        uint8_t *payload = r->payload;
        ttrpc_frame_header h = r->h;
        r->payload = NULL;
        r->have = r->cap = 0;
        r->state = TTRPC_RD_HEADER;
        ret = cb(ctx, &h, payload, h.length, false);
        free(payload);
      }
      break;
    }
    case TTRPC_RD_DISCARD: {
      size_t n = r->discard_left < len ? r->discard_left : len;
      r->discard_left -= (uint32_t)n;
      data += n;
      len -= n;
      if (r->discard_left == 0) {
        ttrpc_frame_header h = r->h;
        r->state = TTRPC_RD_HEADER;
        ret = cb(ctx, &h, NULL, 0, true);
      }
      break;
    }
    }
    if (ret < 0)
      return ret;
  }
  return 0;
}
