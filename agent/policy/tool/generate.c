/* What kubelet and containerd's CRI put into a container's OCI spec, stated
 * as policy rules: the process from the pod spec resolved against the image
 * config (Kubernetes' command/args rules), the standard mounts containerd
 * adds, the pod's volumes at kubelet's paths, and the probes' commands as
 * the only execs. What is only known at run time (valueFrom env, the pod's
 * uid and sandbox id in paths) becomes an anchored pattern. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/policy.h"
#include "generate.h"

#define HEX64 "[0-9a-f]{64}"
#define POD_UID "[0-9a-f-]+"

static json_object *get(json_object *o, const char *k) {
  json_object *v = NULL;
  return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}
static const char *gstr(json_object *o, const char *k) {
  json_object *v = get(o, k);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}
static json_object *garr(json_object *o, const char *k) {
  json_object *v = get(o, k);
  return v && json_object_is_type(v, json_type_array) ? v : NULL;
}
/* a[i] as a string, "" when it is not one (YAML nulls, numbers) */
static const char *sidx(json_object *a, size_t i) {
  json_object *v = json_object_array_get_idx(a, i);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}
static bool gbool(json_object *o, const char *k) {
  json_object *v = get(o, k);
  return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* A literal for a POSIX extended pattern. */
static void re_escape(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 3 < cap; s++) {
    if (strchr(".[]()*+?{}|^$\\", *s))
      out[n++] = '\\';
    out[n++] = *s;
  }
  out[n] = '\0';
}

json_object *gen_pod_spec(json_object *docs, json_object **metadata, cf_error *err) {
  size_t n = json_object_array_length(docs);
  if (n == 0) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "no YAML document: expected a Pod or a workload");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    json_object *d = json_object_array_get_idx(docs, i);
    const char *kind = gstr(d, "kind");
    if (!kind) {
      cf_err_status(err, CF_INVALID_ARGUMENT, "document %zu has no kind", i + 1);
      return NULL;
    }
    json_object *spec = get(d, "spec"), *meta = get(d, "metadata");
    if (!strcmp(kind, "Pod")) {
    } else if (!strcmp(kind, "Deployment") || !strcmp(kind, "StatefulSet") || !strcmp(kind, "Job") ||
               !strcmp(kind, "DaemonSet") || !strcmp(kind, "ReplicaSet")) {
      json_object *t = get(spec, "template");
      meta = get(t, "metadata");
      spec = get(t, "spec");
    } else if (!strcmp(kind, "CronJob")) {
      json_object *t = get(get(get(spec, "jobTemplate"), "spec"), "template");
      meta = get(t, "metadata");
      spec = get(t, "spec");
    } else if (!strcmp(kind, "ConfigMap") || !strcmp(kind, "Secret") || !strcmp(kind, "Service")) {
      continue; /* side documents in the same file */
    } else {
      cf_err_status(err, CF_INVALID_ARGUMENT,
                    "document %zu: kind %s is not a Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob",
                    i + 1, kind);
      return NULL;
    }
    if (!spec || !garr(spec, "containers") || json_object_array_length(garr(spec, "containers")) == 0) {
      cf_err_status(err, CF_INVALID_ARGUMENT, "document %zu (%s): no pod spec with containers", i + 1, kind);
      return NULL;
    }
    *metadata = meta;
    return spec;
  }
  cf_err_status(err, CF_INVALID_ARGUMENT, "no Pod or workload among %zu YAML documents", n);
  return NULL;
}

static json_object *strs(json_object *a) {
  json_object *o = json_object_new_array();
  for (size_t i = 0; a && i < json_object_array_length(a); i++)
    json_object_array_add(o, json_object_get(json_object_array_get_idx(a, i)));
  return o;
}

static void add_str(json_object *a, const char *s) { json_object_array_add(a, json_object_new_string(s)); }

static json_object *mount(const char *dst, const char *type, const char *src, bool pattern,
                          const char *const *opts) {
  json_object *m = json_object_new_object();
  json_object_object_add(m, "destination", json_object_new_string(dst));
  json_object_object_add(m, "type", json_object_new_string(type));
  json_object_object_add(m, pattern ? "source_pattern" : "source", json_object_new_string(src));
  json_object *o = json_object_new_array();
  for (; *opts; opts++)
    add_str(o, *opts);
  json_object_object_add(m, "options", o);
  return m;
}

