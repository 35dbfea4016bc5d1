/* One layer's tar stream applied to a root directory: files, directories,
 * symlinks and hard links created below the root only, OCI whiteouts
 * removing what lower layers left, device nodes refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "internal.h"

#define WH ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* The paths this layer created: whiteouts apply only to lower layers. */
struct pathset {
  char **v;
  size_t cap, n;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int set_add(struct pathset *s, const char *p) {
  if ((s->n + 1) * 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    char **v = calloc(cap, sizeof(*v));
    if (!v)
      return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->v[i])
        continue;
      size_t j = hash_str(s->v[i]) & (cap - 1);
      while (v[j])
        j = (j + 1) & (cap - 1);
      v[j] = s->v[i];
    }
    free(s->v);
    s->v = v;
    s->cap = cap;
  }
  size_t j = hash_str(p) & (s->cap - 1);
  for (; s->v[j]; j = (j + 1) & (s->cap - 1))
    if (!strcmp(s->v[j], p))
      return 0;
  if (!(s->v[j] = strdup(p)))
    return -ENOMEM;
  s->n++;
  return 0;
}

static bool set_has(void *ud, const char *p) {
  struct pathset *s = ud;
  if (!s->cap)
    return false;
  for (size_t j = hash_str(p) & (s->cap - 1); s->v[j]; j = (j + 1) & (s->cap - 1))
    if (!strcmp(s->v[j], p))
      return true;
  return false;
}

static void set_free(struct pathset *s) {
  for (size_t i = 0; i < s->cap; i++)
    free(s->v[i]);
  free(s->v);
}

/* In place: no leading "/" or "./", no "." or empty components, no trailing
 * "/". A ".." component is refused: a layer has no business naming one. */
static int clean_path(char *p) {
  char *out = p;
  const char *s = p;
  while (*s) {
    while (*s == '/')
      s++;
    const char *e = s;
    while (*e && *e != '/')
      e++;
    size_t n = (size_t)(e - s);
    if (n == 2 && s[0] == '.' && s[1] == '.')
      return -1;
    if (n && !(n == 1 && s[0] == '.')) {
      if (out != p)
        *out++ = '/';
      memmove(out, s, n);
      out += n;
    }
    s = e;
  }
  *out = '\0';
  return 0;
}

struct unpack {
  int root;
  struct tar_reader *tar;
  const struct cf_unpack_limits *lim;
  uint64_t written;
  struct pathset made;
  const char *what;
};

static int set_meta(struct unpack *u, int pfd, const char *name, const struct tar_entry *e,
                    cf_error *err) {
  struct timespec ts[2] = {{.tv_sec = e->mtime}, {.tv_sec = e->mtime}};
  if (u->lim->keep_owners &&
      fchownat(pfd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return cf_err(err, errno, "chown");
  /* after chown, which clears set-id bits; the entry was just made, not a symlink */
  if (e->type != '2' && fchmodat(pfd, name, e->mode, 0) < 0)
    return cf_err(err, errno, "chmod");
  if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return cf_err(err, errno, "mtime");
  return 0;
}

/* Clears the name for a new entry; a directory stays for a directory. */
static int make_room(int pfd, const char *name, bool want_dir, bool *is_dir, cf_error *err) {
  struct stat st;
  *is_dir = false;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : cf_err(err, errno, "stat");
  if (want_dir && S_ISDIR(st.st_mode)) {
    *is_dir = true;
    return 0;
  }
  return img_remove_tree(pfd, name, err);
}

static int write_file(struct unpack *u, int pfd, const char *name, const struct tar_entry *e,
                      cf_error *err) {
  if (e->size > u->lim->max_bytes - u->written)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "over the %llu-byte unpack limit",
                         (unsigned long long)u->lim->max_bytes);
  _cleanup_close_ int fd =
      openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return cf_err(err, errno, "create");
  char buf[65536];
  ssize_t n;
  while ((n = tar_read(u->tar, buf, sizeof(buf), err)) > 0) {
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return cf_err(err, errno, "write");
      off += w;
    }
    u->written += (uint64_t)n;
  }
  return n < 0 ? (int)n : 0;
}

static int whiteout(struct unpack *u, const char *path, int pfd, const char *name,
                    cf_error *err) {
  if (!strcmp(name, WH_OPAQUE)) {
    size_t dl = (size_t)(name - path);
    _cleanup_free_ char *dir = strndup(path, dl ? dl - 1 : 0);
    return dir ? img_clear_dir(pfd, dir, set_has, &u->made, err) : cf_err(err, ENOMEM, "path");
  }
  const char *victim = name + strlen(WH);
  if (!victim[0] || !strcmp(victim, ".") || !strcmp(victim, "..") ||
      !strncmp(victim, WH, strlen(WH)))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "bad whiteout");
  _cleanup_free_ char *vpath = NULL;
  if (asprintf(&vpath, "%.*s%s", (int)(name - path), path, victim) < 0)
    return cf_err(err, ENOMEM, "path");
  if (set_has(&u->made, vpath))
    return 0; /* this layer's own file stays */
  return img_remove_tree(pfd, victim, err);
}

