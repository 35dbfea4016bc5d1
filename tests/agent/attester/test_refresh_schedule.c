/* The token refresh schedule: a point in [0.70, 0.85] of the lifetime that
 * the random draw picks, never before iat's 0.70 nor after its 0.85, spread
 * over the range, and "now" when the point has passed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "attester.h"

static int failures;
#define CHECK(c, ...)                                                                              \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);                                 \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

int main(void) {
  /* a 1000 s token issued at 5000: the ends of the range */
  CHECK(att_refresh_in(5000, 6000, 5000, 0) == 700, "draw 0: %lld",
        att_refresh_in(5000, 6000, 5000, 0));
  CHECK(att_refresh_in(5000, 6000, 5000, 150) == 850, "draw 150: %lld",
        att_refresh_in(5000, 6000, 5000, 150));
  CHECK(att_refresh_in(5000, 6000, 5000, 151) == 700, "draw 151 wraps");
  /* counted from now, and 0 once the point has passed */
  CHECK(att_refresh_in(5000, 6000, 5600, 0) == 100, "now 5600");
  CHECK(att_refresh_in(5000, 6000, 5900, 150) == 0, "past the point");
  CHECK(att_refresh_in(5000, 6000, 99999, 7) == 0, "long past");
  /* a broken token (exp <= iat) refreshes now rather than never */
  CHECK(att_refresh_in(6000, 6000, 1, 3) == 0, "exp == iat");
  CHECK(att_refresh_in(6000, 5000, 1, 3) == 0, "exp < iat");
  /* a huge lifetime does not overflow */
  long long big = (long long)1 << 61;
  long long w = att_refresh_in(0, big, 0, 150);
  CHECK(w > 0 && (long double)w <= (long double)big * 0.85L &&
            (long double)w > (long double)big * 0.8499L, "huge lifetime: %lld", w);

  /* every draw lands in the range, and random draws spread over it */
  unsigned buckets[4] = {0};
  srand(11);
  for (int i = 0; i < 20000; i++) {
    uint32_t d = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
    long long at = att_refresh_in(0, 100000, 0, d);
    CHECK(at >= 70000 && at <= 85000, "draw %u: %lld outside [70000, 85000]", d, at);
    if (at >= 70000 && at <= 85000)
      buckets[at == 85000 ? 3 : (at - 70000) / 3750]++;
  }
  for (int b = 0; b < 4; b++)
    CHECK(buckets[b] > 4000, "quarter %d of the range got only %u of 20000 draws", b, buckets[b]);
  /* a short token (the e2e test's 20 s) refreshes between 14 and 17 s */
  for (uint32_t d = 0; d < 1000; d++) {
    long long at = att_refresh_in(100, 120, 100, d);
    CHECK(at >= 14 && at <= 17, "20 s token, draw %u: %lld", d, at);
  }
  if (failures)
    return 1;
  printf("ok: refresh points in [0.70, 0.85] of the lifetime, spread, overflow-safe\n");
  return 0;
}