static const char *const o_proc[] = {"nosuid", "noexec", "nodev", NULL};
static const char *const o_dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
static const char *const o_pts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL};
static const char *const o_sys[] = {"nosuid", "noexec", "nodev", "ro", NULL};
static const char *const o_cg[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
static const char *const o_rw[] = {"rbind", "rprivate", "rw", NULL};
static const char *const o_ro[] = {"rbind", "rprivate", "ro", NULL};
static const char *const o_sbx[] = {"rbind", "ro", NULL};

/* The kernel filesystems every container of containerd's default spec has. */
static void std_mounts(json_object *ms, bool cgroup) {
  json_object_array_add(ms, mount("/proc", "proc", "proc", false, o_proc));
  json_object_array_add(ms, mount("/dev", "tmpfs", "tmpfs", false, o_dev));
  json_object_array_add(ms, mount("/dev/pts", "devpts", "devpts", false, o_pts));
  json_object_array_add(ms, mount("/dev/mqueue", "mqueue", "mqueue", false, o_proc));
  json_object_array_add(ms, mount("/sys", "sysfs", "sysfs", false, o_sys));
  if (cgroup)
    json_object_array_add(ms, mount("/sys/fs/cgroup", "cgroup", "cgroup", false, o_cg));
}

typedef struct paths {
  char root[1024], state[1024], kubelet[1024]; /* escaped */
} paths;

static void pod_file(json_object *ms, const paths *p, const char *dst, const char *file, bool ro) {
  char src[4096];
  snprintf(src, sizeof(src), "%s/io\\.containerd\\.grpc\\.v1\\.cri/sandboxes/" HEX64 "/%s", p->root, file);
  json_object_array_add(ms, mount(dst, "bind", src, true, ro ? o_ro : o_rw));
}

/* A volume's directory as kubelet lays it out. */
static int volume_source(json_object *vol, const paths *p, const char *ctr, const char *sub,
                         char *src, size_t cap, bool *pattern, bool *force_ro, cf_error *err) {
  const char *name = gstr(vol, "name");
  char ename[512];
  re_escape(name, ename, sizeof(ename));
  *pattern = true;
  *force_ro = false;
  static const struct { const char *key, *plugin; bool ro; } kinds[] = {
      {"emptyDir", "empty-dir", false},     {"configMap", "configmap", true},
      {"secret", "secret", true},           {"projected", "projected", true},
      {"downwardAPI", "downward-api", true}, {"persistentVolumeClaim", NULL, false},
      {"csi", NULL, false},                 {"ephemeral", NULL, false},
  };
  if (sub && *sub) {
    char ectr[512];
    re_escape(ctr, ectr, sizeof(ectr));
    snprintf(src, cap, "%s/pods/" POD_UID "/volume-subpaths/%s/%s/[0-9]+", p->kubelet, ename, ectr);
    return 0;
  }
  json_object *hp = get(vol, "hostPath");
  if (hp) {
    if (!gstr(hp, "path"))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "volume %s: hostPath without a path", name);
    snprintf(src, cap, "%s", gstr(hp, "path"));
    *pattern = false;
    return 0;
  }
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    if (!get(vol, kinds[i].key))
      continue;
    *force_ro = kinds[i].ro; /* kubelet mounts API data read-only */
    if (kinds[i].plugin)
      snprintf(src, cap, "%s/pods/" POD_UID "/volumes/kubernetes\\.io~%s/%s", p->kubelet, kinds[i].plugin, ename);
    else /* a CSI driver's mount of the claim's persistent volume */
      snprintf(src, cap, "%s/pods/" POD_UID "/volumes/kubernetes\\.io~csi/[A-Za-z0-9.-]+/mount", p->kubelet);
    return 0;
  }
  return cf_err_status(err, CF_INVALID_ARGUMENT,
                       "volume %s: its kind is not one coffer-policy knows (emptyDir, configMap, secret, "
                       "projected, downwardAPI, hostPath, persistentVolumeClaim, csi, ephemeral)", name);
}

