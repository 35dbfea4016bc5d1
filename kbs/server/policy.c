/* The resource policy: coffer's JSON rules in place of Trustee's Rego.
 *
 *   {"rules": [{"name": "app-key", "resource": "default/key/<tag or *>",
 *               "tee": ["snp", "tdx"], "status": ["affirming"],
 *               "claims": {"snp.measurement": ["<hex>", …]}}]}
 *
 * A request is allowed when one rule matches its path and all the rule's
 * conditions hold; otherwise it is denied (default deny) naming the rule that
 * came closest. `*` matches one whole segment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbs.h"

struct kbs_policy {
  json_t *rules;
  bool allow_all;
};

static const char *const STATUSES[] = {"affirming", "warning", "contraindicated", "none", NULL};

static int check_strings(const json_t *a, const char *what, size_t i, const char *const *allowed,
                         cf_error *err) {
  size_t k;
  json_t *e;
  if (!json_is_array(a) || !json_array_size(a))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu].%s must be a non-empty array", i, what);
  json_array_foreach(a, k, e) {
    if (!json_is_string(e))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu].%s[%zu] must be a string", i, what, k);
    if (allowed) {
      size_t j = 0;
      while (allowed[j] && strcmp(allowed[j], json_string_value(e)))
        j++;
      if (!allowed[j])
        return cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu].%s: unknown value \"%s\"", i,
                             what, json_string_value(e));
    }
  }
  return 0;
}

kbs_policy *kbs_policy_parse(const char *json, size_t len, cf_error *err) {
  static const char *const keys[] = {"name", "resource", "tee", "status", "claims", NULL};
  static const char *const tees[] = {"snp", "tdx", "sample", NULL};
  json_t *doc = cf_kbs_json_parse(json, len, err);
  json_t *rules = json_object_get(doc, "rules");
  int r = 0;
  if (!doc || !json_is_object(doc) || json_object_size(doc) != 1 || !json_is_array(rules))
    r = doc ? cf_err_status(err, CF_INVALID_ARGUMENT, "policy must be {\"rules\": [...]}") : -EINVAL;
  size_t i;
  json_t *rule;
  json_array_foreach(rules, i, rule) {
    if (r)
      break;
    const char *k;
    json_t *v;
    if (!json_is_object(rule) || !json_is_string(json_object_get(rule, "name")) ||
        !json_is_string(json_object_get(rule, "resource"))) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu] needs string \"name\" and \"resource\"", i);
      break;
    }
    char buf[256];
    const char *seg[3];
    char pat[256];
    snprintf(pat, sizeof(pat), "%s", json_string_value(json_object_get(rule, "resource")));
    for (char *p = pat; *p; p++)
      if (*p == '*')
        *p = 'x'; /* a wildcard segment passes the segment syntax check */
    if (kbs_resource_split(pat, buf, seg)) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu].resource is not repo/type/tag", i);
      break;
    }
    json_object_foreach(rule, k, v) {
      size_t j = 0;
      while (keys[j] && strcmp(keys[j], k))
        j++;
      if (!keys[j]) {
        r = cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu]: unknown key \"%s\"", i, k);
        break;
      }
    }
    if (!r && json_object_get(rule, "tee"))
      r = check_strings(json_object_get(rule, "tee"), "tee", i, tees, err);
    if (!r && json_object_get(rule, "status"))
      r = check_strings(json_object_get(rule, "status"), "status", i, STATUSES, err);
    json_t *cl = json_object_get(rule, "claims");
    if (!r && cl) {
      if (!json_is_object(cl))
        r = cf_err_status(err, CF_INVALID_ARGUMENT, "rules[%zu].claims must be an object", i);
      json_object_foreach(cl, k, v) if (!r) r = check_strings(v, "claims", i, NULL, err);
    }
  }
  kbs_policy *p = r ? NULL : calloc(1, sizeof(*p));
  if (p)
    p->rules = json_incref(rules);
  else if (!r)
    cf_err(err, ENOMEM, "policy");
  json_decref(doc);
  if (!p)
    cf_error_prefix(err, "resource policy");
  return p;
}

kbs_policy *kbs_policy_allow_all(void) {
  kbs_policy *p = calloc(1, sizeof(*p));
  if (p)
    p->allow_all = true;
  return p;
}

void kbs_policy_free(kbs_policy *p) {
  if (p) {
    json_decref(p->rules);
    free(p);
  }
}

static bool seg_match(const char *pat, const char *s) { return !strcmp(pat, "*") || !strcmp(pat, s); }

static bool in(const json_t *arr, const char *v) {
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) if (v && !strcmp(json_string_value(e), v)) return true;
  return false;
}

/* A dotted path into the annotated evidence, e.g. "snp.measurement". */
static const char *claim_at(const json_t *ev, const char *path) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  const json_t *cur = ev;
  for (char *s = buf, *tok; (tok = strsep(&s, ".")) != NULL;)
    cur = json_object_get(cur, tok);
  return json_string_value(cur);
}

int kbs_policy_check(const kbs_policy *p, const json_t *claims, const char *repo,
                     const char *type, const char *tag, cf_error *err) {
  if (!p)
    return cf_err_status(err, CF_PERMISSION_DENIED, "no resource policy is set: default deny");
  if (p->allow_all)
    return 0;
  const json_t *cpu0 = json_object_get(json_object_get(claims, "submods"), "cpu0");
  const char *status = json_string_value(json_object_get(cpu0, "ear.status"));
  const json_t *ev = json_object_get(cpu0, "ear.veraison.annotated-evidence");
  const char *tee = json_object_get(ev, "snp") ? "snp" : json_object_get(ev, "tdx") ? "tdx"
                    : json_object_get(ev, "sample") ? "sample" : "";
  char why[600] = "";
  size_t i;
  json_t *rule;
  json_array_foreach(p->rules, i, rule) {
    char pat[256], buf[256];
    const char *seg[3];
    snprintf(pat, sizeof(pat), "%s", json_string_value(json_object_get(rule, "resource")));
    char *s = pat, *parts[3];
    for (int k = 0; k < 3; k++)
      parts[k] = strsep(&s, "/");
    (void)buf;
    (void)seg;
    if (!seg_match(parts[0], repo) || !seg_match(parts[1], type) || !seg_match(parts[2], tag))
      continue;
    const char *name = json_string_value(json_object_get(rule, "name"));
    const json_t *tees = json_object_get(rule, "tee"), *sts = json_object_get(rule, "status");
    if (tees && !in(tees, tee)) {
      snprintf(why, sizeof(why), "rule \"%s\" does not admit tee %s", name, *tee ? tee : "(none)");
      continue;
    }
    if (!sts ? strcmp(status ? status : "", "affirming") : !in(sts, status)) {
      snprintf(why, sizeof(why), "rule \"%s\" requires status %s; the token says %s", name,
               sts ? "in its list" : "affirming", status ? status : "(none)");
      continue;
    }
    const char *k;
    json_t *allowed;
    bool ok = true;
    json_object_foreach(json_object_get(rule, "claims"), k, allowed) {
      const char *have = claim_at(ev, k);
      if (!in(allowed, have)) {
        snprintf(why, sizeof(why), "rule \"%s\": claim %s = %.100s is not an allowed value", name,
                 k, have ? have : "(absent)");
        ok = false;
        break;
      }
    }
    if (ok)
      return 0;
  }
  if (!why[0])
    snprintf(why, sizeof(why), "no rule covers %s/%s/%s: default deny", repo, type, tag);
  return cf_err_status(err, CF_PERMISSION_DENIED, "%s", why);
}
