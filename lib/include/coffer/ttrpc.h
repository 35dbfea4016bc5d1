/* ttrpc, wire-compatible with containerd/ttrpc (unary calls).
 *
 * Frames: 10-byte big-endian header {u32 length, u32 stream_id, u8 type,
 * u8 flags}, type 1 request / 2 response / 3 data; payloads are the protobuf
 * messages ttrpc.Request / ttrpc.Response; at most 4 MiB per message.
 *
 * Server: handlers run on the loop and may answer later (keep the call,
 * reply from another callback), so a blocking Wait never stalls other calls
 * on the same connection. Client: asynchronous calls with a timeout, any
 * number in flight on one connection; a sync wrapper for tools and tests. */
#ifndef COFFER_TTRPC_H
#define COFFER_TTRPC_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "coffer/error.h"
#include "coffer/loop.h"

#define TTRPC_HEADER_SIZE 10
#define TTRPC_MAX_MESSAGE (4u << 20)
enum { TTRPC_TYPE_REQUEST = 1, TTRPC_TYPE_RESPONSE = 2, TTRPC_TYPE_DATA = 3 };

/* ------------------------------------------------------------------ server */
typedef struct ttrpc_server ttrpc_server;
typedef struct ttrpc_call ttrpc_call;

/* payload is the Request.payload bytes (valid for the handler's duration).
 * The handler must eventually call exactly one ttrpc_call_reply*(). */
typedef void (*ttrpc_handler)(ttrpc_call *call, const uint8_t *payload,
                              size_t len, void *data);

ttrpc_server *ttrpc_server_new(cf_loop *loop, cf_error *err);
/* Frees every connection; pending calls are dropped without reply (their
 * cancel callbacks run, as on a connection close). Not from inside one of
 * this server's callbacks. */
void ttrpc_server_free(ttrpc_server *srv);
/* service: full name, e.g. "containerd.task.v2.Task"; method: "Create". */
int ttrpc_server_register(ttrpc_server *srv, const char *service,
                          const char *method, ttrpc_handler h, void *data,
                          cf_error *err);
/* Accept connections from a listening socket (unix peers must share our uid).
 * The fd is made non-blocking but stays the caller's to close (after
 * ttrpc_server_free). */
int ttrpc_server_listen_fd(ttrpc_server *srv, int listen_fd, cf_error *err);
/* Serve one already-connected stream (socketpair, accepted socket). The
 * server owns fd from now on. */
int ttrpc_server_add_conn(ttrpc_server *srv, int fd, cf_error *err);
/* Serve a character-device stream (virtio-serial port): EOF means the host
 * went away; pending calls are dropped, the parser reset, and reading
 * resumes (polling every retry_ms) on the same fd when the host reconnects. */
int ttrpc_server_add_serial(ttrpc_server *srv, int fd, int retry_ms,
                            cf_error *err);
/* Called when a client connection closes (e.g. to cancel its waiters), and
 * each time the host of a serial stream goes away (same conn pointer). */
/* A bound on what all connections together hold (partial frames being
 * read, queued replies, pending calls' requests; default 64 MiB): a frame
 * that would pass it closes its connection, a call that would is answered
 * RESOURCE_EXHAUSTED. */
void ttrpc_server_set_memory_limit(ttrpc_server *srv, size_t bytes);
size_t ttrpc_server_memory_held(const ttrpc_server *srv);
void ttrpc_server_set_on_close(ttrpc_server *srv,
                               void (*cb)(void *conn, void *data), void *data);

const char *ttrpc_call_service(const ttrpc_call *call);
const char *ttrpc_call_method(const ttrpc_call *call);
/* Metadata value for key (first), or NULL. e.g. "containerd-namespace-ttrpc" */
const char *ttrpc_call_metadata(const ttrpc_call *call, const char *key);
/* Request timeout in ns (0 = none). */
int64_t ttrpc_call_timeout_ns(const ttrpc_call *call);
/* Identity of the connection the call came on (compare with on_close). */
void *ttrpc_call_conn(const ttrpc_call *call);
/* True once the call's connection is gone; replying is then a no-op that
 * just frees the call. */
