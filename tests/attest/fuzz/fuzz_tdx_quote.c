/* libFuzzer target: the TDX quote parser and the full verification path (PCK
 * chain PEM parsing, SGX extension DER reading, signature checks). */
#include <stdint.h>
#include <stdlib.h>

#include "attest_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cf_tdx_quote q;
  cf_error err = {0};
  cf_tdx_quote_parse(data, size, &q, &err);
  static cf_tdx_verifier *v;
  if (!v)
    v = cf_tdx_verifier_new(&err);
  if (v) {
    cf_tdx_result res = {0};
    cf_tdx_verify(v, data, size, 1761955200, NULL, &res, &err);
    cf_tdx_result_free(&res);
  }
  return 0;
}
