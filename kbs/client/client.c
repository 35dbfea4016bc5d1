/* The RCAR client: handshake, resource fetch, JWE decryption. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_client.h"
#include "coffer/kbs_common.h"
#include "coffer/kbs_jread.h"
#include "http.h"

#define MAX_RCAR_ATTEMPTS 3

struct cf_kbs_client {
  kbs_http http;
  char *url, *tee, *ca, *init_data;
  cf_kbs_evidence_fn evidence;
  void *ud;
  json_t *key, *pub; /* the TEE key pair: the private half stays here */
  char *token;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

cf_kbs_client *cf_kbs_client_new(const cf_kbs_client_config *cfg, cf_error *err) {
  if (!cfg || !cfg->url || !cfg->tee || !cfg->evidence) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "kbs client: url, tee and an evidence function are required");
    return NULL;
  }
  pthread_once(&curl_once, curl_init);
  cf_kbs_client *c = calloc(1, sizeof(*c));
  if (!c) {
    cf_err(err, ENOMEM, "kbs client");
    return NULL;
  }
  c->url = strdup(cfg->url);
  c->tee = strdup(cfg->tee);
  c->ca = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
  c->init_data = cfg->init_data ? strdup(cfg->init_data) : NULL;
  c->evidence = cfg->evidence;
  c->ud = cfg->evidence_ud;
  c->http.url = c->url;
  c->http.ca_file = c->ca;
  c->http.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
  c->http.connect = cfg->connect;
  c->http.connect_ud = cfg->connect_ud;
  c->http.bridge_fd = -1;
  if (c->http.connect && kbs_bridge_start(&c->http, err)) {
    cf_kbs_client_free(c);
    return NULL;
  }
  c->key = cf_kbs_key_generate(cfg->key_type ? cfg->key_type : "ec", err);
  c->pub = c->key ? cf_kbs_key_public(c->key, err) : NULL;
  if (!c->url || !c->tee || !c->pub) {
    if (!err->msg[0])
      cf_err(err, ENOMEM, "kbs client");
    cf_kbs_client_free(c);
    return NULL;
  }
  return c;
}

void cf_kbs_client_free(cf_kbs_client *c) {
  if (!c)
    return;
  kbs_http_close(&c->http);
  kbs_bridge_stop(&c->http);
  free(c->url);
  free(c->tee);
  free(c->ca);
  free(c->init_data);
  free(c->token);
  json_decref(c->key);
  json_decref(c->pub);
  free(c);
}

const char *cf_kbs_client_token(const cf_kbs_client *c) { return c->token; }

char *cf_kbs_client_public_jwk(const cf_kbs_client *c) { return json_dumps(c->pub, JSON_COMPACT); }

static int post_json(cf_kbs_client *c, const char *path, json_t *body, kbs_reply *out,
                     cf_error *err) {
  _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text)
    return cf_err(err, ENOMEM, "request");
  return kbs_http_call(&c->http, "POST", path, "application/json", text, strlen(text), NULL, out, err);
}

static int refused(const char *what, const kbs_reply *r, cf_error *err) {
  char d[600];
  return cf_err_status(err, r->status == 401 ? CF_PERMISSION_DENIED : CF_UNAVAILABLE,
                       "%s refused (HTTP %ld): %s", what, r->status, kbs_reply_detail(r, d, sizeof(d)));
}

/* RCAR; `aud` and `nonces` (coffer's extension) join the runtime data when
 * not NULL. */
static int rcar(cf_kbs_client *c, json_t *aud, json_t *nonces, cf_error *err) {
  kbs_reply r = {0};
  c->http.cookie[0] = '\0';
  free(c->token);
  c->token = NULL;
  json_t *req = json_pack("{s:s,s:s,s:{s:[s]}}", "version", CF_KBS_PROTOCOL_VERSION, "tee",
                          c->tee, "extra-params", "supported-hash-algorithms", "sha384");
  if (!req || post_json(c, "/kbs/v0/auth", req, &r, err))
    return err->msg[0] ? -EIO : cf_err(err, ENOMEM, "auth");
  if (r.status != 200) {
    int rc = refused("/auth", &r, err);
    kbs_reply_free(&r);
    return rc;
  }
  json_t *ch = cf_kbs_json_parse(r.body, r.len, err);
  kbs_reply_free(&r);
  const char *nonce = json_string_value(json_object_get(ch, "nonce"));
  if (!nonce || !c->http.cookie[0]) {
    json_decref(ch);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "/auth: the challenge has no nonce or no session cookie");
  }
  uint8_t digest[48];
  _cleanup_free_ char *evtext = NULL, *rt = NULL, *init = NULL, *att = NULL;
  kbs_span ev;
  int rc = cf_kbs_runtime_digest_bound(c->pub, nonce, "", aud, nonces, digest, err);
  if (!rc)
    rc = c->evidence(c->ud, c->tee, digest, &evtext, err);
  /* The evidence goes into the attestation as the text it is, checked to be
   * one JSON value: SNP evidence is ~12 kB of integer arrays that would
   * otherwise be parsed into values only to be written out again. */
  if (!rc && (!evtext || kbs_jr_document(evtext, strlen(evtext), &ev)))
    rc = cf_err_status(err, CF_INVALID_ARGUMENT, "evidence: not one well-formed JSON value");
  json_t *rtj = rc ? NULL : json_pack("{s:s,s:O}", "nonce", nonce, "tee-pubkey", c->pub);
  if (rtj && aud)
    json_object_set(rtj, "audience", aud);
  if (rtj && nonces)
    json_object_set(rtj, "nonces", nonces);
  json_decref(ch);
  if (rc)
    return rc;
  rt = rtj ? json_dumps(rtj, JSON_COMPACT) : NULL;
  json_decref(rtj);
  json_t *initj = c->init_data ? json_pack("{s:s,s:s}", "format", "toml", "body", c->init_data) : NULL;
  init = initj ? json_dumps(initj, JSON_COMPACT) : NULL;
  json_decref(initj);
  if (!rt || (c->init_data && !init) ||
      asprintf(&att, "{\"runtime-data\":%s,\"tee-evidence\":{\"primary_evidence\":%.*s,"
                     "\"additional_evidence\":\"\"}%s%s}",
               rt, (int)(ev.end - ev.p), ev.p, init ? ",\"init-data\":" : "", init ? init : "") < 0) {
    att = NULL;
    return cf_err(err, ENOMEM, "attestation");
  }
  if (kbs_http_call(&c->http, "POST", "/kbs/v0/attest", "application/json", att, strlen(att), NULL,
                    &r, err))
    return -EIO;
  if (r.status != 200) {
    rc = refused("/attest", &r, err);
    kbs_reply_free(&r);
    return rc;
  }
  json_t *tok = cf_kbs_json_parse(r.body, r.len, err);
  kbs_reply_free(&r);
  const char *t = json_string_value(json_object_get(tok, "token"));
  c->token = t ? strdup(t) : NULL;
  json_decref(tok);
  return c->token ? 0 : cf_err_status(err, CF_INVALID_ARGUMENT, "/attest: no token in the answer");
}

