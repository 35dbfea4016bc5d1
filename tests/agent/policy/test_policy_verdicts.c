/* The policy's verdict function on tables of requests (tests/policy/cases/
 * *.json): each file has a policy, a base OCI spec and cases; a case is a
 * CreateContainer (a JSON merge patch on the base spec, or a whole "spec"),
 * an ExecProcess (a process under a container rule) or a bare RPC, with the
 * verdict expected and, for a denial, the rule that must be named. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "coffer/policy.h"

static json_object *get(json_object *o, const char *k) {
  json_object *v = NULL;
  json_object_object_get_ex(o, k, &v);
  return v;
}

/* RFC 7386: objects merge, null deletes, anything else replaces. */
static json_object *merge_patch(json_object *target, json_object *patch) {
  if (!json_object_is_type(patch, json_type_object)) {
    json_object_put(target);
    return json_object_get(patch);
  }
  if (!json_object_is_type(target, json_type_object)) {
    json_object_put(target);
    target = json_object_new_object();
  }
  json_object_object_foreach(patch, k, v) {
    if (!v) {
      json_object_object_del(target, k);
      continue;
    }
    json_object *cur = get(target, k);
    json_object *merged = merge_patch(cur ? json_object_get(cur) : NULL, v);
    json_object_object_add(target, k, merged);
  }
  return target;
}

static json_object *deep_copy(json_object *o) {
  json_object *c = NULL;
  json_object_deep_copy(o, &c, NULL);
  return c;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CASES.json...\n", argv[0]);
    return 2;
  }
  int failed = 0, total = 0;
  for (int f = 1; f < argc; f++) {
    json_object *doc = json_object_from_file(argv[f]);
    if (!doc) {
      fprintf(stderr, "FAIL %s: not JSON\n", argv[f]);
      return 1;
    }
    const char *ptext = json_object_to_json_string(get(doc, "policy"));
    cf_error err = {0};
    cf_policy *p = cf_policy_parse(ptext, strlen(ptext), &err);
    if (!p) {
      fprintf(stderr, "FAIL %s: policy: %s\n", argv[f], err.msg);
      return 1;
    }
    json_object *cases = get(doc, "cases");
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
      json_object *c = json_object_array_get_idx(cases, i), *x;
      const char *name = json_object_get_string(get(c, "name"));
      bool want = json_object_get_boolean(get(c, "allowed"));
      const char *want_rule = get(c, "rule") ? json_object_get_string(get(c, "rule")) : NULL;
      cf_verdict v = {0};
      int rule = -1;
      total++;
      if ((x = get(c, "image_digests"))) { /* what a guest pull may resolve to */
        const char *d[9];
        bool pinned = false;
        size_t n = cf_policy_image_digests(p, d, 8, &pinned);
        v.allowed = pinned && n == json_object_array_length(x);
        for (size_t k = 0; v.allowed && k < n; k++)
          v.allowed = !strcmp(d[k], json_object_get_string(json_object_array_get_idx(x, k)));
        snprintf(v.rule, sizeof(v.rule), "containers.image.digests");
        snprintf(v.msg, sizeof(v.msg), "policy: the image digests differ (rule %s)", v.rule);
      } else if ((x = get(c, "rootfs_hash"))) { /* what the dm-verity set-up asks */
        v.allowed = cf_policy_root_hash_allowed(p, -1, json_object_get_string(x));
        snprintf(v.rule, sizeof(v.rule), "containers.image.root_hashes");
        snprintf(v.msg, sizeof(v.msg), "policy: root hash not allowed (rule %s)", v.rule);
      } else if ((x = get(c, "rpc"))) {
        cf_policy_check_rpc(p, json_object_get_string(x), &v);
      } else if ((x = get(c, "exec"))) {
        json_object *cr = get(c, "container_rule");
        cf_policy_check_exec(p, cr ? json_object_get_int(cr) : -1,
                             get(c, "id") ? json_object_get_string(get(c, "id")) : "c1", "e1", x,
                             get(c, "terminal") && json_object_get_boolean(get(c, "terminal")),
                             &v);
      } else {
        json_object *spec = get(c, "spec") ? deep_copy(get(c, "spec"))
                                           : merge_patch(deep_copy(get(doc, "spec")),
                                                         get(c, "create"));
        const char *shared[16] = {0};
        json_object *sh = get(c, "shared");
        size_t n_shared = sh ? json_object_array_length(sh) : 0;
        for (size_t k = 0; k < n_shared && k < 16; k++)
          shared[k] = json_object_get_string(json_object_array_get_idx(sh, k));
        cf_policy_create req = {
            .container_id = get(c, "id") ? json_object_get_string(get(c, "id")) : "c1",
            .spec = spec,
            .shared_dsts = shared,
            .n_shared = n_shared,
            .terminal = get(c, "terminal") && json_object_get_boolean(get(c, "terminal")),
            .root_hash = get(c, "root_hash") ? json_object_get_string(get(c, "root_hash")) : NULL,
            .pulled = get(c, "pulled") && json_object_get_boolean(get(c, "pulled")),
        };
        cf_policy_check_create(p, &req, &rule, &v);
        json_object_put(spec);
        json_object *wr = get(c, "matches");
        if (v.allowed && wr && json_object_get_int(wr) != rule) {
          fprintf(stderr, "FAIL %s: %s: matched rule %d, not %d\n", argv[f], name, rule,
                  json_object_get_int(wr));
          failed++;
          continue;
        }
      }
      bool ok = v.allowed == want && (v.allowed || !want_rule || !strcmp(v.rule, want_rule));
      if (!ok) {
        fprintf(stderr, "FAIL %s: %s: %s (rule \"%s\"), expected %s%s%s\n", argv[f], name,
                v.allowed ? "allowed" : v.msg, v.rule, want ? "allowed" : "denied by ",
                want ? "" : (want_rule ? want_rule : "any rule"), "");
        failed++;
      } else if (!v.allowed) {
        /* every denial names its request and rule */
        if (!strstr(v.msg, "policy: ") || !strstr(v.msg, v.rule)) {
          fprintf(stderr, "FAIL %s: %s: message \"%s\" does not name its rule\n", argv[f], name,
                  v.msg);
          failed++;
        } else
          printf("ok   %s: denied: %s\n", name, v.msg);
      } else
        printf("ok   %s: allowed\n", name);
    }
    cf_policy_free(p);
    json_object_put(doc);
  }
  printf("%d of %d cases as expected\n", total - failed, total);
  return failed ? 1 : 0;
}
