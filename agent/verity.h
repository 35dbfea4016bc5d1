/* dm-verity devices for BLOCK rootfs, through the kernel's device-mapper
 * ioctls on /dev/mapper/control (the agent is a static binary: no
 * libdevmapper or libcryptsetup). Format 1, sha256, 4096-byte data and hash
 * blocks, no salt, no superblock; data and hash tree on the same disk. */
#ifndef COFFER_AGENT_VERITY_H
#define COFFER_AGENT_VERITY_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

typedef struct agent_verity {
  const char *root_hash; /* 64 lower-case hex digits */
  uint64_t data_blocks;
  uint64_t hash_offset;  /* bytes, a multiple of 4096, at or after the data */
} agent_verity;

/* Size in bytes of the hash tree of data_blocks blocks (what the disk must
 * hold from hash_offset on). */
uint64_t agent_verity_tree_bytes(uint64_t data_blocks);

/* Checks v against the disk dev (size, offsets, hash format), creates the
 * read-only dm device `name` over it, and reads its first and last blocks
 * so a wrong root hash or a truncated tree is refused here, naming the
 * root hash, instead of failing later at some read. Writes the path
 * of a device node for it into node (created in node_dir). */
int agent_verity_open(const char *name, const char *dev, const agent_verity *v,
                      const char *node_dir, char *node, size_t cap, cf_error *err);

/* Removes the dm device `name` (absent: success). */
int agent_verity_close(const char *name, cf_error *err);

#endif
