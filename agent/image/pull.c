/* cf_image_pull: reference → manifest (via an index for os/arch) → config →
 * layers, each verified, handed to the layer hook, then unpacked in order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "internal.h"

struct pull {
  struct cf_image_pull_opts o;
  struct img_ref ref;
  struct img_registry *reg;
  int64_t deadline;
  int root;
  struct cf_image_result *res;
};

static void digest_of(const char *algo_of, const char *buf, size_t len, char *out) {
  struct img_hash h;
  cf_error ignored;
  if (img_hash_init(&h, algo_of && !strncmp(algo_of, "sha512:", 7) ? "sha512" : "sha256",
                    &ignored) < 0) {
    out[0] = '\0';
    return;
  }
  img_hash_update(&h, buf, len);
  img_hash_final(&h, out);
}

/* GET a manifest; `want` (a digest, or NULL for a tag) must match its bytes */
static int fetch_manifest(struct pull *p, const char *reference, const char *want,
                          uint64_t want_size, struct img_manifest *m, char *digest,
                          cf_error *err) {
  _cleanup_free_ char *body = NULL, *ctype = NULL;
  size_t len = 0;
  int r = img_registry_manifest(p->reg, reference, p->o.max_manifest_bytes, &body, &len, &ctype,
                                err);
  if (r < 0)
    return r;
  digest_of(want, body, len, digest);
  if (want && strcmp(digest, want))
    return cf_err_status(err, CF_DATA_LOSS, "registry %s: manifest %s: content has digest %s",
                         p->ref.registry, want, digest);
  if (want_size && len != want_size)
    return cf_err_status(err, CF_DATA_LOSS, "registry %s: manifest %s: %zu bytes, index says %llu",
                         p->ref.registry, want, len, (unsigned long long)want_size);
  r = img_manifest_parse(body, len, ctype, m, err);
  if (r < 0)
    return cf_error_prefix(err, "registry %s: %s", p->ref.registry, digest);
  return 0;
}

static int pick_platform(struct pull *p, const struct img_manifest *idx, const char *idx_digest,
                         const struct img_desc **out, cf_error *err) {
  for (size_t i = 0; i < idx->n; i++) {
    const struct img_desc *d = &idx->items[i];
    if (d->os && d->arch && !strcmp(d->os, p->o.os) && !strcmp(d->arch, p->o.arch)) {
      *out = d;
      return 0;
    }
  }
  return cf_err_status(err, CF_NOT_FOUND, "registry %s: index %s has no %s/%s manifest",
                       p->ref.registry, idx_digest, p->o.os, p->o.arch);
}

static char **strv_dup(char *const *v) {
  size_t n = 0;
  while (v && v[n])
    n++;
  char **c = calloc(n + 1, sizeof(char *));
  for (size_t i = 0; c && i < n; i++)
    if (!(c[i] = strdup(v[i]))) {
      img_strv_free(c);
      return NULL;
    }
  return c;
}

