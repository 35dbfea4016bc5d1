/* dm-verity through device-mapper ioctls (verity.h). */
#include "verity.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"

#define VBLOCK 4096u
#define HASHES_PER_BLOCK (VBLOCK / 32u) /* sha256 */
#define DM_CONTROL "/dev/mapper/control"

uint64_t agent_verity_tree_bytes(uint64_t data_blocks) {
  uint64_t total = 0;
  for (uint64_t n = data_blocks; n > 1;) {
    n = (n + HASHES_PER_BLOCK - 1) / HASHES_PER_BLOCK;
    total += n;
  }
  return total * VBLOCK;
}

static bool hex64(const char *s) {
  if (!s || strlen(s) != 64)
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

/* One dm ioctl; buf starts with a struct dm_ioctl of total size len. */
static int dm_ioctl(unsigned long cmd, struct dm_ioctl *io, size_t len, const char *name,
                    uint32_t flags) {
  io->version[0] = DM_VERSION_MAJOR;
  io->version[1] = 0;
  io->version[2] = 0;
  io->data_size = (uint32_t)len;
  io->data_start = sizeof(*io);
  io->flags = flags;
  snprintf(io->name, sizeof(io->name), "%s", name);
  _cleanup_close_ int fd = open(DM_CONTROL, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return ioctl(fd, cmd, io) < 0 ? -errno : 0;
}

int agent_verity_close(const char *name, cf_error *err) {
  struct dm_ioctl io;
  memset(&io, 0, sizeof(io));
  int r = dm_ioctl(DM_DEV_REMOVE, &io, sizeof(io), name, 0);
  if (r < 0 && r != -ENXIO && r != -ENOENT)
    return cf_err(err, -r, "remove dm-verity device %s", name);
  return 0;
}

static int check_disk(const char *dev, const agent_verity *v, dev_t *rdev, cf_error *err) {
  if (!hex64(v->root_hash))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "dm-verity root hash \"%.80s\" is not 64 lower-case hex digits",
                         v->root_hash ? v->root_hash : "");
  if (v->data_blocks == 0 || v->data_blocks > (UINT64_MAX / VBLOCK) / 2)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "dm-verity data_blocks %llu is out of range",
                         (unsigned long long)v->data_blocks);
  if (v->hash_offset % VBLOCK || v->hash_offset < v->data_blocks * VBLOCK)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "dm-verity hash_offset %llu must be a multiple of %u at or after the %llu "
                         "data blocks", (unsigned long long)v->hash_offset, VBLOCK,
                         (unsigned long long)v->data_blocks);
  _cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return cf_err(err, errno, "open %s", dev);
  if (!S_ISBLK(st.st_mode))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is not a block device", dev);
  uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) < 0)
    return cf_err(err, errno, "size of %s", dev);
  uint64_t need = v->hash_offset + agent_verity_tree_bytes(v->data_blocks);
  if (size < need)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "dm-verity: %s has %llu bytes, the image and its hash tree need %llu "
                         "(hash tree truncated): refused", dev, (unsigned long long)size,
                         (unsigned long long)need);
  *rdev = st.st_rdev;
  return 0;
}

