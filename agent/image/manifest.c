/* OCI / Docker v2 manifests, indexes (manifest lists) and image configs. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MAX_ITEMS 1024
#define MAX_ANNOTATIONS 256

void img_strv_free(char **v) {
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

void img_desc_free(struct img_desc *d) {
  free(d->media_type);
  free(d->digest);
  free(d->os);
  free(d->arch);
  img_strv_free(d->annotations);
  memset(d, 0, sizeof(*d));
}

void img_manifest_free(struct img_manifest *m) {
  img_desc_free(&m->config);
  for (size_t i = 0; i < m->n; i++)
    img_desc_free(&m->items[i]);
  free(m->items);
  free(m->media_type);
  memset(m, 0, sizeof(*m));
}

static json_object *get(json_object *o, const char *k, json_type t) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t))
    return NULL;
  return v;
}

static const char *get_str(json_object *o, const char *k) {
  json_object *v = get(o, k, json_type_string);
  return v ? json_object_get_string(v) : NULL;
}

static int parse_json(const char *buf, size_t len, json_object **out, cf_error *err) {
  if (len > INT32_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "JSON too large");
  struct json_tokener *tok = json_tokener_new_ex(32);
  if (!tok)
    return cf_err(err, ENOMEM, "json");
  json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
  enum json_tokener_error je = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  while (used < len && strchr(" \t\r\n", buf[used]) && buf[used])
    used++;
  if (!o || je != json_tokener_success || used != len || !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "not a JSON object");
  }
  *out = o;
  return 0;
}

static int parse_desc(json_object *o, struct img_desc *d, bool platform, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "descriptor is not an object");
  const char *mt = get_str(o, "mediaType"), *dg = get_str(o, "digest");
  json_object *sz = get(o, "size", json_type_int);
  if (!mt || !dg || !sz)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "descriptor without mediaType, digest or size");
  if (!img_digest_valid(dg))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "descriptor digest %.80s is not valid", dg);
  int64_t size = json_object_get_int64(sz);
  if (size < 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "descriptor %s: negative size", dg);
  d->size = (uint64_t)size;
  if (!(d->media_type = strdup(mt)) || !(d->digest = strdup(dg)))
    return cf_err(err, ENOMEM, "descriptor");
  json_object *ann = get(o, "annotations", json_type_object);
  size_t n = ann ? (size_t)json_object_object_length(ann) : 0;
  if (n > MAX_ANNOTATIONS)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "descriptor %s: %zu annotations", dg, n);
  if (!(d->annotations = calloc(2 * n + 1, sizeof(char *))))
    return cf_err(err, ENOMEM, "annotations");
  size_t i = 0;
  if (ann) {
    json_object_object_foreach(ann, k, v) {
      if (!json_object_is_type(v, json_type_string))
        return cf_err_status(err, CF_INVALID_ARGUMENT, "descriptor %s: annotation %s not a string",
                             dg, k);
      if (!(d->annotations[i++] = strdup(k)) ||
          !(d->annotations[i++] = strdup(json_object_get_string(v))))
        return cf_err(err, ENOMEM, "annotations");
    }
  }
  json_object *pf = platform ? get(o, "platform", json_type_object) : NULL;
  if (pf) {
    const char *os = get_str(pf, "os"), *arch = get_str(pf, "architecture");
    if ((os && !(d->os = strdup(os))) || (arch && !(d->arch = strdup(arch))))
      return cf_err(err, ENOMEM, "platform");
  }
  return 0;
}

int img_manifest_parse(const char *buf, size_t len, const char *content_type,
                       struct img_manifest *m, cf_error *err) {
  memset(m, 0, sizeof(*m));
  json_object *o = NULL;
  int r = parse_json(buf, len, &o, err);
  if (r < 0)
    return cf_error_prefix(err, "manifest");
  json_object *sv = get(o, "schemaVersion", json_type_int);
  const char *mt = get_str(o, "mediaType");
  if (!mt)
    mt = content_type;
  json_object *items = NULL;
  if (!sv || json_object_get_int(sv) != 2) {
    r = cf_err_status(err, CF_UNIMPLEMENTED, "manifest: schemaVersion is not 2");
  } else if (!mt || (strcmp(mt, MT_OCI_INDEX) && strcmp(mt, MT_OCI_MANIFEST) &&
                     strcmp(mt, MT_DOCKER_LIST) && strcmp(mt, MT_DOCKER_MANIFEST))) {
    r = cf_err_status(err, CF_UNIMPLEMENTED, "manifest: media type %.100s is not supported",
                      mt ? mt : "(none)");
  } else {
    m->is_index = !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
    items = get(o, m->is_index ? "manifests" : "layers", json_type_array);
    if (!(m->media_type = strdup(mt)))
      r = cf_err(err, ENOMEM, "manifest");
    else if (!items)
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "manifest: no %s array",
                        m->is_index ? "manifests" : "layers");
  }
  size_t n = items ? json_object_array_length(items) : 0;
  if (r == 0 && (n > MAX_ITEMS || (!m->is_index && n == 0)))
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "manifest: %zu entries", n);
  if (r == 0 && !m->is_index) {
    json_object *cfg = get(o, "config", json_type_object);
    r = cfg ? parse_desc(cfg, &m->config, false, err)
            : cf_err_status(err, CF_INVALID_ARGUMENT, "manifest: no config");
  }
  if (r == 0 && n && !(m->items = calloc(n, sizeof(*m->items))))
    r = cf_err(err, ENOMEM, "manifest");
  for (size_t i = 0; r == 0 && i < n; i++, m->n++)
    r = parse_desc(json_object_array_get_idx(items, i), &m->items[i], m->is_index, err);
  json_object_put(o);
  if (r < 0) {
    img_manifest_free(m);
    if (!strstr(err->msg, "manifest"))
      cf_error_prefix(err, "manifest");
  }
  return r;
}

/* a JSON array of strings, or NULL (absent, null) */
static int strv(json_object *o, const char *k, char ***out, cf_error *err) {
  *out = NULL;
  json_object *a;
  if (!json_object_object_get_ex(o, k, &a) || json_object_is_type(a, json_type_null))
    return 0;
  if (!json_object_is_type(a, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "config: %s is not an array", k);
  size_t n = json_object_array_length(a);
  if (n > 65536)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "config: %s has %zu entries", k, n);
  char **v = calloc(n + 1, sizeof(char *));
  if (!v)
    return cf_err(err, ENOMEM, "config");
  for (size_t i = 0; i < n; i++) {
    json_object *s = json_object_array_get_idx(a, i);
    if (!json_object_is_type(s, json_type_string) || !(v[i] = strdup(json_object_get_string(s)))) {
      img_strv_free(v);
      return cf_err_status(err, CF_INVALID_ARGUMENT, "config: %s[%zu] is not a string", k, i);
    }
  }
  *out = v;
  return 0;
}

