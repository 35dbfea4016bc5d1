/* EXPECT for the vmm unit tests: a failed check prints its line and the
 * formatted detail, and the test carries on to report every failure; main
 * returns `failed`. */
#ifndef COFFER_TEST_VMM_EXPECT_H
#define COFFER_TEST_VMM_EXPECT_H

#include <stdio.h>

static int failed;
#define EXPECT(c, ...)                                     \
  do {                                                     \
    if (!(c)) {                                            \
      fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #c); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      failed = 1;                                          \
    }                                                      \
  } while (0)

#endif
