/* The relay channel's frame codec (wire format in coffer/relay.h). Every
 * rule a frame can break on its own is checked here; rules that need the
 * stream's state (credit, ordering) are the relay's. */
#include "coffer/relay.h"

#include <errno.h>
#include <stddef.h>

_Static_assert(CF_RELAY_MAX_PAYLOAD == 16384 && CF_RELAY_REASON_MAX == 200 &&
                   CF_RELAY_WINDOW == 65536, "the messages below name these limits");

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void cf_relay_frame_header(uint8_t *hdr, uint32_t stream, uint8_t type, uint16_t len) {
  hdr[0] = (uint8_t)(stream >> 24);
  hdr[1] = (uint8_t)(stream >> 16);
  hdr[2] = (uint8_t)(stream >> 8);
  hdr[3] = (uint8_t)stream;
  hdr[4] = type;
  hdr[5] = 0;
  hdr[6] = (uint8_t)(len >> 8);
  hdr[7] = (uint8_t)len;
}

static int bad(cf_error *err, const cf_relay_frame *f, const char *why) {
  return cf_err_status(err, CF_INVALID_ARGUMENT, "bad relay frame (stream %u, type %u, length %u): %s",
                       (unsigned)f->stream, (unsigned)f->type, (unsigned)f->len, why);
}

int cf_relay_frame_parse(const uint8_t *buf, size_t len, cf_relay_frame *f, cf_error *err) {
  if (len < CF_RELAY_HEADER)
    return 0;
  f->stream = get32(buf);
  f->type = buf[4];
  f->len = (uint16_t)(buf[6] << 8 | buf[7]);
  f->payload = buf + CF_RELAY_HEADER;
  if (buf[5] != 0)
    return bad(err, f, "flags must be 0");
  if (f->stream == 0)
    return bad(err, f, "stream 0");
  if (f->len > CF_RELAY_MAX_PAYLOAD)
    return bad(err, f, "longer than the 16384-byte maximum");
  switch (f->type) {
  case CF_RELAY_OPEN:
  case CF_RELAY_OPEN_OK:
    if (f->len != 0)
      return bad(err, f, "OPEN/OPEN_OK carry nothing (the guest cannot name an address)");
    break;
  case CF_RELAY_DATA:
    if (f->len == 0)
      return bad(err, f, "empty DATA");
    break;
  case CF_RELAY_WINDOW_UPDATE:
    if (f->len != 4)
      return bad(err, f, "WINDOW carries 4 bytes");
    break;
  case CF_RELAY_CLOSE:
    if (f->len > CF_RELAY_REASON_MAX)
      return bad(err, f, "CLOSE reason longer than 200 bytes");
    break;
  default:
    return bad(err, f, "unknown type");
  }
  if (len < (size_t)CF_RELAY_HEADER + f->len)
    return 0;
  if (f->type == CF_RELAY_WINDOW_UPDATE) {
    uint32_t credit = get32(f->payload);
    if (credit == 0 || credit > CF_RELAY_WINDOW)
      return bad(err, f, "WINDOW credit must be 1..65536");
  }
  return CF_RELAY_HEADER + f->len;
}
