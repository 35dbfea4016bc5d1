/* The sample attester: no TEE hardware, plain profile only. Its evidence
 * proves nothing and says so; the broker accepts it only where configured. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tee_internal.h"

int tee_sample_binding(const cf_tee_env *env, uint8_t out[64], size_t *len, cf_error *err) {
  if (!env || !env->sample_binding_hex)
    return cf_err(err, EPERM, "sample attester is not enabled (plain profile only)");
  if (tee_unhex(env->sample_binding_hex, out, 64, len) || !*len)
    return cf_err(err, EINVAL, "sample init-data binding \"%.140s\" is not hex of 1 to 64 bytes",
                  env->sample_binding_hex);
  return 0;
}

/* {"svn": "1", "report_data": base64, "init_data": hex, "attester": …}.
 * report_data is the SHA-384 of the runtime data unpadded (kbs-protocol.md
 * B3) when the padding is zero, else all 64 bytes. */
int tee_sample_evidence(const cf_tee_env *env, const uint8_t report_data[64], char **json,
                        cf_error *err) {
  uint8_t bind[64];
  size_t blen;
  int r = tee_sample_binding(env, bind, &blen, err);
  if (r)
    return r;
  static const uint8_t zero[16];
  size_t rdlen = memcmp(report_data + 48, zero, 16) ? 64 : 48;
  char *rd = tee_b64(report_data, rdlen), hex[129];
  if (!rd)
    return cf_err(err, ENOMEM, "sample evidence");
  tee_hex(bind, blen, hex);
  tee_buf b = {0};
  tee_buf_printf(&b,
                 "{\"svn\":\"1\",\"report_data\":\"%s\",\"init_data\":\"%s\",\"attester\":"
                 "\"sample: no TEE hardware, proves nothing (plain profile only)\"}",
                 rd, hex);
  free(rd);
  *json = tee_buf_take(&b);
  return *json ? 0 : cf_err(err, ENOMEM, "sample evidence");
}
