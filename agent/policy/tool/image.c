#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/initdata.h"
#include "image.h"

#define MAX_BLOB (64u << 20)

extern char **environ;

int image_ref_normalize(const char *ref, char *out, size_t cap, cf_error *err) {
  if (!ref || !*ref || strchr(ref, ' ') || strlen(ref) >= cap - 32)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference \"%s\" is empty or invalid",
                         ref ? ref : "");
  const char *slash = strchr(ref, '/');
  /* a first component with '.' or ':' (or localhost) is a registry */
  bool has_registry = slash && (memchr(ref, '.', (size_t)(slash - ref)) ||
                                memchr(ref, ':', (size_t)(slash - ref)) ||
                                !strncmp(ref, "localhost/", 10));
  const char *prefix = has_registry ? "" : slash ? "docker.io/" : "docker.io/library/";
  const char *last = strrchr(ref, '/');
  last = last ? last + 1 : ref;
  bool tagged = strchr(last, ':') || strchr(ref, '@');
  snprintf(out, cap, "%s%s%s", prefix, ref, tagged ? "" : ":latest");
  return 0;
}

/* argv's stdout, at most MAX_BLOB bytes; a nonzero exit is an error. */
static int run_capture(char *const argv[], char **buf, size_t *len, cf_error *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return cf_err(err, errno, "pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (r != 0) {
    close(p[0]);
    return cf_err(err, r, "run %s", argv[0]);
  }
  size_t cap = 65536, n = 0;
  char *b = malloc(cap + 1);
  ssize_t k = 0;
  while (b && (k = read(p[0], b + n, cap - n)) > 0) {
    n += (size_t)k;
    if (n == cap && cap < MAX_BLOB) {
      cap *= 2;
      char *nb = realloc(b, cap + 1);
      if (!nb)
        free(b);
      b = nb;
    } else if (n == cap)
      break;
  }
  close(p[0]);
  int wst;
  while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
    ;
  if (!b)
    return cf_err(err, ENOMEM, "output of %s", argv[0]);
  if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0 || n == cap) {
    free(b);
    return cf_err_status(err, CF_INTERNAL, "%s %s %s failed (status %d, or output over %u bytes)",
                         argv[0], argv[1], argv[2] ? argv[2] : "",
                         WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst), MAX_BLOB);
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return 0;
}

static bool digest_valid(const char *d) {
  if (strncmp(d, "sha256:", 7) || strlen(d) != 71)
    return false;
  return strspn(d + 7, "0123456789abcdef") == 64;
}

static int read_blob(const image_source *src, const char *digest, json_object **out, cf_error *err) {
  if (!digest_valid(digest))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "digest \"%s\" is not sha256:<64 hex>", digest);
  _cleanup_free_ char *buf = NULL;
  size_t len = 0;
  if (src->content_dir) {
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", src->content_dir, digest + 7);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
      return cf_err(err, errno, "blob %s: open %s", digest, p);
    buf = malloc(MAX_BLOB + 1);
    if (!buf)
      return cf_err(err, ENOMEM, "blob %s", digest);
    len = fread(buf, 1, MAX_BLOB + 1, f);
    if (len > MAX_BLOB)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "blob %s is over %u bytes", digest, MAX_BLOB);
    buf[len] = '\0';
  } else {
    char *argv[] = {"ctr", "-a", (char *)src->address, "-n", (char *)src->namespace,
                    "content", "get", (char *)digest, NULL};
    if (run_capture(argv, &buf, &len, err) < 0)
      return cf_error_prefix(err, "blob %s", digest);
  }
  uint8_t d[64];
  cf_initdata_hash(CF_INITDATA_SHA256, buf, len, d);
  char hex[65];
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  if (strcmp(hex, digest + 7))
    return cf_err_status(err, CF_DATA_LOSS, "blob %s: content has digest sha256:%s", digest, hex);
  *out = json_tokener_parse(buf);
  if (!*out || !json_object_is_type(*out, json_type_object)) {
    json_object_put(*out);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "blob %s is not a JSON object", digest);
  }
  return 0;
}

static const char *jstr(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
             ? json_object_get_string(v) : NULL;
}

/* The target of ref in containerd's image store (ctr images ls). */
static int resolve_name(const image_source *src, const char *ref, char *digest, size_t cap,
                        cf_error *err) {
  char *argv[] = {"ctr", "-a", (char *)src->address, "-n", (char *)src->namespace,
                  "images", "ls", NULL};
  _cleanup_free_ char *out = NULL;
  size_t len;
  if (run_capture(argv, &out, &len, err) < 0)
    return cf_error_prefix(err, "image %s: list containerd's images (%s, namespace %s)", ref,
                           src->address, src->namespace);
  char *save = NULL;
  for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char name[512], type[256], dg[128];
    if (sscanf(line, "%511s %255s %127s", name, type, dg) == 3 && !strcmp(name, ref)) {
      snprintf(digest, cap, "%s", dg);
      return 0;
    }
  }
  return cf_err_status(err, CF_NOT_FOUND, "image %s is not in containerd (%s, namespace %s): pull it first",
                       ref, src->address, src->namespace);
}

