/* Hex and time conversions used by the parsers and the CLI. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"

void cf_hex(const uint8_t *b, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  out[2 * n] = '\0';
}

static int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int cf_unhex(const char *s, uint8_t *out, size_t n) {
  if (!s || strlen(s) != 2 * n)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

bool cf_all_zero(const uint8_t *b, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= b[i];
  return acc == 0;
}

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return -EINVAL;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

/* YYYY-MM-DD[T ]hh:mm:ss[.frac](Z|±hh:mm) */
int cf_parse_rfc3339(const char *s, time_t *out) {
  if (!s)
    return -EINVAL;
  const char *p = s;
  int Y, M, D, h, m, sec;
  if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
      digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
    return -EINVAL;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
    return -EINVAL;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return -EINVAL;
    while (isdigit((unsigned char)*p))
      p++;
  }
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
      return -EINVAL;
    off = sign * (oh * 3600L + om * 60L);
  } else {
    return -EINVAL;
  }
  if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return -EINVAL;
  struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                  .tm_hour = h, .tm_min = m, .tm_sec = sec};
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return -EINVAL;
  *out = t - off;
  return 0;
}
