/* Agent stats -> containerd's cgroups Metrics. */
#ifndef COFFER_SHIM_METRICS_H
#define COFFER_SHIM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

struct Coffer__Agent__V1__StatsContainerResponse;
/* Packs a containerd cgroups Metrics message; returns its type URL. */
const char *shim_metrics_pack(const struct Coffer__Agent__V1__StatsContainerResponse *st,
                         uint8_t **out, size_t *len, cf_error *err);

#endif
