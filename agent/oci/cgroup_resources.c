/* liboci: linux.resources written to a cgroup v2's interface files
 * (memory, cpu, cpuset, pids, io, hugetlb, unified); what v2 cannot do is
 * refused by name. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "cgroup_file.h"

#define RES "linux.resources"

/* ----------------------------------------------------------- JSON fields */

static bool present(json_object *o, const char *key, json_object **v) {
  return json_object_object_get_ex(o, key, v) && *v != NULL; /* null = not given */
}

static int type_error(const char *field, const char *want, cf_error *err) {
  return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: must be %s", field, want);
}

static int get_i64(json_object *v, const char *field, int64_t *out, cf_error *err) {
  if (!json_object_is_type(v, json_type_int))
    return type_error(field, "an integer", err);
  int64_t i = json_object_get_int64(v);
  if (i == INT64_MAX && json_object_get_uint64(v) > INT64_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %" PRIu64 " is out of range", field,
                         json_object_get_uint64(v));
  *out = i;
  return 0;
}

static int get_u64(json_object *v, const char *field, uint64_t *out, cf_error *err) {
  if (!json_object_is_type(v, json_type_int))
    return type_error(field, "an integer", err);
  if (json_object_get_int64(v) < 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %" PRId64 " must not be negative",
                         field, json_object_get_int64(v));
  *out = json_object_get_uint64(v);
  return 0;
}

static int get_obj(json_object *v, const char *field, cf_error *err) {
  return json_object_is_type(v, json_type_object) ? 0 : type_error(field, "an object", err);
}

/* Every key of o must be in known (NULL-terminated): a field we do not
 * handle would otherwise be dropped without a word. */
static int check_keys(json_object *o, const char *section, const char *const *known,
                      cf_error *err) {
  json_object_object_foreach(o, k, v) {
    (void)v;
    bool ok = false;
    for (const char *const *p = known; *p && !ok; p++)
      ok = strcmp(*p, k) == 0;
    if (!ok)
      return cf_err_status(err, CF_UNIMPLEMENTED, "%s.%s: unknown or unsupported field",
                           section, k);
  }
  return 0;
}

static int unsupported(const char *field, const char *why, cf_error *err) {
  return cf_err_status(err, CF_UNIMPLEMENTED, "%s: %s", field, why);
}

/* ---------------------------------------------------------------- memory */

/* limit, reservation, swap: -1 = unlimited, 0 = not set (as runc reads them). */
static int mem_value(json_object *mem, const char *key, int64_t *out, cf_error *err) {
  json_object *v;
  char field[64];
  *out = 0;
  if (!present(mem, key, &v))
    return 0;
  snprintf(field, sizeof(field), RES ".memory.%s", key);
  int r = get_i64(v, field, out, err);
  if (r < 0)
    return r;
  if (*out < -1)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %" PRId64 " (use -1 for unlimited)",
                         field, *out);
  return 0;
}

static void fmt_limit(char *buf, size_t cap, int64_t v) {
  if (v == -1)
    snprintf(buf, cap, "max\n");
  else
    snprintf(buf, cap, "%" PRId64 "\n", v);
}

