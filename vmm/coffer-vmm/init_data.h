/* Init-data digests for TEE launch measurements, computed in coffer-vmm
 * (the only side that may link libcrypto; the per-pod shim must not). */
#ifndef COFFER_VMM_INIT_DATA_H
#define COFFER_VMM_INIT_DATA_H

#include "spec.h"

#define INIT_DATA_MAX_BYTES (16u << 20)

/* When s->init_data_path is set, hash the file into init_data_sha256 (SNP
 * hostData) and init_data_sha384 (TDX mrConfigId) and clear the path. */
int init_data_fill_digests(vm_spec *s, cf_error *err);

#endif
