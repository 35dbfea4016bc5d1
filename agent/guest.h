/* What the guest is: GetGuestDetails and the cgroup layout (guest.c). */
#ifndef COFFER_AGENT_GUEST_H
#define COFFER_AGENT_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include "agent.h"
#include "agent.pb-c.h"

void agent_guest_details(agent *a, Coffer__Agent__V1__GuestDetails *d,
                   char *kernel, size_t kcap);
int agent_cgroup_version(void);
/* True when / is the initial ramfs ("rootfs"), where pivot_root fails. */
bool agent_root_is_initramfs(void);
void agent_cgroup_remove_pod(const agent *a);

#endif
