/* Container root filesystems: where the Rootfs message says they are.
 *
 * HOST_PATH is used in place (process backend only), VIRTIOFS is a path
 * inside the pod's share, BLOCK is a virtio-blk disk found by its serial and
 * mounted under the bundle (read-only images get a tmpfs-backed overlay).
 *
 * With a dm-verity root hash the disk is opened only through a verity
 * device (verity.h), and only if the policy allows that hash; a block the
 * host changes then reads as an I/O error. In a TEE guest that is the only
 * way: virtiofs (host sharing) and BLOCK without verity or writable are
 * refused, and the writable layer is the overlay's tmpfs upper, in guest
 * memory, never on a host disk. */

#include "rootfs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "coffer/id.h"
#include "image_pull.h"
#include "init.h"
#include "relpath.h"
#include "policy_gate.h"
#include "verity.h"
#include "volume.h"

int agent_rootfs_track(container *c, const char *path) {
  char **n = realloc(c->mounts, (c->n_mounts + 1) * sizeof(*n));
  if (!n)
    return -ENOMEM;
  c->mounts = n;
  c->mounts[c->n_mounts] = strdup(path);
  if (!c->mounts[c->n_mounts])
    return -ENOMEM;
  c->n_mounts++;
  return 0;
}

static bool is_mountpoint(const char *path) {
  struct stat a, b;
  char parent[PATH_MAX];
  snprintf(parent, sizeof(parent), "%s/..", path);
  if (stat(path, &a) < 0 || stat(parent, &b) < 0)
    return false;
  return a.st_dev != b.st_dev;
}

/* Guest: the pod's virtiofs share, mounted once on first use. */
static int ensure_share(agent *a, cf_error *err) {
  if (!a->pid1 || is_mountpoint(a->shared_dir))
    return 0;
  if (cf_mkdir_p(a->shared_dir, 0755, 0755) < 0)
    return cf_err(err, errno, "mkdir %s", a->shared_dir);
  init_load_modules(a->modules, "virtiofs");
  if (mount("coffer", a->shared_dir, "virtiofs", 0, NULL) < 0)
    return cf_err(err, errno, "mount virtiofs tag coffer on %s", a->shared_dir);
  return 0;
}

static char *virtiofs_path(agent *a, const char *src, cf_error *err) {
  if (!agent_valid_relpath(src)) {
    cf_err_status(err, CF_INVALID_ARGUMENT,
                  "rootfs source \"%s\" must be a relative path inside the share", src);
    return NULL;
  }
  if (ensure_share(a, err) < 0)
    return NULL;
  char path[PATH_MAX], real[PATH_MAX], base[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", a->shared_dir, src);
  if (!realpath(a->shared_dir, base)) {
    cf_err(err, errno, "share %s", a->shared_dir);
    return NULL;
  }
  if (!realpath(path, real)) {
    cf_err(err, errno, "rootfs %s", path);
    return NULL;
  }
  size_t bl = strlen(base);
  /* a symlink in the share must not lead out of it */
  if (strncmp(real, base, bl) != 0 || (real[bl] != '/' && real[bl] != '\0')) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "rootfs source \"%s\" leads outside the share", src);
    return NULL;
  }
  return strdup(real);
}

static int find_block_by_serial(const agent *a, const char *serial, char *dev, size_t cap,
                                cf_error *err) {
  _cleanup_closedir_ DIR *d = opendir(a->block_dir);
  if (!d)
    return cf_err(err, errno, "open %s", a->block_dir);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[512], buf[256];
    snprintf(p, sizeof(p), "%s/%s/serial", a->block_dir, e->d_name);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f || !fgets(buf, sizeof(buf), f))
      continue;
    buf[strcspn(buf, "\n ")] = '\0';
    if (!strcmp(buf, serial)) {
      snprintf(dev, cap, "/dev/%s", e->d_name);
      return 0;
    }
  }
  return cf_err_status(err, CF_NOT_FOUND, "no block device with serial \"%s\"", serial);
}

