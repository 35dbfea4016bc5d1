/* Container rootfs into the guest.
 *
 * plain (virtiofs): the pod's share dir is made a shared mount point before
 * the VM starts, so a bind mount of a container's rootfs added later under
 * share/<container>/rootfs propagates into virtiofsd's (slave) mount
 * namespace; the agent mounts it from the share by relative path.
 *
 * TEE (block): no shared filesystem and no hotplug, so the VM is launched
 * with a fixed set of read-only virtio-blk "slots" (sparse files, serial
 * cfslot-N). add_rootfs has coffer-vmm build (or take from its cache, per
 * image) an erofs image of the rootfs and its dm-verity hash tree, and
 * writes both into a free slot's file, in place (QEMU keeps that inode
 * open): the image from byte 0, the tree right after it. The agent opens
 * the disk with that serial through dm-verity with the root hash we pass
 * (if its policy allows that hash) and stacks a writable overlay in guest
 * memory. The guest reads a slot only when it mounts it (the kernel drops
 * a block device's page cache on last close), so a slot can be refilled
 * after remove_rootfs. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/id.h"
#include "coffer/log.h"

int lv_backend_share_prepare(struct cf_vm *vm, cf_error *err) {
  if (mkdir(vm->share, 0700) < 0 && errno != EEXIST)
    return cf_err(err, errno, "create share %s", vm->share);
  if (mount(vm->share, vm->share, NULL, MS_BIND, NULL) < 0)
    return cf_err(err, errno, "bind %s onto itself", vm->share);
  if (mount(NULL, vm->share, NULL, MS_SHARED, NULL) < 0)
    return cf_err(err, errno, "make %s a shared mount", vm->share);
  return 0;
}

int lv_backend_slots_prepare(struct cf_vm *vm, unsigned nslots, unsigned long long slot_mib,
                          cf_error *err) {
  char dir[PATH_MAX + 8];
  snprintf(dir, sizeof(dir), "%s/disks", vm->dir);
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return cf_err(err, errno, "create %s", dir);
  for (unsigned i = 0; i < nslots; i++) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/slot-%u.img", dir, i);
    _cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      return cf_err(err, errno, "create block slot %s", p);
    if (ftruncate(fd, (off_t)(slot_mib << 20)) < 0) /* sparse: costs no disk */
      return cf_err(err, errno, "size block slot %s", p);
  }
  vm->nslots = nslots;
  return 0;
}

/* Write len bytes of src at offset off of dst (the slot, the same inode
 * QEMU has open: no O_TRUNC/O_CREAT). */
