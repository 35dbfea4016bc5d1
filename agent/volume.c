/* Volumes in guest memory (volume.h). */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/id.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "container.h"
#include "relpath.h"

#define SERVICE "coffer.agent.v1.Agent"
#define TMP_PREFIX ".coffer-put-"

static bool valid_name(const char *n) {
  size_t l = strlen(n);
  if (l == 0 || l > 64 || n[0] == '.')
    return false;
  for (const char *p = n; *p; p++)
    if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') ||
          (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
      return false;
  return true;
}

/* Copied volumes at <name>, the others (emptyDir, the termination-message
 * file) at .<name>: a name cannot start with a dot, so PutVolumeFiles never
 * reaches what only the container writes. */
static void volume_path(const agent *a, const container *c, const char *name, bool copied,
                        char *out, size_t cap) {
  snprintf(out, cap, "%s/volumes/%s/%s%s", a->state_dir, c->id, copied ? "" : ".", name);
}

char *agent_volume_prepare(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                           cf_error *err) {
  bool copied = !strcmp(r->fstype, "volume"), file = !strcmp(r->fstype, "file");
  if (!copied && !file && strcmp(r->fstype, "emptydir") != 0) {
    cf_err_status(err, CF_INVALID_ARGUMENT,
                  "guest volume fstype \"%s\" is not volume, emptydir or file", r->fstype);
    return NULL;
  }
  if (!valid_name(r->source)) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "guest volume name \"%.80s\" is not valid", r->source);
    return NULL;
  }
  char p[PATH_MAX];
  volume_path(a, c, r->source, copied, p, sizeof(p));
  struct stat st;
  if (lstat(p, &st) == 0) {
    cf_err_status(err, CF_ALREADY_EXISTS, "guest volume %s of container %s given twice", r->source,
                  c->id);
    return NULL;
  }
  if (cf_mkdir_p(p, 0755, 0700) < 0) {
    cf_err(err, errno, "create %s", p);
    return NULL;
  }
  /* copied volumes are small and bounded; an emptyDir takes the tmpfs
   * default (half the guest's memory), as a memory-backed emptyDir does */
  const char *opts = copied ? "mode=0755,size=" AGENT_VOLUME_TMPFS_SIZE ",nr_inodes=4096"
                     : file ? "mode=0755,size=64k,nr_inodes=4"
                            : "mode=0777";
  if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
    cf_err(err, errno, "mount tmpfs for guest volume %s on %s", r->source, p);
    rmdir(p);
    return NULL;
  }
  /* a file to bind (the termination-message file): empty, writable by the
   * container's user whoever it is, as kubelet makes it */
  char fp[PATH_MAX];
  if (file) {
    snprintf(fp, sizeof(fp), "%s/file", p);
    _cleanup_close_ int fd = open(fp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 || fchmod(fd, 0666) < 0) {
      cf_err(err, errno, "create guest file %s", fp);
      umount2(p, MNT_DETACH);
      rmdir(p);
      return NULL;
    }
  }
  char **n = realloc(c->mounts, (c->n_mounts + 1) * sizeof(*n));
  if (!n || !(n[c->n_mounts] = strdup(p))) {
    if (n)
      c->mounts = n;
    umount2(p, MNT_DETACH);
    cf_err(err, ENOMEM, "guest volume %s", r->source);
    return NULL;
  }
  c->mounts = n;
  c->n_mounts++;
  cf_debug("container %s: guest volume %s (%s) at %s", c->id, r->source, r->fstype, p);
  return strdup(file ? fp : p);
}

/* ------------------------------------------------------------------ put */