static int blob_fd(struct pull *p, const char *digest, cf_error *err) {
  int fd = p->o.tmp_dir ? open(p->o.tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
                        : memfd_create("coffer-blob", MFD_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "blob %s: temporary file in %s", digest,
                  p->o.tmp_dir ? p->o.tmp_dir : "memory");
  return fd;
}

static int pull_layer(struct pull *p, size_t i, const struct img_desc *d, const char *diff_id,
                      cf_error *err) {
  struct cf_image_layer_info *li = &p->res->layers[i];
  if (!(li->media_type = strdup(d->media_type)) || !(li->digest = strdup(d->digest)) ||
      !(li->annotations = strv_dup(d->annotations)))
    return cf_err(err, ENOMEM, "layer");
  li->size = d->size;
  if (d->size > p->o.max_blob_bytes)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED,
                         "registry %s: layer %s: %llu bytes exceed the %llu-byte limit",
                         p->ref.registry, d->digest, (unsigned long long)d->size,
                         (unsigned long long)p->o.max_blob_bytes);
  _cleanup_close_ int fd = blob_fd(p, d->digest, err);
  if (fd < 0)
    return fd;
  int64_t t0 = img_now_ms();
  int r = img_registry_blob(p->reg, d->digest, d->size, fd, NULL, err);
  if (r < 0)
    return r;
  int64_t t1 = img_now_ms();
  li->fetch_ms = (uint32_t)(t1 - t0);
  if (lseek(fd, 0, SEEK_SET) < 0)
    return cf_err(err, errno, "blob %s", d->digest);
  _cleanup_close_ int out_fd = -1;
  _cleanup_free_ char *out_mt = NULL;
  if (p->o.layer_hook) {
    struct cf_image_layer l = {i, d->media_type, d->digest, d->size,
                               (const char *const *)d->annotations};
    if ((r = p->o.layer_hook(p->o.hook_ud, &l, fd, &out_fd, &out_mt, err)) < 0)
      return strstr(err->msg, d->digest) ? r : cf_error_prefix(err, "layer %s", d->digest);
    if (out_fd >= 0 && !out_mt)
      return cf_err_status(err, CF_INTERNAL, "layer %s: the hook gave no media type", d->digest);
  }
  int64_t t2 = img_now_ms();
  li->hook_ms = (uint32_t)(t2 - t1);
  const char *mt = out_fd >= 0 ? out_mt : d->media_type;
  if (strstr(mt, "encrypted"))
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "layer %s is encrypted (%s) and nothing decrypted it", d->digest, mt);
  if (!(li->unpacked_media_type = strdup(mt)))
    return cf_err(err, ENOMEM, "layer");
  struct cf_unpack_limits lim = {
      .max_bytes = p->o.max_unpacked_bytes,
      .written = &p->res->bytes_unpacked,
      .deadline_ms = p->deadline,
      .keep_owners = p->o.keep_owners,
  };
  r = cf_image_unpack_layer(p->root, out_fd >= 0 ? out_fd : fd, mt, d->digest, diff_id, &lim,
                            &li->diff_id, err);
  li->unpack_ms = (uint32_t)(img_now_ms() - t2);
  return r;
}

static int run(struct pull *p, const char *ref_str, cf_error *err) {
  char top[IMG_DIGEST_MAX], plat[IMG_DIGEST_MAX];
  struct img_manifest m = {0}, idx = {0};
  const char *want = p->ref.digest[0] ? p->ref.digest : NULL;
  int64_t t0 = img_now_ms();
  int r = fetch_manifest(p, want ? want : p->ref.tag, want, 0, &idx, top, err);
  if (r < 0)
    return r;
  if (idx.is_index) {
    const struct img_desc *d = NULL;
    if ((r = pick_platform(p, &idx, top, &d, err)) == 0)
      r = fetch_manifest(p, d->digest, d->digest, d->size, &m, plat, err);
    if (r == 0 && m.is_index)
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "registry %s: %s: an index inside an index",
                        p->ref.registry, plat);
  } else {
    m = idx;
    memset(&idx, 0, sizeof(idx));
    memcpy(plat, top, sizeof(plat));
  }
  img_manifest_free(&idx);
  struct cf_image_result *res = p->res;
  res->manifest_ms = (uint32_t)(img_now_ms() - t0);
  if (r == 0 && (!(res->manifest_digest = strdup(top)) ||
                 !(res->platform_manifest_digest = strdup(plat))))
    r = cf_err(err, ENOMEM, "result");
  /* a pin names the index or the platform's manifest; either fixes the layers */
  const char *pin = p->o.pinned_digest;
  if (r == 0 && pin && strcmp(pin, top) && strcmp(pin, plat))
    r = cf_err_status(err, CF_PERMISSION_DENIED,
                      "image %s resolved to %s (platform manifest %s), pinned digest is %s",
                      ref_str, top, plat, pin);
  bool allowed = !p->o.allowed_digests;
  for (const char *const *a = p->o.allowed_digests; a && *a && !allowed; a++)
    allowed = !strcmp(*a, top) || !strcmp(*a, plat);
  if (r == 0 && !allowed)
    r = cf_err_status(err, CF_PERMISSION_DENIED,
                      "image %s resolved to %s (platform manifest %s), which is not one of "
                      "the digests the policy allows",
                      ref_str, top, plat);
  if (r == 0 && m.n > p->o.max_layers)
    r = cf_err_status(err, CF_RESOURCE_EXHAUSTED, "manifest %s: %zu layers, limit %u", plat, m.n,
                      p->o.max_layers);
  _cleanup_free_ char *cfg = NULL;
  char **diff_ids = NULL;
  if (r == 0 && m.config.size > p->o.max_manifest_bytes)
    r = cf_err_status(err, CF_RESOURCE_EXHAUSTED, "config %s: %llu bytes", m.config.digest,
                      (unsigned long long)m.config.size);
  if (r == 0 && !(res->config_digest = strdup(m.config.digest)))
    r = cf_err(err, ENOMEM, "result");
  t0 = img_now_ms();
  if (r == 0)
    r = img_registry_blob(p->reg, m.config.digest, m.config.size, -1, &cfg, err);
  res->config_ms = (uint32_t)(img_now_ms() - t0);
  if (r == 0 && (r = img_config_parse(cfg, m.config.size, res, &diff_ids, err)) < 0)
    cf_error_prefix(err, "config %s", m.config.digest);
  size_t nd = 0;
  while (diff_ids && diff_ids[nd])
    nd++;
  if (r == 0 && diff_ids && nd != m.n)
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "config %s: %zu diff_ids for %zu layers",
                      m.config.digest, nd, m.n);
  if (r == 0 && !(res->layers = calloc(m.n, sizeof(*res->layers))))
    r = cf_err(err, ENOMEM, "result");
  for (size_t i = 0; r == 0 && i < m.n; i++) {
    res->n_layers = i + 1;
    r = pull_layer(p, i, &m.items[i], diff_ids ? diff_ids[i] : NULL, err);
  }
  img_strv_free(diff_ids);
  img_manifest_free(&m);
  return r;
}