static json_object *find_volume(json_object *pod, const char *name) {
  json_object *vols = garr(pod, "volumes");
  for (size_t i = 0; vols && i < json_object_array_length(vols); i++) {
    const char *n = gstr(json_object_array_get_idx(vols, i), "name");
    if (n && !strcmp(n, name))
      return json_object_array_get_idx(vols, i);
  }
  return NULL;
}

static int container_mounts(json_object *pod, json_object *c, const paths *p, bool ro_root,
                            json_object *ms, cf_error *err) {
  const char *name = gstr(c, "name");
  std_mounts(ms, true);
  char src[4096];
  pod_file(ms, p, "/etc/hosts", "hosts", ro_root);
  snprintf(src, sizeof(src), "%s/pods/" POD_UID "/etc-hosts", p->kubelet); /* kubelet's own, with host aliases */
  json_object_array_add(ms, mount("/etc/hosts", "bind", src, true, ro_root ? o_ro : o_rw));
  pod_file(ms, p, "/etc/hostname", "hostname", ro_root);
  pod_file(ms, p, "/etc/resolv.conf", "resolv.conf", ro_root);
  snprintf(src, sizeof(src), "%s/io\\.containerd\\.grpc\\.v1\\.cri/sandboxes/" HEX64 "/shm", p->state);
  json_object_array_add(ms, mount("/dev/shm", "bind", src, true, o_rw));
  const char *tpath = gstr(c, "terminationMessagePath");
  char ectr[512];
  re_escape(name, ectr, sizeof(ectr));
  snprintf(src, sizeof(src), "%s/pods/" POD_UID "/containers/%s/[0-9a-f]+", p->kubelet, ectr);
  json_object_array_add(ms, mount(tpath ? tpath : "/dev/termination-log", "bind", src, true, o_rw));

  json_object *vms = garr(c, "volumeMounts");
  for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
    json_object *vm = json_object_array_get_idx(vms, i);
    const char *vn = gstr(vm, "name"), *dst = gstr(vm, "mountPath");
    if (!vn || !dst)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: volumeMounts[%zu] needs name and mountPath", name, i);
    json_object *vol = find_volume(pod, vn);
    if (!vol)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: volumeMounts[%zu]: no volume named %s", name, i, vn);
    bool pattern, force_ro;
    if (volume_source(vol, p, name, gstr(vm, "subPath"), src, sizeof(src), &pattern, &force_ro, err) < 0)
      return cf_error_prefix(err, "container %s", name);
    bool ro = gbool(vm, "readOnly") || force_ro;
    json_object_array_add(ms, mount(dst, "bind", src, pattern, ro ? o_ro : o_rw));
  }
  if (!gbool(pod, "automountServiceAccountToken") && get(pod, "automountServiceAccountToken")) {
  } else { /* the service account token kubelet projects unless the pod opts out */
    snprintf(src, sizeof(src), "%s/pods/" POD_UID "/volumes/kubernetes\\.io~projected/kube-api-access-[a-z0-9]+", p->kubelet);
    json_object_array_add(ms, mount("/var/run/secrets/kubernetes.io/serviceaccount", "bind", src, true, o_ro));
  }
  return 0;
}

/* Kubernetes' $(VAR) expansion of command and args from the literal env. */
static char *expand(const char *s, json_object *env) {
  size_t cap = strlen(s) * 2 + 256, n = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  for (const char *q = s; *q && n + 1 < cap;) {
    if (q[0] == '$' && q[1] == '$') {
      out[n++] = '$';
      q += 2;
      continue;
    }
    const char *close = q[0] == '$' && q[1] == '(' ? strchr(q, ')') : NULL;
    const char *val = NULL;
    for (size_t i = 0; close && env && i < json_object_array_length(env); i++) {
      json_object *e = json_object_array_get_idx(env, i);
      const char *en = gstr(e, "name");
      if (en && strlen(en) == (size_t)(close - q - 2) && !strncmp(en, q + 2, strlen(en)) && gstr(e, "value"))
        val = gstr(e, "value");
    }
    if (val && n + strlen(val) + 1 < cap) {
      n += (size_t)snprintf(out + n, cap - n, "%s", val);
      q = close + 1;
      continue;
    }
    out[n++] = *q++;
  }
  out[n] = '\0';
  return out;
}

