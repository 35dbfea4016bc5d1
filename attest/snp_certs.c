/* The AMD extensions of VCEK/VLEK certificates (OID arc 1.3.6.1.4.1.3704.1):
 * .1 structVersion, .2 productName1, .3.{1,2,3,8,9} bl/tee/snp/ucode/fmc SPL,
 * .4 hwID (VCEK: 64 bytes, Turin: 8), .5 cspID (VLEK). */
#include <openssl/asn1.h>
#include <string.h>

#include "attest_internal.h"

#define AMD_ARC "1.3.6.1.4.1.3704.1."

/* An extension holding a DER INTEGER; -1 when absent or not a small integer. */
static long ext_int(X509 *x, const char *oid) {
  const ASN1_OCTET_STRING *os = cf_x509_ext_data(x, oid);
  if (!os)
    return -1;
  const uint8_t *p = ASN1_STRING_get0_data(os), *end = p + ASN1_STRING_length(os);
  cf_der d;
  if (cf_der_next(&p, end, &d) || p != end)
    return -1;
  long v = cf_der_small_int(&d);
  return v > 255 ? -1 : v;
}

/* A string extension (IA5String/UTF8String), "" when absent. */
static void ext_str(X509 *x, const char *oid, char *out, size_t n) {
  out[0] = '\0';
  const ASN1_OCTET_STRING *os = cf_x509_ext_data(x, oid);
  if (!os)
    return;
  const uint8_t *p = ASN1_STRING_get0_data(os), *end = p + ASN1_STRING_length(os);
  cf_der d;
  if (cf_der_next(&p, end, &d) || p != end || (d.tag != 0x16 && d.tag != 0x0c && d.tag != 0x13))
    return;
  size_t l = d.len < n - 1 ? d.len : n - 1;
  for (size_t i = 0; i < l; i++)
    out[i] = (d.val[i] >= 0x20 && d.val[i] < 0x7f) ? (char)d.val[i] : '?';
  out[l] = '\0';
}

/* hwID: early VCEKs carry the raw bytes, later ones a DER OCTET STRING. */
static void ext_hwid(X509 *x, cf_snp_cert_info *out) {
  const ASN1_OCTET_STRING *os = cf_x509_ext_data(x, AMD_ARC "4");
  if (!os)
    return;
  const uint8_t *p = ASN1_STRING_get0_data(os);
  size_t n = (size_t)ASN1_STRING_length(os);
  if (n == 64 || n == 8) {
    memcpy(out->hwid, p, n);
    out->hwid_len = n;
  } else if ((n == 66 && p[0] == 0x04 && p[1] == 64) || (n == 10 && p[0] == 0x04 && p[1] == 8)) {
    memcpy(out->hwid, p + 2, n - 2);
    out->hwid_len = n - 2;
  }
}

int cf_snp_cert_info_read(X509 *x, cf_snp_cert_info *out) {
  memset(out, 0, sizeof(*out));
  cf_x509_cn(X509_get_issuer_name(x), out->issuer_cn, sizeof(out->issuer_cn));
  out->is_vlek = strncmp(out->issuer_cn, "SEV-VLEK-", 9) == 0;
  ext_str(x, AMD_ARC "2", out->product_name, sizeof(out->product_name));
  out->struct_version = ext_int(x, AMD_ARC "1");
  out->bl = (int)ext_int(x, AMD_ARC "3.1");
  out->tee = (int)ext_int(x, AMD_ARC "3.2");
  out->snp = (int)ext_int(x, AMD_ARC "3.3");
  out->ucode = (int)ext_int(x, AMD_ARC "3.8");
  out->fmc = (int)ext_int(x, AMD_ARC "3.9");
  ext_hwid(x, out);
  ext_str(x, AMD_ARC "5", out->csp_id, sizeof(out->csp_id));
  out->not_before = cf_asn1_time_t(X509_get0_notBefore(x));
  out->not_after = cf_asn1_time_t(X509_get0_notAfter(x));
  int64_t serial = -1;
  if (!ASN1_INTEGER_get_int64(&serial, X509_get0_serialNumber(x)))
    serial = -1;
  out->serial = (long)serial;
  return 0;
}
