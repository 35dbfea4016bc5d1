/* The container's filesystem view, built by its init before it runs anything:
 * the rootfs bound onto itself, the spec's mounts inside it, /dev, then
 * pivot_root (or, on the initramfs, a move and chroot), masked and
 * read-only paths, sysctls.
 *
 * Every path inside the rootfs is opened with RESOLVE_IN_ROOT and mounted
 * through /proc/self/fd, so a symlink in an image cannot point a mount at the
 * guest's own files. A bind source is resolved once: open_tree() clones it
 * into a detached mount, whose type decides file or directory, and
 * move_mount() attaches that very mount, so the source cannot be swapped
 * between the check and the bind. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/path.h"

static int openat2_(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct open_how how = {.flags = (uint64_t)flags, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int open_in_root(int rootfd, const char *path, int flags) {
  return openat2_(rootfd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* mkdir -p of path inside the root, the last component a file when !dir.
 * Returns an O_PATH fd of it. */
static int make_in_root(int rootfd, const char *path, bool dir, cf_error *err) {
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT)
    return fd >= 0 ? fd : cf_err(err, errno, "open %s in the rootfs", path);
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
    return cf_err(err, ENAMETOOLONG, "%.64s...", path);
  for (char *s = buf + 1;; s++) {
    bool last = *s == '\0';
    if (*s != '/' && !last)
      continue;
    *s = '\0';
    _cleanup_close_ int cur = open_in_root(rootfd, buf, O_PATH);
    if (cur < 0 && errno != ENOENT)
      return cf_err(err, errno, "open %s in the rootfs", buf);
    if (cur < 0) {
      char *slash = strrchr(buf, '/');
      *slash = '\0';
      _cleanup_close_ int parent = open_in_root(rootfd, buf[0] ? buf : "/", O_PATH | O_DIRECTORY);
      *slash = '/';
      if (parent < 0)
        return cf_err(err, errno, "open the parent of %s in the rootfs", buf);
      int r;
      if (last && !dir) {
        r = openat(parent, slash + 1, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (r >= 0)
          close(r);
      } else {
        r = mkdirat(parent, slash + 1, 0755);
      }
      if (r < 0 && errno != EEXIST)
        return cf_err(err, errno, "create %s in the rootfs", buf);
    }
    if (last)
      break;
    *s = '/';
  }
  fd = open_in_root(rootfd, path, O_PATH);
  return fd >= 0 ? fd : cf_err(err, errno, "open %s in the rootfs", path);
}

static void fd_path(int fd, char buf[static 32]) {
  snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* Flags of the mount at fd a read-only remount must keep (the kernel refuses
 * to drop locked ones). */
static unsigned long kept_flags(const char *path) {
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) < 0)
    return 0;
  if (sv.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  return f;
}

/* A detached clone of the bind source (resolved once, here). */
static int clone_source(const oci_mount *m, bool *is_dir, cf_error *err) {
  int t = (int)syscall(SYS_open_tree, AT_FDCWD, m->source,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->rec ? AT_RECURSIVE : 0));
  if (t < 0)
    return cf_err(err, errno, "bind mount source %s (for %s)", m->source, m->destination);
  struct stat st;
  if (fstat(t, &st) < 0) {
    int e = errno;
    close(t);
    return cf_err(err, e, "bind mount source %s (for %s)", m->source, m->destination);
  }
  *is_dir = S_ISDIR(st.st_mode);
  return t;
}

