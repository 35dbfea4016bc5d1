/* A container's stats (oci_stats, from either engine) as the
 * StatsContainer answer. */
#ifndef COFFER_AGENT_STATS_REPLY_H
#define COFFER_AGENT_STATS_REPLY_H

#include <stdint.h>

#include "coffer/oci.h"
#include "coffer/ttrpc.h"

/* Answers call with s; cgroup_version and oom_kills are the agent's. */
void agent_stats_reply(ttrpc_call *call, const oci_stats *s, uint32_t cgroup_version,
                       uint64_t oom_kills);

#endif