int cf_image_pull(const struct cf_image_pull_opts *opts, const char *ref,
                  const char *dest_rootfs, struct cf_image_result *res, cf_error *err) {
  memset(res, 0, sizeof(*res));
  struct pull p = {.o = opts ? *opts : (struct cf_image_pull_opts){0}, .res = res, .root = -1};
  struct cf_image_pull_opts *o = &p.o;
#define DEFAULT(f, v) if (!o->f) o->f = v
  DEFAULT(os, "linux");
  DEFAULT(arch, "amd64");
  DEFAULT(max_manifest_bytes, 4ull << 20);
  DEFAULT(max_blob_bytes, 1ull << 30);
  DEFAULT(max_total_bytes, 4ull << 30);
  DEFAULT(max_unpacked_bytes, 8ull << 30);
  DEFAULT(max_layers, 128);
  DEFAULT(time_limit_ms, 600000);
#undef DEFAULT
  int r = img_ref_parse(ref, &p.ref, err);
  if (r < 0)
    return r;
  if (o->pinned_digest && !img_digest_valid(o->pinned_digest))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "pinned digest %.100s is not a digest",
                         o->pinned_digest);
  if (o->insecure_http && !img_host_is_loopback(p.ref.host))
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "image %s: plain http is only allowed to a loopback registry", ref);
  p.deadline = img_now_ms() + o->time_limit_ms;
  p.root = open(dest_rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (p.root < 0)
    return cf_err(err, errno, "%s", dest_rootfs);
  r = img_registry_open(o, &p.ref, p.deadline, &p.reg, err);
  if (r == 0)
    r = run(&p, ref, err);
  if (p.reg) {
    uint64_t us = 0;
    res->bytes_fetched = img_registry_fetched(p.reg);
    img_registry_connects(p.reg, &res->connects, &us);
    res->connect_ms = (uint32_t)(us / 1000);
  }
  img_registry_close(p.reg);
  close(p.root);
  if (r < 0 && !strstr(err->msg, ref))
    cf_error_prefix(err, "pull %s", ref);
  return r;
}

void cf_image_result_free(struct cf_image_result *res) {
  free(res->manifest_digest);
  free(res->platform_manifest_digest);
  free(res->config_digest);
  img_strv_free(res->env);
  img_strv_free(res->entrypoint);
  img_strv_free(res->cmd);
  free(res->working_dir);
  free(res->user);
  for (size_t i = 0; i < res->n_layers; i++) {
    struct cf_image_layer_info *l = &res->layers[i];
    free(l->media_type);
    free(l->digest);
    img_strv_free(l->annotations);
    free(l->unpacked_media_type);
    free(l->diff_id);
  }
  free(res->layers);
  memset(res, 0, sizeof(*res));
}
