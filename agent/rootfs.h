/* A container's rootfs and shared mounts: resolved or mounted in the agent (rootfs.c). */
#ifndef COFFER_AGENT_ROOTFS_H
#define COFFER_AGENT_ROOTFS_H

#include "agent.h"
#include "agent.pb-c.h"

/* Resolves/mounts r for c; returns the malloc'd path (NULL: err). */
char *agent_rootfs_prepare(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                           const char *dest_name, cf_error *err);
void agent_rootfs_release(container *c);
/* Records a mount of c's (unmounted and its directory removed on release). */
int agent_rootfs_track(container *c, const char *path);

#endif
