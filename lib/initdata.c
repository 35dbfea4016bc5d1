/* Init-data documents: checks, digest, and the entries coffer reads
 * (see coffer/initdata.h). */
#include "coffer/initdata.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/sha2.h"

#define DEFAULT_TIMEOUT_MS 30000
#define MAX_TIMEOUT_MS 600000
#define IMAGE_MAX_KEYS 16

static int bad(cf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(cf_error *err, const char *fmt, ...) {
  char msg[CF_ERROR_MSG_MAX - 16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data: %s", msg);
}

const char *cf_initdata_alg_name(cf_initdata_alg alg) {
  switch (alg) {
  case CF_INITDATA_SHA256: return "sha256";
  case CF_INITDATA_SHA384: return "sha384";
  case CF_INITDATA_SHA512: return "sha512";
  }
  return "?";
}

size_t cf_initdata_hash(cf_initdata_alg alg, const void *data, size_t len, uint8_t out[64]) {
  switch (alg) {
  case CF_INITDATA_SHA256: cf_sha256(data, len, out); return 32;
  case CF_INITDATA_SHA384: cf_sha384(data, len, out); return 48;
  case CF_INITDATA_SHA512: cf_sha512(data, len, out); return 64;
  }
  return 0;
}

void cf_initdata_fit(const uint8_t *digest, size_t digest_len, uint8_t *out, size_t n) {
  size_t k = digest_len < n ? digest_len : n;
  memcpy(out, digest, k);
  memset(out + k, 0, n - k);
}

bool cf_initdata_name_valid(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 128 || name[0] == '.')
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

const char *cf_initdata_entry(const cf_initdata *id, const char *name, size_t *len) {
  return id ? cf_toml_string(cf_toml_child(id->data, name), len) : NULL;
}

/* A string entry of a table, or NULL when absent; any other type is an error. */
static int opt_string(const cf_toml *t, const char *key, const char *where, const char **out,
                      cf_error *err) {
  const cf_toml *v = cf_toml_child(t, key);
  *out = NULL;
  if (!v)
    return 0;
  if (!(*out = cf_toml_cstr(v)))
    return bad(err, "%s: \"%s\" must be a string without NUL", where, key);
  return 0;
}

/* Parses a [data] entry that is itself a TOML document. */
static int sub_document(const cf_initdata *id, const char *name, cf_toml **out, cf_error *err) {
  size_t len;
  const char *text = cf_initdata_entry(id, name, &len);
  if (!text)
    return 0;
  if (!(*out = cf_toml_parse(text, len, err)))
    return cf_error_prefix(err, "init-data: \"%s\"", name);
  return 0;
}

/* "aa.toml" as CoCo's attestation agent reads it: [token_configs.kbs] url, cert. */
static int read_aa(cf_initdata *id, cf_error *err) {
  int r;
  if ((r = sub_document(id, "aa.toml", &id->aa, err)) < 0 || !id->aa)
    return r;
  const cf_toml *kbs = cf_toml_get(id->aa, "token_configs.kbs");
  if (!kbs)
    return 0;
  if (cf_toml_type_of(kbs) != CF_TOML_TABLE)
    return bad(err, "aa.toml: token_configs.kbs must be a table");
  if ((r = opt_string(kbs, "url", "aa.toml [token_configs.kbs]", &id->broker_url, err)) < 0 ||
      (r = opt_string(kbs, "cert", "aa.toml [token_configs.kbs]", &id->broker_cert, err)) < 0)
    return r;
  if (id->broker_url && strncmp(id->broker_url, "https://", 8) && strncmp(id->broker_url, "http://", 7))
    return bad(err, "aa.toml [token_configs.kbs]: url \"%.200s\" is not http(s)://", id->broker_url);
  return 0;
}

/* kbs:///<repo>/<type>/<tag>, each part a plain name. */
static bool resource_uri_valid(const char *uri) {
  if (strncmp(uri, "kbs:///", 7))
    return false;
  const char *p = uri + 7;
  for (int part = 0; part < 3; part++) {
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char seg[129];
    if ((part < 2) != (end != NULL) || n == 0 || n >= sizeof(seg))
      return false;
    memcpy(seg, p, n);
    seg[n] = 0;
    if (!cf_initdata_name_valid(seg))
      return false;
    p += n + 1;
  }
  return true;
}

static int read_image(cf_initdata *id, const cf_toml *img, cf_error *err) {
  if (!img)
    return 0;
  if (cf_toml_type_of(img) != CF_TOML_TABLE)
    return bad(err, "coffer.toml: image must be a table");
  for (size_t i = 0; i < cf_toml_count(img); i++) {
    const char *k;
    const cf_toml *v = cf_toml_at(img, i, &k);
    int64_t ms;
    if (!strcmp(k, "decryption_keys")) {
      size_t n = cf_toml_count(v);
      if (cf_toml_type_of(v) != CF_TOML_ARRAY || n > IMAGE_MAX_KEYS)
        return bad(err, "coffer.toml [image]: decryption_keys must be an array of at most %d "
                        "\"kbs:///<repo>/<type>/<tag>\"", IMAGE_MAX_KEYS);
      if (n && !(id->image_keys = calloc(n, sizeof(*id->image_keys))))
        return cf_err(err, ENOMEM, "init-data");
      for (size_t j = 0; j < n; j++) {
        const char *uri = cf_toml_cstr(cf_toml_at(v, j, NULL));
        if (!uri || !resource_uri_valid(uri))
          return bad(err, "coffer.toml [image]: decryption_keys[%zu] must be "
                          "\"kbs:///<repo>/<type>/<tag>\"", j);
        id->image_keys[id->n_image_keys++] = uri;
      }
    } else if (!strcmp(k, "registry_ca")) {
      const char *pem = cf_toml_cstr(v);
      if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
        return bad(err, "coffer.toml [image]: registry_ca must be PEM certificates");
      id->registry_ca = pem;
    } else if (!strcmp(k, "insecure_http")) {
      if (!cf_toml_bool(v, &id->image_insecure_http))
        return bad(err, "coffer.toml [image]: insecure_http must be true or false");
    } else if (!strcmp(k, "timeout_ms")) {
      if (!cf_toml_int(v, &ms) || ms < 1 || ms > 6 * MAX_TIMEOUT_MS)
        return bad(err, "coffer.toml [image]: timeout_ms must be 1..%d", 6 * MAX_TIMEOUT_MS);
      id->image_timeout_ms = (uint32_t)ms;
    } else {
      return bad(err, "coffer.toml [image]: unknown key \"%.64s\"", k);
    }
  }
  return 0;
}

static int read_coffer(cf_initdata *id, cf_error *err) {
  int r;
  id->timeout_ms = DEFAULT_TIMEOUT_MS;
  id->image_timeout_ms = MAX_TIMEOUT_MS;
  if ((r = sub_document(id, "coffer.toml", &id->coffer, err)) < 0 || !id->coffer)
    return r;
  for (size_t i = 0; i < cf_toml_count(id->coffer); i++) {
    const char *k;
    cf_toml_at(id->coffer, i, &k);
    if (strcmp(k, "secrets") && strcmp(k, "attestation") && strcmp(k, "image"))
      return bad(err, "coffer.toml: unknown entry \"%.64s\" (expected [secrets], [attestation], "
                      "[image])", k);
  }
  if ((r = read_image(id, cf_toml_child(id->coffer, "image"), err)) < 0)
    return r;
  const cf_toml *sec = cf_toml_child(id->coffer, "secrets");
  if (sec && cf_toml_type_of(sec) != CF_TOML_TABLE)
    return bad(err, "coffer.toml: secrets must be a table");
  size_t n = cf_toml_count(sec);
  if (n && !(id->secrets = calloc(n, sizeof(*id->secrets))))
    return cf_err(err, ENOMEM, "init-data");
  for (size_t i = 0; i < n; i++) {
    const char *name;
    const char *uri = cf_toml_cstr(cf_toml_at(sec, i, &name));
    if (!cf_initdata_name_valid(name))
      return bad(err, "coffer.toml [secrets]: \"%.64s\" is not a valid file name", name);
    if (!uri || !resource_uri_valid(uri))
      return bad(err, "coffer.toml [secrets]: %s must be \"kbs:///<repo>/<type>/<tag>\"", name);
    id->secrets[id->n_secrets++] = (cf_initdata_secret){.name = name, .uri = uri};
  }
  const cf_toml *att = cf_toml_child(id->coffer, "attestation");
  if (!att)
    return 0;
  if (cf_toml_type_of(att) != CF_TOML_TABLE)
    return bad(err, "coffer.toml: attestation must be a table");
  for (size_t i = 0; i < cf_toml_count(att); i++) {
    const char *k;
    const cf_toml *v = cf_toml_at(att, i, &k);
    int64_t ms;
    if (!strcmp(k, "token")) {
      if (!cf_toml_bool(v, &id->token))
        return bad(err, "coffer.toml [attestation]: token must be true or false");
    } else if (!strcmp(k, "timeout_ms")) {
      if (!cf_toml_int(v, &ms) || ms < 1 || ms > MAX_TIMEOUT_MS)
        return bad(err, "coffer.toml [attestation]: timeout_ms must be 1..%d", MAX_TIMEOUT_MS);
      id->timeout_ms = (uint32_t)ms;
    } else {
      return bad(err, "coffer.toml [attestation]: unknown key \"%.64s\"", k);
    }
  }
  return 0;
}

static int read_header(cf_initdata *id, cf_error *err) {
  for (size_t i = 0; i < cf_toml_count(id->doc); i++) {
    const char *k;
    cf_toml_at(id->doc, i, &k);
    if (strcmp(k, "version") && strcmp(k, "algorithm") && strcmp(k, "data"))
      return bad(err, "unknown top-level entry \"%.64s\" (expected version, algorithm, [data])", k);
  }
  const char *version = cf_toml_cstr(cf_toml_child(id->doc, "version"));
  if (!version)
    return bad(err, "version is missing (must be \"%s\")", CF_INITDATA_VERSION);
  if (strcmp(version, CF_INITDATA_VERSION))
    return bad(err, "version \"%.32s\" is not supported (must be \"%s\")", version, CF_INITDATA_VERSION);
  const char *alg = cf_toml_cstr(cf_toml_child(id->doc, "algorithm"));
  if (!alg)
    return bad(err, "algorithm is missing (sha256, sha384 or sha512)");
  if (!strcmp(alg, "sha256"))
    id->alg = CF_INITDATA_SHA256;
  else if (!strcmp(alg, "sha384"))
    id->alg = CF_INITDATA_SHA384;
  else if (!strcmp(alg, "sha512"))
    id->alg = CF_INITDATA_SHA512;
  else
    return bad(err, "algorithm \"%.32s\" is not sha256, sha384 or sha512", alg);
  id->data = cf_toml_child(id->doc, "data");
  if (!id->data || cf_toml_type_of(id->data) != CF_TOML_TABLE)
    return bad(err, "the [data] table is missing");
  for (size_t i = 0; i < cf_toml_count(id->data); i++) {
    const char *k;
    const cf_toml *v = cf_toml_at(id->data, i, &k);
    if (!cf_initdata_name_valid(k) || !strcmp(k, "initdata.toml"))
      return bad(err, "[data] key \"%.64s\" is not a valid file name", k);
    if (cf_toml_type_of(v) != CF_TOML_STRING)
      return bad(err, "[data] \"%s\" must be a string", k);
  }
  return 0;
}

cf_initdata *cf_initdata_parse(const char *toml, size_t len, cf_error *err) {
  if (len > CF_INITDATA_MAX_TOML) {
    bad(err, "%zu bytes is more than the limit of %u", len, CF_INITDATA_MAX_TOML);
    return NULL;
  }
  _cleanup_(cf_initdata_freep) cf_initdata *id = calloc(1, sizeof(*id));
  if (!id || !(id->toml = malloc(len + 1))) {
    cf_err(err, ENOMEM, "init-data");
    return NULL;
  }
  memcpy(id->toml, toml, len);
  id->toml[len] = 0;
  id->toml_len = len;
  if (!(id->doc = cf_toml_parse(id->toml, len, err))) {
    cf_error_prefix(err, "init-data");
    return NULL;
  }
  if (read_header(id, err) < 0 || read_aa(id, err) < 0 || read_coffer(id, err) < 0)
    return NULL;
  id->digest_len = cf_initdata_hash(id->alg, id->toml, id->toml_len, id->digest);
  return cf_steal_ptr(id);
}

void cf_initdata_free(cf_initdata *id) {
  if (!id)
    return;
  cf_toml_free(id->doc);
  cf_toml_free(id->aa);
  cf_toml_free(id->coffer);
  free(id->secrets);
  free(id->image_keys);
  free(id->toml);
  free(id);
}
