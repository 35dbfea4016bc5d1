/* liboci: the processes of a cgroup: listed, signalled, frozen. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "cgroup_file.h"




typedef struct {
  pid_t *v;
  size_t n, cap;
} pid_list;

/* cgroup.procs of dirfd and of every cgroup below it (a container may make
 * its own sub-cgroups). */
static int collect_pids(int dirfd, pid_list *l, const oci_cgroup *cg, cf_error *err) {
  _cleanup_free_ char *buf = NULL;
  int r = cg_slurp_at(dirfd, "cgroup.procs", &buf);
  if (r < 0)
    return cf_err(err, -r, "read cgroup.procs under %s%s", cg->root, cg->path);
  for (char *p = buf; *p;) {
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p)
      break;
    p = end + strspn(end, "\n");
    if (l->n == l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 16;
      pid_t *v = realloc(l->v, cap * sizeof(*v));
      if (!v)
        return cf_err(err, ENOMEM, "pids of %s%s", cg->root, cg->path);
      l->v = v;
      l->cap = cap;
    }
    l->v[l->n++] = (pid_t)pid;
  }
  int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0)
      close(dfd);
    return cf_err(err, errno, "list %s%s", cg->root, cg->path);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    _cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub < 0) /* removed meanwhile */
      continue;
    if ((r = collect_pids(sub, l, cg, err)) < 0)
      return r;
  }
  return 0;
}

int oci_cgroup_pids(const oci_cgroup *cg, pid_t **pids, size_t *n, cf_error *err) {
  *pids = NULL;
  *n = 0;
  _cleanup_close_ int dfd = cg_open_dir(cg);
  if (dfd < 0)
    return cf_err(err, errno, "open cgroup %s%s", cg->root, cg->path);
  pid_list l = {0};
  int r = collect_pids(dfd, &l, cg, err);
  if (r < 0) {
    free(l.v);
    return r;
  }
  *pids = l.v;
  *n = l.n;
  return 0;
}

int oci_cgroup_signal_all(const oci_cgroup *cg, int sig, cf_error *err) {
  if (sig == SIGKILL) {
    /* cgroup.kill (5.14+) kills the whole subtree with no fork race */
    _cleanup_close_ int fd = cg_openat(cg, "cgroup.kill", O_WRONLY);
    if (fd >= 0) {
      if (write(fd, "1\n", 2) == 2)
        return 0;
      return cf_err(err, errno, "write 1 to %s%s/cgroup.kill", cg->root, cg->path);
    }
    if (errno != ENOENT)
      return cf_err(err, errno, "open %s%s/cgroup.kill", cg->root, cg->path);
  }
  _cleanup_free_ pid_t *pids = NULL;
  size_t n;
  int r = oci_cgroup_pids(cg, &pids, &n, err);
  if (r < 0)
    return r;
  /* frozen tasks get the signal at thaw; SIGKILL goes through at once */
  for (size_t i = 0; i < n; i++)
    if (kill(pids[i], sig) < 0 && errno != ESRCH)
      return cf_err(err, errno, "kill(%d, %d) in cgroup %s%s", (int)pids[i], sig, cg->root,
                    cg->path);
  return 0;
}


#define FREEZE_TIMEOUT_MS 2000

/* Waits until cgroup.events says "frozen <want>". The kernel wakes POLLPRI
 * pollers of cgroup.events when it changes (after a read from the same
 * fd); the poll timeout is kept short in case a change is missed. */
static int wait_frozen(const oci_cgroup *cg, bool want, cf_error *err) {
  _cleanup_close_ int fd = cg_openat(cg, "cgroup.events", O_RDONLY);
  if (fd < 0)
    return cf_err(err, errno, "open %s%s/cgroup.events", cg->root, cg->path);
  int64_t deadline = (int64_t)cf_now_ms() + FREEZE_TIMEOUT_MS;
  for (;;) {
    _cleanup_free_ char *buf = NULL;
    uint64_t frozen;
    int r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : cg_slurp_fd(fd, &buf);
    if (r < 0)
      return cf_err(err, -r, "read %s%s/cgroup.events", cg->root, cg->path);
    if (cg_keyed_u64(buf, "frozen", &frozen) && (frozen != 0) == want)
      return 0;
    int64_t left = deadline - (int64_t)cf_now_ms();
    if (left <= 0)
      return cf_err_status(err, CF_DEADLINE_EXCEEDED,
                           "cgroup %s%s: not %s after %d ms (cgroup.events)", cg->root,
                           cg->path, want ? "frozen" : "thawed", FREEZE_TIMEOUT_MS);
    struct pollfd p = {.fd = fd, .events = POLLPRI};
    if (poll(&p, 1, left < 50 ? (int)left : 50) < 0 && errno != EINTR)
      return cf_err(err, errno, "poll %s%s/cgroup.events", cg->root, cg->path);
  }
}

int oci_cgroup_freeze(const oci_cgroup *cg, bool frozen, cf_error *err) {
  int r = cg_write_simple(cg, "cgroup.freeze", frozen ? "1\n" : "0\n", err);
  if (r < 0)
    return r;
  r = wait_frozen(cg, frozen, err);
  if (r < 0 && frozen) {
    /* a half-frozen container helps nobody: thaw it again */
    cf_error ignored = {0};
    cg_write_simple(cg, "cgroup.freeze", "0\n", &ignored);
  }
  return r;
}