static int copy_at(const char *src, int out, const char *dst, off_t off, cf_error *err) {
  _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return cf_err(err, errno, "open %s", src);
  struct stat st;
  if (fstat(in, &st) < 0)
    return cf_err(err, errno, "stat %s", src);
  if (lseek(out, off, SEEK_SET) < 0)
    return cf_err(err, errno, "seek %s", dst);
  off_t done = 0;
  while (done < st.st_size) {
    ssize_t n = sendfile(out, in, &done, (size_t)(st.st_size - done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return cf_err(err, n < 0 ? errno : EIO, "copy %s into %s", src, dst);
  }
  return 0;
}

static void kv(const char *line, const char *key, char *out, size_t cap) {
  out[0] = 0;
  size_t kl = strlen(key);
  for (const char *p = line; (p = strstr(p, key)); p += kl) {
    if ((p == line || p[-1] == ' ') && p[kl] == '=') {
      size_t n = strcspn(p + kl + 1, " \n");
      snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p + kl + 1);
      return;
    }
  }
}

static const char *verity_cache(void) {
  const char *c = getenv("COFFER_VMM_VERITY_CACHE");
  return c ? c : "/var/cache/coffer/rootfs";
}

/* Image + hash tree from coffer-vmm (cached per image), both into the slot:
 * the image at 0, the tree right after it. */
static int fill_slot(struct cf_vm *vm, const char *cid, const char *host_rootfs, const char *slot,
                     cf_rootfs *out, cf_error *err) {
  char work[PATH_MAX + 64];
  snprintf(work, sizeof(work), "%s/disks/%s.build", vm->dir, cid);
  if (mkdir(work, 0700) < 0 && errno != EEXIST)
    return cf_err(err, errno, "create %s", work);
  char *argv[] = {"coffer-vmm", "rootfs-image", "--src", (char *)host_rootfs, "--out", work,
                  "--cache", (char *)verity_cache(), NULL};
  char line[3 * PATH_MAX];
  uint64_t t0 = cf_now_ms();
  int r = lv_backend_run_helper(vm->helper, argv, line, sizeof(line), 600000, err);
  uint64_t t_img = cf_now_ms();
  char image[PATH_MAX], tree[PATH_MAX], root[80], blocks[32], cached[4];
  kv(line, "image", image, sizeof(image));
  kv(line, "tree", tree, sizeof(tree));
  kv(line, "root_hash", root, sizeof(root));
  kv(line, "data_blocks", blocks, sizeof(blocks));
  kv(line, "cached", cached, sizeof(cached));
  if (r == 0 && (!image[0] || !tree[0] || strlen(root) != 64 || !blocks[0]))
    r = cf_err_status(err, CF_INTERNAL, "coffer-vmm rootfs-image printed \"%.200s\"", line);
  if (r < 0) {
    lv_backend_remove_tree(work, NULL);
    return cf_error_prefix(err, "rootfs image of %s for container %s", host_rootfs, cid);
  }
  unsigned long long nblocks = strtoull(blocks, NULL, 10);
  struct stat sst, tst;
  _cleanup_close_ int fd = open(slot, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &sst) < 0 || stat(tree, &tst) < 0)
    r = cf_err(err, errno, "open %s", fd < 0 ? slot : tree);
  else if ((long long)(nblocks * 4096 + (unsigned long long)tst.st_size) > (long long)sst.st_size)
    r = cf_err_status(err, CF_RESOURCE_EXHAUSTED,
                      "rootfs image of container %s (%llu bytes and a %lld-byte hash tree) is "
                      "larger than a block slot (%lld bytes)", cid, nblocks * 4096,
                      (long long)tst.st_size, (long long)sst.st_size);
  else if (ftruncate(fd, 0) < 0 || ftruncate(fd, sst.st_size) < 0)
    r = cf_err(err, errno, "reset %s", slot);
  else if (copy_at(image, fd, slot, 0, err) < 0 ||
           copy_at(tree, fd, slot, (off_t)(nblocks * 4096), err) < 0)
    r = -1;
  else if (fdatasync(fd) < 0)
    r = cf_err(err, errno, "sync %s", slot);
  lv_backend_remove_tree(work, NULL);
  if (r < 0)
    return r;
  /* bench/vm/verity.sh reads the timings: the host's share of a pod start */
  cf_info("container %s: rootfs image %s (root hash %s, %s in %llu ms, copied into the slot in "
          "%llu ms)", cid, image, root, strcmp(cached, "1") ? "built" : "reused from the cache",
          (unsigned long long)(t_img - t0), (unsigned long long)(cf_now_ms() - t_img));
  const char *v = getenv("COFFER_VMM_VERITY");
  if (v && !strcmp(v, "off")) { /* bench/vm/verity.sh's baseline */
    cf_warn("container %s: COFFER_VMM_VERITY=off: the image goes to the guest without its root "
            "hash (a TEE guest refuses it)", cid);
    return 0;
  }
  snprintf(out->verity_root_hash, sizeof(out->verity_root_hash), "%s", root);
  out->verity_data_blocks = nblocks;
  out->verity_hash_offset = nblocks * 4096;
  return 0;
}