static int mount_one(int rootfd, const oci_mount *m, cf_error *err) {
  const char *type = m->type;
  bool src_is_dir = true;
  _cleanup_close_ int tree = -1;
  if (m->bind && (tree = clone_source(m, &src_is_dir, err)) < 0)
    return -EIO;
  _cleanup_close_ int fd = make_in_root(rootfd, m->destination, src_is_dir, err);
  if (fd < 0)
    return -EIO;
  char target[32];
  fd_path(fd, target);
  if (!strcmp(type, "cgroup"))
    type = "cgroup2"; /* a spec written for v1 hosts: the runtime runs on v2 only */
  if (m->bind) {
    if (syscall(SYS_move_mount, tree, "", fd, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
      return cf_err(err, errno, "bind %s on %s", m->source, m->destination);
  } else {
    const char *src = m->source[0] ? m->source : type;
    if (mount(src, target, type, m->flags & ~MS_REMOUNT, m->data) < 0)
      return cf_err(err, errno, "mount %s (%s) on %s", src, type, m->destination);
  }
  if (!m->bind && !m->propagation)
    return 0;
  /* what was mounted sits on top of fd: open it again to reach it */
  _cleanup_close_ int top = open_in_root(rootfd, m->destination, O_PATH);
  if (top < 0)
    return cf_err(err, errno, "reopen %s", m->destination);
  fd_path(top, target);
  unsigned long f = m->flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
  if (m->bind && f &&
      mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | f | kept_flags(target), NULL) < 0)
    return cf_err(err, errno, "remount %s with its options", m->destination);
  if (m->propagation && mount(NULL, target, NULL, m->propagation, NULL) < 0)
    return cf_err(err, errno, "set propagation of %s", m->destination);
  return 0;
}

static const struct {
  const char *name;
  unsigned maj, min;
} std_devices[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static int make_node(int rootfd, const char *path, char type, unsigned maj, unsigned min,
                     mode_t mode, uid_t uid, gid_t gid, cf_error *err) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  *slash = '\0';
  _cleanup_close_ int dfd = make_in_root(rootfd, dir[0] ? dir : "/", true, err);
  if (dfd < 0)
    return -EIO;
  /* O_PATH fds serve as dirfd for mknodat */
  mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  if (mknodat(dfd, slash + 1, fmt | (mode & 07777), makedev(maj, min)) < 0) {
    if (errno != EEXIST)
      return cf_err(err, errno, "create device %s", path);
    return 0;
  }
  if (fchownat(dfd, slash + 1, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
      fchmodat(dfd, slash + 1, mode & 07777, 0) < 0)
    return cf_err(err, errno, "set owner and mode of device %s", path);
  return 0;
}

static int setup_dev(int rootfd, const oci_spec *s, bool dev_is_tmpfs, cf_error *err) {
  if (dev_is_tmpfs) {
    for (size_t i = 0; i < sizeof(std_devices) / sizeof(std_devices[0]); i++) {
      char p[32];
      snprintf(p, sizeof(p), "/dev/%s", std_devices[i].name);
      if (make_node(rootfd, p, 'c', std_devices[i].maj, std_devices[i].min, 0666, 0, 0, err) < 0)
        return -EIO;
    }
    _cleanup_close_ int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
      return cf_err(err, errno, "open /dev in the rootfs");
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},        {"/proc/kcore", "core"}};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
      if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
        return cf_err(err, errno, "symlink /dev/%s", links[i][1]);
  }
  for (size_t i = 0; i < s->n_devices; i++) {
    const oci_device *d = &s->devices[i];
    if (make_node(rootfd, d->path, d->type, d->major, d->minor, d->mode, d->uid, d->gid, err) < 0)
      return -EIO;
  }
  return 0;
}

static int enter_root(const char *root, int rootfd, bool no_pivot, cf_error *err) {
  if (fchdir(rootfd) < 0)
    return cf_err(err, errno, "chdir to the rootfs %s", root);
  if (no_pivot) {
    /* the initramfs is the root mount, parentless: pivot_root refuses to
     * move it, and nothing can unmount it. The rootfs moves over / */
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
      return cf_err(err, errno, "move the rootfs %s to /", root);
    if (chroot(".") < 0)
      return cf_err(err, errno, "chroot to the rootfs %s", root);
    return chdir("/") < 0 ? cf_err(err, errno, "chdir /") : 0;
  }
  /* the old root ends up stacked on "/": detach it, without letting the
   * unmount propagate anywhere */
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return cf_err(err, errno, "pivot_root to %s", root);
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return cf_err(err, errno, "make the old root a slave");
  if (umount2(".", MNT_DETACH) < 0)
    return cf_err(err, errno, "detach the old root");
  return chdir("/") < 0 ? cf_err(err, errno, "chdir /") : 0;
}

