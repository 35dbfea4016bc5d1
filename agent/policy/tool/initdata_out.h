/* The init-data a policy travels in: the TOML, its digest (and the values a
 * TEE holds: SNP HOST_DATA, TDX MRCONFIGID), and the pod annotation. */
#ifndef COFFER_POLICY_INITDATA_OUT_H
#define COFFER_POLICY_INITDATA_OUT_H

#include <stddef.h>

#include "coffer/error.h"
#include "coffer/initdata.h"

typedef struct initdata_in {
  const char *policy_json;
  cf_initdata_alg alg;
  const char *kbs_url, *kbs_cert_pem; /* NULL: no aa.toml */
  const char *const *secrets;         /* "name=kbs:///..." */
  size_t n_secrets;
} initdata_in;

/* Writes DIR/initdata.toml, initdata.digest and annotation; the TOML is
 * checked with the agent's own parser first. */
int initdata_write(const initdata_in *in, const char *dir, cf_error *err);

#endif
