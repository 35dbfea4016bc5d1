/* The policy document: parse (strict: an unknown key or a wrong type is an
 * error naming it, so a typo never widens what is allowed), load, free. */

#include "policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"

#define BAD(err, ...) cf_err_status(err, CF_INVALID_ARGUMENT, __VA_ARGS__)

/* The RPCs a policy may name (agent.proto); a name not here is a typo. */
static const char *const known_rpcs[] = {
    "CreateSandbox",  "DestroySandbox",   "CreateContainer", "StartContainer",
    "RemoveContainer", "ExecProcess",     "RemoveProcess",   "SignalProcess",
    "WaitProcess",    "WriteStdin",       "CloseStdin",      "ReadStdout",
    "ReadStderr",     "ResizeTty",        "PauseContainer",  "ResumeContainer",
    "UpdateContainer", "StatsContainer",  "ListProcesses",   "GetOOMEvent",
    "GetGuestDetails", "UpdateInterface", "UpdateRoutes",    "AddNeighbors",
    NULL};

/* Containerd's default capability set: what a TEE container gets when its
 * spec names none, and what a rule without "capabilities" allows. */
const char *const cf_policy_default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FSETID", "CAP_FOWNER",
    "CAP_MKNOD",  "CAP_NET_RAW",          "CAP_SETGID", "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",         "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",   "CAP_AUDIT_WRITE",      NULL};

