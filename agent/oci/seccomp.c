/* linux.seccomp → a libseccomp filter.
 *
 * The whole spec object is checked and turned into a filter context at
 * create time (oci_seccomp_build), so a bad profile fails the create with the
 * field it is about; the container's process only loads it (oci_seccomp_load).
 *
 * When to load: seccomp(2) needs no_new_privs or CAP_SYS_ADMIN in the
 * caller's user namespace. With process.noNewPrivileges set, load last (after
 * capabilities, user and no_new_privs, just before execve), so the profile
 * need not allow the runtime's own setup syscalls. Without it, load while the
 * process still holds CAP_SYS_ADMIN, i.e. before the user switch and the
 * capability drop; the profile then has to allow those (Docker's and
 * containerd's default profiles do). The filter never sets no_new_privs
 * itself (SCMP_FLTATR_CTL_NNP = 0): that is the spec's decision.
 *
 * Not implemented: seccomp notify (SCMP_ACT_NOTIFY, listenerPath), refused
 * by name. Syscall names this libseccomp does not know are skipped: profiles
 * list the syscalls of kernels newer than the one the library was built for. */
#include "seccomp_filter.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "coffer/cleanup.h"

struct oci_seccomp {
  scmp_filter_ctx ctx;
};

static void ctx_releasep(scmp_filter_ctx *ctx) {
  if (*ctx)
    seccomp_release(*ctx);
}
#define _cleanup_ctx_ _cleanup_(ctx_releasep)

#define PATH_LEN 128
#define MAX_ARGS 6 /* syscall arguments, indexes 0..5 */

/* Fields the spec defines; anything else is refused rather than ignored: a
 * newer spec's field could loosen or tighten the filter. */
static const char *const seccomp_keys[] = {"defaultAction", "defaultErrnoRet", "architectures",
                                           "flags", "listenerPath", "listenerMetadata",
                                           "syscalls", NULL};
static const char *const syscall_keys[] = {"names", "action", "errnoRet", "args", NULL};
static const char *const arg_keys[] = {"index", "value", "valueTwo", "op", NULL};

static int check_keys(json_object *o, const char *path, const char *const *known,
                      cf_error *err) {
  json_object_object_foreach(o, key, val) {
    (void)val;
    const char *const *k = known;
    while (*k && strcmp(*k, key) != 0)
      k++;
    if (!*k)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s is not supported", path, key);
  }
  return 0;
}

/* A JSON integer in 0..max. */
static int get_uint(json_object *o, const char *path, uint64_t max, uint64_t *out,
                    cf_error *err) {
  if (!json_object_is_type(o, json_type_int))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an unsigned integer", path);
  /* json-c keeps values above INT64_MAX as uint64; get_int64 then saturates
   * at INT64_MAX, so a negative int64 means a negative number */
  if (json_object_get_int64(o) < 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s %" PRId64 " is negative", path,
                         json_object_get_int64(o));
  uint64_t v = json_object_get_uint64(o);
  if (v > max)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s %" PRIu64 " is out of range (0..%" PRIu64 ")", path, v, max);
  *out = v;
  return 0;
}

static int get_string(json_object *o, const char *path, const char **out, cf_error *err) {
  if (!json_object_is_type(o, json_type_string))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be a string", path);
  *out = json_object_get_string(o);
  return 0;
}

static int get_array(json_object *o, const char *path, cf_error *err) {
  if (!json_object_is_type(o, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an array", path);
  return 0;
}

enum { DATA_NONE, DATA_ERRNO, DATA_TRACE };

static const struct {
  const char *name;
  uint32_t action; /* for ERRNO/TRACE without its data */
  int data;
} actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, DATA_NONE},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, DATA_NONE},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, DATA_NONE},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, DATA_NONE},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), DATA_ERRNO},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), DATA_TRACE},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, DATA_NONE},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, DATA_NONE},
};

