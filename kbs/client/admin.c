/* Admin calls: an ES256 JWT with a short lifetime, signed by the admin key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_client.h"
#include "coffer/kbs_common.h"
#include "http.h"

static char *admin_token(const cf_kbs_admin *a, cf_error *err) {
  json_t *key = cf_kbs_json_parse(a->admin_jwk, strlen(a->admin_jwk), err);
  time_t now = time(NULL);
  json_t *claims = json_pack("{s:I,s:I}", "iat", (json_int_t)now, "exp", (json_int_t)(now + 300));
  char *t = key && claims ? cf_kbs_jwt_sign(key, claims, false, err) : NULL;
  json_decref(key);
  json_decref(claims);
  return t;
}

static int call(const cf_kbs_admin *a, const char *method, const char *path, const char *ctype,
                const void *body, size_t len, cf_error *err) {
  _cleanup_free_ char *tok = admin_token(a, err);
  if (!tok)
    return cf_error_prefix(err, "admin key");
  kbs_http h = {.url = a->url, .ca_file = a->ca_file, .timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : 10000};
  kbs_reply r = {0};
  int hr = kbs_http_call(&h, method, path, ctype, body, len, tok, &r, err);
  kbs_http_close(&h);
  if (hr)
    return -EIO;
  int rc = 0;
  if (r.status != 200) {
    char d[600];
    rc = cf_err_status(err, CF_PERMISSION_DENIED, "%s %s refused (HTTP %ld): %s", method, path,
                       r.status, kbs_reply_detail(&r, d, sizeof(d)));
  }
  kbs_reply_free(&r);
  return rc;
}

static void res_url(const char *path, char *out, size_t n) {
  if (!strncmp(path, "kbs://", 6)) {
    const char *s = strchr(path + 6, '/');
    path = s ? s + 1 : "";
  }
  snprintf(out, n, "/kbs/v0/resource/%s", path[0] == '/' ? path + 1 : path);
}

int cf_kbs_admin_set_resource(const cf_kbs_admin *a, const char *path, const uint8_t *data,
                              size_t len, cf_error *err) {
  char url[512];
  res_url(path, url, sizeof(url));
  return call(a, "POST", url, "application/octet-stream", data, len, err);
}

int cf_kbs_admin_delete_resource(const cf_kbs_admin *a, const char *path, cf_error *err) {
  char url[512];
  res_url(path, url, sizeof(url));
  return call(a, "DELETE", url, NULL, NULL, 0, err);
}

int cf_kbs_admin_set_policy(const cf_kbs_admin *a, const char *policy_json, cf_error *err) {
  _cleanup_free_ char *b64 = cf_kbs_b64url_encode((const uint8_t *)policy_json, strlen(policy_json));
  json_t *o = b64 ? json_pack("{s:s}", "policy", b64) : NULL;
  _cleanup_free_ char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!body)
    return cf_err(err, ENOMEM, "policy");
  return call(a, "POST", "/kbs/v0/resource-policy", "application/json", body, strlen(body), err);
}