int img_config_parse(const char *buf, size_t len, struct cf_image_result *res, char ***diff_ids,
                     cf_error *err) {
  json_object *o = NULL;
  int r = parse_json(buf, len, &o, err);
  if (r < 0)
    return cf_error_prefix(err, "config");
  json_object *c = get(o, "config", json_type_object);
  json_object *rootfs = get(o, "rootfs", json_type_object);
  *diff_ids = NULL;
  if (c) {
    const char *wd = get_str(c, "WorkingDir"), *user = get_str(c, "User");
    if ((r = strv(c, "Env", &res->env, err)) == 0 &&
        (r = strv(c, "Entrypoint", &res->entrypoint, err)) == 0 &&
        (r = strv(c, "Cmd", &res->cmd, err)) == 0 &&
        ((wd && !(res->working_dir = strdup(wd))) || (user && !(res->user = strdup(user)))))
      r = cf_err(err, ENOMEM, "config");
  }
  if (r == 0 && rootfs)
    r = strv(rootfs, "diff_ids", diff_ids, err);
  for (size_t i = 0; r == 0 && *diff_ids && (*diff_ids)[i]; i++)
    if (!img_digest_valid((*diff_ids)[i]))
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "config: diff_id %zu is not a digest", i);
  json_object_put(o);
  return r;
}