static int check_entries(Coffer__Agent__V1__VolumeEntry *const *e, size_t n, cf_error *err) {
  if (n > AGENT_VOLUME_MAX_ENTRIES)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%zu entries, at most %d", n,
                         AGENT_VOLUME_MAX_ENTRIES);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const char *p = e[i]->path;
    if (!agent_valid_relpath(p) || strlen(p) > 1024 || strstr(p, TMP_PREFIX))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "entry %zu: path \"%.100s\" must be relative, without empty, \".\" or "
                           "\"..\" components", i, p);
    switch (e[i]->type) {
    case COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__FILE:
      total += e[i]->data.len;
      if (total > AGENT_VOLUME_MAX_DATA)
        return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "entry %zu (%s): more than %u bytes", i,
                             p, AGENT_VOLUME_MAX_DATA);
      break;
    case COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__DIR:
      break;
    case COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK:
      if (!agent_valid_relpath(e[i]->target) || strlen(e[i]->target) > 1024)
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "entry %zu (%s): symlink target \"%.100s\" must be relative, without "
                             "\"..\"", i, p, e[i]->target);
      break;
    default:
      return cf_err_status(err, CF_INVALID_ARGUMENT, "entry %zu (%s): type %d is unknown", i, p,
                           (int)e[i]->type);
    }
  }
  return 0;
}

/* The parent directory of rel inside the volume, never through a symlink
 * and never out of it. *base: rel's last component. */
static int open_parent(int vfd, const char *rel, const char **base) {
  const char *slash = strrchr(rel, '/');
  *base = slash ? slash + 1 : rel;
  if (!slash)
    return fcntl(vfd, F_DUPFD_CLOEXEC, 0);
  char dir[1100];
  snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rel), rel);
  struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                    RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  return (int)syscall(SYS_openat2, vfd, dir, &how, sizeof(how));
}

static int remove_tree_at(int dfd, const char *name);

static int clear_dir(int fd) {
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
  if (!d) {
    if (dup >= 0)
      close(dup);
    return -errno;
  }
  struct dirent *e;
  int r = 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && remove_tree_at(fd, e->d_name) < 0)
      r = -errno;
  closedir(d);
  return r;
}

/* Removes name (a file, symlink or directory tree) below dfd without
 * following symlinks. */
static int remove_tree_at(int dfd, const char *name) {
  if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -1;
  _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || clear_dir(fd) < 0)
    return -1;
  return unlinkat(dfd, name, AT_REMOVEDIR);
}

static int put_one(int vfd, const Coffer__Agent__V1__VolumeEntry *e, unsigned seq,
                   cf_error *err) {
  const char *base;
  _cleanup_close_ int pfd = open_parent(vfd, e->path, &base);
  if (pfd < 0)
    return cf_err(err, errno, "%s: its directory (not a directory, a symlink, or missing)", e->path);
  struct stat st;
  bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (e->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__DIR) {
    mode_t mode = e->mode ? (e->mode & 0777) : 0755;
    if (exists && S_ISDIR(st.st_mode)) {
      _cleanup_close_ int d = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      return d >= 0 && fchmod(d, mode) == 0 ? 0 : cf_err(err, errno, "%s: chmod", e->path);
    }
    if (exists && remove_tree_at(pfd, base) < 0)
      return cf_err(err, errno, "%s: replace", e->path);
    return mkdirat(pfd, base, mode) == 0 ? 0 : cf_err(err, errno, "%s: mkdir", e->path);
  }
  char tmp[64];
  snprintf(tmp, sizeof(tmp), TMP_PREFIX "%u", seq);
  unlinkat(pfd, tmp, 0);
  if (e->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK) {
    if (symlinkat(e->target, pfd, tmp) < 0)
      return cf_err(err, errno, "%s: symlink", e->path);
  } else {
    _cleanup_close_ int fd =
        openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return cf_err(err, errno, "%s: create", e->path);
    for (size_t off = 0; off < e->data.len;) {
      ssize_t w = write(fd, e->data.data + off, e->data.len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        int en = w < 0 ? errno : EIO;
        unlinkat(pfd, tmp, 0);
        return cf_err(err, en, "%s: write", e->path);
      }
      off += (size_t)w;
    }
    if (fchmod(fd, e->mode ? (e->mode & 0777) : 0644) < 0) {
      unlinkat(pfd, tmp, 0);
      return cf_err(err, errno, "%s: chmod", e->path);
    }
  }
  /* a directory in the way goes first; rename replaces anything else whole */
  if (exists && S_ISDIR(st.st_mode) && remove_tree_at(pfd, base) < 0) {
    unlinkat(pfd, tmp, 0);
    return cf_err(err, errno, "%s: replace the directory", e->path);
  }
  if (renameat(pfd, tmp, pfd, base) < 0) {
    int en = errno;
    unlinkat(pfd, tmp, 0);
    return cf_err(err, en, "%s: rename into place", e->path);
  }
  return 0;
}

