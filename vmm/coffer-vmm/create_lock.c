/* create and destroy of one VM never overlap (create_lock.h). */
#include "create_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "coffer/clock.h"

static int lock_path(const char *dir, char *path, size_t cap, cf_error *err) {
  if ((size_t)snprintf(path, cap, "%s/" CREATE_LOCK_NAME, dir) >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "state dir %s too long", dir);
  return 0;
}

int create_lock_take(const char *dir, cf_error *err) {
  char path[PATH_MAX];
  if (lock_path(dir, path, sizeof(path), err) < 0)
    return -EINVAL;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return cf_err(err, errno, "open %s", path);
  /* one create per VM dir: a second one waits, then finds the domain */
  while (flock(fd, LOCK_EX) < 0) {
    if (errno != EINTR) {
      int e = errno;
      close(fd);
      return cf_err(err, e, "lock %s", path);
    }
  }
  return fd;
}

int create_lock_wait(const char *dir, int timeout_ms, cf_error *err) {
  char path[PATH_MAX];
  if (lock_path(dir, path, sizeof(path), err) < 0)
    return -EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return 0; /* no create ever ran on this dir (or it is gone) */
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  int r = 0;
  while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      break; /* cannot wait on it: destroy what is there now */
    if (cf_now_ms() >= deadline) {
      r = cf_err_status(err, CF_DEADLINE_EXCEEDED,
                        "a create of the VM in %s still runs after %d ms", dir, timeout_ms);
      break;
    }
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  close(fd);
  return r;
}
