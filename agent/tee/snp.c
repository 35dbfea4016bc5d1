/* SEV-SNP reports: configfs-tsm first, else /dev/sev-guest
 * (SNP_GET_EXT_REPORT for the certificates, SNP_GET_REPORT for the
 * binding). A guest request the firmware fails makes the kernel wipe the
 * VMPCK until reboot, so every field is checked before the ioctl, and only
 * the one retry the ABI defines (a larger certificate buffer) is made. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "tee_internal.h"
#include "tee_uapi.h"

#define CERTS_FIRST (16 * 1024) /* the kernel's SEV_FW_BLOB_MAX_SIZE */
#define PAGE 4096

static const char *fw_error_name(uint32_t e) {
  static const char *const n[] = {
      "success", "invalid platform state", "invalid guest state", "invalid config",
      "invalid length", "already owned", "invalid certificate", "policy failure", "inactive",
      "invalid address", "bad signature", "bad measurement", "ASID owned", "invalid ASID",
      "WBINVD required", "DF_FLUSH required", "invalid guest", "invalid command", "active",
      "hardware error (platform)", "hardware error (unsafe)", "unsupported", "invalid parameter",
      "resource limit", "secure data invalid"};
  if (e < sizeof(n) / sizeof(n[0]))
    return n[e];
  return e == UINT32_MAX ? "no firmware call" : "unknown";
}

static const char *vmm_error_name(uint32_t e) {
  switch (e) {
  case 0:
    return "none";
  case TEE_SNP_VMM_ERR_INVALID_LEN:
    return "certificate buffer too small";
  case TEE_SNP_VMM_ERR_BUSY:
    return "busy";
  case UINT32_MAX:
    return "generic";
  }
  return "unknown";
}

static int request_error(cf_error *err, const char *what, int e, uint64_t exitinfo2) {
  uint32_t fw = (uint32_t)exitinfo2, vmm = (uint32_t)(exitinfo2 >> 32);
  if (e == ENOTTY)
    return cf_err(err, e, "%s: the kernel disabled the guest's VMPCK after an earlier failed "
                  "request; no report until the guest reboots", what);
  return cf_err(err, e, "%s (exitinfo2 0x%" PRIx64 ": firmware error 0x%x %s, VMM error 0x%x %s%s)",
                what, exitinfo2, fw, fw_error_name(fw), vmm, vmm_error_name(vmm),
                fw ? "; the kernel wipes the VMPCK after a firmware error: no report until reboot" : "");
}

static int open_dev(const cf_tee_env *env, int *fd, cf_error *err) {
  char p[4096];
  int r = tee_path(env, TEE_SEV_DEV, p, sizeof(p), err);
  if (r)
    return r;
  *fd = open(p, O_RDWR | O_CLOEXEC);
  if (*fd < 0)
    return cf_err(err, errno, "open %s", p);
  return 0;
}

/* The report inside MSG_REPORT_RSP, checked. */
static int report_from_resp(const uint8_t *resp, const uint8_t report_data[64], uint8_t *out,
                            cf_error *err) {
  uint32_t status, size;
  memcpy(&status, resp, 4);
  memcpy(&size, resp + 4, 4);
  if (status)
    return cf_err(err, EPROTO, "SNP report response status 0x%x (%s)", status,
                  status == 0x16 ? "invalid parameter" : "error");
  if (size != TEE_SNP_REPORT_SIZE)
    return cf_err(err, EPROTO, "SNP report response says %u report bytes (expected %d)", size,
                  TEE_SNP_REPORT_SIZE);
  memcpy(out, resp + TEE_SNP_RESP_REPORT, TEE_SNP_REPORT_SIZE);
  return tee_snp_report_check(out, TEE_SNP_REPORT_SIZE, report_data, err);
}

static void cf_alignedfreep(void *p) { free(*(void **)p); }

/* SNP_GET_EXT_REPORT: the report and the certificate table (*certs, *len;
 * a table of zeros when the host has none). */
