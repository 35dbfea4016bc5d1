/* Volumes of a pod whose guest shares no files with the host (TEE/block
 * profiles): what kubelet prepared on the host is copied into guest memory
 * (agent Rootfs kind GUEST) instead of shared. configMap, secret, projected
 * (service-account token) and downward API volumes are read into entries;
 * an emptyDir becomes an empty guest tmpfs; anything else (hostPath, a
 * plain host directory or file) is refused, naming the mount. */
#ifndef COFFER_SHIM_GUEST_VOLUMES_H
#define COFFER_SHIM_GUEST_VOLUMES_H

#include <stddef.h>

#include "agent.pb-c.h"
#include "coffer/error.h"

#define SHIM_GVOL_MAX_ENTRIES 1024
#define SHIM_GVOL_MAX_BYTES (3u << 20) /* the agent's bound per call */

enum shim_gvol_kind { SHIM_GVOL_REFUSE = 0, SHIM_GVOL_COPY, SHIM_GVOL_EMPTY, SHIM_GVOL_FILE };

/* By kubelet's layout: <root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>
 * (COPY or EMPTY), and <root>/pods/<uid>/containers/<name>/<id>, the
 * container's termination-message file (FILE: an empty guest file; what the
 * container writes there stays in the guest). */
enum shim_gvol_kind shim_gvol_classify(const char *host_path);

/* The content of dir as entries (relative paths, symlinks kept as links
 * when relative and without ".."; anything else refused), bounded. */
int shim_gvol_read(const char *dir, Coffer__Agent__V1__VolumeEntry ***out, size_t *n,
                   cf_error *err);
void shim_gvol_free(Coffer__Agent__V1__VolumeEntry **e, size_t n);

#endif
