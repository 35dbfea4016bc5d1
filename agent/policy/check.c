/* The verdicts: pure functions of a request and the policy. A denial names
 * the request, the field and the rule that refused it. */

#include "policy_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANNO_NAME "io.kubernetes.cri.container-name"
#define ANNO_TYPE "io.kubernetes.cri.container-type"
#define ANNO_IMAGE "io.kubernetes.cri.image-name"

/* Filesystems that are the kernel's own interfaces: never a container's
 * unless a rule names the type. */
static const char *const kernel_fs[] = {"configfs", "debugfs", "securityfs", "bpf", "devtmpfs",
                                        "tracefs", "efivarfs", "binfmt_misc", "pstore",
                                        "fusectl", NULL};
/* Devices that talk to the TEE firmware (reports, sealing keys). */
static const char *const tee_devices[] = {"/dev/sev-guest", "/dev/sev", "/dev/tdx_guest",
                                          "/dev/tdx-guest", "/dev/tpm0", "/dev/tpmrm0", NULL};
/* Bind destinations the agent fills from the pod's own files in the guest
 * (bundle.c): their host source is never used. */
static const char *const pod_files[] = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
                                        "/dev/shm", NULL};

static bool in_list(const char *const *l, const char *s) {
  for (; *l; l++)
    if (!strcmp(*l, s))
      return true;
  return false;
}

static bool in_strv(const strv *s, const char *x) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->v[i], x))
      return true;
  return false;
}

static bool pol_match(const pregex *r, const char *s) {
  return regexec(&r->re, s, 0, NULL, 0) == 0;
}

static void allow(cf_verdict *v) {
  v->allowed = true;
  v->rule[0] = v->msg[0] = 0;
}

__attribute__((format(printf, 4, 5))) static void deny(cf_verdict *v, const char *request,
                                                       const char *rule, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  v->allowed = false;
  snprintf(v->rule, sizeof(v->rule), "%s", rule);
  snprintf(v->msg, sizeof(v->msg), "policy: %s: %s (rule %s)", request, what, rule);
}

static enum pv rpc_verdict(const cf_policy *p, const char *rpc) {
  for (size_t i = 0; i < p->n_rpcs; i++)
    if (!strcmp(p->rpcs[i].name, rpc))
      return p->rpcs[i].v;
  return PV_UNSET;
}

void cf_policy_check_rpc(const cf_policy *p, const char *rpc, cf_verdict *v) {
  enum pv r = rpc_verdict(p, rpc);
  if (r == PV_ALLOW || r == PV_COND || (r == PV_UNSET && !p->deny))
    return allow(v);
  char rule[128];
  snprintf(rule, sizeof(rule), r == PV_DENY ? "rpcs.%s" : "default", rpc);
  deny(v, rpc, rule, "%s is not allowed", rpc);
}

bool cf_policy_rpc_conditional(const cf_policy *p, const char *rpc) {
  return rpc_verdict(p, rpc) == PV_COND;
}

/* ------------------------------------------------------------ JSON access */

static json_object *get(json_object *o, const char *k) {
  json_object *v = NULL;
  if (o && json_object_is_type(o, json_type_object))
    json_object_object_get_ex(o, k, &v);
  return v;
}

