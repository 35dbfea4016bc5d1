/* `explain`: the agent's own verdict functions on one request, so the
 * answer is what the agent would decide. A request is
 *   {"rpc": "ReadStdout"}
 *   {"container_id": "app", "spec": {OCI spec}, "terminal": false,
 *    "root_hash": "<hex>", "shared": ["/data"]}                  CreateContainer
 *   {"exec": {"container_id", "exec_id", "process": {...}, "terminal"},
 *    "container": {a CreateContainer request} | "rule": N}       ExecProcess
 * or a bare OCI spec (CreateContainer, the id from its CRI annotations). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/policy.h"
#include "explain.h"

static json_object *get(json_object *o, const char *k) {
  json_object *v = NULL;
  return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static int create(const cf_policy *p, json_object *req, int *rule, cf_verdict *v, cf_error *err) {
  json_object *spec = get(req, "spec") ? get(req, "spec") : req;
  if (!json_object_is_type(spec, json_type_object) || !get(spec, "process"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "request: no OCI spec (\"spec\" with \"process\")");
  const char *id = json_object_get_string(get(req, "container_id"));
  if (!id)
    id = json_object_get_string(get(get(spec, "annotations"), "io.kubernetes.cri.container-name"));
  if (!id)
    id = "container";
  const char *shared[64];
  size_t n = 0;
  json_object *sh = get(req, "shared");
  for (size_t i = 0; sh && json_object_is_type(sh, json_type_array) && i < json_object_array_length(sh) && n < 64; i++)
    shared[n++] = json_object_get_string(json_object_array_get_idx(sh, i));
  json_object *t = get(req, "terminal");
  json_object *pt = get(get(spec, "process"), "terminal");
  cf_policy_create c = {.container_id = id, .spec = spec, .shared_dsts = shared, .n_shared = n,
                        .terminal = t ? json_object_get_boolean(t) : pt && json_object_get_boolean(pt),
                        .root_hash = json_object_get_string(get(req, "root_hash"))};
  cf_policy_check_rpc(p, "CreateContainer", v);
  *rule = -1;
  if (v->allowed && cf_policy_rpc_conditional(p, "CreateContainer"))
    cf_policy_check_create(p, &c, rule, v);
  return 0;
}

int explain(const char *policy_path, const char *request_path, cf_error *err) {
  cf_policy *p = cf_policy_load(policy_path, err);
  if (!p)
    return -EINVAL;
  json_object *req = json_object_from_file(request_path);
  if (!req || !json_object_is_type(req, json_type_object)) {
    json_object_put(req);
    cf_policy_free(p);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: not a JSON object", request_path);
  }
  cf_verdict v = {0};
  int rule = -1, r = 0;
  const char *what = "CreateContainer";
  json_object *ex = get(req, "exec");
  if (get(req, "rpc")) {
    what = json_object_get_string(get(req, "rpc"));
    cf_policy_check_rpc(p, what, &v);
    if (v.allowed && cf_policy_rpc_conditional(p, what))
      snprintf(v.rule, sizeof(v.rule), "rpcs.%s (cond: its own check decides; give the full request)", what);
    else if (v.allowed)
      snprintf(v.rule, sizeof(v.rule), "rpcs.%s or default", what);
  } else if (ex) {
    what = "ExecProcess";
    if (get(req, "container")) {
      r = create(p, get(req, "container"), &rule, &v, err);
      if (r == 0 && !v.allowed) {
        printf("denied: the container itself: %s\n", v.msg);
        goto out;
      }
    } else if (get(req, "rule"))
      rule = json_object_get_int(get(req, "rule"));
    if (r == 0) {
      cf_policy_check_rpc(p, "ExecProcess", &v);
      if (v.allowed && cf_policy_rpc_conditional(p, "ExecProcess"))
        cf_policy_check_exec(p, rule, json_object_get_string(get(ex, "container_id")) ?: "container",
                             json_object_get_string(get(ex, "exec_id")) ?: "exec", get(ex, "process"),
                             json_object_get_boolean(get(ex, "terminal")), &v);
    }
  } else
    r = create(p, req, &rule, &v, err);
  if (r < 0)
    goto out;
  if (v.allowed) {
    if (rule >= 0)
      printf("allowed: %s by rule containers[%d]\n", what, rule);
    else
      printf("allowed: %s (rule %s)\n", what, v.rule[0] ? v.rule : "rpcs");
    r = 0;
  } else {
    printf("denied: %s\n", v.msg);
    r = 1;
  }
out:
  json_object_put(req);
  cf_policy_free(p);
  return r;
}