/* obj.<action_key> (+ obj.<errno_key>) → a libseccomp action. */
static int parse_action(json_object *obj, const char *path, const char *action_key,
                        const char *errno_key, uint32_t *out, cf_error *err) {
  char field[PATH_LEN];
  json_object *v;
  const char *name = NULL;
  snprintf(field, sizeof(field), "%s.%s", path, action_key);
  if (!json_object_object_get_ex(obj, action_key, &v) || !v)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is missing", field);
  int r = get_string(v, field, &name, err);
  if (r < 0)
    return r;
  if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: seccomp notify (SCMP_ACT_NOTIFY) is not supported", field);
  size_t i = 0;
  while (i < sizeof(actions) / sizeof(actions[0]) && strcmp(actions[i].name, name) != 0)
    i++;
  if (i == sizeof(actions) / sizeof(actions[0]))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s \"%s\" is not a seccomp action", field,
                         name);

  json_object *e = NULL;
  json_object_object_get_ex(obj, errno_key, &e);
  snprintf(field, sizeof(field), "%s.%s", path, errno_key);
  if (actions[i].data == DATA_NONE) {
    /* the spec asks runtimes to fail rather than drop it */
    if (e)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is set but %s takes no errno", field,
                           name);
    *out = actions[i].action;
    return 0;
  }
  /* the kernel caps an errno at 4095; a trace message is 16 bits */
  uint64_t data = EPERM;
  uint64_t max = actions[i].data == DATA_ERRNO ? 4095 : 0xffff;
  if (e && (r = get_uint(e, field, max, &data, err)) < 0)
    return r;
  *out = actions[i].data == DATA_ERRNO ? SCMP_ACT_ERRNO((uint32_t)data)
                                       : SCMP_ACT_TRACE((uint32_t)data);
  return 0;
}

static int add_architectures(scmp_filter_ctx ctx, json_object *arches, cf_error *err) {
  const char *path = "linux.seccomp.architectures";
  int r = get_array(arches, path, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < json_object_array_length(arches); i++) {
    char field[PATH_LEN], lower[32];
    const char *name = NULL;
    snprintf(field, sizeof(field), "%s[%zu]", path, i);
    if ((r = get_string(json_object_array_get_idx(arches, i), field, &name, err)) < 0)
      return r;
    /* the spec's SCMP_ARCH_X86_64 is libseccomp's "x86_64" */
    uint32_t token = 0;
    bool prefixed = strncmp(name, "SCMP_ARCH_", strlen("SCMP_ARCH_")) == 0;
    const char *suffix = prefixed ? name + strlen("SCMP_ARCH_") : "";
    if (*suffix && strlen(suffix) < sizeof(lower)) {
      size_t n = 0;
      for (; suffix[n]; n++)
        lower[n] = (char)tolower((unsigned char)suffix[n]);
      lower[n] = '\0';
      token = seccomp_arch_resolve_name(lower);
    }
    if (token == 0)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s \"%s\" is not an architecture libseccomp knows", field, name);
    /* EEXIST: the native one, or listed twice. EDOM: the other byte order
     * (s390x on x86_64), whose syscalls this kernel cannot run anyway */
    r = seccomp_arch_add(ctx, token);
    if (r < 0 && r != -EEXIST && r != -EDOM)
      return cf_err(err, -r, "%s \"%s\"", field, name);
  }
  return 0;
}

