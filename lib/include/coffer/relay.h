/* The broker relay: a guest without a pod network reaches its key broker
 * through the host, which forwards bytes only. TLS runs end to end between
 * the guest and the broker, so the relay never sees plaintext; a relay that
 * changes, drops or stalls bytes makes the guest's TLS fail or time out.
 *
 *   guest program ──cf_relay_dial()──▶ unix socket of the guest pump
 *   guest pump ══ one virtio-serial port "relay.0", streams multiplexed ══▶
 *   host relay (the shim) ──TCP──▶ the ONE broker address of the pod
 *
 * The guest cannot name an address: a stream opens to the address the host
 * was configured with for this pod, or fails. The host bounds the number of
 * streams, every buffer (per-stream credit windows), connect and idle time.
 *
 * Wire format of the channel (both directions), big-endian:
 *   u32 stream (≠ 0), u8 type, u8 flags (0), u16 length, then length bytes.
 *   OPEN     guest→host  length 0; stream ids strictly increase
 *   OPEN_OK  host→guest  length 0; the broker connection is up
 *   DATA     both        1..CF_RELAY_MAX_PAYLOAD bytes, within the credit
 *   WINDOW   both        u32 credit (bytes the sender may send more)
 *   CLOSE    both        0..CF_RELAY_REASON_MAX bytes of reason text
 * Each side starts with CF_RELAY_WINDOW bytes of credit per stream. A frame
 * that breaks these rules ends the channel (it cannot be resynchronised):
 * the side that saw it logs why and refuses every stream after. */
#ifndef COFFER_RELAY_H
#define COFFER_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "coffer/error.h"
#include "coffer/loop.h"

#define CF_RELAY_PORT_NAME "relay.0"               /* the virtio-serial port */
#define CF_RELAY_GUEST_SOCKET "/run/coffer/relay.sock" /* the guest pump's socket */
#define CF_RELAY_SOCKET_ENV "COFFER_RELAY_SOCKET"  /* overrides it (tests) */
#define CF_RELAY_DIAL_TIMEOUT_MS 10000

#define CF_RELAY_HEADER 8
#define CF_RELAY_MAX_PAYLOAD 16384
#define CF_RELAY_WINDOW 65536
#define CF_RELAY_REASON_MAX 200
#define CF_RELAY_MAX_STREAMS 8

enum cf_relay_type {
  CF_RELAY_OPEN = 1,
  CF_RELAY_OPEN_OK = 2,
  CF_RELAY_DATA = 3,
  CF_RELAY_WINDOW_UPDATE = 4,
  CF_RELAY_CLOSE = 5,
};

/* ------------------------------------------------------------ the guest */

/* A connected stream socket that reaches the pod's broker through the
 * relay; TLS to the broker is the caller's. Blocking, close-on-exec.
 * Bounded by CF_RELAY_DIAL_TIMEOUT_MS. Fails with the host's reason (for
 * example "connect 10.0.0.5:8443: Connection refused"), or ETIMEDOUT. */
int cf_relay_dial(cf_error *err);
/* The same through the pump socket at path, bounded by timeout_ms. */
int cf_relay_dial_at(const char *path, int timeout_ms, cf_error *err);

/* ------------------------------------------------------- both sides */

typedef struct cf_relay cf_relay;

typedef struct cf_relay_opts {
  const char *name;          /* in log lines (the pod id); may be NULL */
  unsigned max_streams;      /* 0: CF_RELAY_MAX_STREAMS */
  int connect_timeout_ms;    /* host: broker connect; guest: OPEN → OPEN_OK. 0: 5000 */
  int idle_timeout_ms;       /* a stream with no byte either way is closed. 0: 60000 */
  /* host only: the broker, "https://HOST[:PORT][/…]", "http://…" or
   * "HOST:PORT" (IPv6 in brackets). Resolved once, at cf_relay_host_new. */
  const char *broker;
} cf_relay_opts;

/* Host side: serve the guest's streams on channel_fd (a byte stream to the
 * guest's relay port). Takes ownership of channel_fd. */
cf_relay *cf_relay_host_new(cf_loop *loop, int channel_fd, const cf_relay_opts *o, cf_error *err);
/* Guest side: each connection accepted on listen_fd (a listening unix
 * socket) becomes one stream over channel_fd (the relay port). Takes
 * ownership of both fds. */
cf_relay *cf_relay_guest_new(cf_loop *loop, int channel_fd, int listen_fd, const cf_relay_opts *o,
                             cf_error *err);
/* Close every stream and the fds the relay owns. NULL is fine. */
void cf_relay_free(cf_relay *r);

typedef struct cf_relay_stats {
  unsigned streams;          /* open now */
  unsigned long opened;      /* streams that reached the broker */
  unsigned long refused;     /* streams refused (limit, connect failure, dead channel) */
  bool channel_failed;       /* the channel broke: every stream is refused */
  char failure[CF_ERROR_MSG_MAX];
} cf_relay_stats;
void cf_relay_get_stats(const cf_relay *r, cf_relay_stats *out);

/* --------------------------------------------------------- the codec */

typedef struct cf_relay_frame {
  uint32_t stream;
  uint8_t type;
  uint16_t len;
  const uint8_t *payload; /* points into the parsed buffer */
} cf_relay_frame;

/* Parse one frame at the start of buf. Returns the bytes it spans (> 0),
 * 0 when buf holds only part of a frame, or negative errno with err naming
 * what is wrong (the channel must then be abandoned). */
int cf_relay_frame_parse(const uint8_t *buf, size_t len, cf_relay_frame *f, cf_error *err);
/* Write a frame header into hdr (CF_RELAY_HEADER bytes). */
void cf_relay_frame_header(uint8_t *hdr, uint32_t stream, uint8_t type, uint16_t len);

#endif
