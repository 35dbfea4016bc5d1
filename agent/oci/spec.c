/* OCI runtime spec → oci_spec, every field checked once, in the agent. */
#include "spec.h"

#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "coffer/log.h"
#include "coffer/path.h"

const char *const oci_ns_names[OCI_NS_N] = {"pid", "ipc", "uts", "network", "cgroup", "mount"};
const char *const oci_ns_proc[OCI_NS_N] = {"pid", "ipc", "uts", "net", "cgroup", "mnt"};
const int oci_ns_flags[OCI_NS_N] = {CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS,
                                    CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWNS};

static json_object *get(json_object *o, const char *k) {
  json_object *v;
  return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static bool is(json_object *o, enum json_type t) {
  return o && json_object_is_type(o, t);
}

/* A string field: NULL when absent; error when present but not a string. */
static int opt_string(json_object *o, const char *k, const char **out, const char *what,
                      cf_error *err) {
  json_object *v = get(o, k);
  *out = NULL;
  if (!v)
    return 0;
  if (!is(v, json_type_string))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s must be a string", what, k);
  *out = json_object_get_string(v);
  return 0;
}

static int opt_bool(json_object *o, const char *k, bool *out, const char *what, cf_error *err) {
  json_object *v = get(o, k);
  if (!v)
    return 0;
  if (!is(v, json_type_boolean))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s must be true or false", what, k);
  *out = json_object_get_boolean(v);
  return 0;
}

/* An integer field within [lo, hi]; *present tells whether it was there. */
static int opt_int(json_object *o, const char *k, int64_t lo, int64_t hi, int64_t *out,
                   bool *present, const char *what, cf_error *err) {
  json_object *v = get(o, k);
  if (present)
    *present = v != NULL;
  if (!v)
    return 0;
  if (!is(v, json_type_int))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s must be an integer", what, k);
  errno = 0;
  int64_t x = json_object_get_int64(v);
  if (errno || x < lo || x > hi)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s must be within %lld..%lld", what, k,
                         (long long)lo, (long long)hi);
  *out = x;
  return 0;
}

