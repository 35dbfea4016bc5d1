/* Admin API: POST/DELETE /resource/<repo>/<type>/<tag> and POST
 * /resource-policy, authenticated by an ES256 JWT signed with the admin key. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "coffer/cleanup.h"
#include "kbs.h"

static int admin_auth(kbs_server *s, const kbs_request *rq, kbs_response *rs) {
  if (!s->admin_pub)
    return kbs_fail(rs, 401, "AdminAuthAccess", "the admin API is disabled (no admin_jwk configured)");
  if (!rq->bearer)
    return kbs_fail(rs, 401, "AdminAuthAccess", "admin requests need Authorization: Bearer <ES256 JWT>");
  cf_error err = {0};
  json_t *c = cf_kbs_jwt_verify(s->admin_pub, rq->bearer, time(NULL), &err);
  if (!c)
    return kbs_fail(rs, 401, "AdminAuthAccess", "admin token refused: %s", err.msg);
  json_decref(c);
  return 0;
}

static void set_policy(kbs_server *s, const kbs_request *rq, kbs_response *rs) {
  cf_error err = {0};
  json_t *req = cf_kbs_json_parse(rq->body, rq->body_len, &err);
  const char *b64 = json_string_value(json_object_get(req, "policy"));
  uint8_t *text = NULL;
  size_t len = 0;
  kbs_policy *p = NULL;
  if (!b64 || cf_kbs_b64url_decode(b64, &text, &len))
    kbs_fail(rs, 401, "ParsePolicyError", "body must be {\"policy\": <base64url of the policy JSON>}");
  else if (!(p = kbs_policy_parse((const char *)text, len, &err)))
    kbs_fail(rs, 401, "ParsePolicyError", "%s", err.msg);
  else {
    pthread_rwlock_wrlock(&s->policy_lock);
    kbs_policy *old = s->policy;
    s->policy = p;
    pthread_rwlock_unlock(&s->policy_lock);
    kbs_policy_free(old);
    rs->status = 200;
    rs->body = strdup("");
    rs->content_type = "text/plain";
  }
  free(text);
  json_decref(req);
}

void kbs_handle_admin(kbs_server *s, const kbs_request *rq, kbs_response *rs) {
  if (admin_auth(s, rq, rs))
    return;
  if (!strcmp(rq->path, "/resource-policy") && !strcmp(rq->method, "POST")) {
    set_policy(s, rq, rs);
    return;
  }
  char buf[256];
  const char *seg[3];
  if (strncmp(rq->path, "/resource/", 10) || kbs_resource_split(rq->path + 10, buf, seg)) {
    kbs_fail(rs, 404, "InvalidRequestPath", "no admin endpoint %s %.200s", rq->method, rq->path);
    return;
  }
  if (!s->cfg.resource_dir[0]) {
    kbs_fail(rs, 401, "PluginInternalError", "no resource_dir configured");
    return;
  }
  cf_error err = {0};
  int r = !strcmp(rq->method, "DELETE")
              ? kbs_resource_delete(s, seg, &err)
              : kbs_resource_write(s, seg, (const uint8_t *)rq->body, rq->body_len, &err);
  if (r) {
    kbs_fail(rs, 401, "PluginInternalError", "%s", err.msg);
    return;
  }
  rs->status = 200;
  rs->body = strdup("");
  rs->content_type = "text/plain";
}