static json_object *expand_all(json_object *a, json_object *env) {
  json_object *o = json_object_new_array();
  for (size_t i = 0; a && i < json_object_array_length(a); i++) {
    _cleanup_free_ char *x = expand(sidx(a, i), env);
    add_str(o, x ? x : "");
  }
  return o;
}

/* command/args: Kubernetes replaces the image's Entrypoint with command
 * (and drops Cmd), and Cmd with args. */
static json_object *resolve_args(json_object *c, json_object *cfg, json_object *env, cf_error *err) {
  json_object *cmd = garr(c, "command"), *args = garr(c, "args");
  json_object *out = json_object_new_array();
  json_object *first = cmd ? expand_all(cmd, env) : strs(garr(cfg, "Entrypoint"));
  json_object *rest = args ? expand_all(args, env) : cmd ? NULL : strs(garr(cfg, "Cmd"));
  for (size_t i = 0; i < json_object_array_length(first); i++)
    json_object_array_add(out, json_object_get(json_object_array_get_idx(first, i)));
  for (size_t i = 0; rest && i < json_object_array_length(rest); i++)
    json_object_array_add(out, json_object_get(json_object_array_get_idx(rest, i)));
  json_object_put(first);
  json_object_put(rest);
  if (json_object_array_length(out) == 0) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: no command (none in the pod spec nor the image)",
                  gstr(c, "name"));
    json_object_put(out);
    return NULL;
  }
  return out;
}

static int env_rules(json_object *c, json_object *cfg, json_object *rp, cf_error *err) {
  json_object *env = json_object_new_array(), *pat = json_object_new_array();
  json_object_object_add(rp, "env", env);
  json_object_object_add(rp, "env_patterns", pat);
  if (get(c, "envFrom"))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "container %s: envFrom: the variable names are only known when kubelet reads the "
                         "source; list them under env (valueFrom) so the policy can name them", gstr(c, "name"));
  bool path = false;
  json_object *ie = garr(cfg, "Env");
  for (size_t i = 0; ie && i < json_object_array_length(ie); i++) {
    const char *e = sidx(ie, i);
    if (!*e)
      continue;
    add_str(env, e);
    path |= !strncmp(e, "PATH=", 5);
  }
  if (!path) /* containerd's default when the image has none */
    add_str(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  json_object *pe = garr(c, "env");
  for (size_t i = 0; pe && i < json_object_array_length(pe); i++) {
    json_object *e = json_object_array_get_idx(pe, i);
    const char *n = gstr(e, "name"), *v = gstr(e, "value");
    if (!n || !*n || strchr(n, '='))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: env[%zu]: bad or missing name", gstr(c, "name"), i);
    char en[512], buf[8192];
    re_escape(n, en, sizeof(en));
    if (get(e, "valueFrom") || (v && strstr(v, "$("))) {
      snprintf(buf, sizeof(buf), "%s=.*", en); /* kubelet resolves it when the pod starts */
      add_str(pat, buf);
    } else {
      snprintf(buf, sizeof(buf), "%s=%s", n, v ? v : "");
      add_str(env, buf);
    }
  }
  /* what containerd and kubelet add: the pod's hostname, the API server's service */
  add_str(pat, "HOSTNAME=[A-Za-z0-9.-]+");
  add_str(pat, "KUBERNETES_(SERVICE_HOST|SERVICE_PORT|SERVICE_PORT_HTTPS|PORT|PORT_443_TCP|PORT_443_TCP_PROTO|"
               "PORT_443_TCP_PORT|PORT_443_TCP_ADDR)=[A-Za-z0-9.:/]+");
  return 0;
}

