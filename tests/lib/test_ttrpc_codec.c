/* Frame header and message codecs: the hand-written encoders produce what
 * protobuf-c decodes (and byte-identical to protobuf-c's own encoding), and
 * the incremental reader yields the same frames however the stream is cut. */
#include <errno.h>

#include "test_util.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_internal.h"

static void header_round_trip(void) {
  ttrpc_frame_header h = {.length = 0x01020304, .stream_id = 0xfffffffe, .type = 2, .flags = 0x81};
  uint8_t b[TTRPC_HEADER_SIZE];
  ttrpc_header_encode(&h, b);
  const uint8_t want[] = {1, 2, 3, 4, 0xff, 0xff, 0xff, 0xfe, 2, 0x81};
  CHECK(memcmp(b, want, sizeof(want)) == 0); /* big endian, as on the wire */
  ttrpc_frame_header back;
  ttrpc_header_decode(b, &back);
  CHECK(back.length == h.length && back.stream_id == h.stream_id && back.type == h.type &&
        back.flags == h.flags);
}

static void request_matches_protobuf_c(void) {
  ttrpc_outbuf o = {0};
  ttrpc_kv md[] = {{"containerd-namespace-ttrpc", "default"}, {"k", ""}, {"", ""}};
  ttrpc_body body = {.bytes = (const uint8_t *)"payload", .len = 7};
  CHECK(ttrpc_append_request(&o, 7, "containerd.task.v2.Task", "Create", &body, 1500000000, md,
                             3) == 0);
  ttrpc_frame_header h;
  ttrpc_header_decode(o.data, &h);
  CHECK(h.stream_id == 7 && h.type == TTRPC_TYPE_REQUEST && h.flags == 0);
  CHECK(h.length == ttrpc_outbuf_pending(&o) - TTRPC_HEADER_SIZE);
  Ttrpc__Request *req = ttrpc__request__unpack(NULL, h.length, o.data + TTRPC_HEADER_SIZE);
  CHECK(req);
  CHECK(strcmp(req->service, "containerd.task.v2.Task") == 0 && strcmp(req->method, "Create") == 0);
  CHECK(req->payload.len == 7 && memcmp(req->payload.data, "payload", 7) == 0);
  CHECK(req->timeout_nano == 1500000000);
  CHECK(req->n_metadata == 3 && strcmp(req->metadata[0]->value, "default") == 0 &&
        strcmp(req->metadata[1]->key, "k") == 0 && strcmp(req->metadata[1]->value, "") == 0);
  /* protobuf-c packs the same message to the same bytes */
  uint8_t *again = malloc(h.length);
  CHECK(again && ttrpc__request__pack(req, again) == h.length);
  CHECK(memcmp(again, o.data + TTRPC_HEADER_SIZE, h.length) == 0);
  free(again);
  ttrpc__request__free_unpacked(req, NULL);
  ttrpc_outbuf_clear(&o);

  /* a protobuf-c message body is packed in place */
  Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
  kv.key = "a";
  kv.value = "b";
  body = (ttrpc_body){.msg = &kv.base};
  CHECK(ttrpc_append_request(&o, 1, "s", "m", &body, 0, NULL, 0) == 0);
  req = ttrpc__request__unpack(NULL, ttrpc_outbuf_pending(&o) - TTRPC_HEADER_SIZE,
                               o.data + TTRPC_HEADER_SIZE);
  CHECK(req && req->timeout_nano == 0 && req->n_metadata == 0);
  Ttrpc__KeyValue *in = ttrpc__key_value__unpack(NULL, req->payload.len, req->payload.data);
  CHECK(in && strcmp(in->key, "a") == 0 && strcmp(in->value, "b") == 0);
  ttrpc__key_value__free_unpacked(in, NULL);
  ttrpc__request__free_unpacked(req, NULL);
  ttrpc_outbuf_clear(&o);
}

