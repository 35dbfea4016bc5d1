/* The server answers every protocol error with the right status, survives
 * hostile byte streams, and closes only the offending connection. */
#include "test_raw.h"
#include "test_server.h"

static test_dir dir;

static long stat_of(int fd, uint32_t id, const char *name) {
  raw_request(fd, id, "Stats", NULL, 0);
  raw_response r;
  CHECK(raw_read_response(fd, &r, 5000) == 0);
  CHECK(r.stream_id == id && r.code == 0);
  r.payload[r.len] = '\0';
  const char *p = strstr((char *)r.payload, name);
  CHECK(p);
  long v = strtol(p + strlen(name) + 1, NULL, 10);
  raw_response_clear(&r);
  return v;
}

static void bad_stream_ids(void) {
  int fd = raw_connect(dir.addr);
  raw_request(fd, 2, "Echo", "x", 1); /* even */
  raw_expect(fd, 2, CF_INVALID_ARGUMENT);
  raw_request(fd, 0, "Echo", "x", 1); /* zero */
  raw_expect(fd, 0, CF_INVALID_ARGUMENT);
  raw_request(fd, 5, "Echo", "x", 1);
  raw_expect(fd, 5, CF_OK);
  raw_request(fd, 3, "Echo", "x", 1); /* going backwards */
  raw_expect(fd, 3, CF_INVALID_ARGUMENT);
  raw_request(fd, 5, "Echo", "x", 1); /* re-used */
  raw_expect(fd, 5, CF_INVALID_ARGUMENT);
  raw_request(fd, 7, "Echo", "x", 1);
  raw_expect(fd, 7, CF_OK);
  close(fd);
}

static void unknown_service_and_method(void) {
  int fd = raw_connect(dir.addr);
  raw_request(fd, 1, "NoSuchMethod", NULL, 0);
  raw_response r;
  CHECK(raw_read_response(fd, &r, 5000) == 0);
  CHECK(r.stream_id == 1 && r.code == CF_UNIMPLEMENTED && strstr(r.message, "NoSuchMethod"));
  raw_response_clear(&r);
  close(fd);
}

/* Frame of length exactly TTRPC_MAX_MESSAGE is served; one byte more is
 * discarded and answered RESOURCE_EXHAUSTED, the connection stays up. */
static void size_limit(void) {
  int fd = raw_connect(dir.addr);
  /* Request = service(8) + method(6) + payload field(1 + 4-byte varint + L) */
  size_t L = TTRPC_MAX_MESSAGE - 8 - 6 - 1 - 4;
  uint8_t *payload = malloc(L + 1);
  CHECK(payload);
  memset(payload, 'p', L + 1);

  ttrpc_outbuf o = {0};
  raw_encode_request(&o, 1, "Echo", payload, L);
  CHECK(ttrpc_outbuf_pending(&o) == TTRPC_HEADER_SIZE + TTRPC_MAX_MESSAGE);
  raw_write_all(fd, o.data, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);
  raw_response r;
  CHECK(raw_read_response(fd, &r, 10000) == 0);
  CHECK(r.stream_id == 1 && r.code == CF_OK && r.len == L);
  CHECK(memcmp(r.payload, payload, L) == 0);
  raw_response_clear(&r);

  CHECK(ttrpc_append_request(&o, 3, "test.S", "Echo",
                             &(ttrpc_body){.bytes = payload, .len = L + 1}, 0, NULL, 0) == -EMSGSIZE);
  /* hand-build the over-limit frame: header says MAX + 1, then that many bytes */
  raw_header(fd, TTRPC_MAX_MESSAGE + 1, 3, TTRPC_TYPE_REQUEST);
  raw_write_all(fd, payload, L + 1);
  raw_write_all(fd, payload, TTRPC_MAX_MESSAGE + 1 - (L + 1));
  CHECK(raw_read_response(fd, &r, 10000) == 0);
  CHECK(r.stream_id == 3 && r.code == CF_RESOURCE_EXHAUSTED);
  CHECK(strstr(r.message, "exceed maximum message size"));
  raw_response_clear(&r);

  raw_request(fd, 5, "Echo", "after", 5); /* still in sync */
  CHECK(raw_read_response(fd, &r, 5000) == 0);
  CHECK(r.stream_id == 5 && r.code == CF_OK && r.len == 5 && memcmp(r.payload, "after", 5) == 0);
  raw_response_clear(&r);

  /* a response that would exceed the limit becomes RESOURCE_EXHAUSTED */
  char n[32];
  snprintf(n, sizeof(n), "%u", TTRPC_MAX_MESSAGE);
  raw_request(fd, 7, "Big", n, strlen(n));
  raw_expect(fd, 7, CF_RESOURCE_EXHAUSTED);
  snprintf(n, sizeof(n), "%u", TTRPC_MAX_MESSAGE - 5); /* payload field 1+4+len = MAX */
  raw_request(fd, 9, "Big", n, strlen(n));
  raw_expect(fd, 9, CF_OK);
  free(payload);
  close(fd);
}

