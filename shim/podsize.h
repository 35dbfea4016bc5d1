/* The pod's VM size: the sandbox's CRI annotations (its config.json) over
 * the configured defaults, through cf_pod_size_compute() (vmm_sizing.h). */
#ifndef COFFER_SHIM_PODSIZE_H
#define COFFER_SHIM_PODSIZE_H

#include "coffer/error.h"
#include "coffer/vmm_sizing.h"
#include "config.h"

/* spec: the first task's config.json text (CRI: the sandbox's). Annotations
 * that are absent count as unset; a malformed one (not a string, not a
 * number in range) is an error naming it. */
int shim_pod_size(const shim_config *c, const char *spec, cf_pod_size *out, cf_error *err);

#endif