static int add_block(struct cf_vm *vm, const char *cid, const char *host_rootfs, cf_rootfs *out,
                     cf_error *err) {
  char owner[PATH_MAX + 64], slot[PATH_MAX + 64];
  int free_slot = -1;
  for (unsigned i = 0; i < vm->nslots; i++) {
    snprintf(owner, sizeof(owner), "%s/disks/slot-%u.owner", vm->dir, i);
    _cleanup_fclose_ FILE *f = fopen(owner, "re");
    char who[256] = "";
    if (f && fgets(who, sizeof(who), f) && !strcmp(who, cid))
      return cf_err_status(err, CF_ALREADY_EXISTS, "container %s already has a rootfs slot", cid);
    if (!f && free_slot < 0)
      free_slot = (int)i;
  }
  if (free_slot < 0)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED,
                         "pod %s: all %u block slots in use (TEE VMs have no hotplug; raise "
                         "COFFER_VMM_BLOCK_SLOTS)", vm->pod_id, vm->nslots);
  snprintf(slot, sizeof(slot), "%s/disks/slot-%d.img", vm->dir, free_slot);
  snprintf(owner, sizeof(owner), "%s/disks/slot-%d.owner", vm->dir, free_slot);
  if (fill_slot(vm, cid, host_rootfs, slot, out, err) < 0)
    return -1;
  _cleanup_fclose_ FILE *f = fopen(owner, "wxe");
  if (!f || fputs(cid, f) < 0)
    return cf_err(err, errno, "record %s", owner);
  out->kind = CF_ROOTFS_BLOCK;
  snprintf(out->source, sizeof(out->source), VM_SLOT_SERIAL_FMT, (unsigned)free_slot);
  snprintf(out->fstype, sizeof(out->fstype), "erofs");
  out->readonly = 1;
  return 0;
}

static int add_virtiofs(struct cf_vm *vm, const char *cid, const char *host_rootfs,
                        cf_rootfs *out, cf_error *err) {
  char d[PATH_MAX + 300], target[PATH_MAX + 310];
  snprintf(d, sizeof(d), "%s/%s", vm->share, cid);
  snprintf(target, sizeof(target), "%s/rootfs", d);
  if (mkdir(d, 0700) < 0)
    return errno == EEXIST
               ? cf_err_status(err, CF_ALREADY_EXISTS, "container %s already has a rootfs in the share", cid)
               : cf_err(err, errno, "create %s", d);
  if (mkdir(target, 0755) < 0 || mount(host_rootfs, target, NULL, MS_BIND | MS_REC, NULL) < 0) {
    int e = errno;
    rmdir(target);
    rmdir(d);
    return cf_err(err, e, "bind %s onto %s", host_rootfs, target);
  }
  out->kind = CF_ROOTFS_VIRTIOFS;
  snprintf(out->source, sizeof(out->source), "%s/rootfs", cid);
  out->fstype[0] = 0;
  out->readonly = 0;
  return 0;
}

int lv_backend_add_rootfs(struct cf_vm *vm, const char *cid, const char *host_rootfs,
                       cf_rootfs *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  if (!cid || !cf_id_valid(cid))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container id \"%.80s\" is not valid",
                         cid ? cid : "(null)");
  struct stat st;
  if (!host_rootfs || host_rootfs[0] != '/' || stat(host_rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "rootfs \"%s\" of container %s is not a directory",
                         host_rootfs ? host_rootfs : "(null)", cid);
  return vm->block_rootfs ? add_block(vm, cid, host_rootfs, out, err)
                          : add_virtiofs(vm, cid, host_rootfs, out, err);
}

