/* Shared by the pieces of libcoffer_tee: the env's hooks with their real
 * defaults, bounded file I/O, the process-wide request lock. */
#ifndef COFFER_TEE_INTERNAL_H
#define COFFER_TEE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/tee.h"

#define TEE_TSM_DIR "/sys/kernel/config/tsm/report"
#define TEE_SEV_DEV "/dev/sev-guest"
#define TEE_TDX_DEV "/dev/tdx_guest"

/* env->root + path into buf; -ENAMETOOLONG naming the path. */
int tee_path(const cf_tee_env *env, const char *path, char *buf, size_t size, cf_error *err);

void tee_cpuid(const cf_tee_env *env, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
int tee_ioctl(const cf_tee_env *env, int fd, unsigned long request, void *arg);
int tee_mkdir(const cf_tee_env *env, const char *path);
int tee_rmdir(const cf_tee_env *env, const char *path);
int tee_qgs_connect(const cf_tee_env *env, unsigned port);

/* Reads a whole file (configfs attributes report no useful size) into a new
 * buffer of at most max bytes, NUL-terminated; more than max is -EFBIG. */
int tee_read_all(const char *path, size_t max, uint8_t **out, size_t *len, cf_error *err);
/* One write(2) of exactly len bytes (configfs takes each write whole). */
int tee_write_once(const char *path, const void *buf, size_t len, cf_error *err);
bool tee_exists(const char *path);

/* Every request to the TEE runs under this process-wide lock. */
void tee_lock(void);
void tee_unlock(void);

/* configfs-tsm: whether a provider is registered (an instance can be made)
 * and which ("sev_guest", "tdx_guest"); 0 with provider "" when none. */
int tee_tsm_provider(const cf_tee_env *env, char *provider, size_t size, cf_error *err);

/* One configfs-tsm report (recipe: kbs-protocol.md A2). want_provider is
 * checked; privlevel "0" is written for sev_guest. outblob and auxblob are
 * malloc'd (auxblob NULL/0 when the provider gave none). -ENXIO when there
 * is no configfs-tsm or no provider. */
typedef struct tee_tsm_report {
  uint8_t *outblob;
  size_t outblob_len;
  uint8_t *auxblob;
  size_t auxblob_len;
} tee_tsm_report;
int tee_tsm_get(const cf_tee_env *env, const char *want_provider, const uint8_t inblob[64],
                size_t max_out, size_t max_aux, tee_tsm_report *rep, cf_error *err);
void tee_tsm_report_free(tee_tsm_report *rep);

/* A growing text buffer for the evidence JSON (no JSON library: the
 * library links next to the broker's JSON library in tests, and the shapes
 * are fixed). Appends after a failed allocation are no-ops; tee_buf_take
 * then returns NULL. */
typedef struct tee_buf {
  char *s;
  size_t len, cap;
  bool oom;
} tee_buf;
void tee_buf_printf(tee_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tee_buf_bytes(tee_buf *b, const uint8_t *p, size_t n); /* [1,2,3] */
char *tee_buf_take(tee_buf *b);

/* Base64 (standard alphabet, padded) and lowercase hex, NUL-terminated,
 * malloc'd; NULL when out of memory. */
char *tee_b64(const uint8_t *b, size_t n);
void tee_hex(const uint8_t *b, size_t n, char *out /* 2n+1 */);
/* Hex of at most max bytes (even length, digits only); -EINVAL otherwise. */
int tee_unhex(const char *s, uint8_t *out, size_t max, size_t *len);

/* SEV-SNP (kbs-protocol.md A1). */
#define TEE_SNP_REPORT_SIZE 0x4A0
#define TEE_SNP_REPORT_DATA 0x50
#define TEE_SNP_HOST_DATA 0xC0
#define TEE_SNP_CERTS_MAX (64 * 1024)  /* a cert table larger than this is refused */
#define TEE_SNP_CERT_ENTRIES_MAX 64

typedef enum tee_snp_cert_kind {
  TEE_SNP_CERT_ARK, TEE_SNP_CERT_ASK, TEE_SNP_CERT_VCEK, TEE_SNP_CERT_VLEK, TEE_SNP_CERT_CRL,
  TEE_SNP_CERT_OTHER,
} tee_snp_cert_kind;
typedef struct tee_snp_cert {
  tee_snp_cert_kind kind;
  uint8_t guid[16];
  const uint8_t *data; /* into the table */
  size_t len;
} tee_snp_cert;

/* The GHCB cert table: {guid[16], offset u32, length u32} entries ended by
 * an all-zero one, offsets from the table start. Every entry must lie past
 * the terminator and inside len; an empty table (terminator first) gives 0
 * entries. */
int tee_snp_cert_table_parse(const uint8_t *tab, size_t len, tee_snp_cert *out, size_t max,
                             size_t *n, cf_error *err);
/* A report the hardware returned for our request: 1184 bytes, a known
 * version, VMPL 0, exactly the requested report_data. */
int tee_snp_report_check(const uint8_t *rep, size_t len, const uint8_t report_data[64],
                         cf_error *err);
/* {"attestation_report": …, "cert_chain": […]|null} (B4); the report must
 * have zero reserved bytes, or the verifier's re-encoding could not match
 * its signature. */
int tee_snp_evidence_json(const uint8_t rep[TEE_SNP_REPORT_SIZE], const tee_snp_cert *certs,
                          size_t n_certs, char **json, cf_error *err);

/* TDX (A3). */
#define TEE_TDX_REPORT_SIZE 1024
#define TEE_TDX_REPORT_DATA 128
#define TEE_TDX_MRCONFIGID 576
#define TEE_TDX_QUOTE_MAX (64 * 1024)
/* A DCAP quote v4/v5 for TDX carrying exactly report_data; *used is its
 * length as declared (trailing bytes are not part of it). */
int tee_tdx_quote_check(const uint8_t *q, size_t len, const uint8_t report_data[64],
                        size_t *used, cf_error *err);
/* The quote's MRCONFIGID (48 B). */
int tee_tdx_quote_mrconfigid(const uint8_t *q, size_t len, uint8_t out[48], cf_error *err);
/* A QGS reply (after the 4-byte length): the quote inside it. */
int tee_tdx_qgs_reply_parse(const uint8_t *msg, size_t len, const uint8_t **quote,
                            size_t *quote_len, cf_error *err);

/* Per TEE: the binding and the evidence, called under tee_lock(). */
int tee_sample_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err);
int tee_sample_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                        cf_error *err);
int tee_snp_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err);
int tee_snp_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                     cf_error *err);
int tee_tdx_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err);
int tee_tdx_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                     cf_error *err);

#endif
