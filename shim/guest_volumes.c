/* Volumes copied into guest memory (guest_volumes.h). */
#include "guest_volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"

/* <root>/pods/<uid>/containers/<name>/<id>: exactly those three components */
static bool termination_log(const char *p) {
  const char *pods = strstr(p, "/pods/");
  if (!pods)
    return false;
  const char *uid = pods + strlen("/pods/"), *s = strchr(uid, '/');
  if (!s || s == uid || strncmp(s, "/containers/", strlen("/containers/")))
    return false;
  const char *name = s + strlen("/containers/"), *t = strchr(name, '/');
  return t && t != name && t[1] && !strchr(t + 1, '/');
}

enum shim_gvol_kind shim_gvol_classify(const char *p) {
  static const char *const copied[] = {"configmap", "secret", "projected", "downward-api"};
  if (termination_log(p))
    return SHIM_GVOL_FILE;
  const char *v = strstr(p, "/volumes/kubernetes.io~");
  if (!v || !strstr(p, "/pods/"))
    return SHIM_GVOL_REFUSE;
  const char *plugin = v + strlen("/volumes/kubernetes.io~");
  const char *slash = strchr(plugin, '/');
  /* the volume itself, not a path inside it (subPath binds are refused) */
  if (!slash || !slash[1] || strchr(slash + 1, '/'))
    return SHIM_GVOL_REFUSE;
  size_t pl = (size_t)(slash - plugin);
  if (pl == strlen("empty-dir") && !strncmp(plugin, "empty-dir", pl))
    return SHIM_GVOL_EMPTY;
  for (size_t i = 0; i < sizeof(copied) / sizeof(*copied); i++)
    if (pl == strlen(copied[i]) && !strncmp(plugin, copied[i], pl))
      return SHIM_GVOL_COPY;
  return SHIM_GVOL_REFUSE;
}

typedef struct reader {
  Coffer__Agent__V1__VolumeEntry **e;
  size_t n, bytes;
} reader;

static bool safe_target(const char *t) {
  if (!t[0] || t[0] == '/')
    return false;
  for (const char *s = t; *s;) {
    const char *e = strchr(s, '/');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
      return false;
    if (!e)
      break;
    s = e + 1;
  }
  return true;
}

static Coffer__Agent__V1__VolumeEntry *add(reader *r, const char *rel, cf_error *err) {
  if (r->n >= SHIM_GVOL_MAX_ENTRIES) {
    cf_err_status(err, CF_RESOURCE_EXHAUSTED, "more than %d entries", SHIM_GVOL_MAX_ENTRIES);
    return NULL;
  }
  Coffer__Agent__V1__VolumeEntry *e = calloc(1, sizeof(*e));
  if (e)
    coffer__agent__v1__volume_entry__init(e);
  if (!e || !(e->path = strdup(rel))) {
    free(e);
    cf_err(err, ENOMEM, "%s", rel);
    return NULL;
  }
  r->e[r->n++] = e;
  return e;
}

static int read_file_at(int dfd, const char *name, const char *rel, reader *r,
                        Coffer__Agent__V1__VolumeEntry *e, cf_error *err) {
  _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return cf_err(err, errno, "%s", rel);
  if (r->bytes + (size_t)st.st_size > SHIM_GVOL_MAX_BYTES)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "%s: more than %u bytes in the volume", rel,
                         SHIM_GVOL_MAX_BYTES);
  e->data.data = malloc((size_t)st.st_size + 1);
  if (!e->data.data)
    return cf_err(err, ENOMEM, "%s", rel);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t k = read(fd, e->data.data + got, (size_t)st.st_size - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break; /* shrank while read: what was there */
    got += (size_t)k;
  }
  e->data.len = got;
  e->mode = st.st_mode & 0777;
  r->bytes += got;
  return 0;
}

static int walk(int dfd, const char *prefix, reader *r, int depth, cf_error *err) {
  if (depth > 16)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: nested too deep", prefix);
  int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
  if (!d) {
    if (dup >= 0)
      close(dup);
    return cf_err(err, errno, "read %s", prefix[0] ? prefix : ".");
  }
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char rel[1100];
    snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
    struct stat st;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      rc = cf_err(err, errno, "%s", rel);
      break;
    }
    Coffer__Agent__V1__VolumeEntry *e = add(r, rel, err);
    if (!e) {
      rc = -1;
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      e->type = COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__DIR;
      e->mode = st.st_mode & 0777;
      _cleanup_close_ int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      rc = sub < 0 ? cf_err(err, errno, "%s", rel) : walk(sub, rel, r, depth + 1, err);
    } else if (S_ISLNK(st.st_mode)) {
      char t[1100];
      ssize_t k = readlinkat(dfd, de->d_name, t, sizeof(t) - 1);
      if (k < 0) {
        rc = cf_err(err, errno, "%s", rel);
        break;
      }
      t[k] = 0;
      if (!safe_target(t)) {
        rc = cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: symlink to \"%.200s\" leaves the volume", rel, t);
        break;
      }
      e->type = COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK;
      e->target = strdup(t);
      if (!e->target)
        rc = cf_err(err, ENOMEM, "%s", rel);
    } else if (S_ISREG(st.st_mode)) {
      e->type = COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__FILE;
      rc = read_file_at(dfd, de->d_name, rel, r, e, err);
    } else {
      rc = cf_err_status(err, CF_INVALID_ARGUMENT, "%s: not a file, directory or symlink", rel);
    }
  }
  closedir(d);
  return rc;
}

int shim_gvol_read(const char *dir, Coffer__Agent__V1__VolumeEntry ***out, size_t *n,
                   cf_error *err) {
  *out = NULL;
  *n = 0;
  reader r = {.e = calloc(SHIM_GVOL_MAX_ENTRIES + 1, sizeof(*r.e))};
  if (!r.e)
    return cf_err(err, ENOMEM, "volume %s", dir);
  _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 ? cf_err(err, errno, "open %s", dir) : walk(fd, "", &r, 0, err);
  if (rc < 0) {
    shim_gvol_free(r.e, r.n);
    return cf_error_prefix(err, "volume %s", dir);
  }
  *out = r.e;
  *n = r.n;
  return 0;
}

void shim_gvol_free(Coffer__Agent__V1__VolumeEntry **e, size_t n) {
  for (size_t i = 0; e && i < n; i++) {
    free(e[i]->path);
    if (e[i]->target != protobuf_c_empty_string)
      free(e[i]->target);
    free(e[i]->data.data);
    free(e[i]);
  }
  free(e);
}
