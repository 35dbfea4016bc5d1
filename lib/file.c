#include "coffer/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"

int cf_read_file(const char *path, size_t max, char **out, size_t *len, cf_error *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return cf_err(err, errno, "stat %s", path);
  if (!S_ISREG(st.st_mode))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is not a regular file", path);
  if ((uint64_t)st.st_size > max)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is %lld bytes, more than the %zu allowed",
                         path, (long long)st.st_size, max);
  /* one byte more than stat says, to notice a file that grew meanwhile */
  size_t cap = (size_t)st.st_size + 1;
  _cleanup_free_ char *buf = malloc(cap + 1);
  if (!buf)
    return cf_err(err, ENOMEM, "read %s", path);
  size_t got = 0;
  while (got < cap) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return cf_err(err, errno, "read %s", path);
    if (n == 0)
      break;
    got += (size_t)n;
  }
  if (got > max)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s grew past the %zu bytes allowed", path,
                         max);
  buf[got] = '\0';
  if (len)
    *len = got;
  *out = cf_steal_ptr(buf);
  return 0;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? -errno : -EIO;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int cf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         unsigned flags, cf_error *err) {
  char tmp[4096];
  const char *slash = strrchr(path, '/');
  int dirlen = slash ? (int)(slash - path + 1) : 0;
  if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp.%d", dirlen, path,
                       slash ? slash + 1 : path, (int)getpid()) >= sizeof(tmp))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
  if (fd < 0)
    return cf_err(err, errno, "create %s", tmp);
  int r = write_all(fd, data, len);
  if (r == 0 && fchmod(fd, mode & 07777) < 0)
    r = -errno;
  if (r == 0 && (flags & CF_WRITE_SYNC) && fsync(fd) < 0)
    r = -errno;
  if (close(fd) < 0 && r == 0)
    r = -errno;
  if (r == 0 && rename(tmp, path) < 0)
    r = -errno;
  if (r < 0) {
    unlink(tmp);
    return cf_err(err, -r, "write %s", path);
  }
  return 0;
}
