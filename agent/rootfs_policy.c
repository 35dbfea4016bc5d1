/* The rootfs root-hash check (rootfs_policy.h).
 *
 * Until the agent policy (issue 12, item 2) is wired in, every root hash is
 * allowed: dm-verity still makes a changed byte an I/O error, but nothing
 * yet pins which image a TEE pod may run. The policy replaces this body
 * with cf_policy_root_hash_allowed(). */
#include "rootfs_policy.h"

#include "coffer/log.h"

int agent_policy_rootfs_allowed(agent *a, const char *container_id, const char *root_hash_hex,
                                const char *image_ref, cf_error *err) {
  (void)a;
  (void)err;
  cf_debug("container %s: rootfs root hash %s (image %s) allowed: no policy pins images yet",
           container_id, root_hash_hex, image_ref ? image_ref : "unknown");
  return 0;
}
