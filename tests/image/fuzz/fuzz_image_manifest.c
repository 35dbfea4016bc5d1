/* fuzz_image_manifest: arbitrary bytes from a registry as a manifest or
 * index (with each content type), as an image config, and as an image
 * reference. Every refusal must say why; a parsed manifest must be sane. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const ctypes[] = {NULL, "application/vnd.oci.image.index.v1+json",
                                       "application/vnd.docker.distribution.manifest.v2+json"};
  for (size_t i = 0; i < 3; i++) {
    cf_error err = {0};
    struct img_manifest m;
    if (img_manifest_parse((const char *)data, size, ctypes[i], &m, &err) < 0) {
      if (!err.msg[0])
        abort();
      continue;
    }
    if (!m.is_index && (!m.config.digest || !img_digest_valid(m.config.digest) || m.n == 0))
      abort();
    for (size_t k = 0; k < m.n; k++)
      if (!img_digest_valid(m.items[k].digest) || !m.items[k].media_type)
        abort();
    img_manifest_free(&m);
  }
  struct cf_image_result res = {0};
  char **diff_ids = NULL;
  cf_error err = {0};
  if (img_config_parse((const char *)data, size, &res, &diff_ids, &err) < 0 && !err.msg[0])
    abort();
  img_strv_free(diff_ids);
  cf_image_result_free(&res);
  char ref[1100];
  size_t n = size < sizeof(ref) - 1 ? size : sizeof(ref) - 1;
  memcpy(ref, data, n);
  ref[n] = '\0';
  struct img_ref r;
  if (img_ref_parse(ref, &r, &err) == 0 && (!r.repo[0] || (!r.tag[0] && !r.digest[0])))
    abort();
  return 0;
}

#include "fuzz_replay.h"
