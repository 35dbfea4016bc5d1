/* A guest that has no TEE hardware, faked for libcoffer_tee: a directory
 * tree standing in for /sys and /dev, CPUID answers, recorded ioctl
 * replies, configfs-tsm emulated through the mkdir/rmdir hooks (configfs's
 * mkdir creates the attribute files, which a plain directory cannot), and a
 * quote generation service on a socketpair. There is no TEE on a build
 * machine, so this is the only way these code paths run here. */
#ifndef COFFER_TEST_TEE_FAKE_H
#define COFFER_TEST_TEE_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/tee.h"

typedef struct fake {
  char root[256];
  struct cf_tee_ioctl_ops ops, ops_real; /* ops_real: for tests that wrap a hook */
  cf_tee_env env;

  /* CPUID */
  bool cpuid_tdx, cpuid_snp, cpuid_hypervisor;

  /* configfs-tsm: NULL = no /sys/kernel/config/tsm at all; "" = no provider */
  const char *provider;
  const uint8_t *outblob;
  size_t outblob_len;
  const uint8_t *auxblob; /* NULL = no auxblob attribute */
  size_t auxblob_len;
  const char *generation; /* NULL = as many as a correct client writes */
  bool privlevel_attr;    /* create the privlevel attribute */
  int mkdirs, rmdirs;
  uint8_t inblob_seen[128];
  size_t inblob_seen_len;
  char privlevel_seen[16];
  bool privlevel_written;

  /* /dev/sev-guest replies */
  const uint8_t *snp_report; /* 1184 B, put in MSG_REPORT_RSP as is */
  uint32_t snp_status, snp_report_size;
  const uint8_t *snp_certs; /* written to certs_address */
  size_t snp_certs_len;
  uint32_t snp_need_len;    /* EXT: answer INVALID_LEN while certs_len is below */
  bool snp_invalid_len_always; /* EXT: INVALID_LEN every time, asking one page more */
  int snp_errno;            /* fail every request with this errno and exitinfo2 */
  uint64_t snp_exitinfo2;
  int ioctl_calls;
  unsigned long ioctl_last;
  uint8_t ioctl_msg_version;
  uint32_t ioctl_vmpl, ioctl_certs_len[4];

  /* /dev/tdx_guest replies: the TDREPORT (its report_data set from the
   * request unless tdreport_keep_rd) */
  uint8_t tdreport[1024];
  bool tdreport_keep_rd;
  int tdx_errno;

  /* QGS: the reply after a checked request */
  const uint8_t *qgs_quote;
  size_t qgs_quote_len;
  uint32_t qgs_error;
  uint32_t qgs_len_override; /* nonzero: this frame length instead */
  bool qgs_hang_up;          /* close after the request */
  unsigned qgs_port;
  bool qgs_request_ok;
  char qgs_request_problem[160];
  uint8_t tdreport_sent[1024]; /* what the device returned last */
  int qgs_fd;
  pthread_t qgs_thread;
  bool qgs_running;
} fake;

/* A fresh tree under /tmp with /dev and /sys/kernel/config/tsm/report. */
void fake_init(fake *f);
void fake_fini(fake *f);
/* Waits for the QGS thread of the last connection. */
void fake_join_qgs(fake *f);
/* Creates root+path as a regular file holding data. */
void fake_file(fake *f, const char *path, const void *data, size_t len);

/* Test data: a whole file, malloc'd; exits 77 when it is missing. */
uint8_t *load(const char *dir, const char *rel, size_t *len);
/* An SNP cert table holding one VCEK. */
uint8_t *cert_table_vcek(const uint8_t *der, size_t len, size_t *out_len);

#endif
