/* The public entry points: dispatch per TEE, one request at a time. */
#include <errno.h>
#include <string.h>

#include "tee_internal.h"

/* The sample attester only where the guest itself finds no TEE: a caller's
 * mistake must not turn a TEE guest's evidence into the sample's. */
static int sample_allowed(const cf_tee_env *env, cf_error *err) {
  cf_tee_kind k;
  int r = cf_tee_detect(env, &k, err);
  if (r)
    return r;
  if (k != CF_TEE_SAMPLE)
    return cf_err(err, EPERM, "sample attester refused: this guest is %s, not a plain VM with the "
                  "sample enabled", cf_tee_kind_name(k));
  return 0;
}

int cf_tee_init_data_binding(const cf_tee_env *env, cf_tee_kind k, uint8_t out[64], size_t *len,
                             cf_error *err) {
  *len = 0;
  memset(out, 0, 64);
  if (k == CF_TEE_SAMPLE) {
    int r = sample_allowed(env, err);
    return r ? r : tee_sample_binding(env, out, len, err);
  }
  if (k != CF_TEE_SNP && k != CF_TEE_TDX)
    return cf_err(err, EINVAL, "init-data binding: no TEE (%s)", cf_tee_kind_name(k));
  tee_lock();
  int r = k == CF_TEE_SNP ? tee_snp_binding(env, out, len, err) : tee_tdx_binding(env, out, len, err);
  tee_unlock();
  return r ? cf_error_prefix(err, "%s init-data binding", cf_tee_kind_name(k)) : 0;
}

int cf_tee_evidence(const cf_tee_env *env, cf_tee_kind k, const uint8_t report_data[64],
                    char **evidence_json, cf_error *err) {
  *evidence_json = NULL;
  if (!report_data)
    return cf_err(err, EINVAL, "evidence: no report_data");
  if (k == CF_TEE_SAMPLE) {
    int r = sample_allowed(env, err);
    return r ? r : tee_sample_evidence(env, report_data, evidence_json, err);
  }
  if (k != CF_TEE_SNP && k != CF_TEE_TDX)
    return cf_err(err, EINVAL, "evidence: no TEE (%s)", cf_tee_kind_name(k));
  tee_lock();
  int r = k == CF_TEE_SNP ? tee_snp_evidence(env, report_data, evidence_json, err)
                          : tee_tdx_evidence(env, report_data, evidence_json, err);
  tee_unlock();
  return r ? cf_error_prefix(err, "%s evidence", cf_tee_kind_name(k)) : 0;
}