static void response_round_trip(void) {
  ttrpc_outbuf o = {0};
  ttrpc_body body = {.bytes = (const uint8_t *)"ok", .len = 2};
  CHECK(ttrpc_append_response(&o, 3, CF_OK, "ignored", &body) == 0);
  CHECK(ttrpc_append_response(&o, 5, CF_NOT_FOUND, "container x not found", NULL) == 0);
  CHECK(ttrpc_append_response(&o, 7, -1, "", NULL) == 0); /* int32 sign extension */
  size_t off = 0;
  int codes[] = {CF_OK, CF_NOT_FOUND, -1};
  for (int i = 0; i < 3; i++) {
    ttrpc_frame_header h;
    ttrpc_header_decode(o.data + off, &h);
    CHECK(h.type == TTRPC_TYPE_RESPONSE && h.stream_id == (uint32_t)(3 + 2 * i));
    Ttrpc__Response *r = ttrpc__response__unpack(NULL, h.length, o.data + off + TTRPC_HEADER_SIZE);
    CHECK(r);
    CHECK((r->status ? r->status->code : 0) == codes[i]);
    if (i == 0)
      CHECK(!r->status && r->payload.len == 2 && memcmp(r->payload.data, "ok", 2) == 0);
    if (i == 1)
      CHECK(strcmp(r->status->message, "container x not found") == 0 && r->payload.len == 0);
    ttrpc__response__free_unpacked(r, NULL);
    off += TTRPC_HEADER_SIZE + h.length;
  }
  CHECK(off == ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);

  /* over the limit: refused, nothing queued */
  uint8_t *big = calloc(1, TTRPC_MAX_MESSAGE);
  CHECK(big);
  body = (ttrpc_body){.bytes = big, .len = TTRPC_MAX_MESSAGE};
  CHECK(ttrpc_append_response(&o, 1, CF_OK, NULL, &body) == -EMSGSIZE);
  CHECK(ttrpc_outbuf_pending(&o) == 0);
  body.len = TTRPC_MAX_MESSAGE - 5; /* tag + 4-byte length + bytes = exactly the limit */
  CHECK(ttrpc_append_response(&o, 1, CF_OK, NULL, &body) == 0);
  CHECK(ttrpc_outbuf_pending(&o) == TTRPC_HEADER_SIZE + TTRPC_MAX_MESSAGE);
  ttrpc_outbuf_clear(&o);
  free(big);
}

/* ------------------------------------------------------------- the reader */
typedef struct seen {
  int frames, oversized;
  uint32_t ids[16];
  size_t lens[16];
  uint8_t first[16];
} seen;

static int on_frame(void *ctx, const ttrpc_frame_header *h, const uint8_t *p, size_t len,
                    bool oversized) {
  seen *s = ctx;
  CHECK(s->frames < 16);
  s->ids[s->frames] = h->stream_id;
  s->lens[s->frames] = len;
  s->first[s->frames] = len ? p[0] : 0;
  s->frames++;
  s->oversized += oversized;
  return 0;
}

