/* Monotonic time for deadlines and timings (never the wall clock, which
 * the host or an operator may step). */
#ifndef COFFER_CLOCK_H
#define COFFER_CLOCK_H

#include <stdint.h>

uint64_t cf_now_ms(void); /* CLOCK_MONOTONIC, milliseconds */
uint64_t cf_now_us(void); /* CLOCK_MONOTONIC, microseconds */

#endif