static int ext_report(const cf_tee_env *env, const uint8_t report_data[64], uint8_t *report,
                      uint8_t **certs_out, size_t *certs_len, cf_error *err) {
  _cleanup_close_ int fd = -1;
  int r = open_dev(env, &fd, err);
  if (r)
    return r;
  size_t len = CERTS_FIRST;
  for (int attempt = 0;; attempt++) {
    _cleanup_(cf_alignedfreep) uint8_t *certs = aligned_alloc(PAGE, len);
    _cleanup_free_ uint8_t *resp = calloc(1, TEE_SNP_RESP_SIZE);
    if (!certs || !resp)
      return cf_err(err, ENOMEM, "SNP certificate buffer of %zu bytes", len);
    memset(certs, 0, len);
    tee_snp_ext_report_req req = {.certs_address = (uintptr_t)certs, .certs_len = (uint32_t)len};
    memcpy(req.data.user_data, report_data, 64);
    tee_snp_guest_request_ioctl io = {.msg_version = 1, .req_data = (uintptr_t)&req,
                                      .resp_data = (uintptr_t)resp};
    /* Checked here, not left to the firmware: a rejected request costs the VMPCK. */
    if (req.data.vmpl || req.certs_len % PAGE || !req.certs_len || req.certs_len > TEE_SNP_CERTS_MAX)
      return cf_err(err, EINVAL, "SNP_GET_EXT_REPORT: refusing a malformed request");
    if (tee_ioctl(env, fd, TEE_SNP_GET_EXT_REPORT, &io) == 0) {
      r = report_from_resp(resp, report_data, report, err);
      if (r)
        return cf_error_prefix(err, "SNP_GET_EXT_REPORT");
      *certs_out = cf_steal_ptr(certs);
      *certs_len = len;
      return 0;
    }
    int e = errno;
    if (e != EIO || io.exitinfo2 != (uint64_t)TEE_SNP_VMM_ERR_INVALID_LEN << 32 || attempt)
      return request_error(err, "SNP_GET_EXT_REPORT", e, io.exitinfo2);
    /* The kernel wrote the size it needs; one retry with it. */
    if (req.certs_len <= len || req.certs_len % PAGE || req.certs_len > TEE_SNP_CERTS_MAX)
      return cf_err(err, EPROTO,
                    "SNP_GET_EXT_REPORT: asked for a certificate buffer of %u bytes (had %zu; "
                    "at most %d, page-aligned)",
                    req.certs_len, len, TEE_SNP_CERTS_MAX);
    len = req.certs_len;
  }
}

/* SNP_GET_REPORT: the report only. */
static int plain_report(const cf_tee_env *env, const uint8_t report_data[64], uint8_t *report,
                        cf_error *err) {
  _cleanup_close_ int fd = -1;
  int r = open_dev(env, &fd, err);
  if (r)
    return r;
  _cleanup_free_ uint8_t *resp = calloc(1, TEE_SNP_RESP_SIZE);
  if (!resp)
    return cf_err(err, ENOMEM, "SNP report");
  tee_snp_report_req req = {0};
  memcpy(req.user_data, report_data, 64);
  tee_snp_guest_request_ioctl io = {.msg_version = 1, .req_data = (uintptr_t)&req,
                                    .resp_data = (uintptr_t)resp};
  if (tee_ioctl(env, fd, TEE_SNP_GET_REPORT, &io))
    return request_error(err, "SNP_GET_REPORT", errno, io.exitinfo2);
  r = report_from_resp(resp, report_data, report, err);
  return r ? cf_error_prefix(err, "SNP_GET_REPORT") : 0;
}

/* configfs-tsm: -ENXIO when it has no provider (then the device is used). */
static int tsm_report(const cf_tee_env *env, const uint8_t report_data[64], uint8_t *report,
                      tee_tsm_report *rep, cf_error *err) {
  int r = tee_tsm_get(env, "sev_guest", report_data, TEE_SNP_REPORT_SIZE, TEE_SNP_CERTS_MAX, rep, err);
  if (r)
    return r;
  r = tee_snp_report_check(rep->outblob, rep->outblob_len, report_data, err);
  if (r) {
    tee_tsm_report_free(rep);
    return cf_error_prefix(err, "configfs-tsm outblob");
  }
  memcpy(report, rep->outblob, TEE_SNP_REPORT_SIZE);
  return 0;
}

int tee_snp_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err) {
  static const uint8_t zero[64];
  uint8_t report[TEE_SNP_REPORT_SIZE];
  tee_tsm_report rep;
  cf_error sub = {0};
  int r = tsm_report(env, zero, report, &rep, &sub);
  if (r == 0)
    tee_tsm_report_free(&rep);
  else if (r == -ENXIO)
    r = plain_report(env, zero, report, err);
  else
    *err = sub;
  if (r)
    return r;
  memcpy(out, report + TEE_SNP_HOST_DATA, 32);
  *len = 32;
  return 0;
}

int tee_snp_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                     cf_error *err) {
  uint8_t report[TEE_SNP_REPORT_SIZE];
  tee_tsm_report rep;
  cf_error sub = {0};
  const uint8_t *table = NULL;
  size_t table_len = 0;
  _cleanup_(cf_alignedfreep) uint8_t *certs = NULL;
  int r = tsm_report(env, report_data, report, &rep, &sub);
  if (r == 0) {
    table = rep.auxblob, table_len = rep.auxblob_len;
  } else if (r == -ENXIO) {
    r = ext_report(env, report_data, report, &certs, &table_len, err);
    table = certs;
  } else {
    *err = sub;
  }
  if (r)
    return r;
  tee_snp_cert list[TEE_SNP_CERT_ENTRIES_MAX];
  size_t n = 0;
  if (table_len)
    r = tee_snp_cert_table_parse(table, table_len, list, TEE_SNP_CERT_ENTRIES_MAX, &n, err);
  if (!r)
    r = tee_snp_evidence_json(report, list, n, json, err);
  tee_tsm_report_free(&rep);
  return r;
}
