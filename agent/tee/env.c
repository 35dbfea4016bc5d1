/* The env's hooks, defaulting to the real CPU and kernel; bounded file I/O;
 * the process-wide lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <linux/vm_sockets.h>

#include "coffer/cleanup.h"
#include "tee_internal.h"

int tee_path(const cf_tee_env *env, const char *path, char *buf, size_t size, cf_error *err) {
  const char *root = env && env->root ? env->root : "";
  int n = snprintf(buf, size, "%s%s", root, path);
  if (n < 0 || (size_t)n >= size)
    return cf_err(err, ENAMETOOLONG, "path %s%s", root, path);
  return 0;
}

static const struct cf_tee_ioctl_ops *ops(const cf_tee_env *env) {
  return env ? env->ioctl : NULL;
}

void tee_cpuid(const cf_tee_env *env, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
  const struct cf_tee_ioctl_ops *o = ops(env);
  memset(regs, 0, 4 * sizeof(uint32_t));
  if (o && o->cpuid) {
    o->cpuid(o->ctx, leaf, subleaf, regs);
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

int tee_ioctl(const cf_tee_env *env, int fd, unsigned long request, void *arg) {
  const struct cf_tee_ioctl_ops *o = ops(env);
  if (o && o->ioctl)
    return o->ioctl(o->ctx, fd, request, arg);
  return ioctl(fd, request, arg);
}

int tee_mkdir(const cf_tee_env *env, const char *path) {
  const struct cf_tee_ioctl_ops *o = ops(env);
  return o && o->mkdir ? o->mkdir(o->ctx, path, 0700) : mkdir(path, 0700);
}

int tee_rmdir(const cf_tee_env *env, const char *path) {
  const struct cf_tee_ioctl_ops *o = ops(env);
  return o && o->rmdir ? o->rmdir(o->ctx, path) : rmdir(path);
}

int tee_qgs_connect(const cf_tee_env *env, unsigned port) {
  const struct cf_tee_ioctl_ops *o = ops(env);
  if (o && o->qgs_connect)
    return o->qgs_connect(o->ctx, port);
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port};
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int tee_read_all(const char *path, size_t max, uint8_t **out, size_t *len, cf_error *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return cf_err(err, errno, "open %s", path);
  size_t cap = 4096, n = 0;
  _cleanup_free_ uint8_t *buf = malloc(cap + 1);
  if (!buf)
    return cf_err(err, ENOMEM, "read %s", path);
  for (;;) {
    if (n == cap) {
      if (cap > max)
        return cf_err(err, EFBIG, "%s is larger than %zu bytes", path, max);
      cap *= 2;
      uint8_t *nb = realloc(buf, cap + 1);
      if (!nb)
        return cf_err(err, ENOMEM, "read %s", path);
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return cf_err(err, errno, "read %s", path);
    if (r == 0)
      break;
    n += (size_t)r;
  }
  if (n > max)
    return cf_err(err, EFBIG, "%s is larger than %zu bytes", path, max);
  buf[n] = 0;
  *out = cf_steal_ptr(buf);
  *len = n;
  return 0;
}

int tee_write_once(const char *path, const void *data, size_t len, cf_error *err) {
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return cf_err(err, errno, "open %s", path);
  ssize_t w;
  do
    w = write(fd, data, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return cf_err(err, errno, "write %s", path);
  if ((size_t)w != len)
    return cf_err(err, EIO, "write %s: %zd of %zu bytes taken", path, w, len);
  return 0;
}

bool tee_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static pthread_mutex_t request_lock = PTHREAD_MUTEX_INITIALIZER;

void tee_lock(void) { pthread_mutex_lock(&request_lock); }
void tee_unlock(void) { pthread_mutex_unlock(&request_lock); }