static int caps_rule(json_object *c, json_object *sc, json_object *rp, cf_error *err) {
  json_object *caps = json_object_new_array();
  json_object_object_add(rp, "capabilities", caps);
  json_object *cs = get(sc, "capabilities");
  json_object *add = garr(cs, "add"), *drop = garr(cs, "drop");
  bool drop_all = false;
  for (size_t i = 0; drop && i < json_object_array_length(drop); i++)
    drop_all |= !strcmp(sidx(drop, i), "ALL");
  char name[64];
  for (const char *const *d = cf_policy_default_caps; *d && !drop_all; d++) {
    bool dropped = false;
    for (size_t i = 0; drop && i < json_object_array_length(drop); i++) {
      const char *x = sidx(drop, i);
      dropped |= !strcmp(x, *d) || !strcmp(x, *d + 4);
    }
    if (!dropped)
      add_str(caps, *d);
  }
  for (size_t i = 0; add && i < json_object_array_length(add); i++) {
    const char *x = sidx(add, i);
    if (!*x || strlen(x) > 40 || strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != strlen(x))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: capabilities.add[%zu] is not a capability",
                           gstr(c, "name"), i);
    snprintf(name, sizeof(name), "%s%s", strncmp(x, "CAP_", 4) ? "CAP_" : "", x);
    bool have = false;
    for (size_t k = 0; k < json_object_array_length(caps); k++)
      have |= !strcmp(json_object_get_string(json_object_array_get_idx(caps, k)), name);
    if (!have)
      add_str(caps, name);
  }
  return 0;
}

static void add_gid(json_object *groups, long long g) {
  for (size_t i = 0; i < json_object_array_length(groups); i++)
    if (json_object_get_int64(json_object_array_get_idx(groups, i)) == g)
      return;
  json_object_array_add(groups, json_object_new_int64(g));
}

/* The next line of an /etc/passwd or /etc/group text with at least four
 * fields, split at ':' into f (in place). */
static bool next_line(char **cur, char *f[7], size_t *nf) {
  while (**cur) {
    char *line = *cur, *nl = strchr(line, '\n');
    *cur = nl ? nl + 1 : line + strlen(line);
    if (nl)
      *nl = '\0';
    *nf = 0;
    for (char *t = line; *nf < 7; t++) {
      f[(*nf)++] = t;
      if (!(t = strchr(t, ':')))
        break;
      *t = '\0';
    }
    if (*nf >= 4)
      return true;
  }
  return false;
}

/* The supplementary groups as containerd 1.6 sets additionalGids: the
 * primary gid, the groups of the image's /etc/group that list the user (by
 * its /etc/passwd name), then the pod's supplementalGroups and fsGroup
 * (which kubelet adds to them). Pinned exactly: the host may neither add
 * nor drop one. A primary gid containerd looks up is taken from the same
 * /etc/passwd; without one nothing about groups is pinned. */
static int groups_rule(const char *name, long long uid, long long gid, json_object *psc,
                       const image_source *src, const image_info *img, json_object *rp,
                       cf_error *err) {
  _cleanup_free_ char *passwd = NULL, *group = NULL;
  if (image_read_file(src, img, "etc/passwd", &passwd, err) < 0 ||
      image_read_file(src, img, "etc/group", &group, err) < 0)
    return cf_error_prefix(err, "container %s", name);
  char user[256] = "", *f[7], *cur = passwd;
  size_t nf;
  while (cur && next_line(&cur, f, &nf))
    if (strtoll(f[2], NULL, 10) == uid && f[2][0]) {
      snprintf(user, sizeof(user), "%s", f[0]);
      if (gid < 0)
        gid = strtoll(f[3], NULL, 10);
      break;
    }
  if (gid < 0)
    return 0;
  json_object_object_add(rp, "gid", json_object_new_int64(gid));
  json_object *groups = json_object_new_array();
  json_object_object_add(rp, "groups", groups);
  add_gid(groups, gid);
  for (cur = group; user[0] && cur && next_line(&cur, f, &nf);) {
    if (nf < 4 || !f[2][0])
      continue;
    for (char *m = strtok(f[3], ","); m; m = strtok(NULL, ","))
      if (!strcmp(m, user))
        add_gid(groups, strtoll(f[2], NULL, 10));
  }
  json_object *sg = get(psc, "supplementalGroups"), *fs = get(psc, "fsGroup");
  if (sg && !json_object_is_type(sg, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "pod securityContext.supplementalGroups is not a list");
  for (size_t i = 0; i <= (sg ? json_object_array_length(sg) : 0); i++) {
    json_object *g = sg && i < json_object_array_length(sg) ? json_object_array_get_idx(sg, i)
                     : i == (sg ? json_object_array_length(sg) : 0) ? fs : NULL;
    if (!g)
      continue;
    if (!json_object_is_type(g, json_type_int) || json_object_get_int64(g) < 0 ||
        json_object_get_int64(g) > 0xfffffffeLL)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "pod securityContext: supplementalGroups/fsGroup must be ids (0..4294967294)");
    add_gid(groups, json_object_get_int64(g));
  }
  return 0;
}

