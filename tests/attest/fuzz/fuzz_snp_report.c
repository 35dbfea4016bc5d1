/* libFuzzer target: the SEV-SNP report parser and the report checks against
 * a fixed VCEK-less verifier (no signer: only parsing and chain lookup run). */
#include <stdint.h>
#include <stdlib.h>

#include "attest_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cf_snp_report r;
  cf_error err = {0};
  if (cf_snp_report_parse(data, size, &r, &err) == 0) {
    cf_snp_tcb t;
    cf_snp_tcb_decode(r.reported_tcb, cf_snp_product_from_cpuid(&r), &t);
  }
  /* The signer parser sees the same bytes: PEM/DER certificate input. */
  static cf_snp_verifier *v;
  if (!v)
    v = cf_snp_verifier_new(&err);
  if (v) {
    cf_snp_result res = {0};
    cf_snp_verify(v, data, size, data, size, 1761955200, &res, &err);
    cf_snp_result_free(&res);
  }
  return 0;
}