int ttrpc_call_cancelled(const ttrpc_call *call);
/* Register a callback run (once) when the connection closes while the call
 * is still pending; the handler must then still reply (freeing it). */
void ttrpc_call_on_cancel(ttrpc_call *call, void (*cb)(ttrpc_call *, void *),
                          void *data);

/* Each reply frees the call. resp may be NULL for an empty message. */
void ttrpc_call_reply(ttrpc_call *call, const ProtobufCMessage *resp);
void ttrpc_call_reply_bytes(ttrpc_call *call, const uint8_t *buf, size_t len);
void ttrpc_call_reply_status(ttrpc_call *call, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answer with err's status (cf_error_grpc_status) and message. */
void ttrpc_call_reply_error(ttrpc_call *call, const cf_error *err);

/* ------------------------------------------------------------------ client */
typedef struct ttrpc_client ttrpc_client;

typedef struct ttrpc_kv { const char *key; const char *value; } ttrpc_kv;

/* status: CF_OK and the Response payload; else a status and message
 * (CF_UNAVAILABLE when the connection is lost, CF_DEADLINE_EXCEEDED on
 * timeout). payload is valid only during the callback. */
typedef void (*ttrpc_reply_cb)(int status, const char *message,
                               const uint8_t *payload, size_t len, void *data);

/* Takes ownership of a connected stream fd. */
ttrpc_client *ttrpc_client_new(cf_loop *loop, int fd, cf_error *err);
/* Fails every pending call with CF_UNAVAILABLE (callbacks run), then frees. */
void ttrpc_client_free(ttrpc_client *c);
/* Metadata sent with every call (copied), e.g. the containerd namespace. */
int ttrpc_client_set_metadata(ttrpc_client *c, const ttrpc_kv *kv, size_t n,
                              cf_error *err);
/* Called once when the connection is lost (after pending calls failed). */
void ttrpc_client_on_close(ttrpc_client *c, void (*cb)(ttrpc_client *, void *),
                           void *data);
int ttrpc_client_connected(const ttrpc_client *c);

/* timeout_ms <= 0: no deadline. req may be NULL for an empty message.
 * On success cb runs exactly once, later, from the loop; on failure (closed
 * connection: CF_UNAVAILABLE, request over 4 MiB: CF_RESOURCE_EXHAUSTED)
 * it returns negative with err filled and cb never runs. */
int ttrpc_client_call(ttrpc_client *c, const char *service, const char *method,
                      const ProtobufCMessage *req, int timeout_ms,
                      ttrpc_reply_cb cb, void *data, cf_error *err);
int ttrpc_client_call_bytes(ttrpc_client *c, const char *service,
                            const char *method, const uint8_t *req, size_t len,
                            int timeout_ms, ttrpc_reply_cb cb, void *data,
                            cf_error *err);

/* Blocking wrapper: runs the loop until the reply. On CF_OK unpacks into
 * *resp with desc (resp may be NULL to discard); on failure fills err with
 * the status and message and returns negative. Not for use from inside a
 * loop callback. */
int ttrpc_client_call_sync(ttrpc_client *c, const char *service,
                           const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **resp, int timeout_ms,
                           cf_error *err);

/* ------------------------------------------------------------ frame codec */
/* Exposed for tests and fuzzing. */
typedef struct ttrpc_frame_header {
  uint32_t length;
  uint32_t stream_id;
  uint8_t type;
  uint8_t flags;
} ttrpc_frame_header;

void ttrpc_header_encode(const ttrpc_frame_header *h, uint8_t out[TTRPC_HEADER_SIZE]);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], ttrpc_frame_header *h);

#endif