/* NULL-terminated copy of an array of strings (pointers into the JSON). */
static int string_array(json_object *arr, const char *what, bool nonempty, const char ***out,
                        size_t *n, cf_error *err) {
  *out = NULL;
  if (n)
    *n = 0;
  if (!arr) {
    if (nonempty)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be a non-empty array", what);
    return 0;
  }
  if (!is(arr, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an array of strings", what);
  size_t len = json_object_array_length(arr);
  if (nonempty && len == 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be a non-empty array", what);
  const char **v = calloc(len + 1, sizeof(*v));
  if (!v)
    return cf_err(err, ENOMEM, "%s", what);
  for (size_t i = 0; i < len; i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    if (!is(e, json_type_string)) {
      free(v);
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s[%zu] is not a string", what, i);
    }
    v[i] = json_object_get_string(e);
  }
  *out = v;
  if (n)
    *n = len;
  return 0;
}

/* ------------------------------------------------------------ capabilities */

static const struct {
  const char *name;
  int cap;
} cap_names[] = {
#define C(x) {"CAP_" #x, CAP_##x}
    C(CHOWN), C(DAC_OVERRIDE), C(DAC_READ_SEARCH), C(FOWNER), C(FSETID), C(KILL), C(SETGID),
    C(SETUID), C(SETPCAP), C(LINUX_IMMUTABLE), C(NET_BIND_SERVICE), C(NET_BROADCAST),
    C(NET_ADMIN), C(NET_RAW), C(IPC_LOCK), C(IPC_OWNER), C(SYS_MODULE), C(SYS_RAWIO),
    C(SYS_CHROOT), C(SYS_PTRACE), C(SYS_PACCT), C(SYS_ADMIN), C(SYS_BOOT), C(SYS_NICE),
    C(SYS_RESOURCE), C(SYS_TIME), C(SYS_TTY_CONFIG), C(MKNOD), C(LEASE), C(AUDIT_WRITE),
    C(AUDIT_CONTROL), C(SETFCAP), C(MAC_OVERRIDE), C(MAC_ADMIN), C(SYSLOG), C(WAKE_ALARM),
    C(BLOCK_SUSPEND), C(AUDIT_READ), {"CAP_PERFMON", 38}, {"CAP_BPF", 39},
    {"CAP_CHECKPOINT_RESTORE", 40},
#undef C
};

static int parse_caps(json_object *caps, oci_process *p, const char *what, cf_error *err) {
  static const char *const sets[OCI_CAP_N] = {"bounding", "effective", "permitted",
                                              "inheritable", "ambient"};
  if (!is(caps, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.capabilities must be an object", what);
  p->has_caps = true;
  for (int s = 0; s < OCI_CAP_N; s++) {
    json_object *arr = get(caps, sets[s]);
    const char **names = NULL;
    size_t n = 0;
    char field[96];
    snprintf(field, sizeof(field), "%s.capabilities.%s", what, sets[s]);
    if (string_array(arr, field, false, &names, &n, err) < 0)
      return -EINVAL;
    for (size_t i = 0; i < n; i++) {
      size_t k = 0;
      while (k < sizeof(cap_names) / sizeof(cap_names[0]) && strcasecmp(cap_names[k].name, names[i]))
        k++;
      if (k == sizeof(cap_names) / sizeof(cap_names[0])) {
        /* newer than this agent: the kernel would not know it either */
        cf_warn("%s: unknown capability %s ignored", field, names[i]);
        continue;
      }
      p->caps[s] |= 1ull << cap_names[k].cap;
    }
    free(names);
  }
  return 0;
}

/* ---------------------------------------------------------------- rlimits */

static const struct {
  const char *name;
  int res;
} rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
};

static int parse_rlimits(json_object *arr, oci_process *p, const char *what, cf_error *err) {
  if (!is(arr, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.rlimits must be an array", what);
  size_t n = json_object_array_length(arr);
  if (n > 64)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.rlimits has %zu entries, at most 64",
                         what, n);
  p->rlimits = calloc(n + 1, sizeof(*p->rlimits));
  if (!p->rlimits)
    return cf_err(err, ENOMEM, "%s.rlimits", what);
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    char field[80];
    snprintf(field, sizeof(field), "%s.rlimits[%zu]", what, i);
    const char *type;
    if (opt_string(e, "type", &type, field, err) < 0)
      return -EINVAL;
    size_t k = 0;
    while (type && k < sizeof(rlimit_names) / sizeof(rlimit_names[0]) &&
           strcmp(rlimit_names[k].name, type))
      k++;
    if (!type || k == sizeof(rlimit_names) / sizeof(rlimit_names[0]))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.type \"%.40s\" is not an RLIMIT_ name",
                           field, type ? type : "");
    json_object *soft = get(e, "soft"), *hard = get(e, "hard");
    if (!is(soft, json_type_int) || !is(hard, json_type_int))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s needs integer soft and hard", field);
    p->rlimits[i] = (oci_rlimit){.resource = rlimit_names[k].res,
                                 .soft = json_object_get_uint64(soft),
                                 .hard = json_object_get_uint64(hard)};
    if (p->rlimits[i].soft > p->rlimits[i].hard)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: soft %llu is above hard %llu", field,
                           (unsigned long long)p->rlimits[i].soft,
                           (unsigned long long)p->rlimits[i].hard);
    p->n_rlimits++;
  }
  return 0;
}

/* ---------------------------------------------------------------- process */

static int unsupported(cf_error *err, const char *what, const char *field) {
  return cf_err_status(err, CF_UNIMPLEMENTED, "%s.%s is not implemented by the built-in runtime",
                       what, field);
}

int oci_process_parse(json_object *o, const char *what, oci_process *p, cf_error *err) {
  *p = (oci_process){0};
  if (!is(o, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", what);
  static const char *const unimpl[] = {"ioPriority", "scheduler", "execCPUAffinity"};
  for (size_t i = 0; i < sizeof(unimpl) / sizeof(unimpl[0]); i++)
    if (get(o, unimpl[i]))
      return unsupported(err, what, unimpl[i]);
  char field[64];
  snprintf(field, sizeof(field), "%s.args", what);
  if (string_array(get(o, "args"), field, true, (const char ***)&p->args, NULL, err) < 0)
    return -EINVAL;
  snprintf(field, sizeof(field), "%s.env", what);
  if (string_array(get(o, "env"), field, false, (const char ***)&p->env, NULL, err) < 0)
    return -EINVAL;
  const char *cwd;
  if (opt_string(o, "cwd", &cwd, what, err) < 0)
    return -EINVAL;
  if (cwd && cwd[0] != '/')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.cwd must be an absolute path", what);
  p->cwd = (char *)(cwd ? cwd : "/");
  if (opt_bool(o, "terminal", &p->terminal, what, err) < 0 ||
      opt_bool(o, "noNewPrivileges", &p->no_new_privs, what, err) < 0)
    return -EINVAL;
  int64_t v;
  bool present;
  if (opt_int(o, "oomScoreAdj", -1000, 1000, &v, &present, what, err) < 0)
    return -EINVAL;
  if (present)
    p->has_oom_score_adj = true, p->oom_score_adj = (int)v;
  json_object *user = get(o, "user");
  if (user) {
    snprintf(field, sizeof(field), "%s.user", what);
    if (!is(user, json_type_object))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", field);
    if (get(user, "username"))
      return unsupported(err, field, "username"); /* a Windows field */
    if (opt_int(user, "uid", 0, UINT32_MAX - 1, &v, &present, field, err) < 0)
      return -EINVAL;
    p->uid = present ? (uid_t)v : 0;
    if (opt_int(user, "gid", 0, UINT32_MAX - 1, &v, &present, field, err) < 0)
      return -EINVAL;
    p->gid = present ? (gid_t)v : 0;
    if (opt_int(user, "umask", 0, 0777, &v, &p->has_umask, field, err) < 0)
      return -EINVAL;
    p->umask = (mode_t)v;
    json_object *g = get(user, "additionalGids");
    if (g) {
      if (!is(g, json_type_array) || json_object_array_length(g) > NGROUPS_MAX)
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "%s.additionalGids must be an array of at most %d gids", field,
                             NGROUPS_MAX);
      p->n_groups = json_object_array_length(g);
      p->groups = calloc(p->n_groups + 1, sizeof(gid_t));
      if (!p->groups)
        return cf_err(err, ENOMEM, "%s", field);
      for (size_t i = 0; i < p->n_groups; i++) {
        json_object *e = json_object_array_get_idx(g, i);
        int64_t x = is(e, json_type_int) ? json_object_get_int64(e) : -1;
        if (x < 0 || x >= UINT32_MAX)
          return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.additionalGids[%zu] is not a gid",
                               field, i);
        p->groups[i] = (gid_t)x;
      }
    }
  }
  json_object *caps = get(o, "capabilities");
  if (caps && parse_caps(caps, p, what, err) < 0)
    return -EINVAL;
  json_object *rl = get(o, "rlimits");
  if (rl && parse_rlimits(rl, p, what, err) < 0)
    return -EINVAL;
  /* apparmorProfile and selinuxLabel name policies of the host's LSM; the
   * guest kernel loads none, so there is nothing they could refer to */
  return 0;
}

void oci_process_free(oci_process *p) {
  free(p->args);
  free(p->env);
  free(p->groups);
  free(p->rlimits);
  *p = (oci_process){0};
}

/* ------------------------------------------------------------------ mounts */

static const struct {
  const char *name;
  bool clear;
  unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},      {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},        {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},      {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},   {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},      {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},       {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME}, {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},  {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
    {"silent", false, MS_SILENT},      {"loud", true, MS_SILENT},
};

static const struct {
  const char *name;
  unsigned long flag;
} propagation_flags[] = {
    {"private", MS_PRIVATE},  {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},      {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static unsigned long propagation_of(const char *name) {
  for (size_t i = 0; i < sizeof(propagation_flags) / sizeof(propagation_flags[0]); i++)
    if (!strcmp(propagation_flags[i].name, name))
      return propagation_flags[i].flag;
  return 0;
}

int oci_mount_options(json_object *opts, oci_mount *m, const char *what, cf_error *err) {
  const char **v = NULL;
  size_t n = 0;
  char field[80];
  snprintf(field, sizeof(field), "%s.options", what);
  if (string_array(opts, field, false, &v, &n, err) < 0)
    return -EINVAL;
  size_t data_len = 0;
  char *data = NULL;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *o = v[i];
    if (!strcmp(o, "bind") || !strcmp(o, "rbind")) {
      m->bind = true;
      m->rec |= o[0] == 'r';
      continue;
    }
    if (!strcmp(o, "defaults"))
      continue;
    unsigned long prop = propagation_of(o);
    if (prop) {
      m->propagation = prop;
      continue;
    }
    size_t k = 0;
    while (k < sizeof(mount_flags) / sizeof(mount_flags[0]) && strcmp(mount_flags[k].name, o))
      k++;
    if (k < sizeof(mount_flags) / sizeof(mount_flags[0])) {
      if (mount_flags[k].clear)
        m->flags &= ~mount_flags[k].flag;
      else
        m->flags |= mount_flags[k].flag;
      continue;
    }
    if (strchr(o, ',')) {
      rc = cf_err_status(err, CF_INVALID_ARGUMENT, "%s[%zu] \"%.64s\" holds a comma", field, i, o);
      break;
    }
    /* a filesystem option (size=, mode=, gid=, ...): passed as data */
    size_t l = strlen(o);
    char *nd = realloc(data, data_len + l + 2);
    if (!nd) {
      rc = cf_err(err, ENOMEM, "%s", field);
      break;
    }
    data = nd;
    if (data_len)
      data[data_len++] = ',';
    memcpy(data + data_len, o, l + 1);
    data_len += l;
  }
  free(v);
  if (rc < 0) {
    free(data);
    return rc;
  }
  m->data = data;
  return 0;
}

static bool bad_path(const char *p) {
  return !p || p[0] != '/' || cf_path_has_dotdot(p);
}

static int parse_mounts(json_object *arr, oci_spec *s, cf_error *err) {
  if (!arr)
    return 0;
  if (!is(arr, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "mounts must be an array");
  size_t n = json_object_array_length(arr);
  if (n > 1024)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "mounts has %zu entries, at most 1024", n);
  s->mounts = calloc(n + 1, sizeof(*s->mounts));
  if (!s->mounts)
    return cf_err(err, ENOMEM, "mounts");
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    oci_mount *m = &s->mounts[s->n_mounts++];
    char field[32];
    snprintf(field, sizeof(field), "mounts[%zu]", i);
    const char *dst, *type, *src;
    if (!is(e, json_type_object))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", field);
    if (opt_string(e, "destination", &dst, field, err) < 0 ||
        opt_string(e, "type", &type, field, err) < 0 ||
        opt_string(e, "source", &src, field, err) < 0)
      return -EINVAL;
    if (bad_path(dst))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s.destination must be an absolute path without \"..\"", field);
    if (get(e, "uidMappings") || get(e, "gidMappings"))
      return unsupported(err, field, "uidMappings");
    m->destination = (char *)dst;
    m->type = (char *)(type ? type : "");
    m->source = (char *)(src ? src : "");
    if (oci_mount_options(get(e, "options"), m, field, err) < 0)
      return -EINVAL;
    if (!strcmp(m->type, "bind"))
      m->bind = true;
    if (m->bind && m->source[0] != '/')
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: a bind mount needs an absolute source, not \"%.128s\"", field,
                           m->source);
    if (!m->bind && !m->type[0])
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s (%s) has no type", field, dst);
  }
  return 0;
}