int lv_backend_remove_rootfs(struct cf_vm *vm, const char *cid, cf_error *err) {
  if (!cid || !cf_id_valid(cid))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container id \"%.80s\" is not valid",
                         cid ? cid : "(null)");
  if (!vm->block_rootfs) {
    char d[PATH_MAX + 300];
    snprintf(d, sizeof(d), "%s/%s", vm->share, cid);
    return lv_backend_remove_tree(d, err);
  }
  for (unsigned i = 0; i < vm->nslots; i++) {
    char owner[PATH_MAX + 64], slot[PATH_MAX + 64], who[256] = "";
    snprintf(owner, sizeof(owner), "%s/disks/slot-%u.owner", vm->dir, i);
    _cleanup_fclose_ FILE *f = fopen(owner, "re");
    if (!f || !fgets(who, sizeof(who), f) || strcmp(who, cid) != 0)
      continue;
    snprintf(slot, sizeof(slot), "%s/disks/slot-%u.img", vm->dir, i);
    struct stat st;
    if (stat(slot, &st) == 0 && (truncate(slot, 0) < 0 || truncate(slot, st.st_size) < 0))
      return cf_err(err, errno, "clear block slot %s", slot);
    if (unlink(owner) < 0)
      return cf_err(err, errno, "free block slot %s", owner);
    return 0;
  }
  return 0; /* nothing recorded: already removed */
}

/* Mount points at or below dir, from /proc/self/mountinfo, deepest first
 * (longer paths sort after their parents, so unmount in reverse order). */
static int mounts_under(const char *dir, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f)
    return -errno;
  size_t dl = strlen(dir);
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    char mp[PATH_MAX];
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
      continue;
    /* mountinfo escapes space, tab, newline and backslash as \ooo */
    char un[PATH_MAX];
    size_t j = 0;
    for (size_t i = 0; mp[i] && j + 1 < sizeof(un); i++) {
      if (mp[i] == '\\' && mp[i + 1] >= '0' && mp[i + 1] <= '3' && mp[i + 2] && mp[i + 3]) {
        un[j++] = (char)((mp[i + 1] - '0') * 64 + (mp[i + 2] - '0') * 8 + (mp[i + 3] - '0'));
        i += 3;
      } else {
        un[j++] = mp[i];
      }
    }
    un[j] = 0;
    if (strncmp(un, dir, dl) != 0 || (un[dl] != 0 && un[dl] != '/'))
      continue;
    char **grown = realloc(*out, (*n + 1) * sizeof(char *));
    if (!grown)
      break;
    *out = grown;
    (*out)[(*n)++] = strdup(un);
  }
  free(line);
  return 0;
}

static void free_list(char **l, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(l[i]);
  free(l);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  int r = flag == FTW_DP ? rmdir(p) : unlink(p);
  return r < 0 && errno != ENOENT ? -1 : 0;
}

int lv_backend_remove_tree(const char *dir, cf_error *err) {
  struct stat st;
  if (lstat(dir, &st) < 0)
    return errno == ENOENT ? 0 : cf_err(err, errno, "stat %s", dir);
  for (int pass = 0; pass < 3; pass++) {
    char **l;
    size_t n;
    if (mounts_under(dir, &l, &n) < 0)
      return cf_err(err, errno, "read /proc/self/mountinfo");
    if (n == 0) {
      free_list(l, n);
      break;
    }
    for (size_t i = n; i-- > 0;)
      umount2(l[i], MNT_DETACH);
    free_list(l, n);
  }
  char **l;
  size_t n;
  if (mounts_under(dir, &l, &n) < 0)
    return cf_err(err, errno, "read /proc/self/mountinfo");
  free_list(l, n);
  if (n > 0) /* never recurse into a container's rootfs */
    return cf_err_status(err, CF_FAILED_PRECONDITION, "%s: %zu mounts remain beneath it; not removed",
                         dir, n);
  /* libvirtd and virtiofsd may still be removing their sockets and pid
   * files in here: an entry that vanishes mid-walk is not a failure */
  for (int pass = 0;; pass++) {
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0)
      return 0;
    int e = errno;
    if (e == ENOENT && lstat(dir, &st) < 0 && errno == ENOENT)
      return 0; /* removed by someone else */
    if (e != ENOENT || pass == 4)
      return cf_err(err, e, "remove %s", dir);
  }
}
