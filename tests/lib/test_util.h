/* Small helpers shared by the lib tests: checks that abort with the
 * location, and a reply collector for asynchronous ttrpc calls. */
#ifndef COFFER_TEST_UTIL_H
#define COFFER_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/loop.h"
#include "coffer/ttrpc.h"

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

#define CHECK_OK(expr, err)                                                            \
  do {                                                                                 \
    if ((expr) < 0) {                                                                  \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, (err)->msg); \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

#define SKIP(...)                                                                      \
  do {                                                                                 \
    fprintf(stderr, "SKIP: " __VA_ARGS__);                                             \
    fprintf(stderr, "\n");                                                             \
    exit(77);                                                                          \
  } while (0)

typedef struct test_reply {
  bool done;
  int status;
  char message[1024];
  uint8_t *payload;
  size_t len;
  uint64_t at_ms;
} test_reply;

static inline void test_reply_cb(int status, const char *message, const uint8_t *payload,
                                 size_t len, void *data) {
  test_reply *r = data;
  CHECK(!r->done); /* exactly one callback per call */
  r->done = true;
  r->status = status;
  snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
  r->payload = malloc(len ? len : 1);
  CHECK(r->payload);
  if (len)
    memcpy(r->payload, payload, len);
  r->len = len;
  r->at_ms = cf_now_ms();
}

static inline void test_reply_clear(test_reply *r) {
  free(r->payload);
  memset(r, 0, sizeof(*r));
}

/* Run the loop until the reply arrived (at most timeout_ms). */
static inline void test_wait(cf_loop *loop, test_reply *r, int timeout_ms) {
  int rc = cf_loop_run_until(loop, &r->done, timeout_ms);
  if (rc < 0) {
    fprintf(stderr, "reply did not arrive within %d ms\n", timeout_ms);
    abort();
  }
}

#endif