/* ----------------------------------------------------------------- linux.* */

static int parse_namespaces(json_object *arr, oci_spec *s, cf_error *err) {
  if (!arr)
    return 0;
  if (!is(arr, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.namespaces must be an array");
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    char field[40];
    snprintf(field, sizeof(field), "linux.namespaces[%zu]", i);
    const char *type, *path;
    if (opt_string(e, "type", &type, field, err) < 0 || opt_string(e, "path", &path, field, err) < 0)
      return -EINVAL;
    if (!type)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s has no type", field);
    if (!strcmp(type, "user") || !strcmp(type, "time"))
      return cf_err_status(err, CF_UNIMPLEMENTED,
                           "%s: %s namespaces are not implemented by the built-in runtime", field,
                           type);
    int k = 0;
    while (k < OCI_NS_N && strcmp(oci_ns_names[k], type))
      k++;
    if (k == OCI_NS_N)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: unknown namespace type \"%.32s\"",
                           field, type);
    if (s->ns[k])
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %s is listed twice", field, type);
    s->ns[k] = true;
    s->ns_path[k] = path && path[0] ? path : NULL;
    if (s->ns_path[k] && bad_path(path))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.path must be an absolute path", field);
  }
  return 0;
}

static int parse_devices(json_object *arr, oci_spec *s, cf_error *err) {
  if (!arr)
    return 0;
  if (!is(arr, json_type_array) || json_object_array_length(arr) > 1024)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.devices must be an array of at most 1024 devices");
  size_t n = json_object_array_length(arr);
  s->devices = calloc(n + 1, sizeof(*s->devices));
  if (!s->devices)
    return cf_err(err, ENOMEM, "linux.devices");
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    oci_device *d = &s->devices[s->n_devices++];
    char field[40];
    snprintf(field, sizeof(field), "linux.devices[%zu]", i);
    const char *path, *type;
    int64_t v;
    bool present;
    if (opt_string(e, "path", &path, field, err) < 0 || opt_string(e, "type", &type, field, err) < 0)
      return -EINVAL;
    if (bad_path(path) || !strncmp(path, "/proc/", 6) || !strncmp(path, "/sys/", 5))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s.path must be an absolute path outside /proc and /sys", field);
    if (!type || strlen(type) != 1 || !strchr("cubp", type[0]))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.type must be c, u, b or p", field);
    d->path = (char *)path;
    d->type = type[0] == 'u' ? 'c' : type[0];
    if (d->type != 'p') {
      if (opt_int(e, "major", 0, 0xfff, &v, &present, field, err) < 0)
        return -EINVAL;
      if (!present)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s needs a major number", field);
      d->major = (uint32_t)v;
      if (opt_int(e, "minor", 0, 0xfffff, &v, &present, field, err) < 0)
        return -EINVAL;
      if (!present)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s needs a minor number", field);
      d->minor = (uint32_t)v;
    }
    if (opt_int(e, "fileMode", 0, 07777, &v, &present, field, err) < 0)
      return -EINVAL;
    d->mode = present ? (mode_t)v : 0666;
    if (opt_int(e, "uid", 0, UINT32_MAX - 1, &v, &present, field, err) < 0)
      return -EINVAL;
    d->uid = present ? (uid_t)v : 0;
    if (opt_int(e, "gid", 0, UINT32_MAX - 1, &v, &present, field, err) < 0)
      return -EINVAL;
    d->gid = present ? (gid_t)v : 0;
  }
  return 0;
}

