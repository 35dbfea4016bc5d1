/* The Create request's rootfs mounts (overlay or bind, as containerd's
 * snapshotters give them) mounted on the bundle's rootfs directory. */
#include "rootfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "coffer/log.h"
#include "containerd/types/mount.pb-c.h"
#include "shim.h"

struct flag { const char *name; bool clear; unsigned long flag; };

static const struct flag flags[] = {
    {"async", true, MS_SYNCHRONOUS},  {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},         {"defaults", false, 0},
    {"dev", true, MS_NODEV},          {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},   {"exec", true, MS_NOEXEC},
    {"mand", false, MS_MANDLOCK},     {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},       {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},     {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME}, {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},     {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME}, {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},         {"rw", true, MS_RDONLY},
    {"strictatime", false, MS_STRICTATIME}, {"suid", true, MS_NOSUID},
    {"sync", false, MS_SYNCHRONOUS},
};

static int mount_one(const char *target, const Containerd__Types__Mount *m, cf_error *err) {
  unsigned long mflags = 0;
  size_t cap = 1;
  for (size_t i = 0; i < m->n_options; i++)
    cap += strlen(m->options[i]) + 1;
  char *data = calloc(1, cap);
  if (!data)
    return cf_err(err, ENOMEM, "mount %s", target);
  for (size_t i = 0; i < m->n_options; i++) {
    const char *o = m->options[i];
    bool known = false;
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
      if (strcmp(o, flags[f].name) == 0) {
        if (flags[f].clear)
          mflags &= ~flags[f].flag;
        else
          mflags |= flags[f].flag;
        known = true;
        break;
      }
    }
    if (known)
      continue;
    if (*data)
      strcat(data, ",");
    strcat(data, o);
  }
  const char *type = m->type && *m->type ? m->type : "none";
  if (mflags & MS_BIND)
    type = "none";
  int r = mount(m->source, target, type, mflags & ~MS_RDONLY, *data ? data : NULL);
  if (r == 0 && (mflags & MS_BIND) && (mflags & MS_RDONLY))
    r = mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
  else if (r == 0 && (mflags & MS_RDONLY) && !(mflags & MS_BIND))
    r = mount(NULL, target, NULL, MS_REMOUNT | (mflags & ~MS_BIND), *data ? data : NULL);
  int e = errno;
  free(data);
  if (r < 0)
    return cf_err(err, e, "mount %s (%s) on %s", m->source, type, target);
  return 0;
}

int shim_rootfs_mount(const char *target, Containerd__Types__Mount **mounts, size_t n,
                 cf_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (mount_one(target, mounts[i], err) < 0) {
      cf_error tmp = {0};
      for (size_t j = 0; j < i; j++)
        shim_rootfs_unmount(target, &tmp);
      return -EIO;
    }
  }
  return 0;
}

int shim_rootfs_unmount(const char *target, cf_error *err) {
  /* Everything stacked there (also what a dead shim left). */
  for (int i = 0; i < 64; i++) {
    if (umount2(target, MNT_DETACH) < 0) {
      if (errno == EINVAL || errno == ENOENT)
        return 0; /* not a mount point (any more) */
      return cf_err(err, errno, "unmount %s", target);
    }
  }
  return 0;
}