static int load_table(const char *name, dev_t disk, const agent_verity *v, cf_error *err) {
  char params[512];
  char d[32];
  snprintf(d, sizeof(d), "%u:%u", major(disk), minor(disk));
  /* version 1, data dev, hash dev, block sizes, data blocks, hash start
   * block, algorithm, root digest, salt ("-": none); corruption: EIO.
   * try_verify_in_tasklet (Linux 6.0+): a block whose hashes are cached is
   * verified as its read completes, not after a hop through kverityd's
   * workqueue (on one vCPU under load that hop cost pod starts seconds) */
  int pl = snprintf(params, sizeof(params), "1 %s %s %u %u %llu %llu sha256 %s - 1 try_verify_in_tasklet", d, d, VBLOCK,
                    VBLOCK, (unsigned long long)v->data_blocks,
                    (unsigned long long)(v->hash_offset / VBLOCK), v->root_hash);
  size_t len = sizeof(struct dm_ioctl) + sizeof(struct dm_target_spec) + (size_t)pl + 1;
  len = (len + 7) & ~(size_t)7;
  _cleanup_free_ char *buf = calloc(1, len);
  if (!buf)
    return cf_err(err, ENOMEM, "dm table for %s", name);
  struct dm_ioctl *io = (struct dm_ioctl *)buf;
  struct dm_target_spec *t = (struct dm_target_spec *)(buf + sizeof(*io));
  t->sector_start = 0;
  t->length = v->data_blocks * (VBLOCK / 512);
  snprintf(t->target_type, sizeof(t->target_type), "verity");
  memcpy(buf + sizeof(*io) + sizeof(*t), params, (size_t)pl + 1);
  io->target_count = 1;
  int r = dm_ioctl(DM_TABLE_LOAD, io, len, name, DM_READONLY_FLAG);
  if (r < 0)
    return cf_err(err, -r, "load the dm-verity table of %s (%s)", name, params);
  memset(buf, 0, sizeof(*io));
  r = dm_ioctl(DM_DEV_SUSPEND, io, sizeof(*io), name, 0); /* no SUSPEND flag: resume */
  if (r < 0)
    return cf_err(err, -r, "activate dm-verity device %s", name);
  return 0;
}

/* Reads data block `block` of the verity device: 0, the read's errno, or
 * -errno when the node does not open. */
static int read_block(const char *node, uint64_t block) {
  _cleanup_close_ int fd = open(node, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char blk[VBLOCK];
  ssize_t n = pread(fd, blk, sizeof(blk), (off_t)(block * VBLOCK));
  return n == (ssize_t)sizeof(blk) ? 0 : n < 0 ? errno : EIO;
}

int agent_verity_open(const char *name, const char *dev, const agent_verity *v,
                      const char *node_dir, char *node, size_t cap, cf_error *err) {
  dev_t disk;
  if (check_disk(dev, v, &disk, err) < 0)
    return -1;
  struct dm_ioctl io;
  memset(&io, 0, sizeof(io));
  int r = dm_ioctl(DM_DEV_CREATE, &io, sizeof(io), name, DM_READONLY_FLAG);
  if (r < 0)
    return cf_err(err, -r, "create dm device %s (%s)", name,
                  r == -ENOENT || r == -ENODEV ? DM_CONTROL " missing: dm_mod not loaded" : "dm");
  /* the kernel's encoding of dev_t (huge_encode_dev) */
  unsigned maj = (unsigned)((io.dev >> 8) & 0xfff);
  unsigned min = (unsigned)((io.dev & 0xff) | ((io.dev >> 12) & 0xfff00));
  if (load_table(name, disk, v, err) < 0)
    goto fail;
  if (cf_mkdir_p(node_dir, 0700, 0700) < 0) {
    cf_err(err, errno, "create %s", node_dir);
    goto fail;
  }
  snprintf(node, cap, "%s/%s", node_dir, name);
  unlink(node);
  if (mknod(node, S_IFBLK | 0600, makedev(maj, min)) < 0) {
    cf_err(err, errno, "create device node %s", node);
    goto fail;
  }
  /* The first block proves the root hash before anything mounts it; the
   * last one the end of the hash tree (the leaf level is stored last, so a
   * truncated tree loses the hashes of the last blocks first). */
  uint64_t probe[2] = {0, v->data_blocks - 1};
  for (int i = 0; i < 2; i++) {
    int e = read_block(node, probe[i]);
    if (e == 0)
      continue;
    if (e < 0) {
      cf_err(err, -e, "open dm-verity device node %s", node);
      unlink(node);
      goto fail;
    }
    cf_err_status(err, CF_INVALID_ARGUMENT,
                  "dm-verity: the image on %s does not verify against root hash %s (block %llu: "
                  "%s; the image, its hash tree or the root hash is not the one built): refused",
                  dev, v->root_hash, (unsigned long long)probe[i], strerror(e));
    unlink(node);
    goto fail;
  }
  return 0;
fail:;
  cf_error ignored = {0};
  agent_verity_close(name, &ignored);
  return -1;
}
