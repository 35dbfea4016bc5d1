/* Pieces shared by the ttrpc server and client (not a public header):
 * the incremental frame reader, the output queue and the hand-written
 * encoders for ttrpc.Request / ttrpc.Response (they pack the caller's message
 * straight into the output queue, without an intermediate copy). */
#ifndef COFFER_TTRPC_INTERNAL_H
#define COFFER_TTRPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "coffer/ttrpc.h"

#define TTRPC_READ_CHUNK (64u * 1024u)
/* Stop reading a peer whose replies pile up beyond this many bytes. */
#define TTRPC_OUT_HIGH_WATER (1u << 20)

/* ----------------------------------------------------------- frame reader */
enum ttrpc_reader_state { TTRPC_RD_HEADER, TTRPC_RD_PAYLOAD, TTRPC_RD_DISCARD };

typedef struct ttrpc_reader {
  enum ttrpc_reader_state state;
  uint8_t hdr[TTRPC_HEADER_SIZE];
  size_t hdr_len;
  ttrpc_frame_header h;
  uint8_t *payload; /* TTRPC_RD_PAYLOAD: `cap` bytes, `have` filled */
  size_t have, cap;
  uint32_t discard_left; /* TTRPC_RD_DISCARD: bytes of an oversized frame */
} ttrpc_reader;

/* One complete frame. oversized: its payload (h->length > TTRPC_MAX_MESSAGE)
 * was read and dropped, payload is NULL. payload is valid during the call.
 * A negative return stops ttrpc_reader_feed, which returns it. */
typedef int (*ttrpc_frame_cb)(void *ctx, const ttrpc_frame_header *h,
                              const uint8_t *payload, size_t len, bool oversized);

int ttrpc_reader_feed(ttrpc_reader *r, const uint8_t *data, size_t len,
                      ttrpc_frame_cb cb, void *ctx);
/* True between frames (EOF here is a clean close, elsewhere a truncation). */
bool ttrpc_reader_idle(const ttrpc_reader *r);
void ttrpc_reader_reset(ttrpc_reader *r);

/* ----------------------------------------------------------- output queue */
typedef struct ttrpc_outbuf {
  uint8_t *data;
  size_t head, tail, cap;
} ttrpc_outbuf;

static inline size_t ttrpc_outbuf_pending(const ttrpc_outbuf *o) { return o->tail - o->head; }
/* Room for n more bytes at data + tail; NULL when out of memory. */
uint8_t *ttrpc_outbuf_reserve(ttrpc_outbuf *o, size_t n);
/* Writes what it can: 0 when empty, 1 when the fd would block, -errno. */
int ttrpc_outbuf_flush(ttrpc_outbuf *o, int fd, bool is_socket);
void ttrpc_outbuf_clear(ttrpc_outbuf *o);

/* ---------------------------------------------------------------- encoders */
/* A message body: a protobuf-c message, or raw bytes (msg NULL). */
typedef struct ttrpc_body {
  const ProtobufCMessage *msg;
  const uint8_t *bytes;
  size_t len;
} ttrpc_body;

/* Append one response frame. code != CF_OK carries a Status with message.
 * -EMSGSIZE when the frame would exceed TTRPC_MAX_MESSAGE (nothing
 * appended), -ENOMEM. */
int ttrpc_append_response(ttrpc_outbuf *o, uint32_t stream_id, int code,
                          const char *message, const ttrpc_body *body);
int ttrpc_append_request(ttrpc_outbuf *o, uint32_t stream_id, const char *service,
                         const char *method, const ttrpc_body *body,
                         int64_t timeout_nano, const ttrpc_kv *md, size_t n_md);

/* True if fd is a socket (send with MSG_NOSIGNAL) rather than a device. */
bool ttrpc_fd_is_socket(int fd);

#endif