/* runAsUser/runAsGroup (container over pod), else the image's numeric User;
 * then the groups (groups_rule). */
static int user_rule(const char *name, json_object *sc, json_object *psc, const image_source *src,
                     const image_info *img, json_object *rp, cf_error *err) {
  json_object *cfg = img->config;
  json_object *u = get(sc, "runAsUser") ? get(sc, "runAsUser") : get(psc, "runAsUser");
  json_object *g = get(sc, "runAsGroup") ? get(sc, "runAsGroup") : get(psc, "runAsGroup");
  if ((u && (!json_object_is_type(u, json_type_int) || json_object_get_int64(u) < 0 ||
             json_object_get_int64(u) > 0xfffffffeLL)) ||
      (g && (!json_object_is_type(g, json_type_int) || json_object_get_int64(g) < 0 ||
             json_object_get_int64(g) > 0xfffffffeLL)))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "container %s: runAsUser/runAsGroup must be an id (0..4294967294)",
                         name);
  const char *iu = gstr(cfg, "User");
  long long uid = -1, gid = -1;
  if (iu && *iu) {
    char *end;
    long long a = strtoll(iu, &end, 10);
    if (end != iu && (*end == '\0' || *end == ':'))
      uid = a;
    if (*end == ':') {
      char *e2;
      long long b = strtoll(end + 1, &e2, 10);
      if (e2 != end + 1 && *e2 == '\0')
        gid = b;
    }
  } else
    uid = 0, gid = 0;
  if (u)
    uid = json_object_get_int64(u);
  if (g)
    gid = json_object_get_int64(g);
  else if (u && !(iu && strchr(iu, ':')))
    gid = -1; /* containerd looks the group up in the image's /etc/passwd */
  if (uid < 0)
    return 0;
  json_object_object_add(rp, "uid", json_object_new_int64(uid));
  return groups_rule(name, uid, gid, psc, src, img, rp, err);
}

static void probe_execs(json_object *c, json_object *exec) {
  static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe", NULL};
  for (const char *const *p = probes; *p; p++) {
    json_object *cmd = garr(get(get(c, *p), "exec"), "command");
    if (cmd)
      json_object_array_add(exec, strs(cmd));
  }
  static const char *const hooks[] = {"postStart", "preStop", NULL};
  for (const char *const *h = hooks; *h; h++) {
    json_object *cmd = garr(get(get(get(c, "lifecycle"), *h), "exec"), "command");
    if (cmd)
      json_object_array_add(exec, strs(cmd));
  }
}

static json_object *annotation_rules(json_object *metadata) {
  json_object *a = json_object_new_object();
  json_object_object_add(a, "io.coffer.init-data", json_object_new_string("[A-Za-z0-9+/=\n]+"));
  json_object *have = get(metadata, "annotations");
  if (!have || !json_object_is_type(have, json_type_object))
    return a;
  json_object_object_foreach(have, k, v) {
    if (strncmp(k, "io.coffer.", 10) || !strcmp(k, "io.coffer.init-data") || !json_object_is_type(v, json_type_string))
      continue; /* containerd passes only io.coffer.* through */
    char e[4096];
    re_escape(json_object_get_string(v), e, sizeof(e));
    json_object_object_add(a, k, json_object_new_string(e));
  }
  return a;
}

static json_object *image_rule(const image_info *img, const char *written, const gen_opts *o) {
  json_object *im = json_object_new_object();
  json_object_object_add(im, "name", json_object_new_string(written));
  json_object *d = json_object_new_array();
  add_str(d, img->digest);
  json_object_object_add(im, "digests", d);
  for (size_t i = 0; i < o->n_root_hashes; i++) {
    char norm[512];
    cf_error e = {0};
    if (image_ref_normalize(o->root_hashes[i].image, norm, sizeof(norm), &e) < 0)
      continue;
    if (strcmp(o->root_hashes[i].image, written) && strcmp(norm, img->ref))
      continue;
    json_object *rh = get(im, "root_hashes");
    if (!rh)
      json_object_object_add(im, "root_hashes", rh = json_object_new_array());
    add_str(rh, o->root_hashes[i].hex);
  }
  return im;
}

