/* init_data_claims for the token (kbs-protocol.md B5): the init-data
 * document's [data] map, with the "aa.toml" and "cdh.toml" entries (TOML
 * documents themselves) turned into JSON objects, every other entry kept
 * as its string. */
#include <errno.h>
#include <string.h>

#include "coffer/toml.h"
#include "kbs.h"

static json_t *to_json(const cf_toml *t) {
  switch (cf_toml_type_of(t)) {
  case CF_TOML_STRING: {
    size_t n;
    const char *s = cf_toml_string(t, &n);
    return json_stringn(s, n);
  }
  case CF_TOML_INTEGER: {
    int64_t v;
    cf_toml_int(t, &v);
    return json_integer((json_int_t)v);
  }
  case CF_TOML_BOOL: {
    bool b;
    cf_toml_bool(t, &b);
    return json_boolean(b);
  }
  case CF_TOML_ARRAY:
  case CF_TOML_TABLE: {
    bool table = cf_toml_type_of(t) == CF_TOML_TABLE;
    json_t *o = table ? json_object() : json_array();
    for (size_t i = 0; o && i < cf_toml_count(t); i++) {
      const char *key = NULL;
      json_t *v = to_json(cf_toml_at(t, i, &key));
      if (!v || (table ? json_object_set_new(o, key, v) : json_array_append_new(o, v))) {
        json_decref(o);
        return NULL;
      }
    }
    return o;
  }
  }
  return NULL;
}

json_t *kbs_initdata_claims(const char *toml, size_t len, cf_error *err) {
  cf_toml *doc = cf_toml_parse(toml, len, err);
  if (!doc) {
    cf_error_prefix(err, "init-data is not a TOML document");
    return NULL;
  }
  const cf_toml *data = cf_toml_child(doc, "data");
  json_t *out = json_object();
  if (data && cf_toml_type_of(data) != CF_TOML_TABLE) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "init-data: data must be a table");
    goto fail;
  }
  for (size_t i = 0; out && data && i < cf_toml_count(data); i++) {
    const char *key = NULL;
    const cf_toml *v = cf_toml_at(data, i, &key);
    size_t n;
    const char *s = cf_toml_string(v, &n);
    if (!s) {
      cf_err_status(err, CF_INVALID_ARGUMENT, "init-data: data.\"%.64s\" is not a string", key);
      goto fail;
    }
    json_t *j;
    if (!strcmp(key, "aa.toml") || !strcmp(key, "cdh.toml")) {
      cf_toml *inner = cf_toml_parse(s, n, err);
      if (!inner) {
        cf_error_prefix(err, "init-data: data.\"%s\"", key);
        goto fail;
      }
      j = to_json(inner);
      cf_toml_free(inner);
    } else {
      j = json_stringn(s, n);
    }
    if (!j || json_object_set_new(out, key, j)) {
      cf_err(err, ENOMEM, "init_data_claims");
      goto fail;
    }
  }
  if (!out)
    cf_err(err, ENOMEM, "init_data_claims");
  cf_toml_free(doc);
  return out;
fail:
  json_decref(out);
  cf_toml_free(doc);
  return NULL;
}
