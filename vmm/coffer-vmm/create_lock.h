/* `create` and `destroy` of one VM never overlap. A shim killed while
 * `coffer-vmm create` runs gets `destroy` from containerd's cleanup at
 * once; without this it would find no domain yet, remove the pod's state,
 * and the domain `create` then makes would outlive its pod. */
#ifndef COFFER_VMM_CREATE_LOCK_H
#define COFFER_VMM_CREATE_LOCK_H

#include "coffer/error.h"

#define CREATE_LOCK_NAME "create.lock"

/* create: takes <dir>/create.lock (made if missing) for the life of the
 * process; returns the fd (keep it open) or -errno. */
int create_lock_take(const char *dir, cf_error *err);
/* destroy: waits up to timeout_ms for a create running on <dir> to finish
 * (none: returns at once). Returns 0, or -ETIMEDOUT naming dir. */
int create_lock_wait(const char *dir, int timeout_ms, cf_error *err);

#endif
