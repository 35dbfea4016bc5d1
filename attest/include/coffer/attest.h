/* Verification of AMD SEV-SNP attestation reports and Intel TDX quotes.
 *
 * Every verification produces a list of named checks ({name, pass, reason});
 * evidence is accepted only when every check passes. Functions return 0 when
 * the verification ran (the verdict is in the checks) and a negative errno with
 * `err` filled only when it could not run at all (out of memory, bad
 * arguments). The verification time is always a parameter: certificates and
 * collateral are judged at that instant, never at the wall clock. */
#ifndef COFFER_ATTEST_H
#define COFFER_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "coffer/error.h"

/* ---- checks ---------------------------------------------------------- */

typedef struct cf_check {
  char name[48];
  bool pass;
  char reason[320];
} cf_check;

typedef struct cf_checks {
  cf_check *items;
  size_t n, cap;
} cf_checks;

/* Appends a check; returns -ENOMEM when it cannot (the list is then marked
 * failed by cf_checks_all_pass, which refuses a list that lost an entry). */
int cf_check_add(cf_checks *c, const char *name, bool pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const cf_check *cf_checks_find(const cf_checks *c, const char *name);
/* True only for a non-empty list in which every check passed. */
bool cf_checks_all_pass(const cf_checks *c);
/* The first failed check, or NULL. */
const cf_check *cf_checks_first_failure(const cf_checks *c);
void cf_checks_reset(cf_checks *c);
void cf_checks_free(cf_checks *c);

/* "2025-11-01T00:00:00Z" (RFC 3339, offsets allowed) -> time_t. */
int cf_parse_rfc3339(const char *s, time_t *out);

/* ---- AMD SEV-SNP ------------------------------------------------------ */

#define CF_SNP_REPORT_SIZE 0x4A0
#define CF_SNP_SIGNED_SIZE 0x2A0

enum cf_snp_product {
  CF_SNP_PRODUCT_UNKNOWN = 0,
  CF_SNP_MILAN,
  CF_SNP_GENOA,
  CF_SNP_TURIN,
};
const char *cf_snp_product_name(enum cf_snp_product p);
enum cf_snp_product cf_snp_product_from_name(const char *name);

/* TCB_VERSION decoded for one product generation. Milan/Genoa:
 * [0]=BL [1]=TEE [6]=SNP [7]=UCODE; Turin: [0]=FMC [1]=BL [2]=TEE [3]=SNP
 * [7]=UCODE. */
typedef struct cf_snp_tcb {
  uint8_t raw[8];
  bool has_fmc;
  uint8_t fmc, bl, tee, snp, ucode;
} cf_snp_tcb;
void cf_snp_tcb_decode(const uint8_t raw[8], enum cf_snp_product p, cf_snp_tcb *out);

typedef struct cf_snp_report {
  uint32_t version, guest_svn;
  uint64_t policy;
  uint8_t family_id[16], image_id[16];
  uint32_t vmpl, signature_algo;
  uint8_t current_tcb[8];
  uint64_t platform_info;
  uint32_t key_info; /* bit0 author_key_en, bit1 mask_chip_key, bits2..4 signing_key */
  uint8_t report_data[64], measurement[48], host_data[32];
  uint8_t id_key_digest[48], author_key_digest[48];
  uint8_t report_id[32], report_id_ma[32];
  uint8_t reported_tcb[8];
  uint8_t cpuid_fam, cpuid_mod, cpuid_step; /* version >= 3 */
  uint8_t chip_id[64];
  uint8_t committed_tcb[8];
  uint8_t current_build, current_minor, current_major;
  uint8_t committed_build, committed_minor, committed_major;
  uint8_t launch_tcb[8];
  uint64_t launch_mit_vector, current_mit_vector; /* version >= 5 */
  uint8_t sig_r[72], sig_s[72]; /* little-endian */
} cf_snp_report;

#define CF_SNP_SIGNING_KEY(r) (((r)->key_info >> 2) & 7u) /* 0 VCEK, 1 VLEK, 7 none */

/* Parses exactly CF_SNP_REPORT_SIZE bytes of a version 2..5 report. */
int cf_snp_report_parse(const uint8_t *buf, size_t len, cf_snp_report *out, cf_error *err);
/* Product named by CPUID family/model (version >= 3), else UNKNOWN. */
enum cf_snp_product cf_snp_product_from_cpuid(const cf_snp_report *r);

/* What a VCEK/VLEK certificate says about the platform. */
typedef struct cf_snp_cert_info {
  bool is_vlek;           /* issuer CN SEV-VLEK-* */
  char issuer_cn[64];
  char product_name[32];  /* productName1 (.1.2), "" if absent */
  long struct_version;    /* -1 if absent */
  int bl, tee, snp, ucode, fmc; /* -1 if absent */
  uint8_t hwid[64];
  size_t hwid_len;        /* 0 if absent, 64 (Milan/Genoa) or 8 (Turin) */
  char csp_id[128];       /* VLEK .1.5, "" if absent */
  time_t not_before, not_after;
  long serial;
} cf_snp_cert_info;

typedef struct cf_snp_verifier cf_snp_verifier;

/* A verifier trusting the ARKs compiled in (Milan, Genoa, Turin, pinned by
 * SHA-256), with AMD's public ASK/ASVK intermediates built in too. */
cf_snp_verifier *cf_snp_verifier_new(cf_error *err);
/* Adds certificates from a PEM/DER file (ASK/ASVK, optionally ARK). An ARK in
 * the file that is not one of the pinned ones fails the `ark_pinned` check of
 * any verification that would rely on it. */
int cf_snp_verifier_load_chain(cf_snp_verifier *v, const uint8_t *buf, size_t len,
                               cf_error *err);
/* Adds the AMD KDS CRL (DER or PEM, signed by the ARK): verifications then
 * check its signature, its freshness and that the ASK/ASVK is not listed. */
int cf_snp_verifier_load_crl(cf_snp_verifier *v, const uint8_t *buf, size_t len, cf_error *err);
void cf_snp_verifier_free(cf_snp_verifier *v);

typedef struct cf_snp_result {
  bool parsed;
  cf_snp_report report;
  bool signer_parsed;
  cf_snp_cert_info signer;
  enum cf_snp_product product; /* from the ARK that anchors the chain */
  cf_checks checks;
} cf_snp_result;

/* Verifies `report` signed by the VCEK/VLEK in `signer` (PEM or DER) at time
 * `at`. The signer's chain checks are cached per (signer, at): verifying many
 * reports of one platform costs one ECDSA P-384 verification each. */
int cf_snp_verify(cf_snp_verifier *v, const uint8_t *report, size_t report_len,
                  const uint8_t *signer, size_t signer_len, time_t at,
                  cf_snp_result *res, cf_error *err);
void cf_snp_result_free(cf_snp_result *res);

/* ---- Intel TDX -------------------------------------------------------- */

typedef struct cf_tdx_qe_report {
  uint8_t cpusvn[16];
  uint32_t miscselect;
  uint8_t attributes[16], mrenclave[32], mrsigner[32];
  uint16_t isvprodid, isvsvn;
  uint8_t report_data[64];
} cf_tdx_qe_report;

/* A parsed quote; pointers refer into the caller's buffer. */
typedef struct cf_tdx_quote {
  size_t file_len, total_used;
  uint16_t version, att_key_type;
  uint32_t tee_type;
  uint16_t qe_svn, pce_svn;
  uint8_t qe_vendor_id[16], user_data[20];
  uint16_t body_type; /* v5 descriptor; 2 = TDX 1.0, 3 = TDX 1.5 (v4: 2) */
  uint32_t body_size;
  bool tdx15;
  uint8_t tee_tcb_svn[16], mrseam[48], mrsignerseam[48];
  uint8_t seam_attributes[8], td_attributes[8], xfam[8];
  uint8_t mrtd[48], mrconfigid[48], mrowner[48], mrownerconfig[48];
  uint8_t rtmr[4][48], report_data[64];
  uint8_t tee_tcb_svn2[16], mrservicetd[48]; /* TDX 1.5 only */
  const uint8_t *signed_data;
  size_t signed_len;
  uint32_t sig_data_len;
  const uint8_t *signature, *attestation_key; /* 64 bytes each, r||s, x||y */
  uint16_t outer_cert_type;
  uint32_t outer_cert_data_size;
  const uint8_t *qe_report_raw, *qe_report_sig; /* 384, 64 */
  cf_tdx_qe_report qe_report;
  uint16_t qe_auth_data_len;
  const uint8_t *qe_auth_data;
  uint16_t inner_cert_type;
  uint32_t inner_cert_data_size;
  const uint8_t *pck_chain; /* PEM */
} cf_tdx_quote;

int cf_tdx_quote_parse(const uint8_t *buf, size_t len, cf_tdx_quote *q, cf_error *err);

/* SGX extensions of the PCK certificate (OID 1.2.840.113741.1.13.1). */
typedef struct cf_tdx_pck_info {
  uint8_t fmspc[6], pceid[2], cpusvn[16];
  uint8_t comp_svn[16];
  uint16_t pcesvn;
} cf_tdx_pck_info;

/* Collateral as raw file contents; any member may be NULL/0. */
typedef struct cf_tdx_collateral {
  const uint8_t *tcb_info; size_t tcb_info_len;          /* PCS JSON */
  const uint8_t *qe_identity; size_t qe_identity_len;    /* PCS JSON */
  const uint8_t *pck_crl; size_t pck_crl_len;            /* DER or PEM */
  const uint8_t *root_crl; size_t root_crl_len;          /* DER or PEM */
  const uint8_t *tcb_signing_chain; size_t tcb_signing_chain_len; /* PEM */
} cf_tdx_collateral;

typedef struct cf_tdx_tcb_level_out {
  bool found;
  char status[40];
  char tcb_date[32];
  char advisory_ids[16][24];
  size_t n_advisory;
  char id[16];    /* module identity id, "TDX_01" */
  int isvsvn;     /* module level, -1 for platform levels */
} cf_tdx_tcb_level_out;

typedef struct cf_tdx_result {
  bool parsed;
  cf_tdx_quote quote;
  size_t chain_cert_count;
  char chain_subjects[3][160];
  char chain_not_before[32], chain_not_after[32]; /* tightest window */
  bool pck_parsed;
  cf_tdx_pck_info pck;
  uint8_t root_sha256[32];
  bool collateral_evaluated;
  cf_tdx_tcb_level_out platform_level, module_level;
  bool module_evaluated;
  char qe_tcb_status[40];
  char overall_tcb_status[96];
  cf_checks checks;
} cf_tdx_result;

typedef struct cf_tdx_verifier cf_tdx_verifier;

/* A verifier trusting the pinned Intel SGX Root CA (SHA-256 44a0196b…). The
 * PCK chain checks and key objects are cached per chain / attestation key. */
cf_tdx_verifier *cf_tdx_verifier_new(cf_error *err);
void cf_tdx_verifier_free(cf_tdx_verifier *v);
/* `coll` may be NULL: the quote, its signatures and the PCK chain are checked,
 * the TCB status is then not evaluated. */
int cf_tdx_verify(cf_tdx_verifier *v, const uint8_t *quote, size_t len, time_t at,
                  const cf_tdx_collateral *coll, cf_tdx_result *res, cf_error *err);
void cf_tdx_result_free(cf_tdx_result *res);

/* ---- reference values ------------------------------------------------- */

typedef struct cf_reference cf_reference;

/* Parses the reference-values JSON document (format in attest/README.md);
 * unknown keys and malformed values are errors, never ignored. */
cf_reference *cf_reference_parse(const char *json, size_t len, cf_error *err);
void cf_reference_free(cf_reference *r);
/* Appends one `reference.*` check per reference value that applies. */
int cf_reference_appraise_snp(const cf_reference *ref, const cf_snp_result *res,
                              cf_checks *out);
int cf_reference_appraise_tdx(const cf_reference *ref, const cf_tdx_result *res,
                              cf_checks *out);

#endif