static void strv_free(strv *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

static void pregex_free(pregex *r) {
  if (!r)
    return;
  regfree(&r->re);
  free(r->src);
}

static int compile(pregex *r, const char *pat, const char *field, cf_error *err) {
  size_t n = strlen(pat);
  if (n > 4096)
    return BAD(err, "policy: %s: pattern longer than 4096 bytes", field);
  _cleanup_free_ char *anchored = malloc(n + 5);
  if (!anchored)
    return cf_err(err, ENOMEM, "policy: %s", field);
  snprintf(anchored, n + 5, "^(%s)$", pat);
  int rc = regcomp(&r->re, anchored, REG_EXTENDED | REG_NOSUB);
  if (rc) {
    char why[128];
    regerror(rc, &r->re, why, sizeof(why));
    return BAD(err, "policy: %s: pattern \"%.64s\": %s", field, pat, why);
  }
  if (!(r->src = strdup(pat))) {
    regfree(&r->re);
    return cf_err(err, ENOMEM, "policy: %s", field);
  }
  return 0;
}

static const char *type_name(json_object *o) { return json_type_to_name(json_object_get_type(o)); }

static int get_string(json_object *o, const char *field, char **out, cf_error *err) {
  if (!json_object_is_type(o, json_type_string))
    return BAD(err, "policy: %s: a string expected, not %s", field, type_name(o));
  if (!(*out = strdup(json_object_get_string(o))))
    return cf_err(err, ENOMEM, "policy: %s", field);
  return 0;
}

static int get_bool(json_object *o, const char *field, int *out, cf_error *err) {
  if (!json_object_is_type(o, json_type_boolean))
    return BAD(err, "policy: %s: true or false expected, not %s", field, type_name(o));
  *out = json_object_get_boolean(o);
  return 0;
}

static int get_u32(json_object *o, const char *field, uint32_t *out, cf_error *err) {
  if (!json_object_is_type(o, json_type_int))
    return BAD(err, "policy: %s: an integer expected, not %s", field, type_name(o));
  int64_t v = json_object_get_int64(o);
  if (v < 0 || v > UINT32_MAX)
    return BAD(err, "policy: %s: %lld is not 0..4294967295", field, (long long)v);
  *out = (uint32_t)v;
  return 0;
}

static int get_array(json_object *o, const char *field, size_t max, size_t *n, cf_error *err) {
  if (!json_object_is_type(o, json_type_array))
    return BAD(err, "policy: %s: an array expected, not %s", field, type_name(o));
  *n = json_object_array_length(o);
  if (*n > max)
    return BAD(err, "policy: %s: %zu entries, at most %zu", field, *n, max);
  return 0;
}

static int get_strv(json_object *o, const char *field, strv *out, cf_error *err) {
  size_t n;
  if (get_array(o, field, 4096, &n, err) < 0)
    return -EINVAL;
  out->v = calloc(n + 1, sizeof(char *));
  if (!out->v)
    return cf_err(err, ENOMEM, "policy: %s", field);
  for (size_t i = 0; i < n; i++) {
    char f[160];
    snprintf(f, sizeof(f), "%s[%zu]", field, i);
    if (get_string(json_object_array_get_idx(o, i), f, &out->v[i], err) < 0)
      return -EINVAL;
    out->n++;
  }
  return 0;
}

static int get_regexes(json_object *o, const char *field, pregex **out, size_t *n_out,
                       cf_error *err) {
  size_t n;
  if (get_array(o, field, 1024, &n, err) < 0)
    return -EINVAL;
  if (!(*out = calloc(n + 1, sizeof(pregex))))
    return cf_err(err, ENOMEM, "policy: %s", field);
  for (size_t i = 0; i < n; i++) {
    char f[160];
    snprintf(f, sizeof(f), "%s[%zu]", field, i);
    json_object *e = json_object_array_get_idx(o, i);
    if (!json_object_is_type(e, json_type_string))
      return BAD(err, "policy: %s: a string expected", f);
    if (compile(&(*out)[i], json_object_get_string(e), f, err) < 0)
      return -EINVAL;
    (*n_out)++;
  }
  return 0;
}

static int parse_verdict(json_object *o, const char *field, enum pv *v, bool cond_ok,
                         cf_error *err) {
  const char *s = json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
  if (!strcmp(s, "allow"))
    *v = PV_ALLOW;
  else if (!strcmp(s, "deny"))
    *v = PV_DENY;
  else if (cond_ok && !strcmp(s, "cond"))
    *v = PV_COND;
  else
    return BAD(err, "policy: %s: \"allow\", \"deny\"%s expected", field,
               cond_ok ? " or \"cond\"" : "");
  return 0;
}

static int parse_mount(json_object *o, const char *field, pmount *m, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: %s: an object expected", field);
  char f[200];
  json_object_object_foreach(o, k, v) {
    snprintf(f, sizeof(f), "%s.%s", field, k);
    int rc;
    if (!strcmp(k, "destination"))
      rc = get_string(v, f, &m->dst, err);
    else if (!strcmp(k, "type"))
      rc = get_string(v, f, &m->type, err);
    else if (!strcmp(k, "source"))
      rc = get_string(v, f, &m->source, err);
    else if (!strcmp(k, "source_pattern")) {
      if (!json_object_is_type(v, json_type_string))
        return BAD(err, "policy: %s: a string expected", f);
      if (!(m->source_re = calloc(1, sizeof(pregex))))
        return cf_err(err, ENOMEM, "policy: %s", f);
      rc = compile(m->source_re, json_object_get_string(v), f, err);
      if (rc < 0) {
        free(m->source_re);
        m->source_re = NULL;
      }
    } else if (!strcmp(k, "options")) {
      m->has_options = true;
      rc = get_strv(v, f, &m->options, err);
    } else
      return BAD(err, "policy: %s: unknown key", f);
    if (rc < 0)
      return rc;
  }
  if (!m->dst || !m->type)
    return BAD(err, "policy: %s: \"destination\" and \"type\" are required", field);
  if (m->source && m->source_re)
    return BAD(err, "policy: %s: \"source\" or \"source_pattern\", not both", field);
  return 0;
}

static int parse_device(json_object *o, const char *field, pdevice *d, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: %s: an object expected", field);
  char f[200];
  json_object_object_foreach(o, k, v) {
    snprintf(f, sizeof(f), "%s.%s", field, k);
    int rc = 0;
    if (!strcmp(k, "path"))
      rc = get_string(v, f, &d->path, err);
    else if (!strcmp(k, "type")) {
      const char *t = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
      if (strlen(t) != 1 || !strchr("cbup", t[0]))
        return BAD(err, "policy: %s: \"c\", \"b\", \"u\" or \"p\" expected", f);
      d->type = t[0];
    } else if (!strcmp(k, "major") || !strcmp(k, "minor")) {
      uint32_t n;
      if ((rc = get_u32(v, f, &n, err)) == 0) {
        d->has_num = true;
        *(k[1] == 'a' ? &d->major : &d->minor) = n;
      }
    } else
      return BAD(err, "policy: %s: unknown key", f);
    if (rc < 0)
      return rc;
  }
  if (!d->path || d->path[0] != '/')
    return BAD(err, "policy: %s: \"path\" (absolute) is required", field);
  return 0;
}

static int parse_kv(json_object *o, const char *field, pkv **out, size_t *n_out, bool regex,
                    cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: %s: an object expected", field);
  size_t n = (size_t)json_object_object_length(o);
  if (n > 1024)
    return BAD(err, "policy: %s: more than 1024 entries", field);
  if (!(*out = calloc(n + 1, sizeof(pkv))))
    return cf_err(err, ENOMEM, "policy: %s", field);
  json_object_object_foreach(o, k, v) {
    char f[200];
    snprintf(f, sizeof(f), "%s.%s", field, k);
    pkv *e = &(*out)[*n_out];
    if (!(e->key = strdup(k)))
      return cf_err(err, ENOMEM, "policy: %s", f);
    (*n_out)++;
    if (regex) {
      if (!json_object_is_type(v, json_type_string))
        return BAD(err, "policy: %s: a string (pattern) expected", f);
      if (!(e->re = calloc(1, sizeof(pregex))))
        return cf_err(err, ENOMEM, "policy: %s", f);
      if (compile(e->re, json_object_get_string(v), f, err) < 0) {
        free(e->re);
        e->re = NULL;
        return -EINVAL;
      }
    } else if (get_string(v, f, &e->value, err) < 0)
      return -EINVAL;
  }
  return 0;
}

static int parse_execs(json_object *o, const char *field, strv **out, size_t *n_out,
                       cf_error *err) {
  size_t n;
  if (get_array(o, field, 1024, &n, err) < 0)
    return -EINVAL;
  if (!(*out = calloc(n + 1, sizeof(strv))))
    return cf_err(err, ENOMEM, "policy: %s", field);
  for (size_t i = 0; i < n; i++) {
    char f[160];
    snprintf(f, sizeof(f), "%s[%zu]", field, i);
    if (get_strv(json_object_array_get_idx(o, i), f, &(*out)[i], err) < 0) {
      (*n_out)++; /* partly built: freed with the rest */
      return -EINVAL;
    }
    (*n_out)++;
    if ((*out)[i].n == 0)
      return BAD(err, "policy: %s: an empty command", f);
  }
  return 0;
}

static int parse_image(json_object *o, const char *field, prule *r, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: %s: an object expected", field);
  char f[200];
  json_object_object_foreach(o, k, v) {
    snprintf(f, sizeof(f), "%s.%s", field, k);
    int rc;
    if (!strcmp(k, "name"))
      rc = get_string(v, f, &r->image_name, err);
    else if (!strcmp(k, "digests"))
      rc = get_strv(v, f, &r->digests, err);
    else if (!strcmp(k, "root_hashes"))
      rc = get_strv(v, f, &r->root_hashes, err);
    else
      return BAD(err, "policy: %s: unknown key", f);
    if (rc < 0)
      return rc;
  }
  for (size_t i = 0; i < r->root_hashes.n; i++) {
    const char *h = r->root_hashes.v[i];
    size_t n = strlen(h);
    if (n != 64 || strspn(h, "0123456789abcdef") != n)
      return BAD(err, "policy: %s.root_hashes[%zu]: 64 lowercase hex digits expected", field, i);
  }
  return 0;
}

static int parse_process(json_object *o, const char *field, prule *r, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: %s: an object expected", field);
  char f[200];
  json_object_object_foreach(o, k, v) {
    snprintf(f, sizeof(f), "%s.%s", field, k);
    int rc;
    if (!strcmp(k, "args")) {
      r->has_args = true;
      rc = get_strv(v, f, &r->args, err);
    } else if (!strcmp(k, "env"))
      rc = get_strv(v, f, &r->env, err);
    else if (!strcmp(k, "env_patterns"))
      rc = get_regexes(v, f, &r->env_re, &r->n_env_re, err);
    else if (!strcmp(k, "cwd"))
      rc = get_string(v, f, &r->cwd, err);
    else if (!strcmp(k, "uid")) {
      r->has_uid = true;
      rc = get_u32(v, f, &r->uid, err);
    } else if (!strcmp(k, "gid")) {
      r->has_gid = true;
      rc = get_u32(v, f, &r->gid, err);
    } else if (!strcmp(k, "groups")) {
      size_t n;
      if ((rc = get_array(v, f, 256, &n, err)) < 0)
        return rc;
      r->has_groups = true;
      if (!(r->groups = calloc(n + 1, sizeof(uint32_t))))
        return cf_err(err, ENOMEM, "policy: %s", f);
      for (size_t i = 0; i < n && rc == 0; i++, r->n_groups++)
        rc = get_u32(json_object_array_get_idx(v, i), f, &r->groups[i], err);
    } else if (!strcmp(k, "capabilities")) {
      r->has_caps = true;
      rc = get_strv(v, f, &r->caps, err);
    } else if (!strcmp(k, "no_new_privs"))
      rc = get_bool(v, f, &r->no_new_privs, err);
    else if (!strcmp(k, "terminal"))
      rc = get_bool(v, f, &r->terminal, err);
    else
      return BAD(err, "policy: %s: unknown key", f);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int parse_rule(json_object *o, const char *field, prule *r, cf_error *err) {
  r->no_new_privs = r->terminal = r->readonly_root = -1;
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: %s: an object expected", field);
  char f[200];
  json_object_object_foreach(o, k, v) {
    snprintf(f, sizeof(f), "%s.%s", field, k);
    int rc = 0;
    int b;
    size_t n;
    if (!strcmp(k, "name"))
      rc = get_string(v, f, &r->name, err);
    else if (!strcmp(k, "sandbox")) {
      if ((rc = get_bool(v, f, &b, err)) == 0)
        r->sandbox = b;
    } else if (!strcmp(k, "image"))
      rc = parse_image(v, f, r, err);
    else if (!strcmp(k, "process"))
      rc = parse_process(v, f, r, err);
    else if (!strcmp(k, "readonly_root"))
      rc = get_bool(v, f, &r->readonly_root, err);
    else if (!strcmp(k, "mounts")) {
      if ((rc = get_array(v, f, 256, &n, err)) < 0)
        return rc;
      if (!(r->mounts = calloc(n + 1, sizeof(pmount))))
        return cf_err(err, ENOMEM, "policy: %s", f);
      for (size_t i = 0; i < n && rc == 0; i++, r->n_mounts++) {
        char g[220];
        snprintf(g, sizeof(g), "%s[%zu]", f, i);
        rc = parse_mount(json_object_array_get_idx(v, i), g, &r->mounts[i], err);
      }
    } else if (!strcmp(k, "devices")) {
      if ((rc = get_array(v, f, 256, &n, err)) < 0)
        return rc;
      if (!(r->devices = calloc(n + 1, sizeof(pdevice))))
        return cf_err(err, ENOMEM, "policy: %s", f);
      for (size_t i = 0; i < n && rc == 0; i++, r->n_devices++) {
        char g[220];
        snprintf(g, sizeof(g), "%s[%zu]", f, i);
        rc = parse_device(json_object_array_get_idx(v, i), g, &r->devices[i], err);
      }
    } else if (!strcmp(k, "sysctls"))
      rc = parse_kv(v, f, &r->sysctls, &r->n_sysctls, false, err);
    else if (!strcmp(k, "annotations"))
      rc = parse_kv(v, f, &r->annotations, &r->n_annotations, true, err);
    else if (!strcmp(k, "exec"))
      rc = parse_execs(v, f, &r->execs, &r->n_execs, err);
    else if (!strcmp(k, "exec_patterns"))
      rc = get_regexes(v, f, &r->exec_re, &r->n_exec_re, err);
    else
      return BAD(err, "policy: %s: unknown key", f);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int parse_rpcs(json_object *o, cf_policy *p, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return BAD(err, "policy: rpcs: an object expected");
  size_t n = (size_t)json_object_object_length(o);
  if (!(p->rpcs = calloc(n + 1, sizeof(*p->rpcs))))
    return cf_err(err, ENOMEM, "policy: rpcs");
  json_object_object_foreach(o, k, v) {
    char f[160];
    snprintf(f, sizeof(f), "rpcs.%.100s", k);
    bool known = false;
    for (size_t i = 0; known_rpcs[i] && !known; i++)
      known = !strcmp(known_rpcs[i], k);
    if (!known)
      return BAD(err, "policy: %s: no such RPC (agent.proto)", f);
    enum pv verdict;
    bool cond_ok = !strcmp(k, "CreateContainer") || !strcmp(k, "ExecProcess");
    if (parse_verdict(v, f, &verdict, cond_ok, err) < 0)
      return -EINVAL;
    if (!(p->rpcs[p->n_rpcs].name = strdup(k)))
      return cf_err(err, ENOMEM, "policy: %s", f);
    p->rpcs[p->n_rpcs++].v = verdict;
  }
  return 0;
}

cf_policy *cf_policy_parse(const char *text, size_t len, cf_error *err) {
  if (len > CF_POLICY_MAX_BYTES) {
    BAD(err, "policy: %zu bytes, at most %u", len, CF_POLICY_MAX_BYTES);
    return NULL;
  }
  json_tokener *tok = json_tokener_new_ex(64);
  if (!tok) {
    cf_err(err, ENOMEM, "policy");
    return NULL;
  }
  json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!doc || jerr != json_tokener_success || used != len) {
    json_object_put(doc);
    BAD(err, "policy: not a JSON document (%s)",
        jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "trailing bytes");
    return NULL;
  }
  cf_policy *p = calloc(1, sizeof(*p));
  if (!p) {
    json_object_put(doc);
    cf_err(err, ENOMEM, "policy");
    return NULL;
  }
  int rc = 0;
  bool have_version = false, have_default = false;
  if (!json_object_is_type(doc, json_type_object))
    rc = BAD(err, "policy: the document is not a JSON object");
  else {
    json_object_object_foreach(doc, k, v) {
      size_t n;
      if (!strcmp(k, "version")) {
        if (!json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != CF_POLICY_VERSION)
          rc = BAD(err, "policy: version: %d expected (this agent's format)", CF_POLICY_VERSION);
        have_version = true;
      } else if (!strcmp(k, "default")) {
        enum pv d;
        if ((rc = parse_verdict(v, "default", &d, false, err)) == 0)
          p->deny = d == PV_DENY;
        have_default = true;
      } else if (!strcmp(k, "rpcs"))
        rc = parse_rpcs(v, p, err);
      else if (!strcmp(k, "containers")) {
        if ((rc = get_array(v, "containers", 256, &n, err)) < 0)
          break;
        if (!(p->rules = calloc(n + 1, sizeof(prule)))) {
          rc = cf_err(err, ENOMEM, "policy: containers");
          break;
        }
        for (size_t i = 0; i < n && rc == 0; i++, p->n_rules++) {
          char f[64];
          snprintf(f, sizeof(f), "containers[%zu]", i);
          rc = parse_rule(json_object_array_get_idx(v, i), f, &p->rules[i], err);
        }
      } else if (!strcmp(k, "exec"))
        rc = parse_execs(v, "exec", &p->execs, &p->n_execs, err);
      else
        rc = BAD(err, "policy: %.100s: unknown key", k);
      if (rc < 0)
        break;
    }
  }
  json_object_put(doc);
  if (rc == 0 && (!have_version || !have_default))
    rc = BAD(err, "policy: \"version\" and \"default\" are required");
  if (rc < 0) {
    cf_policy_free(p);
    return NULL;
  }
  p->version = CF_POLICY_VERSION;
  return p;
}

cf_policy *cf_policy_load(const char *path, cf_error *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    cf_err(err, errno, "policy %s", path);
    return NULL;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (off_t)CF_POLICY_MAX_BYTES) {
    BAD(err, "policy %s: not a regular file of at most %u bytes", path, CF_POLICY_MAX_BYTES);
    return NULL;
  }
  _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (buf && got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  if (!buf || got != (size_t)st.st_size) {
    cf_err(err, buf ? EIO : ENOMEM, "policy %s: read", path);
    return NULL;
  }
  cf_policy *p = cf_policy_parse(buf, got, err);
  if (!p)
    cf_error_prefix(err, "%s", path);
  return p;
}

cf_policy *cf_policy_default(bool deny) {
  /* deny: what a TEE guest answers before the pod's policy arrives (in
   * CreateSandbox's init-data): only the calls that bring it */
  static const char *const boot[] = {"CreateSandbox", "DestroySandbox", "GetGuestDetails",
                                     "UpdateInterface", "UpdateRoutes", "AddNeighbors", NULL};
  cf_policy *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->version = CF_POLICY_VERSION;
  p->deny = deny;
  if (!deny)
    return p;
  if (!(p->rpcs = calloc(sizeof(boot) / sizeof(boot[0]), sizeof(*p->rpcs)))) {
    free(p);
    return NULL;
  }
  for (size_t i = 0; boot[i]; i++) {
    if (!(p->rpcs[i].name = strdup(boot[i]))) {
      cf_policy_free(p);
      return NULL;
    }
    p->rpcs[i].v = PV_ALLOW;
    p->n_rpcs++;
  }
  return p;
}

static void rule_free(prule *r) {
  free(r->name);
  free(r->image_name);
  strv_free(&r->digests);
  strv_free(&r->root_hashes);
  strv_free(&r->args);
  strv_free(&r->env);
  for (size_t i = 0; i < r->n_env_re; i++)
    pregex_free(&r->env_re[i]);
  free(r->env_re);
  free(r->cwd);
  free(r->groups);
  strv_free(&r->caps);
  for (size_t i = 0; i < r->n_mounts; i++) {
    pmount *m = &r->mounts[i];
    free(m->dst);
    free(m->type);
    free(m->source);
    pregex_free(m->source_re);
    free(m->source_re);
    strv_free(&m->options);
  }
  free(r->mounts);
  for (size_t i = 0; i < r->n_devices; i++)
    free(r->devices[i].path);
  free(r->devices);
  for (size_t i = 0; i < r->n_sysctls; i++) {
    free(r->sysctls[i].key);
    free(r->sysctls[i].value);
  }
  free(r->sysctls);
  for (size_t i = 0; i < r->n_annotations; i++) {
    free(r->annotations[i].key);
    pregex_free(r->annotations[i].re);
    free(r->annotations[i].re);
  }
  free(r->annotations);
  for (size_t i = 0; i < r->n_execs; i++)
    strv_free(&r->execs[i]);
  free(r->execs);
  for (size_t i = 0; i < r->n_exec_re; i++)
    pregex_free(&r->exec_re[i]);
  free(r->exec_re);
}

void cf_policy_free(cf_policy *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->n_rpcs; i++)
    free(p->rpcs[i].name);
  free(p->rpcs);
  for (size_t i = 0; i < p->n_rules; i++)
    rule_free(&p->rules[i]);
  free(p->rules);
  for (size_t i = 0; i < p->n_execs; i++)
    strv_free(&p->execs[i]);
  free(p->execs);
  free(p);
}

bool cf_policy_default_deny(const cf_policy *p) { return p->deny; }

void cf_policy_describe(const cf_policy *p, char *buf, size_t cap) {
  snprintf(buf, cap, "version %d, default %s, %zu RPC verdicts, %zu container rules, %zu exec commands",
           p->version, p->deny ? "deny" : "allow", p->n_rpcs, p->n_rules, p->n_execs);
}