/* The BLOCK rootfs's checks for a TEE guest, before the disk is touched. */
static int tee_block_allowed(const agent *a, const container *c,
                             const Coffer__Agent__V1__Rootfs *r, cf_error *err) {
  if (!a->tee_mode)
    return 0;
  if (!r->verity || !r->verity->root_hash || !r->verity->root_hash[0])
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "block rootfs %s of container %s has no dm-verity root hash: a TEE "
                         "guest mounts only verified images", r->source, c->id);
  if (!r->readonly || strcmp(r->fstype, "erofs") != 0)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "block rootfs %s of container %s is writable (%s): in a TEE guest the "
                         "writable layer lives in guest memory", r->source, c->id, r->fstype);
  return 0;
}

/* Where the verity device nodes go: devtmpfs in the guest (the state dir
 * is on a nodev mount there). */
static void verity_node_dir(const agent *a, char *out, size_t cap) {
  if (a->pid1)
    snprintf(out, cap, "/dev/coffer-verity");
  else
    snprintf(out, cap, "%s/verity", a->state_dir);
}

/* dev through dm-verity, when a root hash is given: the device to mount. */
static int verity_device(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                         const char *dev, char *out, size_t cap, cf_error *err) {
  if (!r->verity || !r->verity->root_hash || !r->verity->root_hash[0]) {
    snprintf(out, cap, "%s", dev);
    return 0;
  }
  if (!r->readonly)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "block rootfs %s: a dm-verity image is read-only, yet readonly is false",
                         r->source);
  if (agent_policy_root_hash(a, c->id, r->verity->root_hash, err) < 0)
    return -1;
  if (c->verity_dm)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "container %s: only its rootfs may be a dm-verity image", c->id);
  char name[CF_ID_MAX + 16], dir[PATH_MAX];
  snprintf(name, sizeof(name), "coffer-%s", c->id);
  verity_node_dir(a, dir, sizeof(dir));
  agent_verity v = {.root_hash = r->verity->root_hash,
                    .data_blocks = r->verity->data_blocks,
                    .hash_offset = r->verity->hash_offset};
  uint64_t t0 = cf_now_us();
  if (agent_verity_open(name, dev, &v, dir, out, cap, err) < 0)
    return -1;
  uint64_t took = cf_now_us() - t0;
  c->verity_dm = strdup(name);
  if (!c->verity_dm) {
    cf_error ignored = {0};
    agent_verity_close(name, &ignored);
    return cf_err(err, ENOMEM, "container %s", c->id);
  }
  cf_info("container %s: rootfs %s opened through dm-verity in %llu us (root hash %s)", c->id,
          r->source, (unsigned long long)took, v.root_hash);
  return 0;
}

static char *block_mount(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                         const char *name, cf_error *err) {
  const char *fs = r->fstype;
  if (strcmp(fs, "erofs") && strcmp(fs, "ext4")) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "rootfs fstype \"%s\" is not erofs or ext4", fs);
    return NULL;
  }
  if (!cf_id_valid(r->source)) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "block serial \"%s\" is not valid", r->source);
    return NULL;
  }
  if (tee_block_allowed(a, c, r, err) < 0)
    return NULL;
  char disk[300], dev[PATH_MAX];
  uint64_t t0 = cf_now_us();
  if (a->pid1) /* virtio-blk probes the disks as it loads */
    init_load_modules(a->modules, "block");
  if (find_block_by_serial(a, r->source, disk, sizeof(disk), err) < 0 ||
      verity_device(a, c, r, disk, dev, sizeof(dev), err) < 0)
    return NULL;
  bool ro = r->readonly || !strcmp(fs, "erofs");
  char target[PATH_MAX], lower[PATH_MAX];
  snprintf(target, sizeof(target), "%s/%s", c->bundle, name);
  snprintf(lower, sizeof(lower), "%s/%s.lower", c->bundle, name);
  const char *first = ro ? lower : target;
  if (cf_mkdir_p(first, 0755, 0755) < 0 || mount(dev, first, fs, ro ? MS_RDONLY : 0, NULL) < 0) {
    cf_err(err, errno, "mount %s (%s) on %s", dev, fs, first);
    return NULL;
  }
  agent_rootfs_track(c, first);
  if (!ro)
    return strdup(target);
  /* read-only image: writable overlay with a tmpfs upper layer */
  char rw[PATH_MAX], upper[PATH_MAX + 8], work[PATH_MAX + 8], opts[3 * PATH_MAX + 64];
  snprintf(rw, sizeof(rw), "%s/%s.rw", c->bundle, name);
  if (cf_mkdir_p(rw, 0755, 0755) < 0 || mount("tmpfs", rw, "tmpfs", 0, "mode=0755") < 0) {
    cf_err(err, errno, "mount tmpfs on %s", rw);
    return NULL;
  }
  agent_rootfs_track(c, rw);
  snprintf(upper, sizeof(upper), "%s/upper", rw);
  snprintf(work, sizeof(work), "%s/work", rw);
  if (mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0 || cf_mkdir_p(target, 0755, 0755) < 0) {
    cf_err(err, errno, "overlay directories in %s", rw);
    return NULL;
  }
  snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  if (mount("overlay", target, "overlay", 0, opts) < 0) {
    cf_err(err, errno, "mount overlay on %s", target);
    return NULL;
  }
  agent_rootfs_track(c, target);
  /* bench/vm/verity.sh reads this: the guest's share of a block rootfs */
  cf_info("container %s: block rootfs %s (%s%s) mounted in %llu us", c->id, r->source, fs,
          c->verity_dm ? ", dm-verity" : "", (unsigned long long)(cf_now_us() - t0));
  return strdup(target);
}

