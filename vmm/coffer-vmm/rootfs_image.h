/* A container rootfs as a read-only block image with a dm-verity hash tree
 * (TEE/block profiles): `coffer-vmm rootfs-image`.
 *
 * The image is an erofs of the rootfs directory; the hash tree (sha256,
 * 4096-byte blocks, no salt, no superblock) is built with libcryptsetup.
 * Both are cached per image identity: an overlay rootfs whose upper layer is
 * still empty is identified by its lower layers (containerd's committed
 * snapshots, i.e. the image's layer chain: path, inode and ctime of each),
 * so the second container of an image reuses image and tree. A rootfs that
 * is not such an overlay is built fresh into `out_dir` every time. */
#ifndef COFFER_VMM_ROOTFS_IMAGE_H
#define COFFER_VMM_ROOTFS_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "coffer/error.h"

#define ROOTFS_VERITY_BLOCK 4096u

typedef struct rootfs_image {
  char image[PATH_MAX];     /* erofs image, a multiple of 4096 bytes */
  char tree[PATH_MAX];      /* hash tree (hash area only, no superblock) */
  char root_hash[65];       /* lower-case hex sha256 */
  uint64_t data_blocks;     /* image size / 4096 */
  bool cached;              /* reused from the cache: nothing was built */
} rootfs_image;

/* Build (or find in cache_dir, when non-NULL and the rootfs has an image
 * identity) the image and hash tree of the directory src. */
int rootfs_image_get(const char *src, const char *cache_dir, const char *out_dir,
                     rootfs_image *out, cf_error *err);

/* Build the hash tree of image into tree; fills root_hash and data_blocks. */
int rootfs_verity_build(const char *image, const char *tree, char root_hash[65],
                        uint64_t *data_blocks, cf_error *err);

#endif