static int hard_link(struct unpack *u, int pfd, const char *name, const struct tar_entry *e,
                     cf_error *err) {
  _cleanup_free_ char *target = strdup(e->link);
  if (!target)
    return cf_err(err, ENOMEM, "path");
  if (clean_path(target) < 0 || !target[0])
    return cf_err_status(err, CF_PERMISSION_DENIED, "hard link to %s leaves the root", e->link);
  _cleanup_close_ int tpfd = -1;
  const char *tname;
  int r = img_open_parent(u->root, target, &tpfd, &tname, err);
  if (r < 0)
    return cf_error_prefix(err, "hard link target");
  struct stat st;
  if (fstatat(tpfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return cf_err(err, errno, "hard link target %s", e->link);
  if (S_ISDIR(st.st_mode))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "hard link to directory %s", e->link);
  bool dir;
  if ((r = make_room(pfd, name, false, &dir, err)) < 0)
    return r;
  if (linkat(tpfd, tname, pfd, name, 0) < 0)
    return cf_err(err, errno, "link to %s", e->link);
  return 0;
}

static int apply(struct unpack *u, struct tar_entry *e, cf_error *err) {
  if (clean_path(e->path) < 0)
    return cf_err_status(err, CF_PERMISSION_DENIED, "path leaves the root");
  if (!e->path[0])
    return 0; /* the root itself */
  if (e->type == '3' || e->type == '4')
    return cf_err_status(err, CF_PERMISSION_DENIED, "device nodes are refused");
  if (e->type == '6') {
    cf_warn("layer %s: %s: FIFO skipped", u->what, e->path);
    return 0;
  }
  /* ".wh." may only start the last component */
  const char *name = strrchr(e->path, '/');
  name = name ? name + 1 : e->path;
  for (const char *p = strstr(e->path, WH); p; p = strstr(p + 1, WH))
    if ((p == e->path || p[-1] == '/') && p != name)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "whiteout prefix on a directory");
  _cleanup_close_ int pfd = -1;
  int r = img_open_parent(u->root, e->path, &pfd, &name, err);
  if (r < 0)
    return r;
  if (!strncmp(name, WH, strlen(WH)))
    return whiteout(u, e->path, pfd, name, err);
  /* the entry and its parents belong to this layer now */
  for (char *sl = e->path;; sl++) {
    if (*sl && *sl != '/')
      continue;
    char c = *sl;
    *sl = '\0';
    r = set_add(&u->made, e->path);
    *sl = c;
    if (r < 0)
      return cf_err(err, -r, "path set");
    if (!c)
      break;
  }
  if (e->type == '1')
    return hard_link(u, pfd, name, e, err);
  bool is_dir;
  if ((r = make_room(pfd, name, e->type == '5', &is_dir, err)) < 0)
    return r;
  switch (e->type) {
  case '5':
    if (!is_dir && mkdirat(pfd, name, 0700) < 0)
      return cf_err(err, errno, "mkdir");
    break;
  case '2':
    if (symlinkat(e->link, pfd, name) < 0)
      return cf_err(err, errno, "symlink");
    break;
  default:
    if ((r = write_file(u, pfd, name, e, err)) < 0)
      return r;
  }
  return set_meta(u, pfd, name, e, err);
}

int cf_image_unpack_layer(int root_fd, int fd, const char *media_type, const char *what,
                          const char *diff_id, const struct cf_unpack_limits *lim_in,
                          char **diff_id_out, cf_error *err) {
  struct cf_unpack_limits lim = lim_in ? *lim_in : (struct cf_unpack_limits){0};
  if (!lim.max_bytes)
    lim.max_bytes = 8ull << 30;
  uint64_t written_before = lim.written ? *lim.written : 0;
  if (written_before > lim.max_bytes)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "layer %s: unpack limit reached", what);
  struct img_stream *s = NULL;
  /* the tar stream: its files plus headers; 1/8 more for headers and padding */
  int r = img_stream_open(fd, media_type, lim.max_bytes + lim.max_bytes / 8 + (1u << 20), &s, err);
  if (r < 0)
    return cf_error_prefix(err, "layer %s", what);
  struct unpack u = {
      .root = root_fd,
      .lim = &lim,
      .written = written_before,
      .what = what,
      .tar = tar_reader_new((struct tar_src){img_stream_read, s}, lim.max_bytes),
  };
  if (!u.tar) {
    img_stream_free(s);
    return cf_err(err, ENOMEM, "tar reader");
  }
  struct tar_entry *e;
  while ((r = tar_next(u.tar, &e, err)) > 0) {
    if (lim.deadline_ms && img_now_ms() > lim.deadline_ms) {
      r = cf_err_status(err, CF_DEADLINE_EXCEEDED, "layer %s: time limit reached at %s", what,
                        e->path);
      break;
    }
    _cleanup_free_ char *raw = strdup(e->path);
    if ((r = apply(&u, e, err)) < 0) {
      cf_error_prefix(err, "layer %s: %s", what, raw ? raw : e->path);
      break;
    }
  }
  if (r < 0 && !strstr(err->msg, what))
    cf_error_prefix(err, "layer %s", what);
  char got[IMG_DIGEST_MAX] = "";
  if (r == 0 && (r = img_stream_finish(s, got, err)) < 0)
    cf_error_prefix(err, "layer %s", what);
  if (r == 0 && diff_id && strcmp(got, diff_id))
    r = cf_err_status(err, CF_DATA_LOSS, "layer %s: uncompressed digest %s, config says %s",
                      what, got, diff_id);
  if (r == 0 && diff_id_out && !(*diff_id_out = strdup(got)))
    r = cf_err(err, ENOMEM, "diff_id");
  if (lim.written)
    *lim.written = u.written;
  tar_reader_free(u.tar);
  img_stream_free(s);
  set_free(&u.made);
  return r;
}