int cf_kbs_client_attest(cf_kbs_client *c, cf_error *err) { return rcar(c, NULL, NULL, err); }

int cf_kbs_client_attest_bound(cf_kbs_client *c, const char *audience, const char *const *nonces,
                               size_t n_nonces, char **token, cf_error *err) {
  json_t *aud = audience ? json_string(audience) : NULL;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n_nonces; i++)
    if (json_array_append_new(arr, json_string(nonces[i])))
      json_decref(arr), arr = NULL;
  int rc = (audience && !aud) || !arr ? cf_err_status(err, CF_INVALID_ARGUMENT,
                                                      "audience and nonces must be UTF-8 strings")
                                      : rcar(c, aud, n_nonces ? arr : NULL, err);
  json_decref(aud);
  json_decref(arr);
  if (rc)
    return rc;
  *token = strdup(c->token);
  return *token ? 0 : cf_err(err, ENOMEM, "token");
}

int cf_kbs_client_decrypt(const cf_kbs_client *c, const char *jwe_json, uint8_t **data,
                          size_t *len, cf_error *err) {
  json_t *jwe = cf_kbs_json_parse(jwe_json, strlen(jwe_json), err);
  if (!jwe)
    return cf_error_prefix(err, "resource response");
  int r = cf_kbs_jwe_decrypt(c->key, jwe, data, len, err);
  json_decref(jwe);
  return r;
}

/* "kbs:///r/t/g", "kbs://host/r/t/g" or "r/t/g" -> "r/t/g". */
static const char *strip_uri(const char *p) {
  if (!strncmp(p, "kbs://", 6)) {
    const char *slash = strchr(p + 6, '/');
    return slash ? slash + 1 : p + strlen(p);
  }
  return p[0] == '/' ? p + 1 : p;
}

int cf_kbs_client_get_resource(cf_kbs_client *c, const char *path, uint8_t **data, size_t *len,
                               cf_error *err) {
  char url[512];
  snprintf(url, sizeof(url), "/kbs/v0/resource/%s", strip_uri(path));
  for (int attempt = 0; attempt < MAX_RCAR_ATTEMPTS; attempt++) {
    if (!c->token && cf_kbs_client_attest(c, err))
      return -EPERM;
    kbs_reply r = {0};
    if (kbs_http_call(&c->http, "GET", url, NULL, NULL, 0, NULL, &r, err))
      return -EIO;
    if (r.status == 200) {
      int rc = cf_kbs_client_decrypt(c, r.body, data, len, err);
      kbs_reply_free(&r);
      return rc;
    }
    int rc = refused(url, &r, err);
    long st = r.status;
    kbs_reply_free(&r);
    if (st != 401)
      return rc;
    free(c->token); /* 401: the session may be gone; redo RCAR */
    c->token = NULL;
  }
  return cf_error_prefix(err, "after %d attestations", MAX_RCAR_ATTEMPTS);
}

int cf_kbs_sample_evidence(void *ud, const char *tee, const uint8_t digest[48],
                           char **evidence_json, cf_error *err) {
  _cleanup_free_ char *b64 = cf_kbs_b64std_encode(digest, 48);
  json_t *o = b64 ? json_pack("{s:s,s:s}", "svn", "1", "report_data", b64) : NULL;
  *evidence_json = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return *evidence_json ? 0 : cf_err(err, ENOMEM, "sample evidence");
}

int cf_kbs_export_jwks(const char *url, const char *ca_file, long timeout_ms, char **jwks,
                       cf_error *err) {
  pthread_once(&curl_once, curl_init);
  kbs_http h = {.url = url, .ca_file = ca_file, .timeout_ms = timeout_ms > 0 ? timeout_ms : 10000};
  kbs_reply r = {0};
  int rc = kbs_http_call(&h, "GET", "/kbs/v0/token-jwks", NULL, NULL, 0, NULL, &r, err);
  kbs_http_close(&h);
  if (rc)
    return -EIO;
  if (r.status != 200) {
    rc = refused("token-jwks", &r, err);
    kbs_reply_free(&r);
    return rc;
  }
  *jwks = r.body;
  return 0;
}
