/* SGX extensions of an Intel PCK certificate (OID 1.2.840.113741.1.13.1):
 * .2 TCB (.2.1-.2.16 component SVNs, .2.17 PCESVN, .2.18 CPUSVN),
 * .3 PCE-ID, .4 FMSPC. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"

static const uint8_t SGX_ARC[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

/* Sub-identifier(s) after the SGX arc: returns the count (1 or 2), 0 if the
 * OID is not under the arc. */
static int sgx_oid(const cf_der *oid, int *a, int *b) {
  size_t n = sizeof(SGX_ARC);
  if (oid->tag != 0x06 || oid->len < n + 1 || oid->len > n + 2 || memcmp(oid->val, SGX_ARC, n))
    return 0;
  for (size_t i = n; i < oid->len; i++)
    if (oid->val[i] & 0x80)
      return 0;
  *a = oid->val[n];
  *b = oid->len == n + 2 ? oid->val[n + 1] : -1;
  return (int)(oid->len - n);
}

static int read_tcb(const cf_der *seq, cf_tdx_pck_info *out, unsigned *seen) {
  const uint8_t *p = seq->val, *end = p + seq->len;
  while (p < end) {
    cf_der item, oid, val;
    if (cf_der_next(&p, end, &item) || item.tag != 0x30)
      return -EINVAL;
    const uint8_t *q = item.val, *qe = q + item.len;
    if (cf_der_next(&q, qe, &oid) || cf_der_next(&q, qe, &val) || q != qe)
      return -EINVAL;
    int a, b;
    if (sgx_oid(&oid, &a, &b) != 2 || a != 2)
      continue;
    if (b >= 1 && b <= 16) {
      long v = cf_der_small_int(&val);
      if (v < 0 || v > 255)
        return -EINVAL;
      out->comp_svn[b - 1] = (uint8_t)v;
      *seen |= 1u << (b - 1);
    } else if (b == 17) {
      long v = cf_der_small_int(&val);
      if (v < 0 || v > 65535)
        return -EINVAL;
      out->pcesvn = (uint16_t)v;
      *seen |= 1u << 16;
    } else if (b == 18) {
      if (val.tag != 0x04 || val.len != 16)
        return -EINVAL;
      memcpy(out->cpusvn, val.val, 16);
      *seen |= 1u << 17;
    }
  }
  return 0;
}

int cf_tdx_pck_info_read(X509 *pck, cf_tdx_pck_info *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  const ASN1_OCTET_STRING *os = cf_x509_ext_data(pck, "1.2.840.113741.1.13.1");
  if (!os)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "PCK certificate has no SGX extensions (1.2.840.113741.1.13.1)");
  const uint8_t *p = ASN1_STRING_get0_data(os), *end = p + ASN1_STRING_length(os);
  cf_der top;
  if (cf_der_next(&p, end, &top) || top.tag != 0x30 || p != end)
    goto bad;
  p = top.val;
  end = p + top.len;
  unsigned seen = 0;
  while (p < end) {
    cf_der item, oid, val;
    if (cf_der_next(&p, end, &item) || item.tag != 0x30)
      goto bad;
    const uint8_t *q = item.val, *qe = q + item.len;
    if (cf_der_next(&q, qe, &oid) || cf_der_next(&q, qe, &val) || q != qe)
      goto bad;
    int a, b;
    if (sgx_oid(&oid, &a, &b) != 1)
      continue;
    if (a == 2) {
      if (val.tag != 0x30 || read_tcb(&val, out, &seen))
        goto bad;
    } else if (a == 3) {
      if (val.tag != 0x04 || val.len != 2)
        goto bad;
      memcpy(out->pceid, val.val, 2);
      seen |= 1u << 18;
    } else if (a == 4) {
      if (val.tag != 0x04 || val.len != 6)
        goto bad;
      memcpy(out->fmspc, val.val, 6);
      seen |= 1u << 19;
    }
  }
  if (seen != 0xfffff)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "PCK SGX extensions incomplete (fields present 0x%05x of 0xfffff)", seen);
  return 0;
bad:
  return cf_err_status(err, CF_INVALID_ARGUMENT, "PCK SGX extensions are malformed DER");
}
