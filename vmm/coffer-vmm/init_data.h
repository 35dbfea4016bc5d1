/* Init-data bound into TEE launches: the document's digest (with its own
 * algorithm) fitted to SNP HOST_DATA (32 B) and TDX MRCONFIGID (48 B). */
#ifndef COFFER_VMM_INIT_DATA_H
#define COFFER_VMM_INIT_DATA_H

#include "spec.h"

#include "coffer/initdata.h"

#define INIT_DATA_MAX_BYTES CF_INITDATA_MAX_TOML

/* When s->init_data_path is set, check the init-data document it names and
 * put its digest, fitted, into init_data_sha256 (SNP hostData, 32 B hex) and
 * init_data_sha384 (TDX mrConfigId, 48 B hex), then clear the path. An empty
 * file means no init-data; a malformed one is an error naming the problem. */
int init_data_fill_digests(vm_spec *s, cf_error *err);

#endif
