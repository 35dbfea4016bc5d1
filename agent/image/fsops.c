/* File system changes below a root directory fd that never leave it.
 *
 * Parents are resolved with openat2(RESOLVE_IN_ROOT): a symlink met on the
 * way (absolute or with "..") resolves as if the root were "/", as it will
 * for the container, so nothing outside the root is reached. The last
 * component is then handled by the *at() calls with no-follow semantics.
 * Kernels without openat2 get a walk that refuses any symlink on the way. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "internal.h"

static int open_in_root(int root_fd, const char *rel) {
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
  if (fd >= 0 || errno != ENOSYS)
    return fd;
  /* no openat2: component by component, no symlink followed */
  _cleanup_free_ char *copy = strdup(rel);
  if (!copy)
    return -1;
  int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
  char *save = NULL;
  for (char *c = strtok_r(copy, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
    int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(cur);
    errno = saved;
    cur = next;
  }
  return cur;
}

int img_open_parent(int root_fd, const char *rel, int *parent_fd, const char **name,
                    cf_error *err) {
  const char *slash = strrchr(rel, '/');
  *name = slash ? slash + 1 : rel;
  if (!slash) {
    *parent_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
    return *parent_fd < 0 ? cf_err(err, errno, "dup") : 0;
  }
  _cleanup_free_ char *dir = strndup(rel, (size_t)(slash - rel));
  if (!dir)
    return cf_err(err, ENOMEM, "path");
  int fd = open_in_root(root_fd, dir);
  if (fd >= 0) {
    *parent_fd = fd;
    return 0;
  }
  if (errno != ENOENT)
    return cf_err(err, errno, "%s", dir);
  /* create the missing directories, each resolved from the root again */
  for (char *p = dir;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char saved = *p;
    *p = '\0';
    fd = open_in_root(root_fd, dir);
    if (fd < 0 && errno == ENOENT) {
      char *last = strrchr(dir, '/');
      int pfd = root_fd;
      _cleanup_close_ int opened = -1;
      if (last) {
        *last = '\0';
        opened = pfd = open_in_root(root_fd, dir);
        *last = '/';
        if (pfd < 0)
          return cf_err(err, errno, "%s", dir);
      }
      if (mkdirat(pfd, last ? last + 1 : dir, 0755) < 0 && errno != EEXIST)
        return cf_err(err, errno, "mkdir %s", dir);
      fd = open_in_root(root_fd, dir);
    }
    if (fd < 0)
      return cf_err(err, errno, "%s", dir);
    *p = saved;
    if (!saved) {
      *parent_fd = fd;
      return 0;
    }
    close(fd);
  }
}

int img_remove_tree(int dir_fd, const char *name, cf_error *err) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : cf_err(err, errno, "stat %s", name);
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
      return cf_err(err, errno, "unlink %s", name);
    return 0;
  }
  int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s", name);
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return cf_err(err, errno, "opendir %s", name);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    int r = img_remove_tree(dirfd(d), de->d_name, err);
    if (r < 0)
      return cf_error_prefix(err, "%s", name);
  }
  if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
    return cf_err(err, errno, "rmdir %s", name);
  return 0;
}

int img_clear_dir(int dir_fd, const char *dir_rel, bool (*keep)(void *ud, const char *rel),
                  void *ud, cf_error *err) {
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s", dir_rel[0] ? dir_rel : "/");
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return cf_err(err, errno, "opendir %s", dir_rel);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    _cleanup_free_ char *rel = NULL;
    if (asprintf(&rel, "%s%s%s", dir_rel, dir_rel[0] ? "/" : "", de->d_name) < 0)
      return cf_err(err, ENOMEM, "path");
    if (keep(ud, rel))
      continue;
    int r = img_remove_tree(dirfd(d), de->d_name, err);
    if (r < 0)
      return r;
  }
  return 0;
}
