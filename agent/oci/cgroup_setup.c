/* liboci: a container's cgroup made (controllers enabled on the way down),
 * entered, and removed with what is left in it. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/path.h"
#include "cgroup_file.h"

/* The controllers a container's limits and stats need. */
static const char *const wanted_controllers[] = {"cpu", "cpuset", "io",
                                                 "memory", "pids", "hugetlb"};

/* ---------------------------------------------------------------- create */

static int check_path(const char *root, const char *path, cf_error *err) {
  if (!root || !*root)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "cgroup root is empty");
  if (!path || path[0] != '/')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "cgroup path \"%s\" must start with '/'",
                         path ? path : "");
  if (cf_path_has_dotdot(path))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "cgroup path \"%s\": \"..\" would leave %s",
                         path, root);
  if (!path[strspn(path, "/")])
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "cgroup path \"%s\" names the root cgroup, not a container's", path);
  return 0;
}

/* Enables in dir/cgroup.subtree_control the wanted controllers that dir's
 * cgroup.controllers offers and that are not on yet: in one write, and
 * one at a time only when that is refused, to name the refused one. */
int oci_cgroup_enable_controllers(const char *dir, cf_error *err) {
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return cf_err(err, errno, "open cgroup %s", dir);
  _cleanup_free_ char *offered = NULL, *enabled = NULL;
  int r = cg_slurp_at(dfd, "cgroup.controllers", &offered);
  if (r == -ENOENT)
    return cf_err(err, ENOENT, "%s/cgroup.controllers: is %s in a cgroup v2 hierarchy?", dir,
                  dir);
  if (r < 0)
    return cf_err(err, -r, "read %s/cgroup.controllers", dir);
  if ((r = cg_slurp_at(dfd, "cgroup.subtree_control", &enabled)) < 0)
    return cf_err(err, -r, "read %s/cgroup.subtree_control", dir);
  /* all in one write first (each write is a tree walk in the kernel);
   * only when that is refused, one at a time to name the culprit */
  char all[128] = "";
  for (size_t i = 0; i < sizeof(wanted_controllers) / sizeof(*wanted_controllers); i++)
    if (cg_has_word(offered, wanted_controllers[i]) && !cg_has_word(enabled, wanted_controllers[i]))
      snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s+%s", all[0] ? " " : "",
               wanted_controllers[i]);
  if (!all[0])
    return 0;
  _cleanup_close_ int fd = openat(dfd, "cgroup.subtree_control", O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s/cgroup.subtree_control", dir);
  if (write(fd, all, strlen(all)) == (ssize_t)strlen(all))
    return 0;
  for (size_t i = 0; i < sizeof(wanted_controllers) / sizeof(*wanted_controllers); i++) {
    const char *c = wanted_controllers[i];
    if (!cg_has_word(offered, c) || cg_has_word(enabled, c))
      continue;
    char buf[32];
    snprintf(buf, sizeof(buf), "+%s\n", c);
    ssize_t n = write(fd, buf, strlen(buf));
    if (n == (ssize_t)strlen(buf))
      continue;
    if (n >= 0)
      errno = EIO;
    if (errno == ENOENT) /* withdrawn from the parent since we read the list */
      continue;
    if (errno == EBUSY)
      return cf_err(err, EBUSY,
                    "enable %s in %s/cgroup.subtree_control: %s has processes of its own "
                    "(cgroup v2 enables controllers only above process-free cgroups)",
                    c, dir, dir);
    return cf_err(err, errno, "enable %s in %s/cgroup.subtree_control", c, dir);
  }
  return 0;
}

