/* What the SNP firmware hands back, checked before anything trusts it: the
 * report and the certificate table (from auxblob or SNP_GET_EXT_REPORT). */
#include <errno.h>
#include <string.h>

#include "tee_internal.h"

#define ENTRY 24

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* GUIDs in RFC-4122 byte order (kbs-protocol.md A1). */
static const struct {
  tee_snp_cert_kind kind;
  uint8_t guid[16];
} known[] = {
    {TEE_SNP_CERT_ARK, {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}},
    {TEE_SNP_CERT_ASK, {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82}},
    {TEE_SNP_CERT_VCEK, {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}},
    {TEE_SNP_CERT_VLEK, {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1}},
    {TEE_SNP_CERT_CRL, {0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea}},
};

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

int tee_snp_cert_table_parse(const uint8_t *tab, size_t len, tee_snp_cert *out, size_t max,
                             size_t *n, cf_error *err) {
  *n = 0;
  if (len > TEE_SNP_CERTS_MAX)
    return cf_err(err, EFBIG, "SNP cert table of %zu bytes (at most %d)", len, TEE_SNP_CERTS_MAX);
  size_t entries = 0;
  for (;; entries++) {
    if ((entries + 1) * ENTRY > len)
      return cf_err(err, EPROTO, "SNP cert table of %zu bytes has no terminating entry", len);
    if (all_zero(tab + entries * ENTRY, ENTRY))
      break;
    if (entries == max)
      return cf_err(err, E2BIG, "SNP cert table has more than %zu entries", max);
  }
  size_t table_end = (entries + 1) * ENTRY;
  for (size_t i = 0; i < entries; i++) {
    const uint8_t *e = tab + i * ENTRY;
    uint32_t off = le32(e + 16), l = le32(e + 20);
    if (l == 0 || off < table_end || off > len || l > len - off)
      return cf_err(err, EPROTO,
                    "SNP cert table entry %zu: %u bytes at offset %u lie outside the %zu-byte "
                    "table's data (which starts at %zu)",
                    i, l, off, len, table_end);
    out[i].kind = TEE_SNP_CERT_OTHER;
    memcpy(out[i].guid, e, 16);
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
      if (!memcmp(e, known[k].guid, 16))
        out[i].kind = known[k].kind;
    out[i].data = tab + off;
    out[i].len = l;
  }
  *n = entries;
  return 0;
}

int tee_snp_report_check(const uint8_t *rep, size_t len, const uint8_t report_data[64],
                         cf_error *err) {
  if (len != TEE_SNP_REPORT_SIZE)
    return cf_err(err, EPROTO, "SNP report of %zu bytes (expected %d)", len, TEE_SNP_REPORT_SIZE);
  uint32_t version = le32(rep), vmpl = le32(rep + 0x30);
  if (version < 2 || version > 5)
    return cf_err(err, EPROTO, "SNP report version %u (known: 2 to 5)", version);
  if (vmpl != 0)
    return cf_err(err, EPROTO, "SNP report is for VMPL %u, VMPL 0 was requested", vmpl);
  if (memcmp(rep + TEE_SNP_REPORT_DATA, report_data, 64))
    return cf_err(err, EPROTO, "SNP report carries other report_data than requested (a stale or "
                  "substituted report)");
  return 0;
}