static int apply_memory(const oci_cgroup *cg, json_object *mem, cf_error *err) {
  static const char *const known[] = {"limit", "reservation", "swap", "kernel", "kernelTCP",
                                      "swappiness", "disableOOMKiller", "useHierarchy",
                                      "checkBeforeUpdate", NULL};
  int r = get_obj(mem, RES ".memory", err);
  if (r < 0 || (r = check_keys(mem, RES ".memory", known, err)) < 0)
    return r;
  json_object *v;
  int64_t limit, reservation, swap, ignored;
  if ((r = mem_value(mem, "limit", &limit, err)) < 0 ||
      (r = mem_value(mem, "reservation", &reservation, err)) < 0 ||
      (r = mem_value(mem, "swap", &swap, err)) < 0)
    return r;
  /* kernel memory is accounted with the rest on v2 and the spec deprecates
   * these; swappiness has no v2 file. Accepted (type-checked) and left
   * alone, as runc does, since runtimes fill them in by default. */
  if (present(mem, "kernel", &v) && (r = get_i64(v, RES ".memory.kernel", &ignored, err)) < 0)
    return r;
  if (present(mem, "kernelTCP", &v) &&
      (r = get_i64(v, RES ".memory.kernelTCP", &ignored, err)) < 0)
    return r;
  if (present(mem, "swappiness", &v) &&
      (r = get_i64(v, RES ".memory.swappiness", &ignored, err)) < 0)
    return r;
  if (present(mem, "disableOOMKiller", &v)) {
    if (!json_object_is_type(v, json_type_boolean))
      return type_error(RES ".memory.disableOOMKiller", "a boolean", err);
    if (json_object_get_boolean(v))
      return unsupported(RES ".memory.disableOOMKiller",
                         "cgroup v2 cannot disable the OOM killer", err);
  }
  if (present(mem, "useHierarchy", &v)) {
    if (!json_object_is_type(v, json_type_boolean))
      return type_error(RES ".memory.useHierarchy", "a boolean", err);
    if (!json_object_get_boolean(v))
      return unsupported(RES ".memory.useHierarchy", "cgroup v2 is always hierarchical", err);
  }
  bool check = false;
  if (present(mem, "checkBeforeUpdate", &v)) {
    if (!json_object_is_type(v, json_type_boolean))
      return type_error(RES ".memory.checkBeforeUpdate", "a boolean", err);
    check = json_object_get_boolean(v);
  }

  /* the spec's swap is memory+swap; memory.swap.max is swap alone */
  int64_t swap_only = 0;
  if (swap > 0) {
    if (limit <= 0)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           RES ".memory.swap: %" PRId64 " needs a memory.limit (the spec's swap "
                           "is memory+swap)", swap);
    if (swap < limit)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           RES ".memory.swap: %" PRId64 " is below memory.limit %" PRId64
                           " (the spec's swap is memory+swap)", swap, limit);
    swap_only = swap - limit;
  } else if (swap == -1) {
    swap_only = -1;
  }

  char buf[32];
  if (limit > 0 && check) {
    uint64_t cur;
    if (cg_read_u64(cg, "memory.current", &cur) && cur >= (uint64_t)limit)
      return cf_err_status(err, CF_FAILED_PRECONDITION,
                           RES ".memory.limit: %" PRId64 " is not above the current usage %"
                           PRIu64 " of %s%s (checkBeforeUpdate)", limit, cur, cg->root,
                           cg->path);
  }
  if (limit) {
    fmt_limit(buf, sizeof(buf), limit);
    if ((r = cg_write(cg, RES ".memory.limit", "memory.max", buf, err)) < 0)
      return r;
  }
  if (swap) {
    fmt_limit(buf, sizeof(buf), swap_only);
    r = cg_write(cg, RES ".memory.swap", "memory.swap.max", buf, err);
    if (r == -ENOENT)
      return cf_error_prefix(err, "swap accounting may be off (swapaccount=1)");
    if (r < 0)
      return r;
  }
  if (reservation) {
    fmt_limit(buf, sizeof(buf), reservation);
    if ((r = cg_write(cg, RES ".memory.reservation", "memory.low", buf, err)) < 0)
      return r;
  }
  return 0;
}

/* ------------------------------------------------------------------- cpu */

static int cpu_string(const oci_cgroup *cg, json_object *cpu, const char *key, const char *file,
                      cf_error *err) {
  json_object *v;
  char field[64], buf[4096];
  if (!present(cpu, key, &v))
    return 0;
  snprintf(field, sizeof(field), RES ".cpu.%s", key);
  if (!json_object_is_type(v, json_type_string))
    return type_error(field, "a string", err);
  const char *s = json_object_get_string(v);
  if (!*s) /* "" = not set */
    return 0;
  if ((size_t)snprintf(buf, sizeof(buf), "%s\n", s) >= sizeof(buf))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: too long", field);
  return cg_write(cg, field, file, buf, err);
}

