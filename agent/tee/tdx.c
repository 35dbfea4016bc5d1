/* TDX: filled in by the next commit. */
#include <errno.h>

#include "tee_internal.h"

int tee_tdx_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err) {
  return cf_err(err, ENOTSUP, "TDX quote not implemented yet");
}

int tee_tdx_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                     cf_error *err) {
  return cf_err(err, ENOTSUP, "TDX quote not implemented yet");
}
