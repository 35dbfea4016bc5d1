/* A minimal DER TLV reader for the vendor certificate extensions. */
#include <errno.h>

#include "attest_internal.h"

int cf_der_next(const uint8_t **p, const uint8_t *end, cf_der *out) {
  const uint8_t *q = *p;
  if (q >= end || end - q < 2)
    return -EINVAL;
  out->tag = *q++;
  if ((out->tag & 0x1f) == 0x1f)
    return -EINVAL; /* multi-byte tags are not used by these extensions */
  size_t len = *q++;
  if (len & 0x80) {
    size_t nb = len & 0x7f;
    if (nb == 0 || nb > 3 || (size_t)(end - q) < nb)
      return -EINVAL;
    len = 0;
    for (size_t i = 0; i < nb; i++)
      len = len << 8 | *q++;
  }
  if ((size_t)(end - q) < len)
    return -EINVAL;
  out->val = q;
  out->len = len;
  *p = q + len;
  return 0;
}

long cf_der_small_int(const cf_der *d) {
  if ((d->tag != 0x02 && d->tag != 0x0a) || d->len == 0 || d->len > 4 || (d->val[0] & 0x80))
    return -1;
  long v = 0;
  for (size_t i = 0; i < d->len; i++)
    v = v << 8 | d->val[i];
  return v;
}
