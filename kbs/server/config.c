/* coffer-kbs configuration file (JSON; keys in kbs/README.md). */
#include <errno.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "kbs.h"

void kbs_config_defaults(kbs_config *c) {
  memset(c, 0, sizeof(*c));
  snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
  c->session_timeout_s = 300;
  c->token_lifetime_s = 300;
  c->max_body = 1 << 20;
  c->max_connections = 4096;
  c->connection_timeout_s = 15;
  c->max_sessions = 100000;
}

static int str(json_t *o, const char *key, char *out, size_t n, cf_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v)
    return 0;
  if (!json_is_string(v) || json_string_length(v) >= n)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"%s\" must be a string shorter than %zu", key, n);
  snprintf(out, n, "%s", json_string_value(v));
  return 0;
}

static int num(json_t *o, const char *key, long long lo, long long hi, long long *out,
               cf_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"%s\" must be an integer %lld..%lld", key, lo, hi);
  *out = json_integer_value(v);
  return 0;
}

static int known(json_t *o, const char *const *keys, const char *where, cf_error *err) {
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    size_t i = 0;
    while (keys[i] && strcmp(keys[i], k))
      i++;
    if (!keys[i])
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%sunknown key \"%s\"", where, k);
  }
  return 0;
}

static int parse(kbs_config *c, json_t *o, cf_error *err) {
  static const char *const top[] = {"listen", "tls", "insecure_http", "session_timeout_s",
      "token_lifetime_s", "max_body_bytes", "max_connections", "connection_timeout_s", "threads",
      "max_sessions", "token_key", "admin_jwk", "resource_dir", "policy", "reference", "sample",
      "snp", "tdx", "verify_at", NULL};
  static const char *const tls[] = {"cert", "key", NULL};
  static const char *const snp[] = {"chain", "crl", "signers", NULL};
  static const char *const tdx[] = {"tcb_info", "qe_identity", "pck_crl", "root_crl",
                                    "tcb_signing_chain", NULL};
  static const char *const sample[] = {"enabled", NULL};
  if (!json_is_object(o))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "not a JSON object");
  long long v;
  int r = known(o, top, "", err);
  if (r || (r = str(o, "listen", c->listen, sizeof(c->listen), err)) ||
      (r = str(o, "token_key", c->token_key, sizeof(c->token_key), err)) ||
      (r = str(o, "admin_jwk", c->admin_jwk, sizeof(c->admin_jwk), err)) ||
      (r = str(o, "resource_dir", c->resource_dir, sizeof(c->resource_dir), err)) ||
      (r = str(o, "policy", c->policy, sizeof(c->policy), err)) ||
      (r = str(o, "reference", c->reference, sizeof(c->reference), err)))
    return r;
  json_t *b = json_object_get(o, "insecure_http");
  if (b && !json_is_boolean(b))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"insecure_http\" must be a boolean");
  c->insecure_http = json_is_true(b);
#define NUM(key, lo, hi, field)                 \
  v = c->field;                                 \
  if ((r = num(o, key, lo, hi, &v, err)))       \
    return r;                                   \
  c->field = v;
  NUM("session_timeout_s", 1, 86400, session_timeout_s)
  NUM("token_lifetime_s", 1, 86400, token_lifetime_s)
  NUM("max_body_bytes", 1024, 64 << 20, max_body)
  NUM("max_connections", 16, 1000000, max_connections)
  NUM("connection_timeout_s", 1, 3600, connection_timeout_s)
  NUM("threads", 0, 256, threads)
  NUM("max_sessions", 1, 10000000, max_sessions)
#undef NUM
  json_t *t = json_object_get(o, "tls");
  if (t && (!json_is_object(t) || (r = known(t, tls, "tls: ", err)) ||
            (r = str(t, "cert", c->tls_cert, sizeof(c->tls_cert), err)) ||
            (r = str(t, "key", c->tls_key, sizeof(c->tls_key), err))))
    return r ? r : cf_err_status(err, CF_INVALID_ARGUMENT, "\"tls\" must be an object");
  json_t *s = json_object_get(o, "sample");
  if (s) {
    if (!json_is_object(s) || (r = known(s, sample, "sample: ", err)))
      return r ? r : cf_err_status(err, CF_INVALID_ARGUMENT, "\"sample\" must be an object");
    c->sample_enabled = json_is_true(json_object_get(s, "enabled"));
  }
  json_t *sn = json_object_get(o, "snp");
  if (sn) {
    if (!json_is_object(sn) || (r = known(sn, snp, "snp: ", err)) ||
        (r = str(sn, "chain", c->snp_chain, sizeof(c->snp_chain), err)) ||
        (r = str(sn, "crl", c->snp_crl, sizeof(c->snp_crl), err)))
      return r ? r : cf_err_status(err, CF_INVALID_ARGUMENT, "\"snp\" must be an object");
    json_t *sg = json_object_get(sn, "signers");
    size_t i;
    json_t *e;
    if (sg && (!json_is_array(sg) || json_array_size(sg) > 8))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "snp.signers must be an array of up to 8 paths");
    json_array_foreach(sg, i, e) {
      if (!json_is_string(e) || json_string_length(e) >= sizeof(c->snp_signers[0]))
        return cf_err_status(err, CF_INVALID_ARGUMENT, "snp.signers[%zu] must be a path", i);
      snprintf(c->snp_signers[i], sizeof(c->snp_signers[i]), "%s", json_string_value(e));
      c->n_snp_signers = i + 1;
    }
  }
  json_t *td = json_object_get(o, "tdx");
  if (td && (!json_is_object(td) || (r = known(td, tdx, "tdx: ", err)) ||
             (r = str(td, "tcb_info", c->tdx_tcb_info, sizeof(c->tdx_tcb_info), err)) ||
             (r = str(td, "qe_identity", c->tdx_qe_identity, sizeof(c->tdx_qe_identity), err)) ||
             (r = str(td, "pck_crl", c->tdx_pck_crl, sizeof(c->tdx_pck_crl), err)) ||
             (r = str(td, "root_crl", c->tdx_root_crl, sizeof(c->tdx_root_crl), err)) ||
             (r = str(td, "tcb_signing_chain", c->tdx_tcb_chain, sizeof(c->tdx_tcb_chain), err))))
    return r ? r : cf_err_status(err, CF_INVALID_ARGUMENT, "\"tdx\" must be an object");
  json_t *at = json_object_get(o, "verify_at");
  if (at) {
    if (!json_is_string(at) || cf_parse_rfc3339(json_string_value(at), &c->verify_at))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "\"verify_at\" must be an RFC 3339 time");
    c->has_verify_at = true;
  }
  return 0;
}

int kbs_config_load(kbs_config *c, const char *path, cf_error *err) {
  _cleanup_free_ char *text = NULL;
  size_t len;
  int r = cf_read_file(path, 1 << 20, &text, &len, err);
  if (r)
    return r;
  json_t *o = cf_kbs_json_parse(text, len, err);
  if (!o)
    return cf_error_prefix(err, "%s", path);
  r = parse(c, o, err);
  json_decref(o);
  if (r)
    return cf_error_prefix(err, "%s", path);
  if (!c->insecure_http && (!c->tls_cert[0] || !c->tls_key[0]))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: tls.cert and tls.key are required (plain HTTP only with "
                         "\"insecure_http\": true)", path);
  return 0;
}
