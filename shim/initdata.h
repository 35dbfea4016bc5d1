/* The pod's init-data on the host side: the sandbox's io.coffer.init-data
 * annotation (base64 of gzip of the TOML), else the file the config's
 * "init_data" names. The shim checks it (bounds, gzip bomb guard, parse)
 * so a malformed one fails the pod naming the problem; the backend binds
 * its digest into the launch (SNP HOST_DATA / TDX MRCONFIGID, computed by
 * coffer-vmm), and the TOML bytes go to the agent in CreateSandbox, which
 * is not part of the launch measurement: the guest recomputes the digest
 * and compares it with what its hardware reports. */
#ifndef COFFER_SHIM_INITDATA_H
#define COFFER_SHIM_INITDATA_H

#include <stdbool.h>
#include <stddef.h>

#include "coffer/error.h"
#include "config.h"

typedef struct shim_initdata {
  char *toml;          /* the exact bytes; NULL = the pod has none */
  size_t len;
  char digest_hex[129]; /* with the document's own algorithm */
  char *kernel_params; /* config kernel_params plus, with sample attestation
                          (plain only), coffer.sample_init_data=<digest hex> */
  char *to_guest;      /* what CreateSandbox carries: toml, or (test hook
                          test_hostile_init_data) different bytes */
  size_t to_guest_len;
} shim_initdata;

/* spec: the first task's config.json text (CRI: the sandbox's). Fails with
 * CF_INVALID_ARGUMENT naming the annotation or file and the problem. */
int shim_initdata_read(const shim_config *c, const char *spec, shim_initdata *out, cf_error *err);
void shim_initdata_free(shim_initdata *d);

#endif
