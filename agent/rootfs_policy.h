/* Is a BLOCK rootfs's dm-verity root hash one the agent policy allows?
 * The one question rootfs set-up asks the policy, before the disk is
 * opened. */
#ifndef COFFER_AGENT_ROOTFS_POLICY_H
#define COFFER_AGENT_ROOTFS_POLICY_H

#include "agent.h"
#include "coffer/error.h"

/* 0: allowed; otherwise PERMISSION_DENIED naming the hash and the rule.
 * image_ref: the image the host says it is (annotation), for the message
 * and for rules that pin the pair; may be NULL. */
int agent_policy_rootfs_allowed(agent *a, const char *container_id, const char *root_hash_hex,
                                const char *image_ref, cf_error *err);

#endif
