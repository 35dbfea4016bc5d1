/* The policy gate: every request is judged (agent/policy, pure functions)
 * before the handler acts; a denial is PERMISSION_DENIED with the verdict's
 * message, which names the request, the field and the rule, and is logged
 * in the guest. The policy is fixed at start: no call replaces it. */

#include "policy_gate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "coffer/log.h"
#include "coffer/policy.h"

int agent_policy_init(agent *a, const char *path, cf_error *err) {
  a->policy = path ? cf_policy_load(path, err) : cf_policy_default(a->tee_mode);
  if (!a->policy) {
    if (!path)
      return cf_err(err, ENOMEM, "policy");
    return -EINVAL;
  }
  char what[200];
  cf_policy_describe(a->policy, what, sizeof(what));
  cf_info("policy %s: %s", path ? path : "(built-in default)", what);
  return 0;
}

int agent_policy_from_initdata(agent *a, const char *dir, cf_error *err) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/%s", dir, AGENT_POLICY_ENTRY);
  if (access(path, F_OK) < 0)
    return 0;
  cf_policy *p = cf_policy_load(path, err);
  if (!p)
    return cf_error_prefix(err, "init-data's policy");
  cf_policy_free(a->policy);
  a->policy = p;
  char what[200];
  cf_policy_describe(p, what, sizeof(what));
  cf_info("policy from init-data (%s): %s", path, what);
  return 0;
}

int agent_policy_root_hash(agent *a, const char *container_id, const char *root_hash,
                           cf_error *err) {
  if (a->policy && cf_policy_root_hash_allowed(a->policy, -1, root_hash))
    return 0;
  if (a->policy && !cf_policy_default_deny(a->policy))
    return 0; /* allow-default: the owner pinned nothing, images included */
  int rc = cf_err_status(err, CF_PERMISSION_DENIED,
                         "policy: CreateContainer %.128s: rootfs root hash %.64s is not allowed "
                         "(rule containers.image.root_hashes)",
                         container_id, root_hash ? root_hash : "(none)");
  cf_warn("denied: %s", err->msg);
  return rc;
}

static bool refuse(ttrpc_call *call, const cf_verdict *v) {
  cf_warn("denied: %s", v->msg);
  ttrpc_call_reply_status(call, CF_PERMISSION_DENIED, "%s", v->msg);
  return false;
}

bool agent_policy_allow_rpc(agent *a, ttrpc_call *call, const char *method) {
  cf_verdict v;
  if (!a->policy) { /* never set: fail closed */
    ttrpc_call_reply_status(call, CF_PERMISSION_DENIED, "policy: %s: no policy is loaded", method);
    return false;
  }
  cf_policy_check_rpc(a->policy, method, &v);
  return v.allowed || refuse(call, &v);
}

static json_object *parse(const uint8_t *data, size_t len) {
  if (len > AGENT_MAX_SPEC)
    return NULL;
  json_tokener *tok = json_tokener_new_ex(64);
  if (!tok)
    return NULL;
  json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)len);
  if (o && json_tokener_get_error(tok) != json_tokener_success) {
    json_object_put(o);
    o = NULL;
  }
  json_tokener_free(tok);
  return o;
}

bool agent_policy_allow_create(agent *a, ttrpc_call *call,
                               const Coffer__Agent__V1__CreateContainerRequest *req, int *rule) {
  *rule = -1;
  if (!cf_policy_rpc_conditional(a->policy, "CreateContainer") &&
      !cf_policy_default_deny(a->policy))
    return true; /* allowed outright by an allow-default policy: nothing to judge */
  const char *dsts[256];
  size_t n = req->n_mounts < 256 ? req->n_mounts : 256;
  for (size_t i = 0; i < n; i++)
    dsts[i] = req->mounts[i]->destination;
  json_object *spec = parse(req->spec.data, req->spec.len);
  cf_policy_create cr = {
      .container_id = req->container_id,
      .spec = spec,
      .shared_dsts = dsts,
      .n_shared = n,
      .terminal = req->stdio && req->stdio->terminal,
      /* the BLOCK rootfs's dm-verity root hash */
      .root_hash = req->rootfs && req->rootfs->verity && req->rootfs->verity->root_hash[0]
                       ? req->rootfs->verity->root_hash
                       : NULL,
      .pulled = req->rootfs && req->rootfs->kind == COFFER__AGENT__V1__ROOTFS__KIND__PULL,
  };
  cf_verdict v;
  cf_policy_check_create(a->policy, &cr, rule, &v);
  json_object_put(spec);
  return v.allowed || refuse(call, &v);
}

bool agent_policy_allow_exec(agent *a, ttrpc_call *call, const container *c,
                             const Coffer__Agent__V1__ExecProcessRequest *req) {
  if (!cf_policy_rpc_conditional(a->policy, "ExecProcess"))
    return true; /* the RPC-level verdict already allowed it */
  json_object *proc = parse(req->process.data, req->process.len);
  cf_verdict v;
  cf_policy_check_exec(a->policy, c->policy_rule, c->id, req->exec_id, proc,
                       req->stdio && req->stdio->terminal, &v);
  json_object_put(proc);
  return v.allowed || refuse(call, &v);
}