static int apply_flags(scmp_filter_ctx ctx, json_object *flags, cf_error *err) {
  const char *path = "linux.seccomp.flags";
  int r = get_array(flags, path, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < json_object_array_length(flags); i++) {
    char field[PATH_LEN];
    const char *name = NULL;
    snprintf(field, sizeof(field), "%s[%zu]", path, i);
    if ((r = get_string(json_object_array_get_idx(flags, i), field, &name, err)) < 0)
      return r;
    enum scmp_filter_attr attr;
    if (strcmp(name, "SECCOMP_FILTER_FLAG_LOG") == 0)
      attr = SCMP_FLTATR_CTL_LOG;
    else if (strcmp(name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
      attr = SCMP_FLTATR_CTL_SSB;
    else if (strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC") == 0 ||
             strcmp(name, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") == 0)
      /* TSYNC: the process loading it has one thread. WAIT_KILLABLE_RECV
       * only changes notify, which is refused anyway. */
      continue;
    else
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s \"%s\" is not a seccomp filter flag",
                           field, name);
    if ((r = seccomp_attr_set(ctx, attr, 1)) < 0)
      return cf_err(err, -r, "%s \"%s\" (not supported by this kernel or libseccomp?)", field,
                    name);
  }
  return 0;
}

static const struct {
  const char *name;
  enum scmp_compare op;
} ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static int parse_arg(json_object *a, const char *path, struct scmp_arg_cmp *cmp, cf_error *err) {
  char field[PATH_LEN];
  json_object *v;
  uint64_t index, value, value_two = 0;
  const char *op = NULL;
  int r;
  if (!json_object_is_type(a, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", path);
  if ((r = check_keys(a, path, arg_keys, err)) < 0)
    return r;

  snprintf(field, sizeof(field), "%s.index", path);
  if (!json_object_object_get_ex(a, "index", &v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is missing", field);
  if ((r = get_uint(v, field, MAX_ARGS - 1, &index, err)) < 0)
    return r;
  snprintf(field, sizeof(field), "%s.value", path);
  if (!json_object_object_get_ex(a, "value", &v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is missing", field);
  if ((r = get_uint(v, field, UINT64_MAX, &value, err)) < 0)
    return r;
  snprintf(field, sizeof(field), "%s.valueTwo", path);
  if (json_object_object_get_ex(a, "valueTwo", &v) &&
      (r = get_uint(v, field, UINT64_MAX, &value_two, err)) < 0)
    return r;
  snprintf(field, sizeof(field), "%s.op", path);
  if (!json_object_object_get_ex(a, "op", &v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is missing", field);
  if ((r = get_string(v, field, &op, err)) < 0)
    return r;
  size_t i = 0;
  while (i < sizeof(ops) / sizeof(ops[0]) && strcmp(ops[i].name, op) != 0)
    i++;
  if (i == sizeof(ops) / sizeof(ops[0]))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s \"%s\" is not a comparison", field, op);

  /* For MASKED_EQ both the spec and libseccomp put the mask first: value
   * is the mask (datum_a), valueTwo what the masked argument must equal
   * (datum_b). Every other op compares with value alone. */
  *cmp = (struct scmp_arg_cmp){.arg = (unsigned)index, .op = ops[i].op,
                               .datum_a = value, .datum_b = value_two};
  return 0;
}

static int add_syscall(scmp_filter_ctx ctx, uint32_t def_action, json_object *sc, size_t idx,
                       cf_error *err) {
  char path[PATH_LEN], field[PATH_LEN];
  json_object *names, *args = NULL;
  int r;
  snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu]", idx);
  if (!json_object_is_type(sc, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", path);
  if ((r = check_keys(sc, path, syscall_keys, err)) < 0)
    return r;

  snprintf(field, sizeof(field), "%s.names", path);
  if (!json_object_object_get_ex(sc, "names", &names) ||
      !json_object_is_type(names, json_type_array) || json_object_array_length(names) == 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be a non-empty array of strings",
                         field);
  size_t n_names = json_object_array_length(names);
  for (size_t j = 0; j < n_names; j++)
    if (!json_object_is_type(json_object_array_get_idx(names, j), json_type_string))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s[%zu] must be a string", field, j);

  uint32_t action;
  if ((r = parse_action(sc, path, "action", "errnoRet", &action, err)) < 0)
    return r;

  struct scmp_arg_cmp cmps[MAX_ARGS], *all = cmps;
  _cleanup_free_ struct scmp_arg_cmp *owned = NULL;
  size_t n_args = 0;
  bool distinct = true;
  if (json_object_object_get_ex(sc, "args", &args) && args) {
    snprintf(field, sizeof(field), "%s.args", path);
    if ((r = get_array(args, field, err)) < 0)
      return r;
    n_args = json_object_array_length(args);
    /* more comparisons than arguments must repeat an index: one rule each */
    if (n_args > MAX_ARGS && !(all = owned = calloc(n_args, sizeof(*all))))
      return cf_err(err, ENOMEM, "%s", field);
    unsigned seen = 0;
    for (size_t k = 0; k < n_args; k++) {
      char arg_path[PATH_LEN];
      snprintf(arg_path, sizeof(arg_path), "%s[%zu]", field, k);
      if ((r = parse_arg(json_object_array_get_idx(args, k), arg_path, &all[k], err)) < 0)
        return r;
      if (seen & (1u << all[k].arg))
        distinct = false;
      seen |= 1u << all[k].arg;
    }
  }

  /* a rule with the default action changes nothing (libseccomp refuses it) */
  if (action == def_action)
    return 0;
  for (size_t j = 0; j < n_names; j++) {
    const char *name = json_object_get_string(json_object_array_get_idx(names, j));
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) /* a newer kernel's syscall (or a typo) */
      continue;
    /* libseccomp compares an argument once per rule: all comparisons in
     * one rule (AND) when the indexes differ, else one rule each (OR) */
    if (distinct)
      r = seccomp_rule_add_array(ctx, action, nr, (unsigned)n_args, all);
    else
      for (size_t k = 0; k < n_args && r >= 0; k++)
        r = seccomp_rule_add_array(ctx, action, nr, 1, &all[k]);
    if (r < 0)
      return cf_err(err, -r, "%s: adding the rule for %s", path, name);
  }
  return 0;
}

int oci_seccomp_build(json_object *seccomp, oci_seccomp **out, cf_error *err) {
  const char *path = "linux.seccomp";
  json_object *v;
  int r;
  *out = NULL;
  if (!seccomp)
    return 0;
  if (!json_object_is_type(seccomp, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s must be an object", path);
  if ((r = check_keys(seccomp, path, seccomp_keys, err)) < 0)
    return r;

  static const char *const listener[] = {"listenerPath", "listenerMetadata"};
  for (size_t i = 0; i < 2; i++) {
    char field[PATH_LEN];
    const char *s = NULL;
    snprintf(field, sizeof(field), "%s.%s", path, listener[i]);
    if (!json_object_object_get_ex(seccomp, listener[i], &v) || !v)
      continue;
    if ((r = get_string(v, field, &s, err)) < 0)
      return r;
    if (*s)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "seccomp notify (%s) is not supported",
                           field);
  }

  uint32_t def_action;
  if ((r = parse_action(seccomp, path, "defaultAction", "defaultErrnoRet", &def_action, err)) < 0)
    return r;
  _cleanup_ctx_ scmp_filter_ctx ctx = seccomp_init(def_action);
  if (!ctx) /* the action checked out: the kernel lacks it (or no memory) */
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s.defaultAction \"%s\" is not supported by this kernel", path,
                         json_object_get_string(json_object_object_get(seccomp, "defaultAction")));

  /* no_new_privs is the spec's process.noNewPrivileges, set by the caller */
  if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
    return cf_err(err, -r, "%s: clearing SCMP_FLTATR_CTL_NNP", path);
  /* the kernel's errno from seccomp_load instead of a generic ECANCELED;
   * only the error message would suffer without it */
  seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
  /* a binary tree of syscall numbers: a profile of ~300 syscalls costs each
   * syscall ~10 comparisons instead of up to 300 (TCG pays for each) */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

  if (json_object_object_get_ex(seccomp, "architectures", &v) && v &&
      (r = add_architectures(ctx, v, err)) < 0)
    return r;
  if (json_object_object_get_ex(seccomp, "flags", &v) && v && (r = apply_flags(ctx, v, err)) < 0)
    return r;
  if (json_object_object_get_ex(seccomp, "syscalls", &v) && v) {
    if ((r = get_array(v, "linux.seccomp.syscalls", err)) < 0)
      return r;
    for (size_t i = 0; i < json_object_array_length(v); i++)
      if ((r = add_syscall(ctx, def_action, json_object_array_get_idx(v, i), i, err)) < 0)
        return r;
  }

  oci_seccomp *s = calloc(1, sizeof(*s));
  if (!s)
    return cf_err(err, ENOMEM, "%s", path);
  s->ctx = cf_steal_ptr(ctx);
  *out = s;
  return 0;
}

int oci_seccomp_load(oci_seccomp *s, cf_error *err) {
  if (!s)
    return 0;
  int r = seccomp_load(s->ctx);
  if (r == -EACCES)
    return cf_err(err, EACCES,
                  "loading the seccomp filter (without no_new_privs it needs CAP_SYS_ADMIN)");
  if (r < 0)
    return cf_err(err, -r, "loading the seccomp filter");
  return 0;
}

void oci_seccomp_free(oci_seccomp *s) {
  if (!s)
    return;
  seccomp_release(s->ctx);
  free(s);
}
