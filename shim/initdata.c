/* The pod's init-data, host side (see initdata.h). */
#include "initdata.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/initdata.h"
#include "coffer/sha2.h"

static void json_putp(json_object **o) { json_object_put(*o); }

/* The annotation's text, or NULL when absent. */
static int annotation(const char *spec, char **out, size_t *len, cf_error *err) {
  *out = NULL;
  _cleanup_(json_putp) json_object *root = spec ? json_tokener_parse(spec) : NULL;
  json_object *ann = NULL, *v = NULL;
  if (!root || !json_object_object_get_ex(root, "annotations", &ann) ||
      !json_object_object_get_ex(ann, CF_INITDATA_ANNOTATION, &v))
    return 0;
  if (!json_object_is_type(v, json_type_string))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "annotation %s: not a string",
                         CF_INITDATA_ANNOTATION);
  *len = (size_t)json_object_get_string_len(v);
  if (!(*out = malloc(*len + 1)))
    return cf_err(err, ENOMEM, "annotation %s", CF_INITDATA_ANNOTATION);
  memcpy(*out, json_object_get_string(v), *len + 1);
  return 0;
}

/* What a hostile host would do: hand the guest a document other than the
 * one whose digest went into the launch (here: one more comment line, so it
 * still parses and only the digest check can catch it). */
static int hostile_copy(shim_initdata *d, cf_error *err) {
  static const char extra[] = "# changed by the host after hashing\n";
  d->to_guest_len = d->len + sizeof(extra) - 1;
  if (!(d->to_guest = malloc(d->to_guest_len + 1)))
    return cf_err(err, ENOMEM, "init-data");
  memcpy(d->to_guest, d->toml, d->len);
  memcpy(d->to_guest + d->len, extra, sizeof(extra));
  return 0;
}

int shim_initdata_read(const shim_config *c, const char *spec, shim_initdata *d, cf_error *err) {
  memset(d, 0, sizeof(*d));
  _cleanup_free_ char *value = NULL;
  size_t vlen = 0;
  int r = annotation(spec, &value, &vlen, err);
  if (r < 0)
    return r;
  if (value) {
    if ((r = cf_initdata_decode_annotation(value, vlen, &d->toml, &d->len, err)) < 0)
      return cf_error_prefix(err, "annotation %s", CF_INITDATA_ANNOTATION);
  } else if (c->init_data && c->init_data[0]) {
    if ((r = cf_read_file(c->init_data, CF_INITDATA_MAX_TOML, &d->toml, &d->len, err)) < 0)
      return cf_error_prefix(err, "config %s: key \"init_data\"", c->source);
  }
  bool tee = strcmp(c->profile, "plain") != 0;
  if (!d->toml) {
    if (tee)
      return cf_err_status(err, CF_FAILED_PRECONDITION,
                           "profile %s needs init-data (annotation %s or config key \"init_data\"): "
                           "the guest refuses to run without it",
                           c->profile, CF_INITDATA_ANNOTATION);
  } else {
    _cleanup_(cf_initdata_freep) cf_initdata *id = cf_initdata_parse(d->toml, d->len, err);
    if (!id)
      return cf_error_prefix(err, "%s", value ? "annotation " CF_INITDATA_ANNOTATION : c->init_data);
    cf_hex(id->digest, id->digest_len, d->digest_hex);
    d->to_guest = d->toml;
    d->to_guest_len = d->len;
    if (c->test_hostile_init_data && (r = hostile_copy(d, err)) < 0)
      return r;
  }
  const char *params = c->kernel_params ? c->kernel_params : "";
  if (c->sample_attestation && d->toml)
    r = asprintf(&d->kernel_params, "%s%scoffer.sample_init_data=%s", params, params[0] ? " " : "",
                 d->digest_hex);
  else
    r = (d->kernel_params = strdup(params)) ? 0 : -1;
  if (r < 0) {
    d->kernel_params = NULL;
    return cf_err(err, ENOMEM, "kernel command line");
  }
  return 0;
}

void shim_initdata_free(shim_initdata *d) {
  if (d->to_guest != d->toml)
    free(d->to_guest);
  free(d->toml);
  free(d->kernel_params);
  memset(d, 0, sizeof(*d));
}