static int mask_path(const char *p, cf_error *err) {
  struct stat st;
  if (lstat(p, &st) < 0)
    return errno == ENOENT ? 0 : cf_err(err, errno, "masked path %s", p);
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0)
      return cf_err(err, errno, "mask directory %s", p);
    return 0;
  }
  if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0)
    return cf_err(err, errno, "mask %s with /dev/null", p);
  return 0;
}

static int readonly_path(const char *p, cf_error *err) {
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
    return errno == ENOENT ? 0 : cf_err(err, errno, "bind read-only path %s", p);
  if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(p), NULL) < 0)
    return cf_err(err, errno, "remount %s read-only", p);
  return 0;
}

static int write_sysctl(const char *key, const char *value, cf_error *err) {
  char path[PATH_MAX] = "/proc/sys/";
  size_t n = strlen(path);
  for (const char *k = key; *k && n + 1 < sizeof(path); k++)
    path[n++] = *k == '.' ? '/' : *k;
  path[n] = '\0';
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "sysctl %s", key);
  if (write(fd, value, strlen(value)) < 0)
    return cf_err(err, errno, "sysctl %s = %s", key, value);
  return 0;
}

/* A working directory the image lacks is made before the root may turn
 * read-only, as root. */
static int make_cwd(const char *cwd, cf_error *err) {
  struct stat st;
  if (stat(cwd, &st) == 0)
    return 0;
  int r = cf_mkdir_p(cwd, 0755, 0755);
  return r < 0 ? cf_err(err, -r, "create the working directory %s", cwd) : 0;
}

int oci_rootfs_setup(const oci_spec *s, const oci_options *o, cf_error *err) {
  /* nothing mounted from here on may reach the agent's view; on the
   * initramfs rslave is as close as it gets (it is private already) */
  unsigned long prop = s->rootfs_propagation & (MS_PRIVATE | MS_UNBINDABLE) ? MS_PRIVATE : MS_SLAVE;
  if (mount(NULL, "/", NULL, MS_REC | prop, NULL) < 0)
    return cf_err(err, errno, "make / a %s mount", prop == MS_SLAVE ? "slave" : "private");
  if (mount(s->root, s->root, NULL, MS_BIND | MS_REC, NULL) < 0)
    return cf_err(err, errno, "bind the rootfs %s onto itself", s->root);
  _cleanup_close_ int rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return cf_err(err, errno, "open the rootfs %s", s->root);
  bool dev_tmpfs = false;
  for (size_t i = 0; i < s->n_mounts; i++) {
    if (mount_one(rootfd, &s->mounts[i], err) < 0)
      return -EIO;
    dev_tmpfs |= !strcmp(s->mounts[i].destination, "/dev") && !s->mounts[i].bind;
  }
  if (setup_dev(rootfd, s, dev_tmpfs, err) < 0 || enter_root(s->root, rootfd, o->no_pivot, err) < 0)
    return -EIO;
  /* sysctls while /proc/sys is still writable */
  for (size_t i = 0; i < s->n_sysctl; i++)
    if (write_sysctl(s->sysctl_keys[i], s->sysctl_values[i], err) < 0)
      return -EIO;
  for (size_t i = 0; i < s->n_readonly; i++)
    if (readonly_path(s->readonly[i], err) < 0)
      return -EIO;
  for (size_t i = 0; i < s->n_masked; i++)
    if (mask_path(s->masked[i], err) < 0)
      return -EIO;
  if (make_cwd(s->process.cwd, err) < 0)
    return -EIO;
  if (s->root_readonly &&
      mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) < 0)
    return cf_err(err, errno, "remount the rootfs read-only");
  if (s->rootfs_propagation && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
    return cf_err(err, errno, "set the rootfs propagation");
  return 0;
}