int oci_cgroup_create(oci_cgroup *cg, const char *root, const char *path,
                      json_object *resources, cf_error *err) {
  *cg = (oci_cgroup){.dirfd = -1};
  int r = check_path(root, path, err);
  if (r < 0)
    return r;
  size_t rootlen = strlen(root);
  while (rootlen > 1 && root[rootlen - 1] == '/')
    rootlen--;
  char full[PATH_MAX];
  if ((size_t)snprintf(full, sizeof(full), "%.*s%s", (int)rootlen, root, path) >= sizeof(full))
    return cf_err(err, ENAMETOOLONG, "cgroup %s%s", root, path);
  struct stat st;
  if (stat(root, &st) < 0)
    return cf_err(err, errno, "cgroup root %s", root);

  /* walk down: each existing level enables controllers for the next */
  bool made_leaf = false;
  size_t pos = rootlen;
  for (;;) {
    size_t start = pos + strspn(full + pos, "/");
    if (!full[start])
      break;
    size_t end = start + strcspn(full + start, "/");
    char saved = full[pos];
    full[pos] = '\0';
    r = oci_cgroup_enable_controllers(full, err);
    full[pos] = saved;
    if (r < 0)
      return r;
    saved = full[end];
    full[end] = '\0';
    made_leaf = mkdir(full, 0755) == 0;
    if (!made_leaf && errno != EEXIST) {
      r = cf_err(err, errno, "mkdir cgroup %s", full);
      full[end] = saved;
      return r;
    }
    full[end] = saved;
    pos = end;
  }

  /* O_RDONLY, not O_PATH: BPF_PROG_ATTACH of the device program needs it */
  cg->dirfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg->dirfd < 0) {
    r = cf_err(err, errno, "open cgroup %s", full);
    goto fail;
  }
  cg->root = strndup(root, rootlen);
  cg->path = strdup(path);
  if (!cg->root || !cg->path) {
    r = cf_err(err, ENOMEM, "cgroup %s", full);
    goto fail;
  }
  if ((r = oci_cgroup_apply(cg, resources, err)) < 0)
    goto fail;
  return 0;
fail:
  /* a leaf made here goes again; one that was there (agent restart) stays */
  if (made_leaf)
    rmdir(full);
  oci_cgroup_close(cg);
  return r;
}


int oci_cgroup_enter(const oci_cgroup *cg, pid_t pid, cf_error *err) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%d\n", (int)pid);
  return cg_write_simple(cg, "cgroup.procs", buf, err);
}

/* --------------------------------------------------------------- destroy */

/* rmdir the cgroups below dirfd, deepest first; the first failure's errno */
static int rmdir_children(int dirfd) {
  int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0)
      close(dfd);
    return errno;
  }
  int first = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    _cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = sub < 0 ? (errno == ENOENT ? 0 : errno) : rmdir_children(sub);
    if (!e && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      e = errno;
    if (e && !first)
      first = e;
  }
  return first;
}

#define DESTROY_TIMEOUT_MS 2000

static int close_dirfd(oci_cgroup *cg) {
  if (cg->dirfd >= 0)
    close(cg->dirfd);
  cg->dirfd = -1;
  return 0;
}

int oci_cgroup_destroy(oci_cgroup *cg, cf_error *err) {
  char full[PATH_MAX];
  if (!cg->root || !cg->path)
    return close_dirfd(cg);
  if ((size_t)snprintf(full, sizeof(full), "%s%s", cg->root, cg->path) >= sizeof(full))
    return cf_err(err, ENAMETOOLONG, "cgroup %s%s", cg->root, cg->path);
  if (access(full, F_OK) < 0 && errno == ENOENT)
    return close_dirfd(cg);
  int r = oci_cgroup_signal_all(cg, SIGKILL, err);
  if (r < 0 && r != -ENOENT)
    return r;
  int64_t deadline = (int64_t)cf_now_ms() + DESTROY_TIMEOUT_MS;
  for (int round = 1;; round++) {
    _cleanup_close_ int dfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = dfd < 0 ? errno : rmdir_children(dfd);
    if (!e && rmdir(full) < 0)
      e = errno;
    if (!e || e == ENOENT)
      return close_dirfd(cg);
    if (e != EBUSY || (int64_t)cf_now_ms() >= deadline)
      return cf_err(err, e, "remove cgroup %s%s", full,
                    e == EBUSY ? " (processes still in it)" : "");
    /* without cgroup.kill a process may have forked past the first
     * round of kill(2): go again now and then */
    if (round % 20 == 0) {
      cf_error ignored = {0};
      oci_cgroup_signal_all(cg, SIGKILL, &ignored);
    }
    cg_sleep_ms(5);
  }
}

void oci_cgroup_close(oci_cgroup *cg) {
  if (cg->dirfd >= 0)
    close(cg->dirfd);
  cg->dirfd = -1;
  free(cg->root);
  free(cg->path);
  cg->root = NULL;
  cg->path = NULL;
}