static int apply_cpu(const oci_cgroup *cg, json_object *cpu, cf_error *err) {
  static const char *const known[] = {"shares", "quota", "burst", "period", "realtimeRuntime",
                                      "realtimePeriod", "cpus", "mems", "idle", NULL};
  int r = get_obj(cpu, RES ".cpu", err);
  if (r < 0 || (r = check_keys(cpu, RES ".cpu", known, err)) < 0)
    return r;
  json_object *v;
  char buf[64];
  int64_t i;
  uint64_t u;
  if (present(cpu, "realtimeRuntime", &v)) {
    if ((r = get_i64(v, RES ".cpu.realtimeRuntime", &i, err)) < 0)
      return r;
    if (i)
      return unsupported(RES ".cpu.realtimeRuntime", "cgroup v2 has no realtime CPU limits", err);
  }
  if (present(cpu, "realtimePeriod", &v)) {
    if ((r = get_u64(v, RES ".cpu.realtimePeriod", &u, err)) < 0)
      return r;
    if (u)
      return unsupported(RES ".cpu.realtimePeriod", "cgroup v2 has no realtime CPU limits", err);
  }
  if (present(cpu, "shares", &v)) {
    if ((r = get_u64(v, RES ".cpu.shares", &u, err)) < 0)
      return r;
    if (u) { /* 0 = not set */
      u = u < 2 ? 2 : u > 262144 ? 262144 : u;
      snprintf(buf, sizeof(buf), "%" PRIu64 "\n", 1 + ((u - 2) * 9999) / 262142);
      if ((r = cg_write(cg, RES ".cpu.shares", "cpu.weight", buf, err)) < 0)
        return r;
    }
  }

  int64_t quota = 0;
  uint64_t period = 0;
  if (present(cpu, "quota", &v)) {
    if ((r = get_i64(v, RES ".cpu.quota", &quota, err)) < 0)
      return r;
    if (quota < -1)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           RES ".cpu.quota: %" PRId64 " (use -1 for unlimited)", quota);
  }
  if (present(cpu, "period", &v) && (r = get_u64(v, RES ".cpu.period", &period, err)) < 0)
    return r;
  if (quota || period) {
    char q[24] = "max";
    if (quota > 0)
      snprintf(q, sizeof(q), "%" PRId64, quota);
    if (!quota) {
      /* only a period: keep the quota cpu.max has */
      _cleanup_free_ char *cur = NULL;
      int e = cg_slurp(cg, "cpu.max", &cur);
      if (e == -ENOENT)
        return cg_missing_file(cg, RES ".cpu.period", "cpu.max", err);
      if (e < 0)
        return cf_err(err, -e, RES ".cpu.period: read %s%s/cpu.max", cg->root, cg->path);
      snprintf(q, sizeof(q), "%.*s", (int)strcspn(cur, " \n"), cur);
    }
    snprintf(buf, sizeof(buf), "%s %" PRIu64 "\n", q, period ? period : 100000);
    if ((r = cg_write(cg, quota ? RES ".cpu.quota" : RES ".cpu.period", "cpu.max", buf, err)) < 0)
      return r;
  }
  if (present(cpu, "burst", &v)) {
    if ((r = get_u64(v, RES ".cpu.burst", &u, err)) < 0)
      return r;
    snprintf(buf, sizeof(buf), "%" PRIu64 "\n", u);
    if ((r = cg_write(cg, RES ".cpu.burst", "cpu.max.burst", buf, err)) < 0)
      return r;
  }
  if (present(cpu, "idle", &v)) {
    if ((r = get_i64(v, RES ".cpu.idle", &i, err)) < 0)
      return r;
    snprintf(buf, sizeof(buf), "%" PRId64 "\n", i);
    if ((r = cg_write(cg, RES ".cpu.idle", "cpu.idle", buf, err)) < 0)
      return r;
  }
  if ((r = cpu_string(cg, cpu, "cpus", "cpuset.cpus", err)) < 0 ||
      (r = cpu_string(cg, cpu, "mems", "cpuset.mems", err)) < 0)
    return r;
  return 0;
}

/* ------------------------------------------------------------------ pids */

