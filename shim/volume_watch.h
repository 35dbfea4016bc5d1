/* Copied volumes kept current: kubelet rewrites a configMap, secret or
 * projected token on the host (its ..data swap); an inotify watch on the
 * volume's host directory sends the whole new content to the agent
 * (PutVolumeFiles), which replaces the guest copy. */
#ifndef COFFER_SHIM_VOLUME_WATCH_H
#define COFFER_SHIM_VOLUME_WATCH_H

#include "coffer/error.h"
#include "volumes.h"

typedef struct shim shim;
typedef struct shim_vwatch shim_vwatch;

/* Watches the copied volumes of v (none: NULL, no error). */
shim_vwatch *shim_vwatch_new(shim *s, const char *container_id, const shim_volumes *v,
                             cf_error *err);
void shim_vwatch_free(shim_vwatch *w);

#endif