int image_lookup(const image_source *src, const char *ref, image_info *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  if (image_ref_normalize(ref, out->ref, sizeof(out->ref), err) < 0)
    return -EINVAL;
  const char *at = strchr(out->ref, '@');
  if (at)
    snprintf(out->digest, sizeof(out->digest), "%s", at + 1);
  else if (resolve_name(src, out->ref, out->digest, sizeof(out->digest), err) < 0)
    return -ENOENT;
  char cur[80];
  snprintf(cur, sizeof(cur), "%s", out->digest);
  for (int hop = 0; hop < 4; hop++) {
    json_object *doc = NULL;
    if (read_blob(src, cur, &doc, err) < 0)
      return cf_error_prefix(err, "image %s", out->ref);
    json_object *manifests, *config;
    if (json_object_object_get_ex(doc, "manifests", &manifests) &&
        json_object_is_type(manifests, json_type_array)) {
      const char *pick = NULL;
      for (size_t i = 0; i < json_object_array_length(manifests) && !pick; i++) {
        json_object *m = json_object_array_get_idx(manifests, i), *pl;
        const char *os = NULL, *arch = NULL;
        if (json_object_object_get_ex(m, "platform", &pl))
          os = jstr(pl, "os"), arch = jstr(pl, "architecture");
        if ((!os && !arch) || (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64")))
          pick = jstr(m, "digest");
      }
      if (!pick) {
        json_object_put(doc);
        return cf_err_status(err, CF_NOT_FOUND, "image %s: no linux/amd64 manifest in index %s",
                             out->ref, cur);
      }
      snprintf(cur, sizeof(cur), "%s", pick);
      json_object_put(doc);
      continue;
    }
    if (json_object_object_get_ex(doc, "config", &config) && jstr(config, "digest")) {
      char cd[80];
      snprintf(cd, sizeof(cd), "%s", jstr(config, "digest"));
      json_object *layers;
      out->layers = json_object_object_get_ex(doc, "layers", &layers) &&
                            json_object_is_type(layers, json_type_array)
                        ? json_object_get(layers)
                        : json_object_new_array();
      json_object_put(doc);
      json_object *cfg = NULL;
      if (read_blob(src, cd, &cfg, err) < 0)
        return cf_error_prefix(err, "image %s", out->ref);
      json_object *c;
      out->config = json_object_object_get_ex(cfg, "config", &c) && c ? json_object_get(c)
                                                                     : json_object_new_object();
      json_object_put(cfg);
      return 0;
    }
    json_object_put(doc);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "image %s: blob %s is neither an index nor a manifest",
                         out->ref, cur);
  }
  return cf_err_status(err, CF_INVALID_ARGUMENT, "image %s: indexes nested too deep", out->ref);
}

void image_info_clear(image_info *info) {
  json_object_put(info->config);
  info->config = NULL;
  json_object_put(info->layers);
  info->layers = NULL;
}

int image_read_file(const image_source *src, const image_info *img, const char *path, char **buf,
                    cf_error *err) {
  *buf = NULL;
  size_t n = img->layers ? json_object_array_length(img->layers) : 0;
  for (size_t i = n; i-- > 0;) {
    json_object *l = json_object_array_get_idx(img->layers, i);
    const char *d = jstr(l, "digest"), *mt = jstr(l, "mediaType");
    if (!d || !digest_valid(d))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "image %s: layer %zu has no valid digest",
                           img->ref, i);
    /* a member missing from a layer is no error: the next one down is asked */
    const char *flags = mt && strstr(mt, "gzip") ? "-xzOf" : "-xOf";
    char blob[4096], rel[512], dot[520];
    snprintf(rel, sizeof(rel), "%s", path);
    snprintf(dot, sizeof(dot), "./%s", path);
    _cleanup_free_ char *out = NULL;
    size_t len = 0;
    int rc;
    if (src->content_dir) {
      snprintf(blob, sizeof(blob), "%s/%s", src->content_dir, d + 7);
      char *argv[] = {"sh", "-c", "tar \"$0\" \"$1\" \"$2\" \"$3\" 2>/dev/null; exit 0",
                      (char *)flags, blob, rel, dot, NULL};
      rc = run_capture(argv, &out, &len, err);
    } else {
      char *argv[] = {"sh", "-c",
                      "ctr -a \"$0\" -n \"$1\" content get \"$2\" | "
                      "tar \"$3\" - \"$4\" \"$5\" 2>/dev/null; exit 0",
                      (char *)src->address, (char *)src->namespace, (char *)d, (char *)flags,
                      rel, dot, NULL};
      rc = run_capture(argv, &out, &len, err);
    }
    if (rc < 0)
      return cf_error_prefix(err, "image %s: %s from layer %s", img->ref, path, d);
    if (len > 0) {
      *buf = cf_steal_ptr(out);
      return 0;
    }
  }
  return 0;
}
