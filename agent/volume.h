/* Volumes in guest memory (Rootfs kind GUEST): what a TEE pod gets instead
 * of host sharing. Each is its own tmpfs under
 * <state>/volumes/<container>/<name>, made at CreateContainer; "volume"
 * ones (configMap, secret, downward API, token) are filled and refreshed by
 * the host through PutVolumeFiles, "emptydir" ones are the container's. The
 * host can write only inside the volumes it named at create: paths are
 * relative without "..", resolved beneath the volume without following any
 * symlink, and bounded in count and size. */
#ifndef COFFER_AGENT_VOLUME_H
#define COFFER_AGENT_VOLUME_H

#include "agent.h"
#include "agent.pb-c.h"
#include "coffer/error.h"

#define AGENT_VOLUME_MAX_ENTRIES 1024
#define AGENT_VOLUME_MAX_DATA (3u << 20)  /* per call (ttrpc carries 4 MiB) */
#define AGENT_VOLUME_TMPFS_SIZE "8m"      /* a copied volume's tmpfs */

/* Creates the volume r->source of c; returns its path (malloc'd). */
char *agent_volume_prepare(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                           cf_error *err);

/* Replaces the content of volume `name` of c with entries (see
 * PutVolumeFilesRequest). */
int agent_volume_put(agent *a, container *c, const char *name,
                     Coffer__Agent__V1__VolumeEntry *const *entries, size_t n, cf_error *err);

/* Registers PutVolumeFiles. */
int agent_volume_register(agent *a, cf_error *err);

#endif