/* Non-request frames (responses, data, unknown types) from a client are
 * ignored as containerd/ttrpc does; nothing is answered for them. */
static void ignored_frame_types(void) {
  int fd = raw_connect(dir.addr);
  raw_frame(fd, 1, TTRPC_TYPE_RESPONSE, "\x12\x01x", 3);
  raw_frame(fd, 3, TTRPC_TYPE_DATA, "data", 4);
  raw_frame(fd, 5, 0x77, NULL, 0);
  raw_frame(fd, 7, 0, "zz", 2);
  raw_request(fd, 9, "Echo", "y", 1);
  raw_expect(fd, 9, CF_OK);
  /* flags are reserved: a request with flags set is still served */
  ttrpc_outbuf o = {0};
  raw_encode_request(&o, 11, "Echo", "f", 1);
  o.data[9] = 0x5a;
  raw_write_all(fd, o.data, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);
  raw_expect(fd, 11, CF_OK);
  close(fd);
}

/* Malformed payloads, truncated headers and frames close that connection
 * only; pending calls on it are cancelled. */
static void hostile_streams_close_only_their_connection(void) {
  int good = raw_connect(dir.addr);
  long closes0 = stat_of(good, 1, "closes");
  long cancels0 = stat_of(good, 3, "cancels");

  int bad = raw_connect(dir.addr);
  raw_frame(bad, 1, TTRPC_TYPE_REQUEST, "\xff\xff\xff\xff", 4); /* not a Request */
  CHECK(raw_closed(bad, 3000));
  close(bad);

  bad = raw_connect(dir.addr); /* a field claiming more bytes than the frame has */
  raw_frame(bad, 1, TTRPC_TYPE_REQUEST, "\x0a\x7f" "ab", 4);
  CHECK(raw_closed(bad, 3000));
  close(bad);

  bad = raw_connect(dir.addr); /* truncated header */
  raw_write_all(bad, "\x00\x00\x00", 3);
  close(bad);

  bad = raw_connect(dir.addr); /* pending call, then closed mid-frame */
  raw_request(bad, 1, "Hold", NULL, 0);
  raw_header(bad, 100, 3, TTRPC_TYPE_REQUEST);
  raw_write_all(bad, "0123456789", 10);
  close(bad);

  bad = raw_connect(dir.addr); /* length 0xffffffff: discarded until the peer gives up */
  raw_header(bad, 0xffffffffu, 1, TTRPC_TYPE_REQUEST);
  uint8_t junk[65536];
  memset(junk, 0xee, sizeof(junk));
  for (int i = 0; i < 32; i++)
    raw_write_all(bad, junk, sizeof(junk));
  close(bad);

  bad = raw_connect(dir.addr); /* requests, then gone before the replies are written */
  for (uint32_t i = 0; i < 64; i++)
    raw_request(bad, 2 * i + 1, i % 2 ? "Echo" : "Slow", "1", 1);
  close(bad);

  bad = raw_connect(dir.addr); /* random garbage */
  srand(7);
  for (size_t i = 0; i < sizeof(junk); i++)
    junk[i] = (uint8_t)rand();
  raw_write_all(bad, junk, sizeof(junk));
  close(bad);

  /* the server noticed all seven closes and cancelled the held call */
  uint64_t deadline = cf_now_ms() + 5000;
  uint32_t id = 5;
  while (stat_of(good, id, "closes") < closes0 + 7) {
    CHECK(cf_now_ms() < deadline);
    id += 2;
    usleep(20000);
  }
  id += 2;
  CHECK(stat_of(good, id, "cancels") == cancels0 + 1);
  id += 2;
  raw_request(good, id, "Echo", "alive", 5);
  raw_expect(good, id, CF_OK);
  close(good);
}

