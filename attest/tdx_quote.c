/* The Intel TDX DCAP quote, versions 4 and 5 (TDX 1.0 and 1.5 TD reports),
 * with ECDSA P-256 attestation key and QE report certification data (type 6)
 * wrapping the PCK certificate chain (type 5). Bytes after the structure are
 * tolerated, as real quotes carry padding. */
#include <errno.h>
#include <string.h>

#include "attest_internal.h"

#define HEADER_SIZE 48
#define BODY10_SIZE 584
#define BODY15_SIZE 648
#define QE_REPORT_SIZE 384

static void parse_body(const uint8_t *b, cf_tdx_quote *q) {
  memcpy(q->tee_tcb_svn, b + 0, 16);
  memcpy(q->mrseam, b + 16, 48);
  memcpy(q->mrsignerseam, b + 64, 48);
  memcpy(q->seam_attributes, b + 112, 8);
  memcpy(q->td_attributes, b + 120, 8);
  memcpy(q->xfam, b + 128, 8);
  memcpy(q->mrtd, b + 136, 48);
  memcpy(q->mrconfigid, b + 184, 48);
  memcpy(q->mrowner, b + 232, 48);
  memcpy(q->mrownerconfig, b + 280, 48);
  for (int i = 0; i < 4; i++)
    memcpy(q->rtmr[i], b + 328 + 48 * i, 48);
  memcpy(q->report_data, b + 520, 64);
  if (q->tdx15) {
    memcpy(q->tee_tcb_svn2, b + 584, 16);
    memcpy(q->mrservicetd, b + 600, 48);
  }
}

static void parse_qe_report(const uint8_t *b, cf_tdx_qe_report *r) {
  memcpy(r->cpusvn, b + 0, 16);
  r->miscselect = cf_le32(b + 16);
  memcpy(r->attributes, b + 48, 16);
  memcpy(r->mrenclave, b + 64, 32);
  memcpy(r->mrsigner, b + 128, 32);
  r->isvprodid = cf_le16(b + 256);
  r->isvsvn = cf_le16(b + 258);
  memcpy(r->report_data, b + 320, 64);
}

#define NEED(n, what)                                                                        \
  do {                                                                                       \
    if ((size_t)(end - p) < (size_t)(n))                                                     \
      return cf_err_status(err, CF_INVALID_ARGUMENT,                                         \
                           "quote truncated in %s at offset %zu (need %zu bytes, have %zu)", \
                           what, (size_t)(p - buf), (size_t)(n), (size_t)(end - p));         \
  } while (0)

int cf_tdx_quote_parse(const uint8_t *buf, size_t len, cf_tdx_quote *q, cf_error *err) {
  memset(q, 0, sizeof(*q));
  q->file_len = len;
  const uint8_t *p = buf, *end = buf + len;
  NEED(HEADER_SIZE, "header");
  q->version = cf_le16(p);
  if (q->version != 4 && q->version != 5)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "unknown version %u (4 and 5 are supported)",
                         q->version);
  q->att_key_type = cf_le16(p + 2);
  if (q->att_key_type != 2)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "attestation key type %u is not ECDSA-256-with-P-256 (2)", q->att_key_type);
  q->tee_type = cf_le32(p + 4);
  if (q->tee_type != 0x81)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "tee_type 0x%x is not TDX (0x81)", q->tee_type);
  q->qe_svn = cf_le16(p + 8);
  q->pce_svn = cf_le16(p + 10);
  memcpy(q->qe_vendor_id, p + 12, 16);
  memcpy(q->user_data, p + 28, 20);
  p += HEADER_SIZE;

  if (q->version == 4) {
    q->body_type = 2;
    q->body_size = BODY10_SIZE;
  } else {
    NEED(6, "body descriptor");
    q->body_type = cf_le16(p);
    q->body_size = cf_le32(p + 2);
    p += 6;
    if (!((q->body_type == 2 && q->body_size == BODY10_SIZE) ||
          (q->body_type == 3 && q->body_size == BODY15_SIZE)))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "body type %u size %u is neither TDX 1.0 (2, 584) nor TDX 1.5 (3, 648)",
                           q->body_type, q->body_size);
  }
  q->tdx15 = q->body_type == 3;
  NEED(q->body_size, "TD report body");
  parse_body(p, q);
  p += q->body_size;
  q->signed_data = buf;
  q->signed_len = (size_t)(p - buf);

  NEED(4, "signature data length");
  q->sig_data_len = cf_le32(p);
  p += 4;
  NEED(q->sig_data_len, "signature data");
  q->total_used = (size_t)(p - buf) + q->sig_data_len;
  end = p + q->sig_data_len; /* everything below stays inside the signature data */

  NEED(64 + 64 + 6, "signature, attestation key and certification data header");
  q->signature = p;
  q->attestation_key = p + 64;
  q->outer_cert_type = cf_le16(p + 128);
  q->outer_cert_data_size = cf_le32(p + 130);
  p += 134;
  if (q->outer_cert_type != 6)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "certification data type %u (6 = QE report certification data expected)",
                         q->outer_cert_type);
  NEED(q->outer_cert_data_size, "QE report certification data");
  end = p + q->outer_cert_data_size;

  NEED(QE_REPORT_SIZE + 64 + 2, "QE report");
  q->qe_report_raw = p;
  parse_qe_report(p, &q->qe_report);
  q->qe_report_sig = p + QE_REPORT_SIZE;
  q->qe_auth_data_len = cf_le16(p + QE_REPORT_SIZE + 64);
  p += QE_REPORT_SIZE + 64 + 2;
  NEED(q->qe_auth_data_len, "QE authentication data");
  q->qe_auth_data = p;
  p += q->qe_auth_data_len;
  NEED(6, "PCK certification data header");
  q->inner_cert_type = cf_le16(p);
  q->inner_cert_data_size = cf_le32(p + 2);
  p += 6;
  if (q->inner_cert_type != 5)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "inner certification data type %u (5 = PCK certificate chain expected)",
                         q->inner_cert_type);
  NEED(q->inner_cert_data_size, "PCK certificate chain");
  q->pck_chain = p;
  return 0;
}
