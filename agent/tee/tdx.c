/* TDX quotes: configfs-tsm first; else the TDREPORT from /dev/tdx_guest,
 * sent to the quote generation service (QGS) over vsock. The binding is
 * MRCONFIGID from the TDREPORT (no QGS needed). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "tee_internal.h"
#include "tee_uapi.h"

#define QGS_PORT_DEFAULT 4050
#define QGS_TIMEOUT_MS 30000 /* a quote takes about a second; QGS may fetch collateral */
#define QGS_REQ_SIZE (16 + 8 + TEE_TDX_REPORT_SIZE)
#define CCEL_PATH "/sys/firmware/acpi/tables/data/CCEL"
#define CCEL_MAX (4 * 1024 * 1024)

static int tdreport(const cf_tee_env *env, const uint8_t report_data[64], uint8_t out[1024],
                    cf_error *err) {
  char p[4096];
  int r = tee_path(env, TEE_TDX_DEV, p, sizeof(p), err);
  if (r)
    return r;
  _cleanup_close_ int fd = open(p, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s", p);
  tee_tdx_report_req req;
  memset(&req, 0, sizeof(req));
  memcpy(req.reportdata, report_data, 64);
  if (tee_ioctl(env, fd, TEE_TDX_CMD_GET_REPORT0, &req))
    return cf_err(err, errno, "TDX_CMD_GET_REPORT0 on %s", p);
  if (memcmp(req.tdreport + TEE_TDX_REPORT_DATA, report_data, 64))
    return cf_err(err, EPROTO, "TDREPORT carries other report_data than requested");
  memcpy(out, req.tdreport, TEE_TDX_REPORT_SIZE);
  return 0;
}

/* port= in /etc/tdx-attest.conf (the DCAP convention), else 4050. */
static unsigned qgs_port(const cf_tee_env *env) {
  char p[4096];
  cf_error ignored = {0};
  _cleanup_free_ uint8_t *conf = NULL;
  size_t len;
  if (tee_path(env, "/etc/tdx-attest.conf", p, sizeof(p), &ignored) ||
      tee_read_all(p, 65536, &conf, &len, &ignored))
    return QGS_PORT_DEFAULT;
  char *save = NULL;
  for (char *line = strtok_r((char *)conf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    unsigned port;
    if (sscanf(line, " port = %u", &port) == 1 && port && port < 65536)
      return port;
  }
  return QGS_PORT_DEFAULT;
}

static int io_full(int fd, void *buf, size_t len, bool wr, cf_error *err) {
  uint8_t *b = buf;
  while (len) {
    struct pollfd pfd = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
    int pr = poll(&pfd, 1, QGS_TIMEOUT_MS);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      return cf_err(err, pr ? errno : ETIMEDOUT, "QGS %s", wr ? "send" : "receive");
    ssize_t n = wr ? send(fd, b, len, MSG_NOSIGNAL) : recv(fd, b, len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return cf_err(err, errno, "QGS %s", wr ? "send" : "receive");
    if (n == 0)
      return cf_err(err, ECONNRESET, "QGS closed the connection mid-message");
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* One GET_QUOTE exchange: the quote, malloc'd. */
static int qgs_quote(const cf_tee_env *env, const uint8_t report[1024], uint8_t **quote,
                     size_t *quote_len, cf_error *err) {
  unsigned port = qgs_port(env);
  _cleanup_close_ int fd = tee_qgs_connect(env, port);
  if (fd < 0)
    return cf_err(err, -fd, "QGS: connect to vsock 2:%u", port);
  uint8_t req[4 + QGS_REQ_SIZE] = {0};
  req[0] = 0, req[1] = 0, req[2] = QGS_REQ_SIZE >> 8, req[3] = QGS_REQ_SIZE & 0xff;
  uint8_t *m = req + 4;
  m[0] = 1, m[2] = 1;             /* version 1.1 */
  put32(m + 4, 0);                /* GET_QUOTE_REQ */
  put32(m + 8, QGS_REQ_SIZE);
  put32(m + 16, TEE_TDX_REPORT_SIZE);
  put32(m + 20, 0);               /* no id list */
  memcpy(m + 24, report, TEE_TDX_REPORT_SIZE);
  int r = io_full(fd, req, sizeof(req), true, err);
  uint8_t hdr[4];
  if (!r)
    r = io_full(fd, hdr, 4, false, err);
  if (r)
    return r;
  uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (len > TEE_TDX_QUOTE_MAX + 4096)
    return cf_err(err, EFBIG, "QGS reply of %u bytes (at most %d)", len, TEE_TDX_QUOTE_MAX + 4096);
  _cleanup_free_ uint8_t *reply = malloc(len ? len : 1);
  if (!reply)
    return cf_err(err, ENOMEM, "QGS reply");
  if ((r = io_full(fd, reply, len, false, err)))
    return r;
  const uint8_t *q;
  size_t ql;
  if ((r = tee_tdx_qgs_reply_parse(reply, len, &q, &ql, err)))
    return r;
  *quote = malloc(ql);
  if (!*quote)
    return cf_err(err, ENOMEM, "TDX quote");
  memcpy(*quote, q, ql);
  *quote_len = ql;
  return 0;
}

static int get_quote(const cf_tee_env *env, const uint8_t report_data[64], uint8_t **quote,
                     size_t *len, cf_error *err) {
  tee_tsm_report rep;
  cf_error sub = {0};
  int r = tee_tsm_get(env, "tdx_guest", report_data, TEE_TDX_QUOTE_MAX, TEE_TDX_QUOTE_MAX, &rep, &sub);
  if (r == 0) {
    free(rep.auxblob);
    *quote = rep.outblob, *len = rep.outblob_len;
    return 0;
  }
  if (r != -ENXIO) {
    *err = sub;
    return r;
  }
  uint8_t report[TEE_TDX_REPORT_SIZE];
  r = tdreport(env, report_data, report, err);
  return r ? r : qgs_quote(env, report, quote, len, err);
}

int tee_tdx_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err) {
  static const uint8_t zero[64];
  uint8_t report[TEE_TDX_REPORT_SIZE];
  char dev[4096];
  int r = tee_path(env, TEE_TDX_DEV, dev, sizeof(dev), err);
  if (r)
    return r;
  if (tee_exists(dev)) {
    if ((r = tdreport(env, zero, report, err)))
      return r;
    memcpy(out, report + TEE_TDX_MRCONFIGID, 48);
  } else {
    /* configfs-tsm only: the quote's TD body holds the same MRCONFIGID. */
    _cleanup_free_ uint8_t *quote = NULL;
    size_t ql, used;
    if ((r = get_quote(env, zero, &quote, &ql, err)) ||
        (r = tee_tdx_quote_check(quote, ql, zero, &used, err)) ||
        (r = tee_tdx_quote_mrconfigid(quote, used, out, err)))
      return r;
  }
  *len = 48;
  return 0;
}

int tee_tdx_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                     cf_error *err) {
  _cleanup_free_ uint8_t *quote = NULL, *ccel = NULL;
  size_t ql, used, cl = 0;
  int r = get_quote(env, report_data, &quote, &ql, err);
  if (!r)
    r = tee_tdx_quote_check(quote, ql, report_data, &used, err);
  if (r)
    return r;
  /* The event log the verifier replays against the RTMRs; absent outside
   * a TDX guest's ACPI tables. */
  char p[4096];
  cf_error ignored = {0};
  if (tee_path(env, CCEL_PATH, p, sizeof(p), err))
    return -ENAMETOOLONG;
  if (tee_read_all(p, CCEL_MAX, &ccel, &cl, &ignored) || !cl) {
    free(ccel);
    ccel = NULL;
  }
  _cleanup_free_ char *q64 = tee_b64(quote, used), *c64 = ccel ? tee_b64(ccel, cl) : NULL;
  if (!q64 || (ccel && !c64))
    return cf_err(err, ENOMEM, "TDX evidence");
  size_t n = strlen(q64) + (c64 ? strlen(c64) : 4) + 40;
  *json = malloc(n);
  if (!*json)
    return cf_err(err, ENOMEM, "TDX evidence");
  if (c64)
    snprintf(*json, n, "{\"quote\":\"%s\",\"cc_eventlog\":\"%s\"}", q64, c64);
  else
    snprintf(*json, n, "{\"quote\":\"%s\",\"cc_eventlog\":null}", q64);
  return 0;
}