/* Parked calls (Hold never replies) with 1 MiB of metadata each: the server
 * keeps at most 16 MiB of such requests per connection, refuses the next
 * with RESOURCE_EXHAUSTED naming the limit, still serves small calls, and
 * takes big ones again once the connection's parked calls are gone. */
static void pending_bytes_capped(void) {
  int fd = raw_connect(dir.addr);
  size_t vlen = 1u << 20;
  char *v = malloc(vlen + 1);
  CHECK(v);
  memset(v, 'm', vlen);
  v[vlen] = '\0';
  ttrpc_kv md = {.key = "k", .value = v};
  ttrpc_outbuf o = {0};
  uint32_t id = 1;
  for (int i = 0; i < 15; i++, id += 2)
    CHECK(ttrpc_append_request(&o, id, "test.S", "Hold", &(ttrpc_body){0}, 0, &md, 1) == 0);
  raw_write_all(fd, o.data, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);
  /* 15 held (~15 MiB): the 16th passes 16 MiB */
  CHECK(ttrpc_append_request(&o, id, "test.S", "Hold", &(ttrpc_body){0}, 0, &md, 1) == 0);
  raw_write_all(fd, o.data, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);
  raw_response r;
  CHECK(raw_read_response(fd, &r, 10000) == 0);
  CHECK(r.stream_id == id && r.code == CF_RESOURCE_EXHAUSTED && strstr(r.message, "16777216"));
  raw_response_clear(&r);
  id += 2;
  raw_request(fd, id, "Echo", "small", 5); /* the connection still serves */
  CHECK(raw_read_response(fd, &r, 5000) == 0);
  CHECK(r.stream_id == id && r.code == CF_OK && r.len == 5);
  raw_response_clear(&r);
  close(fd); /* its parked calls are cancelled and freed */

  fd = raw_connect(dir.addr); /* a new connection starts from nothing */
  id = 1;
  for (int i = 0; i < 15; i++, id += 2)
    CHECK(ttrpc_append_request(&o, id, "test.S", "Hold", &(ttrpc_body){0}, 0, &md, 1) == 0);
  raw_write_all(fd, o.data, ttrpc_outbuf_pending(&o));
  ttrpc_outbuf_clear(&o);
  raw_request(fd, id, "Echo", "again", 5);
  CHECK(raw_read_response(fd, &r, 10000) == 0);
  CHECK(r.stream_id == id && r.code == CF_OK);
  raw_response_clear(&r);
  close(fd);
  free(v);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_dir_make(&dir);
  cf_error err = {0};
  int lfd = cf_transport_listen(dir.addr, &err);
  CHECK_OK(lfd, &err);
  pid_t pid = test_server_fork(lfd, true);
  close(lfd);

  bad_stream_ids();
  unknown_service_and_method();
  size_limit();
  ignored_frame_types();
  hostile_streams_close_only_their_connection();
  pending_bytes_capped();

  test_server_stop(pid);
  test_dir_remove(&dir);
  printf("ok\n");
  return 0;
}