static json_object *container_rule(json_object *pod, json_object *meta, json_object *c, const paths *p,
                                   const gen_opts *o, cf_error *err) {
  const char *name = gstr(c, "name"), *image = gstr(c, "image");
  if (!name || !image) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "a container without name or image");
    return NULL;
  }
  json_object *sc = get(c, "securityContext"), *psc = get(pod, "securityContext");
  if (gbool(sc, "privileged")) {
    cf_err_status(err, CF_INVALID_ARGUMENT,
                  "container %s: privileged: true gives the host's side every device and capability; "
                  "coffer-policy refuses to write a policy for it", name);
    return NULL;
  }
  image_info img;
  if (image_lookup(&o->images, image, &img, err) < 0) {
    cf_error_prefix(err, "container %s", name);
    return NULL;
  }
  json_object *r = json_object_new_object(), *rp = json_object_new_object();
  json_object_object_add(r, "name", json_object_new_string(name));
  /* containerd records the reference as kubelet passed it (normalized) */
  json_object_object_add(r, "image", image_rule(&img, img.ref, o));
  json_object_object_add(r, "process", rp);
  json_object *args = resolve_args(c, img.config, garr(c, "env"), err);
  if (!args)
    goto fail;
  json_object_object_add(rp, "args", args);
  if (env_rules(c, img.config, rp, err) < 0)
    goto fail;
  const char *wd = gstr(c, "workingDir") ? gstr(c, "workingDir") : gstr(img.config, "WorkingDir");
  json_object_object_add(rp, "cwd", json_object_new_string(wd && *wd ? wd : "/"));
  if (user_rule(name, sc, psc, &o->images, &img, rp, err) < 0 || caps_rule(c, sc, rp, err) < 0)
    goto fail;
  json_object *ape = get(sc, "allowPrivilegeEscalation");
  if (ape && !json_object_get_boolean(ape))
    json_object_object_add(rp, "no_new_privs", json_object_new_boolean(1));
  json_object_object_add(rp, "terminal", json_object_new_boolean(gbool(c, "tty")));
  bool ro = gbool(sc, "readOnlyRootFilesystem");
  if (ro)
    json_object_object_add(r, "readonly_root", json_object_new_boolean(1));
  json_object *ms = json_object_new_array();
  json_object_object_add(r, "mounts", ms);
  if (container_mounts(pod, c, p, ro, ms, err) < 0)
    goto fail;
  json_object_object_add(r, "annotations", annotation_rules(meta));
  json_object *exec = json_object_new_array();
  probe_execs(c, exec);
  json_object_object_add(r, "exec", exec);
  image_info_clear(&img);
  return r;
fail:
  image_info_clear(&img);
  json_object_put(r);
  return NULL;
}

static json_object *sandbox_rule(json_object *meta, const paths *p, const gen_opts *o, cf_error *err) {
  image_info img;
  if (image_lookup(&o->images, o->pause_image, &img, err) < 0) {
    cf_error_prefix(err, "the pause image (--pause-image)");
    return NULL;
  }
  json_object *r = json_object_new_object(), *rp = json_object_new_object();
  json_object_object_add(r, "sandbox", json_object_new_boolean(1));
  json_object_object_add(r, "process", rp);
  json_object *args = json_object_new_array();
  json_object *ep = garr(img.config, "Entrypoint"), *cmd = garr(img.config, "Cmd");
  for (size_t i = 0; ep && i < json_object_array_length(ep); i++)
    json_object_array_add(args, json_object_get(json_object_array_get_idx(ep, i)));
  for (size_t i = 0; cmd && i < json_object_array_length(cmd); i++)
    json_object_array_add(args, json_object_get(json_object_array_get_idx(cmd, i)));
  json_object_object_add(rp, "args", args);
  json_object *env = strs(garr(img.config, "Env"));
  json_object_object_add(rp, "env", env);
  json_object_object_add(r, "readonly_root", json_object_new_boolean(1));
  json_object *ms = json_object_new_array();
  std_mounts(ms, false);
  /* containerd's default /dev/shm, then the pod's shm bound over it */
  static const char *const o_shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
  json_object_array_add(ms, mount("/dev/shm", "tmpfs", "shm", false, o_shm));
  char src[4096];
  snprintf(src, sizeof(src), "%s/io\\.containerd\\.grpc\\.v1\\.cri/sandboxes/" HEX64 "/shm", p->state);
  json_object_array_add(ms, mount("/dev/shm", "bind", src, true, o_sbx));
  snprintf(src, sizeof(src), "%s/io\\.containerd\\.grpc\\.v1\\.cri/sandboxes/" HEX64 "/resolv\\.conf", p->root);
  json_object_array_add(ms, mount("/etc/resolv.conf", "bind", src, true, o_sbx));
  json_object_object_add(r, "mounts", ms);
  json_object_object_add(r, "annotations", annotation_rules(meta));
  image_info_clear(&img);
  return r;
}