static void reader_any_split(void) {
  /* three frames: empty, small, oversized (its bytes count off), small */
  ttrpc_outbuf o = {0};
  uint8_t hdr[TTRPC_HEADER_SIZE];
  ttrpc_frame_header h = {.length = 0, .stream_id = 1, .type = 1};
  ttrpc_header_encode(&h, hdr);
  memcpy(ttrpc_outbuf_reserve(&o, 10), hdr, 10);
  o.tail += 10;
  h = (ttrpc_frame_header){.length = 3, .stream_id = 3, .type = 1};
  ttrpc_header_encode(&h, hdr);
  memcpy(ttrpc_outbuf_reserve(&o, 13), hdr, 10);
  memcpy(o.data + o.tail + 10, "abc", 3);
  o.tail += 13;
  size_t big = TTRPC_MAX_MESSAGE + 1;
  h = (ttrpc_frame_header){.length = (uint32_t)big, .stream_id = 5, .type = 1};
  ttrpc_header_encode(&h, hdr);
  uint8_t *p = ttrpc_outbuf_reserve(&o, 10 + big);
  memcpy(p, hdr, 10);
  memset(p + 10, 'z', big);
  o.tail += 10 + big;
  h = (ttrpc_frame_header){.length = 2, .stream_id = 7, .type = 1};
  ttrpc_header_encode(&h, hdr);
  memcpy(ttrpc_outbuf_reserve(&o, 12), hdr, 10);
  memcpy(o.data + o.tail + 10, "de", 2);
  o.tail += 12;

  size_t total = ttrpc_outbuf_pending(&o);
  size_t chunks[] = {1, 3, 7, 10, 11, 4096, 65536, total};
  for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
    ttrpc_reader r;
    memset(&r, 0, sizeof(r));
    ttrpc_reader_reset(&r);
    seen s = {0};
    for (size_t off = 0; off < total; off += chunks[c]) {
      size_t n = total - off < chunks[c] ? total - off : chunks[c];
      CHECK(ttrpc_reader_feed(&r, o.data + off, n, on_frame, &s) == 0);
    }
    CHECK(ttrpc_reader_idle(&r));
    CHECK(s.frames == 4 && s.oversized == 1);
    CHECK(s.ids[0] == 1 && s.lens[0] == 0);
    CHECK(s.ids[1] == 3 && s.lens[1] == 3 && s.first[1] == 'a');
    CHECK(s.ids[2] == 5 && s.lens[2] == 0);
    CHECK(s.ids[3] == 7 && s.lens[3] == 2 && s.first[3] == 'd');
    ttrpc_reader_reset(&r);
  }

  /* cut mid-frame: not idle, and reset frees the partial payload */
  ttrpc_reader r;
  memset(&r, 0, sizeof(r));
  ttrpc_reader_reset(&r);
  seen s = {0};
  CHECK(ttrpc_reader_feed(&r, o.data + 10, 12, on_frame, &s) == 0);
  CHECK(!ttrpc_reader_idle(&r) && s.frames == 0);
  ttrpc_reader_reset(&r);
  CHECK(ttrpc_reader_idle(&r));
  ttrpc_outbuf_clear(&o);
}

/* A header announcing 4 MiB does not make the reader allocate 4 MiB: the
 * buffer follows the bytes that arrived. */
static void reader_allocates_what_arrives(void) {
  uint8_t buf[TTRPC_HEADER_SIZE + 100] = {0};
  ttrpc_frame_header h = {.length = TTRPC_MAX_MESSAGE, .stream_id = 1, .type = 1};
  ttrpc_header_encode(&h, buf);
  ttrpc_reader r;
  memset(&r, 0, sizeof(r));
  ttrpc_reader_reset(&r);
  seen s = {0};
  CHECK(ttrpc_reader_feed(&r, buf, sizeof(buf), on_frame, &s) == 0);
  CHECK(r.state == TTRPC_RD_PAYLOAD && r.have == 100 && r.cap <= 64 * 1024);
  uint8_t *chunk = calloc(1, TTRPC_MAX_MESSAGE);
  CHECK(chunk);
  CHECK(ttrpc_reader_feed(&r, chunk, TTRPC_MAX_MESSAGE - 100, on_frame, &s) == 0);
  CHECK(s.frames == 1 && s.lens[0] == TTRPC_MAX_MESSAGE && ttrpc_reader_idle(&r));
  free(chunk);
  ttrpc_reader_reset(&r);
}

static int stop_cb(void *ctx, const ttrpc_frame_header *h, const uint8_t *p, size_t len,
                   bool oversized) {
  (*(int *)ctx)++;
  return -EPROTO;
}

static void reader_stops_on_callback_error(void) {
  uint8_t two[20] = {0};
  two[7] = 1;
  two[17] = 3;
  ttrpc_reader r;
  memset(&r, 0, sizeof(r));
  ttrpc_reader_reset(&r);
  int calls = 0;
  CHECK(ttrpc_reader_feed(&r, two, sizeof(two), stop_cb, &calls) == -EPROTO);
  CHECK(calls == 1);
  ttrpc_reader_reset(&r);
}

int main(void) {
  header_round_trip();
  request_matches_protobuf_c();
  response_round_trip();
  reader_any_split();
  reader_stops_on_callback_error();
  reader_allocates_what_arrives();
  printf("ok\n");
  return 0;
}