static int parse_sysctl(json_object *o, oci_spec *s, cf_error *err) {
  if (!o)
    return 0;
  if (!is(o, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.sysctl must be an object");
  size_t n = (size_t)json_object_object_length(o);
  s->sysctl_keys = calloc(n + 1, sizeof(char *));
  s->sysctl_values = calloc(n + 1, sizeof(char *));
  if (!s->sysctl_keys || !s->sysctl_values)
    return cf_err(err, ENOMEM, "linux.sysctl");
  json_object_object_foreach(o, k, v) {
    if (!is(v, json_type_string))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.sysctl.%.64s must be a string", k);
    if (!k[0] || strstr(k, "..") || strchr(k, '/') || k[0] == '.')
      return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.sysctl: \"%.64s\" is not a sysctl name",
                           k);
    s->sysctl_keys[s->n_sysctl] = k;
    s->sysctl_values[s->n_sysctl++] = json_object_get_string(v);
  }
  return 0;
}

static int parse_linux(json_object *l, oci_spec *s, cf_error *err) {
  if (!l)
    return 0;
  if (!is(l, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "linux must be an object");
  static const char *const unimpl[] = {"uidMappings", "gidMappings", "intelRdt", "personality",
                                       "timeOffsets", "memoryPolicy", "netDevices"};
  for (size_t i = 0; i < sizeof(unimpl) / sizeof(unimpl[0]); i++)
    if (get(l, unimpl[i]))
      return unsupported(err, "linux", unimpl[i]);
  if (parse_namespaces(get(l, "namespaces"), s, err) < 0 ||
      parse_devices(get(l, "devices"), s, err) < 0 || parse_sysctl(get(l, "sysctl"), s, err) < 0)
    return -EINVAL;
  if (string_array(get(l, "maskedPaths"), "linux.maskedPaths", false, &s->masked, &s->n_masked,
                   err) < 0 ||
      string_array(get(l, "readonlyPaths"), "linux.readonlyPaths", false, &s->readonly,
                   &s->n_readonly, err) < 0)
    return -EINVAL;
  for (size_t i = 0; i < s->n_masked; i++)
    if (bad_path(s->masked[i]))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.maskedPaths[%zu] must be absolute", i);
  for (size_t i = 0; i < s->n_readonly; i++)
    if (bad_path(s->readonly[i]))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.readonlyPaths[%zu] must be absolute",
                           i);
  const char *prop;
  if (opt_string(l, "rootfsPropagation", &prop, "linux", err) < 0)
    return -EINVAL;
  if (prop && prop[0] && !(s->rootfs_propagation = propagation_of(prop)))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.rootfsPropagation \"%.32s\" is not a propagation mode", prop);
  json_object *res = get(l, "resources");
  if (res && !is(res, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.resources must be an object");
  s->resources = res;
  json_object *sec = get(l, "seccomp");
  if (sec && !is(sec, json_type_object) && !is(sec, json_type_null))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.seccomp must be an object");
  s->seccomp = is(sec, json_type_object) ? sec : NULL;
  return 0;
}

int oci_json_parse(const char *text, size_t len, const char *what, json_object **out,
                   cf_error *err) {
  *out = NULL;
  if (len > INT_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is %zu bytes: too long", what, len);
  json_tokener *tok = json_tokener_new_ex(64);
  if (!tok)
    return cf_err(err, ENOMEM, "%s", what);
  json_object *o = json_tokener_parse_ex(tok, text, (int)len);
  bool ok = o && json_tokener_get_error(tok) == json_tokener_success;
  size_t end = ok ? json_tokener_get_parse_end(tok) : 0;
  json_tokener_free(tok);
  /* one object and nothing after it but blanks: a second value appended to
   * a spec must not pass unseen */
  while (ok && end < len && strchr(" \t\r\n", text[end]) && text[end])
    end++;
  if (!ok || end != len || !is(o, json_type_object)) {
    if (o)
      json_object_put(o);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is not one JSON object", what);
  }
  *out = o;
  return 0;
}

/* A sysctl the container may set: one its own namespaces scope (what the
 * kernel namespaces, as runc allows). Anything else would change the whole
 * guest kernel. */
int oci_spec_check_sysctls(const oci_spec *s, bool pod_netns, cf_error *err) {
  static const char *const ipc_keys[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                         "kernel.sem", "kernel.shmall", "kernel.shmmax",
                                         "kernel.shmmni", "kernel.shm_rmid_forced"};
  for (size_t i = 0; i < s->n_sysctl; i++) {
    const char *k = s->sysctl_keys[i];
    bool ipc = !strncmp(k, "fs.mqueue.", 10);
    for (size_t j = 0; j < sizeof(ipc_keys) / sizeof(ipc_keys[0]); j++)
      ipc |= !strcmp(k, ipc_keys[j]);
    bool ok;
    const char *needs;
    if (ipc)
      ok = s->ns[OCI_NS_IPC], needs = "an IPC namespace of its own";
    else if (!strncmp(k, "net.", 4))
      ok = s->ns[OCI_NS_NET] || pod_netns, needs = "a network namespace of its own";
    else if (!strcmp(k, "kernel.hostname") || !strcmp(k, "kernel.domainname"))
      ok = s->ns[OCI_NS_UTS], needs = "a UTS namespace of its own";
    else
      ok = false, needs = NULL;
    if (!ok && !needs)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "linux.sysctl.%.64s is not namespaced: setting it would change the "
                           "whole kernel", k);
    if (!ok)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "linux.sysctl.%.64s needs %s: without one it would change the whole "
                           "kernel", k, needs);
  }
  return 0;
}

int oci_spec_parse(const char *json, size_t len, oci_spec *s, cf_error *err) {
  *s = (oci_spec){0};
  if (oci_json_parse(json, len, "OCI spec", &s->json, err) < 0)
    return -EINVAL;
  json_object *root = get(s->json, "root");
  const char *rp;
  if (!is(root, json_type_object) || opt_string(root, "path", &rp, "root", err) < 0 || !rp ||
      rp[0] != '/')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "root.path must be an absolute path");
  s->root = rp;
  if (opt_bool(root, "readonly", &s->root_readonly, "root", err) < 0 ||
      opt_string(s->json, "hostname", &s->hostname, "spec", err) < 0)
    return -EINVAL;
  json_object *hooks = get(s->json, "hooks");
  if (hooks && json_object_object_length(hooks) > 0)
    return cf_err_status(err, CF_UNIMPLEMENTED, "hooks are not implemented by the built-in runtime");
  if (oci_process_parse(get(s->json, "process"), "process", &s->process, err) < 0 ||
      parse_mounts(get(s->json, "mounts"), s, err) < 0 || parse_linux(get(s->json, "linux"), s, err) < 0)
    return -EINVAL;
  if (s->hostname && s->hostname[0] && !s->ns[OCI_NS_UTS])
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "hostname is set but the container has no UTS namespace of its own");
  if (!s->ns[OCI_NS_MNT])
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.namespaces has no mount namespace: a container needs one");
  if (s->ns_path[OCI_NS_MNT])
    return cf_err_status(err, CF_UNIMPLEMENTED,
                         "joining an existing mount namespace is not implemented by the built-in runtime");
  return 0;
}

void oci_spec_free(oci_spec *s) {
  oci_process_free(&s->process);
  for (size_t i = 0; i < s->n_mounts; i++)
    free(s->mounts[i].data);
  free(s->mounts);
  free(s->devices);
  free(s->masked);
  free(s->readonly);
  free(s->sysctl_keys);
  free(s->sysctl_values);
  if (s->json)
    json_object_put(s->json);
  *s = (oci_spec){0};
}
