#include "measure_internal.h"
int cf_tdx_measure(const cf_tdx_input *in, cf_tdx_measurements *out, cf_error *err) {
  (void)out;
  return cf_err_status(err, CF_UNIMPLEMENTED, "%s: not yet", in->firmware);
}