char *agent_rootfs_prepare(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                     const char *name, cf_error *err) {
  if (!r) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "no rootfs given");
    return NULL;
  }
  switch (r->kind) {
  case COFFER__AGENT__V1__ROOTFS__KIND__HOST_PATH: {
    if (a->guest) {
      cf_err_status(err, CF_INVALID_ARGUMENT,
                    "rootfs kind HOST_PATH (\"%s\") is not accepted inside a VM", r->source);
      return NULL;
    }
    struct stat st;
    if (r->source[0] != '/' || cf_path_has_dotdot(r->source)) {
      cf_err_status(err, CF_INVALID_ARGUMENT,
                    "rootfs source \"%s\" must be an absolute path without \"..\"", r->source);
      return NULL;
    }
    if (stat(r->source, &st) < 0) {
      cf_err_status(err, errno == ENOENT ? CF_NOT_FOUND : CF_INVALID_ARGUMENT,
                    "rootfs %s: %s", r->source, strerror(errno));
      return NULL;
    }
    return strdup(r->source);
  }
  case COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS:
    if (a->tee_mode) { /* the host could change any byte under the container */
      cf_err_status(err, CF_PERMISSION_DENIED,
                    "%s \"%s\" is a virtiofs share of the host: refused in a TEE guest",
                    !strcmp(name, "rootfs") ? "rootfs" : "volume", r->source);
      return NULL;
    }
    return virtiofs_path(a, r->source, err);
  case COFFER__AGENT__V1__ROOTFS__KIND__BLOCK:
    return block_mount(a, c, r, name, err);
  case COFFER__AGENT__V1__ROOTFS__KIND__GUEST:
    if (!strcmp(name, "rootfs")) {
      cf_err_status(err, CF_INVALID_ARGUMENT, "a guest volume (%s) cannot be a rootfs", r->source);
      return NULL;
    }
    return agent_volume_prepare(a, c, r, err);
  case COFFER__AGENT__V1__ROOTFS__KIND__PULL:
    return agent_image_pull_rootfs(a, c, r, name, err);
  default:
    cf_err_status(err, CF_INVALID_ARGUMENT, "rootfs kind %d is unknown", (int)r->kind);
    return NULL;
  }
}

void agent_rootfs_release(container *c) {
  for (size_t i = c->n_mounts; i-- > 0;) {
    if (umount2(c->mounts[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      cf_warn("container %s: unmount %s: %s", c->id, c->mounts[i], strerror(errno));
    rmdir(c->mounts[i]);
    free(c->mounts[i]);
  }
  free(c->mounts);
  c->mounts = NULL;
  c->n_mounts = 0;
  if (c->verity_dm) {
    cf_error err = {0};
    if (agent_verity_close(c->verity_dm, &err) < 0)
      cf_warn("container %s: %s", c->id, err.msg);
    char dir[PATH_MAX], node[2 * PATH_MAX];
    verity_node_dir(c->a, dir, sizeof(dir));
    snprintf(node, sizeof(node), "%s/%s", dir, c->verity_dm);
    unlink(node);
    free(c->verity_dm);
    c->verity_dm = NULL;
  }
}
