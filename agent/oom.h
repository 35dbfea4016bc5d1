/* OOM kills from each container's memory cgroup, queued for GetOOMEvent (oom.c). */
#ifndef COFFER_AGENT_OOM_H
#define COFFER_AGENT_OOM_H

#include "agent.h"

int oom_watch_container(agent *a, container *c);
void oom_unwatch_container(container *c);
bool oom_check(agent *a, container *c);
void oom_push(agent *a, const char *id);
void oom_get(agent *a, ttrpc_call *call);

#endif
