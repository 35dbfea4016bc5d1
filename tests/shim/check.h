/* CHECK for the shim unit tests: a failed check prints where and what, and
 * the test carries on to report every failure; main returns on `failures`. */
#ifndef COFFER_TEST_SHIM_CHECK_H
#define COFFER_TEST_SHIM_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#endif
