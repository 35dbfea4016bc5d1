/* Internals of the broker relay (relay_mux.c: the multiplexer both sides
 * share; relay_host.c, relay_guest.c: what only one side does). */
#ifndef COFFER_RELAY_INTERNAL_H
#define COFFER_RELAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "coffer/relay.h"

/* The channel's output buffer: streams stop reading their sockets while it
 * holds RELAY_DATA_HIGH bytes, the channel's input stops being parsed while
 * it holds RELAY_OUT_HIGH (a peer that floods requests but never reads its
 * replies stalls itself); the capacity leaves room for the frame in hand. */
#define RELAY_OUT_HIGH (256 * 1024)
#define RELAY_DATA_HIGH (RELAY_OUT_HIGH / 2)
#define RELAY_OUT_CAP (RELAY_OUT_HIGH + 4 * (CF_RELAY_HEADER + CF_RELAY_MAX_PAYLOAD))
#define RELAY_GUEST_RETRY_MS 200 /* a virtio-serial port reads EOF while no host is there */

enum relay_role { RELAY_HOST, RELAY_GUEST };

enum stream_state {
  ST_FREE = 0,
  ST_CONNECTING, /* host: connecting to the broker */
  ST_HELLO,      /* guest: waiting for the client's first byte (its mode) */
  ST_OPENING,    /* guest: OPEN sent, waiting for OPEN_OK */
  ST_OPEN,
  ST_DRAINING,   /* the peer closed: write what it sent, then close */
};

typedef struct relay_stream {
  enum stream_state state;
  uint32_t id;
  int fd;
  cf_watch *watch;
  uint32_t events;      /* the watch's mask */
  uint32_t send_credit; /* bytes we may still send the peer */
  uint32_t recv_credit; /* bytes the peer may still send us */
  uint32_t owed;        /* written to fd, credit not yet returned */
  uint8_t *pend;        /* the peer's bytes not yet written to fd (≤ CF_RELAY_WINDOW) */
  size_t pend_off, pend_len;
  uint64_t deadline;    /* connect/open deadline, then idle deadline */
  bool raw;             /* guest: a plain client, no status byte */
  bool hup;             /* the socket hung up: epoll reports it until removed */
} relay_stream;

/* What one side does (relay_host.c, relay_guest.c): called through this
 * table, so a program links only its own side (the static guest agent has
 * no resolver). Hooks of the other side are never called. */
typedef struct relay_side {
  void (*open)(cf_relay *r, uint32_t id);                          /* host */
  void (*connected)(cf_relay *r, relay_stream *s);                 /* host */
  void (*refused)(cf_relay *r, relay_stream *s, const char *why);  /* guest */
  void (*opened)(cf_relay *r, relay_stream *s);                    /* guest */
  void (*hello)(cf_relay *r, relay_stream *s);                     /* guest */
  void (*channel_lost)(cf_relay *r, const char *why);              /* guest */
} relay_side;

struct cf_relay {
  enum relay_role role;
  const relay_side *side;
  cf_loop *loop;
  char name[128];
  unsigned max_streams;
  int connect_ms, idle_ms;

  int chan;
  bool chan_is_socket;
  cf_watch *chan_watch;
  uint32_t chan_events;
  bool in_paused;     /* output too full to take more requests */
  uint8_t in[CF_RELAY_HEADER + CF_RELAY_MAX_PAYLOAD];
  size_t in_len;
  uint8_t *out;
  size_t out_off, out_len;

  relay_stream *streams;
  uint32_t last_id;   /* host: highest OPEN seen; guest: highest id given */

  int listen_fd;      /* guest */
  cf_watch *listen_watch;
  struct sockaddr_storage broker; /* host */
  socklen_t broker_len;
  char broker_text[128];

  cf_timer *tick, *retry, *resume;
  bool failed;        /* the channel broke for good */
  char failure[CF_ERROR_MSG_MAX];
  unsigned long opened, refused;
};

cf_relay *relay_new(enum relay_role role, const relay_side *side, cf_loop *loop, int chan,
                    const cf_relay_opts *o, cf_error *err);
/* Queue a frame on the channel (and try to send it). */
int relay_send(cf_relay *r, uint32_t id, uint8_t type, const void *payload, size_t len);
relay_stream *relay_stream_alloc(cf_relay *r, uint32_t id, int fd, enum stream_state st);
/* Close the stream's socket and free its slot; reason != NULL also tells
 * the peer (CLOSE). */
void relay_stream_close(cf_relay *r, relay_stream *s, const char *reason);
void relay_stream_watch(cf_relay *r, relay_stream *s);
/* The stream reached the broker (host) / the host said so (guest). */
void relay_stream_opened(cf_relay *r, relay_stream *s);
/* Watch the channel again (guest: after the host came back). */
void relay_chan_rewatch(cf_relay *r);
/* The channel is unusable from now on: log, refuse every stream. */
void relay_fail(cf_relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log a refused stream: the first, then at each power of two. */
void relay_log_refused(cf_relay *r, uint32_t id, const char *reason);
/* Copy text from the wire as printable ASCII. */
void relay_sanitize(char *dst, size_t cap, const uint8_t *src, size_t len);

#endif