static int apply_pids(const oci_cgroup *cg, json_object *pids, cf_error *err) {
  static const char *const known[] = {"limit", NULL};
  int r = get_obj(pids, RES ".pids", err);
  if (r < 0 || (r = check_keys(pids, RES ".pids", known, err)) < 0)
    return r;
  json_object *v;
  int64_t limit;
  if (!present(pids, "limit", &v))
    return 0;
  if ((r = get_i64(v, RES ".pids.limit", &limit, err)) < 0)
    return r;
  char buf[32];
  if (limit <= 0)
    snprintf(buf, sizeof(buf), "max\n");
  else
    snprintf(buf, sizeof(buf), "%" PRId64 "\n", limit);
  return cg_write(cg, RES ".pids.limit", "pids.max", buf, err);
}

/* --------------------------------------------------------------- blockIO */

/* blkio weight 10..1000 → io.weight 1..10000 */
static int io_weight(json_object *v, const char *field, uint64_t *out, cf_error *err) {
  uint64_t w;
  int r = get_u64(v, field, &w, err);
  if (r < 0)
    return r;
  if (w && (w < 10 || w > 1000))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %" PRIu64 " is outside 10..1000",
                         field, w);
  *out = w ? 1 + (w - 10) * 9999 / 990 : 0;
  return 0;
}

static int leaf_weight(json_object *o, const char *field, cf_error *err) {
  json_object *v;
  uint64_t w;
  if (!present(o, "leafWeight", &v))
    return 0;
  int r = get_u64(v, field, &w, err);
  if (r < 0)
    return r;
  return w ? unsupported(field, "cgroup v2 has no leaf weight", err) : 0;
}

static int device_numbers(json_object *e, const char *field, uint64_t *maj, uint64_t *min,
                          cf_error *err) {
  json_object *v;
  char f[160];
  int r;
  snprintf(f, sizeof(f), "%s.major", field);
  if (!present(e, "major", &v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: missing", f);
  if ((r = get_u64(v, f, maj, err)) < 0)
    return r;
  snprintf(f, sizeof(f), "%s.minor", field);
  if (!present(e, "minor", &v))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: missing", f);
  return get_u64(v, f, min, err);
}

static int weight_devices(const oci_cgroup *cg, json_object *arr, cf_error *err) {
  static const char *const known[] = {"major", "minor", "weight", "leafWeight", NULL};
  if (!json_object_is_type(arr, json_type_array))
    return type_error(RES ".blockIO.weightDevice", "an array", err);
  size_t n = json_object_array_length(arr);
  if (!n)
    return 0;
  _cleanup_close_ int fd = -1;
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i), *v;
    char field[96], f[128], buf[96];
    uint64_t maj, min, w = 0;
    int r;
    snprintf(field, sizeof(field), RES ".blockIO.weightDevice[%zu]", i);
    if ((r = get_obj(e, field, err)) < 0 || (r = check_keys(e, field, known, err)) < 0 ||
        (r = device_numbers(e, field, &maj, &min, err)) < 0)
      return r;
    snprintf(f, sizeof(f), "%s.leafWeight", field);
    if ((r = leaf_weight(e, f, err)) < 0)
      return r;
    snprintf(f, sizeof(f), "%s.weight", field);
    if (present(e, "weight", &v) && (r = io_weight(v, f, &w, err)) < 0)
      return r;
    if (!w)
      continue;
    if (fd < 0 && (fd = cg_open_for_write(cg, f, "io.weight", err)) < 0)
      return fd;
    snprintf(buf, sizeof(buf), "%" PRIu64 ":%" PRIu64 " %" PRIu64 "\n", maj, min, w);
    if ((r = cg_write_value(fd, cg, f, "io.weight", buf, err)) < 0)
      return r;
  }
  return 0;
}