static const char *get_str(json_object *o, const char *k) {
  json_object *v = get(o, k);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static size_t arr_len(json_object *a) {
  return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static const char *arr_str(json_object *a, size_t i) {
  json_object *e = json_object_array_get_idx(a, i);
  return e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
}

/* A short, quoted rendering of a JSON value for a message. */
static const char *show(json_object *o, char *buf, size_t cap) {
  const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE)
                    : "null";
  snprintf(buf, cap, "%.160s%s", s, strlen(s) > 160 ? "..." : "");
  return buf;
}

/* --------------------------------------------------------------- process */

typedef struct ctx {
  const char *request;   /* "CreateContainer c1" */
  const char *rule_name; /* "containers[0]" */
  cf_verdict *v;
} ctx;

static bool fail(ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(ctx *c, const char *field, const char *fmt, ...) {
  char what[400], rule[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  snprintf(rule, sizeof(rule), "%s%s%s", c->rule_name, field[0] && c->rule_name[0] ? "." : "",
           field);
  deny(c->v, c->request, rule, "%s", what);
  return false;
}

static bool env_ok(ctx *c, const prule *r, json_object *env) {
  for (size_t i = 0; i < arr_len(env); i++) {
    const char *e = arr_str(env, i);
    bool ok = in_strv(&r->env, e);
    for (size_t k = 0; !ok && k < r->n_env_re; k++)
      ok = pol_match(&r->env_re[k], e);
    if (!ok) {
      const char *eq = strchr(e, '=');
      return fail(c, "process.env", "process.env: \"%.*s\" is not allowed",
                  (int)(eq ? eq - e : 64), e);
    }
  }
  return true;
}

static bool caps_ok(ctx *c, const prule *r, json_object *caps) {
  static const char *const sets[] = {"bounding", "effective", "inheritable", "permitted",
                                     "ambient", NULL};
  for (size_t s = 0; sets[s]; s++) {
    json_object *set = get(caps, sets[s]);
    for (size_t i = 0; i < arr_len(set); i++) {
      const char *cap = arr_str(set, i);
      bool ok = r && r->has_caps ? in_strv(&r->caps, cap) : in_list(cf_policy_default_caps, cap);
      if (!ok)
        return fail(c, "process.capabilities", "process.capabilities.%s: %s is not allowed",
                    sets[s], cap);
    }
  }
  return true;
}

static bool user_ok(ctx *c, const prule *r, json_object *user) {
  json_object *uid = get(user, "uid"), *gid = get(user, "gid"), *groups = get(user, "additionalGids");
  if (get(user, "username"))
    return fail(c, "process.user", "process.user.username is not allowed (numeric ids only)");
  int64_t u = uid ? json_object_get_int64(uid) : 0, g = gid ? json_object_get_int64(gid) : 0;
  if (r->has_uid && u != r->uid)
    return fail(c, "process.uid", "process.user.uid %lld is not %u", (long long)u, r->uid);
  if (r->has_gid && g != r->gid)
    return fail(c, "process.gid", "process.user.gid %lld is not %u", (long long)g, r->gid);
  /* with `groups` the set is pinned (an exec may carry fewer); without
   * it a pinned gid allows only itself */
  if (!r->has_groups && !r->has_gid)
    return true;
  for (size_t i = 0; i < arr_len(groups); i++) {
    int64_t x = json_object_get_int64(json_object_array_get_idx(groups, i));
    bool ok = !r->has_groups && x == r->gid;
    for (size_t k = 0; !ok && k < r->n_groups; k++)
      ok = x == r->groups[k];
    if (!ok)
      return fail(c, "process.groups", "process.user.additionalGids: %lld is not allowed",
                  (long long)x);
  }
  for (size_t k = 0; r->has_groups && !r->groups_subset && k < r->n_groups; k++) {
    bool have = false;
    for (size_t i = 0; !have && i < arr_len(groups); i++)
      have = json_object_get_int64(json_object_array_get_idx(groups, i)) == r->groups[k];
    if (!have)
      return fail(c, "process.groups", "process.user.additionalGids lacks %u (the groups are pinned)",
                  r->groups[k]);
  }
  return true;
}

static bool args_equal(const strv *want, json_object *args) {
  if (arr_len(args) != want->n)
    return false;
  for (size_t i = 0; i < want->n; i++)
    if (strcmp(want->v[i], arr_str(args, i)))
      return false;
  return true;
}

static bool process_ok(ctx *c, const prule *r, json_object *proc, bool terminal) {
  char buf[200];
  json_object *args = get(proc, "args");
  if (r->has_args && !args_equal(&r->args, args))
    return fail(c, "process.args", "process.args %s is not the allowed command",
                show(args, buf, sizeof(buf)));
  if (!env_ok(c, r, get(proc, "env")))
    return false;
  const char *cwd = get_str(proc, "cwd");
  if (r->cwd && (!cwd || strcmp(cwd, r->cwd)))
    return fail(c, "process.cwd", "process.cwd \"%.128s\" is not \"%.128s\"", cwd ? cwd : "",
                r->cwd);
  if (!user_ok(c, r, get(proc, "user")) || !caps_ok(c, r, get(proc, "capabilities")))
    return false;
  json_object *nnp = get(proc, "noNewPrivileges");
  if (r->no_new_privs == 1 && !(nnp && json_object_get_boolean(nnp)))
    return fail(c, "process.no_new_privs", "process.noNewPrivileges must be true");
  if (r->terminal >= 0 && terminal != (bool)r->terminal)
    return fail(c, "process.terminal", "a terminal is %s", r->terminal ? "required" : "not allowed");
  if (get_str(proc, "apparmorProfile") || get_str(proc, "selinuxLabel"))
    return fail(c, "process", "process: an AppArmor profile or SELinux label is not allowed");
  return true;
}

/* ---------------------------------------------------------------- mounts */

static bool has_opt(json_object *opts, const char *o) {
  for (size_t i = 0; i < arr_len(opts); i++)
    if (!strcmp(arr_str(opts, i), o))
      return true;
  return false;
}

static bool is_bind(const char *type, json_object *opts) {
  return (type && !strcmp(type, "bind")) || has_opt(opts, "bind") || has_opt(opts, "rbind");
}

static bool mount_matches(const pmount *pm, const char *dst, const char *type, const char *src,
                          json_object *opts) {
  if (strcmp(pm->dst, dst) || strcmp(pm->type, type))
    return false;
  if (pm->source && strcmp(pm->source, src))
    return false;
  if (pm->source_re && !pol_match(pm->source_re, src))
    return false;
  if (!pm->has_options)
    return true;
  /* the same set: an added option may widen (rshared, suid), a dropped one
   * may too (nosuid, ro) */
  for (size_t i = 0; i < arr_len(opts); i++)
    if (!in_strv(&pm->options, arr_str(opts, i)))
      return false;
  for (size_t i = 0; i < pm->options.n; i++)
    if (!has_opt(opts, pm->options.v[i]))
      return false;
  return true;
}

static bool shared(const cf_policy_create *req, const char *dst) {
  for (size_t i = 0; i < req->n_shared; i++)
    if (req->shared_dsts[i] && !strcmp(req->shared_dsts[i], dst))
      return true;
  return false;
}

/* The refusals that hold whatever the rules say, unless a rule names the
 * thing exactly: kernel-interface filesystems, binds of guest paths, TEE
 * devices. r NULL: no rule (CreateContainer allowed outright). */
static bool forbidden_ok(ctx *c, const prule *r, const cf_policy_create *req) {
  json_object *mounts = get(req->spec, "mounts");
  for (size_t i = 0; i < arr_len(mounts); i++) {
    json_object *m = json_object_array_get_idx(mounts, i), *opts = get(m, "options");
    const char *dst = get_str(m, "destination"), *type = get_str(m, "type");
    const char *src = get_str(m, "source");
    dst = dst ? dst : "";
    type = type ? type : (is_bind(NULL, opts) ? "bind" : "");
    src = src ? src : "";
    bool named = false;
    if (in_list(kernel_fs, type)) {
      for (size_t k = 0; r && !named && k < r->n_mounts; k++)
        named = !strcmp(r->mounts[k].type, type) && !strcmp(r->mounts[k].dst, dst);
      if (!named) {
        deny(c->v, c->request, "kernel-filesystems",
             "mounts[%zu]: %s on %.128s is a kernel interface filesystem", i, type, dst);
        return false;
      }
    }
    if (is_bind(type, opts) && !shared(req, dst) && !in_list(pod_files, dst)) {
      for (size_t k = 0; r && !named && k < r->n_mounts; k++)
        named = r->mounts[k].source && !strcmp(r->mounts[k].source, src) &&
                !strcmp(r->mounts[k].dst, dst);
      if (!named) {
        deny(c->v, c->request, "guest-paths",
             "mounts[%zu]: bind of %.128s on %.128s would expose the guest's own files", i, src,
             dst);
        return false;
      }
    }
  }
  json_object *devs = get(get(req->spec, "linux"), "devices");
  for (size_t i = 0; i < arr_len(devs); i++) {
    const char *path = get_str(json_object_array_get_idx(devs, i), "path");
    if (!path || !in_list(tee_devices, path))
      continue;
    bool named = false;
    for (size_t k = 0; r && !named && k < r->n_devices; k++)
      named = !strcmp(r->devices[k].path, path);
    if (!named) {
      deny(c->v, c->request, "tee-devices", "linux.devices[%zu]: %s reaches the TEE firmware",
           i, path);
      return false;
    }
  }
  return true;
}

static bool mounts_ok(ctx *c, const prule *r, json_object *mounts) {
  for (size_t i = 0; i < arr_len(mounts); i++) {
    json_object *m = json_object_array_get_idx(mounts, i), *opts = get(m, "options");
    const char *dst = get_str(m, "destination"), *type = get_str(m, "type");
    const char *src = get_str(m, "source");
    dst = dst ? dst : "";
    /* a second mount hides what the first was allowed as, unless the rule
     * itself names the destination with two types and each is of another one (containerd's pause
     * spec has /dev/shm as its default tmpfs and then the pod's shm bind) */
    const char *seen = NULL;
    bool layered = false;
    for (size_t k = 0; r && k < r->n_mounts && !layered; k++) {
      if (strcmp(r->mounts[k].dst, dst))
        continue;
      layered = seen && strcmp(seen, r->mounts[k].type);
      seen = r->mounts[k].type;
    }
    for (size_t k = 0; k < i; k++) {
      json_object *prev = json_object_array_get_idx(mounts, k);
      const char *d = get_str(prev, "destination"), *t = get_str(prev, "type");
      if (d && !strcmp(d, dst) && (!layered || !t || !type || !strcmp(t, type)))
        return fail(c, "mounts", "mounts[%zu]: destination %.128s appears twice", i, dst);
    }
    type = type ? type : (is_bind(NULL, opts) ? "bind" : "");
    src = src ? src : "";
    bool ok = false;
    for (size_t k = 0; !ok && k < r->n_mounts; k++)
      ok = mount_matches(&r->mounts[k], dst, type, src, opts);
    if (!ok) {
      char buf[200];
      return fail(c, "mounts", "mounts[%zu]: %s %.128s on %.128s (options %s) matches no rule", i,
                  type, src, dst, show(opts, buf, sizeof(buf)));
    }
  }
  return true;
}

/* null, zero, full, random, urandom, tty, console, ptmx, the pty slaves
 * (136:*), tun: what containerd's default spec grants and the runtime
 * creates anyway. */
static bool standard_device(int64_t major, int64_t minor) {
  static const int64_t std[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0},
                                   {5, 1}, {5, 2}, {136, -1}, {10, 200}};
  for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
    if (std[i][0] == major && std[i][1] == minor)
      return true;
  return false;
}

static bool devices_ok(ctx *c, const prule *r, json_object *linux_) {
  json_object *devs = get(linux_, "devices");
  for (size_t i = 0; i < arr_len(devs); i++) {
    json_object *d = json_object_array_get_idx(devs, i);
    const char *path = get_str(d, "path"), *type = get_str(d, "type");
    bool ok = false;
    for (size_t k = 0; path && !ok && k < r->n_devices; k++) {
      const pdevice *pd = &r->devices[k];
      ok = !strcmp(pd->path, path) && (!pd->type || (type && type[0] == pd->type));
    }
    if (!ok)
      return fail(c, "devices", "linux.devices[%zu]: %.128s is not allowed", i,
                  path ? path : "(no path)");
  }
  /* cgroup device access: denials, mknod only, the standard devices every
   * container gets, or a device a rule allows */
  json_object *rules = get(get(linux_, "resources"), "devices");
  for (size_t i = 0; i < arr_len(rules); i++) {
    json_object *d = json_object_array_get_idx(rules, i), *al = get(d, "allow");
    if (!al || !json_object_get_boolean(al))
      continue;
    json_object *maj = get(d, "major"), *min = get(d, "minor");
    const char *access = get_str(d, "access"), *type = get_str(d, "type");
    if (access && access[0] && strspn(access, "m") == strlen(access))
      continue;
    if (type && !strcmp(type, "c") && maj && standard_device(json_object_get_int64(maj),
                                                             min ? json_object_get_int64(min) : -1))
      continue;
    bool ok = false;
    for (size_t k = 0; maj && min && !ok && k < r->n_devices; k++)
      ok = r->devices[k].has_num && r->devices[k].major == json_object_get_int64(maj) &&
           r->devices[k].minor == json_object_get_int64(min);
    if (!ok)
      return fail(c, "devices", "linux.resources.devices[%zu]: an allow rule for %s is not allowed",
                  i, maj && min ? "a device no rule names" : "every device");
  }
  return true;
}

static bool sysctls_ok(ctx *c, const prule *r, json_object *sysctl) {
  if (!sysctl || !json_object_is_type(sysctl, json_type_object))
    return true;
  json_object_object_foreach(sysctl, k, v) {
    const char *val = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    bool ok = false;
    for (size_t i = 0; !ok && i < r->n_sysctls; i++)
      ok = !strcmp(r->sysctls[i].key, k) && !strcmp(r->sysctls[i].value, val);
    if (!ok)
      return fail(c, "sysctls", "linux.sysctl: %.128s=%.64s is not allowed", k, val);
  }
  return true;
}

static bool annotations_ok(ctx *c, const prule *r, json_object *annos) {
  if (r->image_name) {
    const char *img = get_str(annos, ANNO_IMAGE);
    if (!img || strcmp(img, r->image_name))
      return fail(c, "image.name", "image \"%.160s\" is not \"%.160s\"", img ? img : "(none)",
                  r->image_name);
  }
  if (!annos || !json_object_is_type(annos, json_type_object))
    return true;
  json_object_object_foreach(annos, k, v) {
    const char *val = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    const pkv *rule = NULL;
    for (size_t i = 0; !rule && i < r->n_annotations; i++)
      if (!strcmp(r->annotations[i].key, k))
        rule = &r->annotations[i];
    if (rule) {
      if (!pol_match(rule->re, val))
        return fail(c, "annotations", "annotation %.128s=\"%.128s\" is not allowed", k, val);
      continue;
    }
    /* containerd's own CRI bookkeeping (ids, names, sizes) */
    if (!strncmp(k, "io.kubernetes.cri.", 18))
      continue;
    return fail(c, "annotations", "annotation %.128s is not allowed", k);
  }
  return true;
}

static bool image_ok(ctx *c, const prule *r, const cf_policy_create *req) {
  if (req->pulled && r->root_hashes.n && !r->digests.n)
    return fail(c, "image.digests", "the image is pulled in the guest and this rule pins only "
                "dm-verity root hashes (a pulled image is pinned by image.digests)");
  if (req->pulled || !r->root_hashes.n)
    return true;
  if (!req->root_hash)
    return fail(c, "image.root_hashes", "the rootfs has no verified root hash");
  if (!in_strv(&r->root_hashes, req->root_hash))
    return fail(c, "image.root_hashes", "rootfs root hash %.64s is not allowed", req->root_hash);
  return true;
}

static bool rule_ok(ctx *c, const prule *r, const cf_policy_create *req) {
  json_object *spec = req->spec, *linux_ = get(spec, "linux"), *root = get(spec, "root");
  json_object *proc = get(spec, "process");
  bool terminal = req->terminal;
  if (get(spec, "hooks"))
    return fail(c, "", "hooks are not allowed");
  if (arr_len(get(linux_, "uidMappings")) || arr_len(get(linux_, "gidMappings")))
    return fail(c, "", "linux.uidMappings/gidMappings are not allowed");
  if (!image_ok(c, r, req) || !annotations_ok(c, r, get(spec, "annotations")) ||
      !process_ok(c, r, proc, terminal))
    return false;
  json_object *ro = get(root, "readonly");
  if (r->readonly_root == 1 && !(ro && json_object_get_boolean(ro)))
    return fail(c, "readonly_root", "root.readonly must be true");
  return forbidden_ok(c, r, req) && mounts_ok(c, r, get(spec, "mounts")) &&
         devices_ok(c, r, linux_) && sysctls_ok(c, r, get(linux_, "sysctl"));
}

/* Which rules may judge this container: by CRI container name (the sandbox
 * container by "sandbox": true), else by container id. */
static bool rule_selected(const prule *r, const cf_policy_create *req) {
  json_object *annos = get(req->spec, "annotations");
  const char *type = get_str(annos, ANNO_TYPE), *name = get_str(annos, ANNO_NAME);
  if (type && !strcmp(type, "sandbox"))
    return r->sandbox;
  if (r->sandbox)
    return false;
  if (!r->name)
    return true;
  return !strcmp(r->name, name ? name : req->container_id);
}

void cf_policy_check_create(const cf_policy *p, const cf_policy_create *req, int *rule,
                            cf_verdict *v) {
  char request[200];
  snprintf(request, sizeof(request), "CreateContainer %.128s", req->container_id);
  *rule = -1;
  ctx c = {.request = request, .rule_name = "containers", .v = v};
  enum pv rv = rpc_verdict(p, "CreateContainer");
  if (rv == PV_DENY || (rv == PV_UNSET && p->deny))
    return deny(v, request, rv == PV_DENY ? "rpcs.CreateContainer" : "default",
                "CreateContainer is not allowed");
  if (!req->spec || !json_object_is_type(req->spec, json_type_object))
    return deny(v, request, "spec", "the spec is not a JSON object");
  if (rv != PV_COND) {
    /* allowed outright: a deny-default (TEE) policy still keeps the
     * guest's own files, kernel interfaces and TEE devices out */
    if (p->deny && !forbidden_ok(&c, NULL, req))
      return;
    return allow(v);
  }
  bool tried = false;
  cf_verdict first = {0};
  for (size_t i = 0; i < p->n_rules; i++) {
    if (!rule_selected(&p->rules[i], req))
      continue;
    char name[48];
    snprintf(name, sizeof(name), "containers[%zu]", i);
    c.rule_name = name;
    if (rule_ok(&c, &p->rules[i], req)) {
      *rule = (int)i;
      return allow(v);
    }
    if (!tried)
      first = *v; /* the first candidate's reason is the one reported */
    tried = true;
  }
  if (tried) {
    *v = first;
    return;
  }
  json_object *annos = get(req->spec, "annotations");
  const char *name = get_str(annos, ANNO_NAME);
  deny(v, request, "containers", "no container rule for %s %.128s",
       name ? "container name" : "container id", name ? name : req->container_id);
}

/* ------------------------------------------------------------------ exec */

static bool exec_listed(const strv *execs, size_t n, json_object *args) {
  for (size_t i = 0; i < n; i++)
    if (args_equal(&execs[i], args))
      return true;
  return false;
}

void cf_policy_check_exec(const cf_policy *p, int rule, const char *container_id,
                          const char *exec_id, json_object *process, bool terminal,
                          cf_verdict *v) {
  char request[300];
  snprintf(request, sizeof(request), "ExecProcess %.128s/%.128s", container_id, exec_id);
  enum pv rv = rpc_verdict(p, "ExecProcess");
  if (rv == PV_DENY || (rv == PV_UNSET && p->deny))
    return deny(v, request, rv == PV_DENY ? "rpcs.ExecProcess" : "default",
                "ExecProcess is not allowed");
  if (rv != PV_COND)
    return allow(v);
  if (!process || !json_object_is_type(process, json_type_object))
    return deny(v, request, "process", "the process is not a JSON object");
  json_object *args = get(process, "args");
  const prule *r = rule >= 0 && (size_t)rule < p->n_rules ? &p->rules[rule] : NULL;
  char rname[48];
  rname[0] = '\0'; /* top level: the rule is "exec" itself */
  if (r)
    snprintf(rname, sizeof(rname), "containers[%d]", rule);
  ctx c = {.request = request, .rule_name = rname, .v = v};
  bool listed = exec_listed(p->execs, p->n_execs, args) ||
                (r && exec_listed(r->execs, r->n_execs, args));
  if (!listed && r && r->n_exec_re) {
    char joined[4096];
    size_t off = 0;
    for (size_t i = 0; i < arr_len(args) && off < sizeof(joined); i++)
      off += (size_t)snprintf(joined + off, sizeof(joined) - off, "%s%s", i ? " " : "",
                              arr_str(args, i));
    for (size_t i = 0; off < sizeof(joined) && !listed && i < r->n_exec_re; i++)
      listed = pol_match(&r->exec_re[i], joined);
  }
  char buf[200];
  if (!listed)
    return (void)fail(&c, "exec", "command %s is not an allowed exec",
                      show(args, buf, sizeof(buf)));
  if (!r) /* a top-level command: any container, the default capabilities */
    return (void)(caps_ok(&c, NULL, get(process, "capabilities")) && (allow(v), true));
  prule relaxed = *r; /* the container's env, cwd, user, caps, terminal; not its args */
  relaxed.has_args = false;
  relaxed.groups_subset = true; /* an exec may drop groups, never add one */
  if (process_ok(&c, &relaxed, process, terminal))
    allow(v);
}

size_t cf_policy_image_digests(const cf_policy *p, const char **out, size_t cap, bool *pinned) {
  size_t n = 0;
  for (size_t i = 0; i < p->n_rules; i++)
    for (size_t j = 0; j < p->rules[i].digests.n && n < cap; j++)
      out[n++] = p->rules[i].digests.v[j];
  out[n] = NULL;
  *pinned = n > 0 || p->deny;
  return n;
}

bool cf_policy_root_hash_allowed(const cf_policy *p, int rule, const char *root_hash) {
  if (!root_hash)
    return false;
  for (size_t i = 0; i < p->n_rules; i++)
    if ((rule < 0 || (size_t)rule == i) && in_strv(&p->rules[i].root_hashes, root_hash))
      return true;
  return false;
}
