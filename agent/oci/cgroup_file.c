/* liboci: reading and writing a cgroup's interface files (cgroup_file.h). */
#include "cgroup_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"

/* ------------------------------------------------------------ file access */

int cg_openat(const oci_cgroup *cg, const char *name, int flags) {
  if (cg->dirfd >= 0)
    return openat(cg->dirfd, name, flags | O_CLOEXEC);
  char p[PATH_MAX];
  if ((size_t)snprintf(p, sizeof(p), "%s%s/%s", cg->root, cg->path, name) >= sizeof(p)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return open(p, flags | O_CLOEXEC);
}

/* A fresh fd of the directory (own file offset, for fdopendir). */
int cg_open_dir(const oci_cgroup *cg) {
  return cg_openat(cg, ".", O_RDONLY | O_DIRECTORY);
}

/* The whole file into a NUL-terminated malloc'd buffer; -errno on failure
 * (errno kept, so ENOENT tells a missing controller). */
int cg_slurp_fd(int fd, char **out) {
  size_t cap = 4096, len = 0;
  _cleanup_free_ char *buf = malloc(cap);
  if (!buf)
    return -ENOMEM;
  for (;;) {
    if (len + 1 >= cap) {
      char *n = realloc(buf, cap * 2);
      if (!n)
        return -ENOMEM;
      buf = n;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  *out = cf_steal_ptr(buf);
  return 0;
}

int cg_slurp_at(int dirfd, const char *name, char **out) {
  _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return cg_slurp_fd(fd, out);
}

int cg_slurp(const oci_cgroup *cg, const char *name, char **out) {
  _cleanup_close_ int fd = cg_openat(cg, name, O_RDONLY);
  if (fd < 0)
    return -errno;
  return cg_slurp_fd(fd, out);
}

/* "max" → UINT64_MAX (the value runc reports for "unlimited"). */
bool cg_parse_u64(const char *s, uint64_t *out) {
  while (*s == ' ' || *s == '\t')
    s++;
  if (strncmp(s, "max", 3) == 0 && (s[3] == '\0' || s[3] == '\n' || s[3] == ' ')) {
    *out = UINT64_MAX;
    return true;
  }
  if (*s < '0' || *s > '9')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || (*end && *end != '\n' && *end != ' '))
    return false;
  *out = v;
  return true;
}

/* A single-number file; false when missing or unparsable. */
bool cg_read_u64(const oci_cgroup *cg, const char *name, uint64_t *out) {
  _cleanup_free_ char *buf = NULL;
  return cg_slurp(cg, name, &buf) == 0 && cg_parse_u64(buf, out);
}

/* The value of "key N" in a flat-keyed file (cpu.stat, memory.events). */
bool cg_keyed_u64(const char *buf, const char *key, uint64_t *out) {
  size_t kl = strlen(key);
  for (const char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
      return cg_parse_u64(l + kl + 1, out);
  return false;
}

bool cg_has_word(const char *list, const char *word) {
  size_t wl = strlen(word);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '+')
      p++;
    size_t n = strcspn(p, " \n\t");
    if (n == wl && strncmp(p, word, wl) == 0)
      return true;
    p += n;
  }
  return false;
}

/* The controller that owns an interface file: the part before the '.'. */
int cg_missing_file(const oci_cgroup *cg, const char *field, const char *file,
                        cf_error *err) {
  int n = (int)strcspn(file, ".");
  return cf_err(err, ENOENT, "%s: %s does not exist in %s%s: is the %.*s controller enabled?",
                field, file, cg->root, cg->path, n, file);
}

int cg_open_for_write(const oci_cgroup *cg, const char *field, const char *file,
                          cf_error *err) {
  int fd = cg_openat(cg, file, O_WRONLY | O_TRUNC);
  if (fd >= 0)
    return fd;
  if (errno == ENOENT)
    return cg_missing_file(cg, field, file, err);
  return cf_err(err, errno, "%s: open %s%s/%s", field, cg->root, cg->path, file);
}

/* One write(2) per value: the kernel parses each write on its own, which
 * is also how several io.max lines go through one fd. */
int cg_write_value(int fd, const oci_cgroup *cg, const char *field, const char *file,
                       const char *value, cf_error *err) {
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  if (n == (ssize_t)len)
    return 0;
  int e = n < 0 ? errno : EIO;
  return cf_err(err, e, "%s: write \"%.*s\" to %s%s/%s", field,
                (int)strcspn(value, "\n"), value, cg->root, cg->path, file);
}

int cg_write(const oci_cgroup *cg, const char *field, const char *file,
                    const char *value, cf_error *err) {
  _cleanup_close_ int fd = cg_open_for_write(cg, field, file, err);
  if (fd < 0)
    return fd;
  return cg_write_value(fd, cg, field, file, value, err);
}


int cg_write_simple(const oci_cgroup *cg, const char *file, const char *value,
                           cf_error *err) {
  _cleanup_close_ int fd = cg_openat(cg, file, O_WRONLY);
  if (fd < 0)
    return cf_err(err, errno, "open %s%s/%s", cg->root, cg->path, file);
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  if (n == (ssize_t)len)
    return 0;
  return cf_err(err, n < 0 ? errno : EIO, "write \"%.*s\" to %s%s/%s",
                (int)strcspn(value, "\n"), value, cg->root, cg->path, file);
}

void cg_sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}