/* throttle*Device → io.max lines "MAJ:MIN key=rate" (0 = no limit, as on v1) */
static int throttle_devices(const oci_cgroup *cg, json_object *blkio, const char *key,
                            const char *iokey, int *fd, cf_error *err) {
  static const char *const known[] = {"major", "minor", "rate", NULL};
  json_object *arr;
  char section[96];
  if (!present(blkio, key, &arr))
    return 0;
  snprintf(section, sizeof(section), RES ".blockIO.%s", key);
  if (!json_object_is_type(arr, json_type_array))
    return type_error(section, "an array", err);
  size_t n = json_object_array_length(arr);
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i), *v;
    char field[128], f[160], buf[128], rate[24] = "max";
    uint64_t maj, min, u = 0;
    int r;
    snprintf(field, sizeof(field), "%s[%zu]", section, i);
    if ((r = get_obj(e, field, err)) < 0 || (r = check_keys(e, field, known, err)) < 0 ||
        (r = device_numbers(e, field, &maj, &min, err)) < 0)
      return r;
    snprintf(f, sizeof(f), "%s.rate", field);
    if (present(e, "rate", &v) && (r = get_u64(v, f, &u, err)) < 0)
      return r;
    if (u)
      snprintf(rate, sizeof(rate), "%" PRIu64, u);
    if (*fd < 0 && (*fd = cg_open_for_write(cg, field, "io.max", err)) < 0)
      return *fd;
    snprintf(buf, sizeof(buf), "%" PRIu64 ":%" PRIu64 " %s=%s\n", maj, min, iokey, rate);
    if ((r = cg_write_value(*fd, cg, field, "io.max", buf, err)) < 0)
      return r;
  }
  return 0;
}

static int apply_blkio(const oci_cgroup *cg, json_object *blkio, cf_error *err) {
  static const char *const known[] = {"weight", "leafWeight", "weightDevice",
                                      "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                      "throttleReadIOPSDevice", "throttleWriteIOPSDevice", NULL};
  int r = get_obj(blkio, RES ".blockIO", err);
  if (r < 0 || (r = check_keys(blkio, RES ".blockIO", known, err)) < 0)
    return r;
  if ((r = leaf_weight(blkio, RES ".blockIO.leafWeight", err)) < 0)
    return r;
  json_object *v;
  uint64_t w = 0;
  if (present(blkio, "weight", &v) && (r = io_weight(v, RES ".blockIO.weight", &w, err)) < 0)
    return r;
  if (w) {
    char buf[40];
    snprintf(buf, sizeof(buf), "default %" PRIu64 "\n", w);
    if ((r = cg_write(cg, RES ".blockIO.weight", "io.weight", buf, err)) < 0)
      return r;
  }
  if (present(blkio, "weightDevice", &v) && (r = weight_devices(cg, v, err)) < 0)
    return r;
  /* one io.max fd for all lists: each line is a write of its own */
  _cleanup_close_ int fd = -1;
  if ((r = throttle_devices(cg, blkio, "throttleReadBpsDevice", "rbps", &fd, err)) < 0 ||
      (r = throttle_devices(cg, blkio, "throttleWriteBpsDevice", "wbps", &fd, err)) < 0 ||
      (r = throttle_devices(cg, blkio, "throttleReadIOPSDevice", "riops", &fd, err)) < 0 ||
      (r = throttle_devices(cg, blkio, "throttleWriteIOPSDevice", "wiops", &fd, err)) < 0)
    return r;
  return 0;
}

/* --------------------------------------------------------------- hugetlb */

static int apply_hugetlb(const oci_cgroup *cg, json_object *arr, cf_error *err) {
  static const char *const known[] = {"pageSize", "limit", NULL};
  if (!json_object_is_type(arr, json_type_array))
    return type_error(RES ".hugepageLimits", "an array", err);
  size_t n = json_object_array_length(arr);
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i), *v;
    char field[64], f[96], file[96], buf[32];
    uint64_t limit;
    int r;
    snprintf(field, sizeof(field), RES ".hugepageLimits[%zu]", i);
    if ((r = get_obj(e, field, err)) < 0 || (r = check_keys(e, field, known, err)) < 0)
      return r;
    snprintf(f, sizeof(f), "%s.pageSize", field);
    if (!present(e, "pageSize", &v) || !json_object_is_type(v, json_type_string))
      return type_error(f, "a string such as \"2MB\"", err);
    const char *size = json_object_get_string(v);
    size_t digits = strspn(size, "0123456789");
    if (!digits || strlen(size) > 16 || size[strspn(size, "0123456789KMGB")])
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: \"%s\" is not a page size such as \"2MB\"", f, size);
    snprintf(f, sizeof(f), "%s.limit", field);
    if (!present(e, "limit", &v))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: missing", f);
    if ((r = get_u64(v, f, &limit, err)) < 0)
      return r;
    snprintf(buf, sizeof(buf), "%" PRIu64 "\n", limit);
    snprintf(file, sizeof(file), "hugetlb.%s.max", size);
    if ((r = cg_write(cg, f, file, buf, err)) < 0)
      return r;
    /* reservations too, where the kernel accounts them (5.7+), so a
     * mapping cannot reserve more than the limit and fault later */
    snprintf(file, sizeof(file), "hugetlb.%s.rsvd.max", size);
    _cleanup_close_ int fd = cg_openat(cg, file, O_WRONLY | O_TRUNC);
    if (fd >= 0 && (r = cg_write_value(fd, cg, f, file, buf, err)) < 0)
      return r;
  }
  return 0;
}

