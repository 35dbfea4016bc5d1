/* A container's host bind mounts (Kubernetes volumes) shared with its
 * guest through the backend, as the SharedMounts of CreateContainer. */
#ifndef COFFER_SHIM_VOLUMES_H
#define COFFER_SHIM_VOLUMES_H

#include <stddef.h>

#include "agent.pb-c.h"
#include "coffer/error.h"
#include "coffer/vmm.h"

#define SHIM_VOLUMES_MAX 256 /* the agent refuses more shared mounts */

typedef struct shim_volumes {
  Coffer__Agent__V1__SharedMount **mounts; /* CreateContainerRequest.mounts */
  char **copy_src; /* per mount: the host directory of a copied volume, or NULL */
  size_t n;
} shim_volumes;

/* For each bind mount of a host path in the OCI spec (spec_json, len bytes)
 * whose destination the guest does not provide itself, asks the backend to
 * share it with the guest. Does nothing for backends whose agent sees host
 * paths (add_volume NULL). Fails naming the first mount that cannot be
 * shared; what was shared is removed with the container's rootfs. */
int shim_volumes_share(const cf_vmm_ops *ops, cf_vm *vm, const char *container_id,
                       const char *spec_json, size_t len, shim_volumes *out, cf_error *err);
void shim_volumes_free(shim_volumes *v);

#endif
