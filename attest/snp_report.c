/* The SEV-SNP ATTESTATION_REPORT structure (AMD SEV-SNP ABI, versions 2..5). */
#include <errno.h>
#include <string.h>

#include "attest_internal.h"

const char *cf_snp_product_name(enum cf_snp_product p) {
  switch (p) {
  case CF_SNP_MILAN: return "Milan";
  case CF_SNP_GENOA: return "Genoa";
  case CF_SNP_TURIN: return "Turin";
  default: return "unknown";
  }
}

enum cf_snp_product cf_snp_product_from_name(const char *name) {
  if (!strcmp(name, "Milan"))
    return CF_SNP_MILAN;
  if (!strcmp(name, "Genoa"))
    return CF_SNP_GENOA;
  if (!strcmp(name, "Turin"))
    return CF_SNP_TURIN;
  return CF_SNP_PRODUCT_UNKNOWN;
}

void cf_snp_tcb_decode(const uint8_t raw[8], enum cf_snp_product p, cf_snp_tcb *out) {
  memset(out, 0, sizeof(*out));
  memcpy(out->raw, raw, 8);
  if (p == CF_SNP_TURIN) {
    out->has_fmc = true;
    out->fmc = raw[0];
    out->bl = raw[1];
    out->tee = raw[2];
    out->snp = raw[3];
  } else {
    out->bl = raw[0];
    out->tee = raw[1];
    out->snp = raw[6];
  }
  out->ucode = raw[7];
}

/* CPUID Fn0000_0001 family/model ranges of the SNP-capable EPYC generations:
 * family 19h models 00h-0Fh Milan, 10h-1Fh and A0h-AFh Genoa (incl. Bergamo,
 * Siena); family 1Ah models 00h-1Fh Turin. */
enum cf_snp_product cf_snp_product_from_cpuid(const cf_snp_report *r) {
  if (r->version < 3)
    return CF_SNP_PRODUCT_UNKNOWN;
  if (r->cpuid_fam == 0x19) {
    if (r->cpuid_mod <= 0x0f)
      return CF_SNP_MILAN;
    if ((r->cpuid_mod >= 0x10 && r->cpuid_mod <= 0x1f) ||
        (r->cpuid_mod >= 0xa0 && r->cpuid_mod <= 0xaf))
      return CF_SNP_GENOA;
  }
  if (r->cpuid_fam == 0x1a && r->cpuid_mod <= 0x1f)
    return CF_SNP_TURIN;
  return CF_SNP_PRODUCT_UNKNOWN;
}

int cf_snp_report_parse(const uint8_t *b, size_t len, cf_snp_report *r, cf_error *err) {
  if (len != CF_SNP_REPORT_SIZE)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "report length %zu != %d", len,
                         CF_SNP_REPORT_SIZE);
  memset(r, 0, sizeof(*r));
  r->version = cf_le32(b + 0x000);
  if (r->version < 2 || r->version > 5)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "report version %u is not supported (2..5)", r->version);
  r->guest_svn = cf_le32(b + 0x004);
  r->policy = cf_le64(b + 0x008);
  memcpy(r->family_id, b + 0x010, 16);
  memcpy(r->image_id, b + 0x020, 16);
  r->vmpl = cf_le32(b + 0x030);
  r->signature_algo = cf_le32(b + 0x034);
  memcpy(r->current_tcb, b + 0x038, 8);
  r->platform_info = cf_le64(b + 0x040);
  r->key_info = cf_le32(b + 0x048);
  memcpy(r->report_data, b + 0x050, 64);
  memcpy(r->measurement, b + 0x090, 48);
  memcpy(r->host_data, b + 0x0C0, 32);
  memcpy(r->id_key_digest, b + 0x0E0, 48);
  memcpy(r->author_key_digest, b + 0x110, 48);
  memcpy(r->report_id, b + 0x140, 32);
  memcpy(r->report_id_ma, b + 0x160, 32);
  memcpy(r->reported_tcb, b + 0x180, 8);
  if (r->version >= 3) {
    r->cpuid_fam = b[0x188];
    r->cpuid_mod = b[0x189];
    r->cpuid_step = b[0x18A];
  }
  memcpy(r->chip_id, b + 0x1A0, 64);
  memcpy(r->committed_tcb, b + 0x1E0, 8);
  r->current_build = b[0x1E8];
  r->current_minor = b[0x1E9];
  r->current_major = b[0x1EA];
  r->committed_build = b[0x1EC];
  r->committed_minor = b[0x1ED];
  r->committed_major = b[0x1EE];
  memcpy(r->launch_tcb, b + 0x1F0, 8);
  if (r->version >= 5) {
    r->launch_mit_vector = cf_le64(b + 0x1F8);
    r->current_mit_vector = cf_le64(b + 0x200);
  }
  memcpy(r->sig_r, b + 0x2A0, 72);
  memcpy(r->sig_s, b + 0x2E8, 72);
  return 0;
}
