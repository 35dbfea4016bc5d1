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

/* Base64 (standard alphabet, padded) and lowercase hex, NUL-terminated,
 * malloc'd; NULL when out of memory. */
char *tee_b64(const uint8_t *b, size_t n);
void tee_hex(const uint8_t *b, size_t n, char *out /* 2n+1 */);
/* Hex of at most max bytes (even length, digits only); -EINVAL otherwise. */
int tee_unhex(const char *s, uint8_t *out, size_t max, size_t *len);

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