/* rel is an entry of the request, or a directory on the way to one */
static bool named(Coffer__Agent__V1__VolumeEntry *const *e, size_t n, const char *rel) {
  size_t l = strlen(rel);
  for (size_t i = 0; i < n; i++)
    if (!strncmp(e[i]->path, rel, l) && (e[i]->path[l] == 0 || e[i]->path[l] == '/'))
      return true;
  return false;
}

/* Removes what the request no longer names (depth first, no following). */
static int prune(int dfd, const char *prefix, Coffer__Agent__V1__VolumeEntry *const *e, size_t n,
                 int depth) {
  if (depth > 64)
    return 0;
  int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
  if (!d) {
    if (dup >= 0)
      close(dup);
    return -1;
  }
  struct dirent *de;
  int r = 0;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char rel[1200];
    snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
    if (!named(e, n, rel)) {
      if (remove_tree_at(dfd, de->d_name) < 0)
        r = -1;
      continue;
    }
    if (de->d_type != DT_DIR)
      continue;
    _cleanup_close_ int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0 && prune(sub, rel, e, n, depth + 1) < 0)
      r = -1;
  }
  closedir(d);
  return r;
}

int agent_volume_put(agent *a, container *c, const char *name,
                     Coffer__Agent__V1__VolumeEntry *const *entries, size_t n, cf_error *err) {
  if (!valid_name(name))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "guest volume name \"%.80s\" is not valid", name);
  if (check_entries(entries, n, err) < 0)
    return cf_error_prefix(err, "container %s: volume %s", c->id, name);
  char p[PATH_MAX];
  volume_path(a, c, name, true, p, sizeof(p));
  /* only a copied volume made at create is a mount point the agent recorded */
  bool known = false;
  for (size_t i = 0; i < c->n_mounts && !known; i++)
    known = !strcmp(c->mounts[i], p);
  if (!known)
    return cf_err_status(err, CF_NOT_FOUND, "container %s has no guest volume %s", c->id, name);
  _cleanup_close_ int vfd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (vfd < 0)
    return cf_err(err, errno, "open guest volume %s", p);
  /* directories and files, then symlinks: a kubelet ..data swap lands last */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < n; i++) {
      bool link = entries[i]->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK;
      if (link != (pass == 1))
        continue;
      if (put_one(vfd, entries[i], (unsigned)i, err) < 0)
        return cf_error_prefix(err, "container %s: volume %s", c->id, name);
    }
  if (prune(vfd, "", entries, n, 0) < 0)
    cf_warn("container %s: volume %s: some stale entries could not be removed", c->id, name);
  return 0;
}

/* ------------------------------------------------------------------ ttrpc */

static void h_put_volume_files(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  _cleanup_pb_ Coffer__Agent__V1__PutVolumeFilesRequest *req =
      coffer__agent__v1__put_volume_files_request__unpack(NULL, len, payload);
  if (!req) {
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "PutVolumeFiles: malformed request");
    return;
  }
  container *c = cf_id_valid(req->container_id) ? container_find(a, req->container_id) : NULL;
  if (!c) {
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "container \"%.64s\" not found", req->container_id);
    return;
  }
  cf_error err = {0};
  if (agent_volume_put(a, c, req->volume, req->entries, req->n_entries, &err) < 0) {
    cf_warn("PutVolumeFiles: %s", err.msg);
    ttrpc_call_reply_error(call, &err);
    return;
  }
  ttrpc_call_reply(call, NULL);
}

int agent_volume_register(agent *a, cf_error *err) {
  return ttrpc_server_register(a->srv, SERVICE, "PutVolumeFiles", h_put_volume_files, a, err);
}