static json_object *rpcs(bool logs) {
  static const char *const allow[] = {
      "CreateSandbox", "DestroySandbox", "StartContainer", "RemoveContainer", "RemoveProcess",
      "SignalProcess", "WaitProcess", "CloseStdin", "ResizeTty", "StatsContainer", "GetOOMEvent",
      "GetGuestDetails", "UpdateInterface", "UpdateRoutes", "AddNeighbors", NULL};
  json_object *r = json_object_new_object();
  for (const char *const *a = allow; *a; a++)
    json_object_object_add(r, *a, json_object_new_string("allow"));
  json_object_object_add(r, "CreateContainer", json_object_new_string("cond"));
  json_object_object_add(r, "ExecProcess", json_object_new_string("cond"));
  json_object_object_add(r, "ReadStdout", json_object_new_string(logs ? "allow" : "deny"));
  json_object_object_add(r, "ReadStderr", json_object_new_string(logs ? "allow" : "deny"));
  json_object_object_add(r, "WriteStdin", json_object_new_string("deny"));
  return r;
}

json_object *gen_policy(json_object *pod, json_object *metadata, const gen_opts *o, cf_error *err) {
  paths p;
  re_escape(o->containerd_root, p.root, sizeof(p.root));
  re_escape(o->containerd_state, p.state, sizeof(p.state));
  re_escape(o->kubelet_root, p.kubelet, sizeof(p.kubelet));
  if (gbool(pod, "hostPID") || gbool(pod, "hostIPC") || gbool(pod, "hostNetwork")) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "hostPID, hostIPC and hostNetwork share the host's namespaces; "
                  "a confidential pod cannot have them");
    return NULL;
  }
  static const char *const lists[] = {"initContainers", "containers", NULL};
  for (const char *const *l = lists; *l; l++) { /* refused before any image is looked up */
    json_object *a = garr(pod, *l);
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
      json_object *c = json_object_array_get_idx(a, i);
      if (gbool(get(c, "securityContext"), "privileged")) {
        cf_err_status(err, CF_INVALID_ARGUMENT,
                      "container %s: privileged: true gives the host's side every device and capability; "
                      "coffer-policy refuses to write a policy for it", gstr(c, "name") ? gstr(c, "name") : "?");
        return NULL;
      }
    }
  }
  json_object *pol = json_object_new_object();
  json_object_object_add(pol, "version", json_object_new_int(CF_POLICY_VERSION));
  json_object_object_add(pol, "default", json_object_new_string("deny"));
  json_object_object_add(pol, "rpcs", rpcs(o->allow_logs));
  json_object *cs = json_object_new_array();
  json_object_object_add(pol, "containers", cs);
  json_object *sb = sandbox_rule(metadata, &p, o, err);
  if (!sb)
    goto fail;
  json_object_array_add(cs, sb);
  for (const char *const *l = lists; *l; l++) {
    json_object *a = garr(pod, *l);
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
      json_object *r = container_rule(pod, metadata, json_object_array_get_idx(a, i), &p, o, err);
      if (!r)
        goto fail;
      json_object_array_add(cs, r);
    }
  }
  return pol;
fail:
  json_object_put(pol);
  return NULL;
}
