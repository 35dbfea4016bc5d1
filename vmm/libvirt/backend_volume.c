/* Container volumes into the guest (plain profile: the pod's virtiofs share).
 *
 * A volume is bound under share/<container>/volumes/<n>, where the agent
 * finds it by relative path. The bind is first made in a private staging
 * place under the VM's directory and given its propagation there, then bound
 * into the (shared) share: binding the host source straight into the share
 * would put virtiofsd's copy in the source's peer group, so host mounts made
 * later below a "private" volume would still reach the guest.
 *
 * Propagation can only flow from the host into the guest: a mount made inside
 * the guest stays in the guest (the container's "rshared" is "rslave" here).
 *
 * TEE profiles share no host filesystem: a volume there fails the create
 * naming the mount rather than being dropped. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/id.h"

/* An empty directory or file (as the source is) to bind onto. */
static int make_target(const char *path, bool dir) {
  if (dir)
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -errno;
  close(fd);
  return 0;
}

static void remove_target(const char *path, bool dir) {
  if (dir)
    rmdir(path);
  else
    unlink(path);
}

/* Bind src on stage with the volume's propagation and read-only flag. */
static int stage_bind(const char *src, const char *stage, const cf_volume *v, cf_error *err) {
  if (mount(src, stage, NULL, v->non_recursive ? MS_BIND : MS_BIND | MS_REC, NULL) < 0)
    return cf_err(err, errno, "bind %s onto %s", src, stage);
  unsigned long prop = v->propagation == CF_PROPAGATION_SLAVE ? MS_SLAVE : MS_PRIVATE;
  if (mount(NULL, stage, NULL, MS_REC | prop, NULL) < 0)
    return cf_err(err, errno, "set the propagation of %s", stage);
  if (v->readonly && mount(NULL, stage, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
    return cf_err(err, errno, "make %s read-only", stage);
  return 0;
}

int lv_backend_add_volume(struct cf_vm *vm, const char *cid, unsigned index, const cf_volume *v,
                       cf_rootfs *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  if (!cf_id_valid(cid))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container id \"%.80s\" is not valid",
                         cid ? cid : "(null)");
  if (vm->block_rootfs || !vm->share[0]) {
    /* this guest shares no filesystem with the host (confidential profile):
     * the shim copies what it may into guest memory, or refuses */
    out->kind = CF_ROOTFS_GUEST;
    return 0;
  }
  struct stat st;
  if (v->host_path[0] != '/' || stat(v->host_path, &st) < 0)
    return cf_err(err, v->host_path[0] != '/' ? EINVAL : errno,
                  "volume source %s for %s", v->host_path, v->destination);
  bool dir = S_ISDIR(st.st_mode);

  char vols[PATH_MAX], target[PATH_MAX], stage[PATH_MAX];
  if ((size_t)snprintf(vols, sizeof(vols), "%s/%s/volumes", vm->share, cid) >= sizeof(vols) ||
      (size_t)snprintf(target, sizeof(target), "%s/%u", vols, index) >= sizeof(target) ||
      (size_t)snprintf(stage, sizeof(stage), "%s/volume-stage-%s-%u", vm->dir, cid, index) >=
          sizeof(stage))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "volume %u of container %s: path too long",
                         index, cid);
  if (mkdir(vols, 0700) < 0 && errno != EEXIST)
    return cf_err(err, errno, "create %s", vols);
  int r = make_target(stage, dir);
  if (r < 0)
    return cf_err(err, -r, "create %s", stage);
  if ((r = make_target(target, dir)) < 0) {
    remove_target(stage, dir);
    return cf_err(err, -r, "create %s", target);
  }
  r = stage_bind(v->host_path, stage, v, err);
  /* Non-recursive: no copy of a host mount below the source sits on the
   * source's own directories in the host's mount namespace (it would keep
   * the host from removing them: EBUSY); the shim shares those mounts
   * separately. */
  if (r == 0 && mount(stage, target, NULL, v->non_recursive ? MS_BIND : MS_BIND | MS_REC, NULL) < 0)
    r = cf_err(err, errno, "bind %s onto %s", v->host_path, target);
  if (r == 0 && v->readonly && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
    r = cf_err(err, errno, "make %s read-only", target);
  /* the share holds its own bind now; the staging one has done its job */
  umount2(stage, MNT_DETACH);
  remove_target(stage, dir);
  if (r < 0) {
    umount2(target, MNT_DETACH);
    remove_target(target, dir);
    return cf_error_prefix(err, "volume %s of container %s", v->destination, cid);
  }
  out->kind = CF_ROOTFS_VIRTIOFS;
  snprintf(out->source, sizeof(out->source), "%s/volumes/%u", cid, index);
  out->readonly = v->readonly;
  return 0;
}
