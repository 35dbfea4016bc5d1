#include "init_data.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"

static int hex_digest(const EVP_MD *md, const void *data, size_t len, char **out, cf_error *err) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!EVP_Digest(data, len, d, &n, md, NULL))
    return cf_err_status(err, CF_INTERNAL, "init-data digest failed");
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned i = 0; i < n; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  free(*out);
  *out = strdup(hex);
  return *out ? 0 : cf_err(err, ENOMEM, "init-data digest");
}

static int read_all(const char *path, unsigned char **buf, size_t *len, cf_error *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return cf_err(err, errno, "init-data %s", path);
  if (!S_ISREG(st.st_mode))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data %s is not a regular file", path);
  if ((unsigned long long)st.st_size > INIT_DATA_MAX_BYTES)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data %s is larger than %u bytes", path,
                         INIT_DATA_MAX_BYTES);
  *buf = malloc((size_t)st.st_size + 1);
  if (!*buf)
    return cf_err(err, ENOMEM, "init-data %s", path);
  size_t n = 0;
  while (n < (size_t)st.st_size) {
    ssize_t r = read(fd, *buf + n, (size_t)st.st_size - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return cf_err(err, r < 0 ? errno : EIO, "read init-data %s", path);
    n += (size_t)r;
  }
  *len = n;
  return 0;
}

int init_data_fill_digests(vm_spec *s, cf_error *err) {
  if (!s->init_data_path[0])
    return 0;
  _cleanup_free_ unsigned char *buf = NULL;
  size_t len = 0;
  int r;
  if ((r = read_all(s->init_data_path, &buf, &len, err)) < 0 ||
      (r = hex_digest(EVP_sha256(), buf, len, &s->init_data_sha256, err)) < 0 ||
      (r = hex_digest(EVP_sha384(), buf, len, &s->init_data_sha384, err)) < 0)
    return r;
  s->init_data_path[0] = 0;
  return 0;
}