/* --------------------------------------------------------------- network */

static int apply_network(json_object *net, cf_error *err) {
  static const char *const known[] = {"classID", "priorities", NULL};
  int r = get_obj(net, RES ".network", err);
  if (r < 0 || (r = check_keys(net, RES ".network", known, err)) < 0)
    return r;
  json_object *v;
  uint64_t id;
  if (present(net, "classID", &v)) {
    if ((r = get_u64(v, RES ".network.classID", &id, err)) < 0)
      return r;
    if (id)
      return unsupported(RES ".network.classID", "cgroup v2 has no net_cls controller", err);
  }
  if (present(net, "priorities", &v) &&
      (!json_object_is_type(v, json_type_array) || json_object_array_length(v)))
    return unsupported(RES ".network.priorities", "cgroup v2 has no net_prio controller", err);
  return 0;
}

/* --------------------------------------------------------------- unified */

static int apply_unified(const oci_cgroup *cg, json_object *unified, cf_error *err) {
  int r = get_obj(unified, RES ".unified", err);
  if (r < 0)
    return r;
  json_object_object_foreach(unified, k, v) {
    char field[320];
    snprintf(field, sizeof(field), RES ".unified.%.200s", k);
    /* "<controller>.<name>" files of this directory only; cgroup.* are the
     * runtime's (membership, controllers, freeze, kill) */
    const char *dot = strchr(k, '.');
    if (!dot || dot == k || !dot[1] || strchr(k, '/') || strstr(k, "..") ||
        strncmp(k, "cgroup.", 7) == 0)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: not a controller interface file name (<controller>.<name>, "
                           "not cgroup.*)", field);
    if (!v || !json_object_is_type(v, json_type_string))
      return type_error(field, "a string", err);
    if ((r = cg_write(cg, field, k, json_object_get_string(v), err)) < 0)
      return r;
  }
  return 0;
}

int oci_cgroup_apply(const oci_cgroup *cg, json_object *resources, cf_error *err) {
  static const char *const known[] = {"devices", "memory", "cpu", "pids", "blockIO",
                                      "hugepageLimits", "network", "rdma", "unified", NULL};
  if (!resources)
    return 0;
  int r = get_obj(resources, RES, err);
  if (r < 0 || (r = check_keys(resources, RES, known, err)) < 0)
    return r;
  json_object *v;
  /* refusals first, so a spec we cannot run changes nothing */
  if (present(resources, "network", &v) && (r = apply_network(v, err)) < 0)
    return r;
  if (present(resources, "rdma", &v) &&
      (!json_object_is_type(v, json_type_object) || json_object_object_length(v)))
    return unsupported(RES ".rdma", "the rdma controller is not supported here", err);
  /* "devices" is the device program's (devices.c) */
  if (present(resources, "memory", &v) && (r = apply_memory(cg, v, err)) < 0)
    return r;
  if (present(resources, "cpu", &v) && (r = apply_cpu(cg, v, err)) < 0)
    return r;
  if (present(resources, "pids", &v) && (r = apply_pids(cg, v, err)) < 0)
    return r;
  if (present(resources, "blockIO", &v) && (r = apply_blkio(cg, v, err)) < 0)
    return r;
  if (present(resources, "hugepageLimits", &v) && (r = apply_hugetlb(cg, v, err)) < 0)
    return r;
  /* last: the unified map is the spec's way to override the fields above */
  if (present(resources, "unified", &v) && (r = apply_unified(cg, v, err)) < 0)
    return r;
  return 0;
}

