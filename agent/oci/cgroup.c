/* cgroup v2 for the built-in OCI runtime: the container's cgroup directory,
 * linux.resources written to its interface files, freeze/kill/pids, stats
 * and removal. Every operation goes through the directory fd opened at
 * create time (when open), so a rename of the path cannot redirect writes. */
#include "oci.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "coffer/cleanup.h"
#include "coffer/clock.h"

#define RES "linux.resources"

/* The controllers a container's limits and stats need. */
static const char *const wanted_controllers[] = {"cpu", "cpuset", "io",
                                                 "memory", "pids", "hugetlb"};

/* ------------------------------------------------------------ file access */

static int cg_openat(const oci_cgroup *cg, const char *name, int flags) {
  if (cg->dirfd >= 0)
    return openat(cg->dirfd, name, flags | O_CLOEXEC);
  char p[PATH_MAX];
  if ((size_t)snprintf(p, sizeof(p), "%s%s/%s", cg->root, cg->path, name) >= sizeof(p)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return open(p, flags | O_CLOEXEC);
}

/* A fresh fd of the directory (own file offset, for fdopendir). */
static int cg_open_dir(const oci_cgroup *cg) {
  return cg_openat(cg, ".", O_RDONLY | O_DIRECTORY);
}

/* The whole file into a NUL-terminated malloc'd buffer; -errno on failure
 * (errno kept, so ENOENT tells a missing controller). */
static int slurp_fd(int fd, char **out) {
  size_t cap = 4096, len = 0;
  _cleanup_free_ char *buf = malloc(cap);
  if (!buf)
    return -ENOMEM;
  for (;;) {
    if (len + 1 >= cap) {
      char *n = realloc(buf, cap * 2);
      if (!n)
        return -ENOMEM;
      buf = n;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  *out = cf_steal_ptr(buf);
  return 0;
}

static int slurp_at(int dirfd, const char *name, char **out) {
  _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return slurp_fd(fd, out);
}

static int cg_slurp(const oci_cgroup *cg, const char *name, char **out) {
  _cleanup_close_ int fd = cg_openat(cg, name, O_RDONLY);
  if (fd < 0)
    return -errno;
  return slurp_fd(fd, out);
}

/* "max" → UINT64_MAX (the value runc reports for "unlimited"). */
static bool parse_u64(const char *s, uint64_t *out) {
  while (*s == ' ' || *s == '\t')
    s++;
  if (strncmp(s, "max", 3) == 0 && (s[3] == '\0' || s[3] == '\n' || s[3] == ' ')) {
    *out = UINT64_MAX;
    return true;
  }
  if (*s < '0' || *s > '9')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || (*end && *end != '\n' && *end != ' '))
    return false;
  *out = v;
  return true;
}

/* A single-number file; false when missing or unparsable. */
static bool read_u64(const oci_cgroup *cg, const char *name, uint64_t *out) {
  _cleanup_free_ char *buf = NULL;
  return cg_slurp(cg, name, &buf) == 0 && parse_u64(buf, out);
}

/* The value of "key N" in a flat-keyed file (cpu.stat, memory.events). */
static bool keyed_u64(const char *buf, const char *key, uint64_t *out) {
  size_t kl = strlen(key);
  for (const char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
      return parse_u64(l + kl + 1, out);
  return false;
}

static bool has_word(const char *list, const char *word) {
  size_t wl = strlen(word);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '+')
      p++;
    size_t n = strcspn(p, " \n\t");
    if (n == wl && strncmp(p, word, wl) == 0)
      return true;
    p += n;
  }
  return false;
}

/* The controller that owns an interface file: the part before the '.'. */
static int missing_file(const oci_cgroup *cg, const char *field, const char *file,
                        cf_error *err) {
  int n = (int)strcspn(file, ".");
  return cf_err(err, ENOENT, "%s: %s does not exist in %s%s: is the %.*s controller enabled?",
                field, file, cg->root, cg->path, n, file);
}

static int open_for_write(const oci_cgroup *cg, const char *field, const char *file,
                          cf_error *err) {
  int fd = cg_openat(cg, file, O_WRONLY | O_TRUNC);
  if (fd >= 0)
    return fd;
  if (errno == ENOENT)
    return missing_file(cg, field, file, err);
  return cf_err(err, errno, "%s: open %s%s/%s", field, cg->root, cg->path, file);
}

/* One write(2) per value: the kernel parses each write on its own, which
 * is also how several io.max lines go through one fd. */
static int write_value(int fd, const oci_cgroup *cg, const char *field, const char *file,
                       const char *value, cf_error *err) {
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  if (n == (ssize_t)len)
    return 0;
  int e = n < 0 ? errno : EIO;
  return cf_err(err, e, "%s: write \"%.*s\" to %s%s/%s", field,
                (int)strcspn(value, "\n"), value, cg->root, cg->path, file);
}

static int cg_write(const oci_cgroup *cg, const char *field, const char *file,
                    const char *value, cf_error *err) {
  _cleanup_close_ int fd = open_for_write(cg, field, file, err);
  if (fd < 0)
    return fd;
  return write_value(fd, cg, field, file, value, err);
}

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
    if (read_u64(cg, "memory.current", &cur) && cur >= (uint64_t)limit)
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
        return missing_file(cg, RES ".cpu.period", "cpu.max", err);
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
    if (fd < 0 && (fd = open_for_write(cg, f, "io.weight", err)) < 0)
      return fd;
    snprintf(buf, sizeof(buf), "%" PRIu64 ":%" PRIu64 " %" PRIu64 "\n", maj, min, w);
    if ((r = write_value(fd, cg, f, "io.weight", buf, err)) < 0)
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
    if (*fd < 0 && (*fd = open_for_write(cg, field, "io.max", err)) < 0)
      return *fd;
    snprintf(buf, sizeof(buf), "%" PRIu64 ":%" PRIu64 " %s=%s\n", maj, min, iokey, rate);
    if ((r = write_value(*fd, cg, field, "io.max", buf, err)) < 0)
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
    if (fd >= 0 && (r = write_value(fd, cg, f, file, buf, err)) < 0)
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

/* ---------------------------------------------------------------- create */

static int check_path(const char *root, const char *path, cf_error *err) {
  if (!root || !*root)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "cgroup root is empty");
  if (!path || path[0] != '/')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "cgroup path \"%s\" must start with '/'",
                         path ? path : "");
  bool leaf = false;
  for (const char *p = path; *p;) {
    p += strspn(p, "/");
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "cgroup path \"%s\": \"..\" would leave %s", path, root);
    leaf |= n > 0;
    p += n;
  }
  if (!leaf)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "cgroup path \"%s\" names the root cgroup, not a container's", path);
  return 0;
}

/* Enables in dir/cgroup.subtree_control the wanted controllers that dir's
 * cgroup.controllers offers and that are not on yet: in one write, and
 * one at a time only when that is refused, to name the refused one. */
int oci_cgroup_enable_controllers(const char *dir, cf_error *err) {
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return cf_err(err, errno, "open cgroup %s", dir);
  _cleanup_free_ char *offered = NULL, *enabled = NULL;
  int r = slurp_at(dfd, "cgroup.controllers", &offered);
  if (r == -ENOENT)
    return cf_err(err, ENOENT, "%s/cgroup.controllers: is %s in a cgroup v2 hierarchy?", dir,
                  dir);
  if (r < 0)
    return cf_err(err, -r, "read %s/cgroup.controllers", dir);
  if ((r = slurp_at(dfd, "cgroup.subtree_control", &enabled)) < 0)
    return cf_err(err, -r, "read %s/cgroup.subtree_control", dir);
  /* all in one write first (each write is a tree walk in the kernel);
   * only when that is refused, one at a time to name the culprit */
  char all[128] = "";
  for (size_t i = 0; i < sizeof(wanted_controllers) / sizeof(*wanted_controllers); i++)
    if (has_word(offered, wanted_controllers[i]) && !has_word(enabled, wanted_controllers[i]))
      snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s+%s", all[0] ? " " : "",
               wanted_controllers[i]);
  if (!all[0])
    return 0;
  _cleanup_close_ int fd = openat(dfd, "cgroup.subtree_control", O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s/cgroup.subtree_control", dir);
  if (write(fd, all, strlen(all)) == (ssize_t)strlen(all))
    return 0;
  for (size_t i = 0; i < sizeof(wanted_controllers) / sizeof(*wanted_controllers); i++) {
    const char *c = wanted_controllers[i];
    if (!has_word(offered, c) || has_word(enabled, c))
      continue;
    char buf[32];
    snprintf(buf, sizeof(buf), "+%s\n", c);
    ssize_t n = write(fd, buf, strlen(buf));
    if (n == (ssize_t)strlen(buf))
      continue;
    if (n >= 0)
      errno = EIO;
    if (errno == ENOENT) /* withdrawn from the parent since we read the list */
      continue;
    if (errno == EBUSY)
      return cf_err(err, EBUSY,
                    "enable %s in %s/cgroup.subtree_control: %s has processes of its own "
                    "(cgroup v2 enables controllers only above process-free cgroups)",
                    c, dir, dir);
    return cf_err(err, errno, "enable %s in %s/cgroup.subtree_control", c, dir);
  }
  return 0;
}

int oci_cgroup_create(oci_cgroup *cg, const char *root, const char *path,
                      json_object *resources, cf_error *err) {
  *cg = (oci_cgroup){.dirfd = -1};
  int r = check_path(root, path, err);
  if (r < 0)
    return r;
  size_t rootlen = strlen(root);
  while (rootlen > 1 && root[rootlen - 1] == '/')
    rootlen--;
  char full[PATH_MAX];
  if ((size_t)snprintf(full, sizeof(full), "%.*s%s", (int)rootlen, root, path) >= sizeof(full))
    return cf_err(err, ENAMETOOLONG, "cgroup %s%s", root, path);
  struct stat st;
  if (stat(root, &st) < 0)
    return cf_err(err, errno, "cgroup root %s", root);

  /* walk down: each existing level enables controllers for the next */
  bool made_leaf = false;
  size_t pos = rootlen;
  for (;;) {
    size_t start = pos + strspn(full + pos, "/");
    if (!full[start])
      break;
    size_t end = start + strcspn(full + start, "/");
    char saved = full[pos];
    full[pos] = '\0';
    r = oci_cgroup_enable_controllers(full, err);
    full[pos] = saved;
    if (r < 0)
      return r;
    saved = full[end];
    full[end] = '\0';
    made_leaf = mkdir(full, 0755) == 0;
    if (!made_leaf && errno != EEXIST) {
      r = cf_err(err, errno, "mkdir cgroup %s", full);
      full[end] = saved;
      return r;
    }
    full[end] = saved;
    pos = end;
  }

  /* O_RDONLY, not O_PATH: BPF_PROG_ATTACH of the device program needs it */
  cg->dirfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg->dirfd < 0) {
    r = cf_err(err, errno, "open cgroup %s", full);
    goto fail;
  }
  cg->root = strndup(root, rootlen);
  cg->path = strdup(path);
  if (!cg->root || !cg->path) {
    r = cf_err(err, ENOMEM, "cgroup %s", full);
    goto fail;
  }
  if ((r = oci_cgroup_apply(cg, resources, err)) < 0)
    goto fail;
  return 0;
fail:
  /* a leaf made here goes again; one that was there (agent restart) stays */
  if (made_leaf)
    rmdir(full);
  oci_cgroup_close(cg);
  return r;
}

/* ----------------------------------------------------------- processes */

static int cg_write_simple(const oci_cgroup *cg, const char *file, const char *value,
                           cf_error *err) {
  _cleanup_close_ int fd = cg_openat(cg, file, O_WRONLY);
  if (fd < 0)
    return cf_err(err, errno, "open %s%s/%s", cg->root, cg->path, file);
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  if (n == (ssize_t)len)
    return 0;
  return cf_err(err, n < 0 ? errno : EIO, "write \"%.*s\" to %s%s/%s",
                (int)strcspn(value, "\n"), value, cg->root, cg->path, file);
}

int oci_cgroup_enter(const oci_cgroup *cg, pid_t pid, cf_error *err) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%d\n", (int)pid);
  return cg_write_simple(cg, "cgroup.procs", buf, err);
}

typedef struct {
  pid_t *v;
  size_t n, cap;
} pid_list;

/* cgroup.procs of dirfd and of every cgroup below it (a container may make
 * its own sub-cgroups). */
static int collect_pids(int dirfd, pid_list *l, const oci_cgroup *cg, cf_error *err) {
  _cleanup_free_ char *buf = NULL;
  int r = slurp_at(dirfd, "cgroup.procs", &buf);
  if (r < 0)
    return cf_err(err, -r, "read cgroup.procs under %s%s", cg->root, cg->path);
  for (char *p = buf; *p;) {
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p)
      break;
    p = end + strspn(end, "\n");
    if (l->n == l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 16;
      pid_t *v = realloc(l->v, cap * sizeof(*v));
      if (!v)
        return cf_err(err, ENOMEM, "pids of %s%s", cg->root, cg->path);
      l->v = v;
      l->cap = cap;
    }
    l->v[l->n++] = (pid_t)pid;
  }
  int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0)
      close(dfd);
    return cf_err(err, errno, "list %s%s", cg->root, cg->path);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    _cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub < 0) /* removed meanwhile */
      continue;
    if ((r = collect_pids(sub, l, cg, err)) < 0)
      return r;
  }
  return 0;
}

int oci_cgroup_pids(const oci_cgroup *cg, pid_t **pids, size_t *n, cf_error *err) {
  *pids = NULL;
  *n = 0;
  _cleanup_close_ int dfd = cg_open_dir(cg);
  if (dfd < 0)
    return cf_err(err, errno, "open cgroup %s%s", cg->root, cg->path);
  pid_list l = {0};
  int r = collect_pids(dfd, &l, cg, err);
  if (r < 0) {
    free(l.v);
    return r;
  }
  *pids = l.v;
  *n = l.n;
  return 0;
}

int oci_cgroup_signal_all(const oci_cgroup *cg, int sig, cf_error *err) {
  if (sig == SIGKILL) {
    /* cgroup.kill (5.14+) kills the whole subtree with no fork race */
    _cleanup_close_ int fd = cg_openat(cg, "cgroup.kill", O_WRONLY);
    if (fd >= 0) {
      if (write(fd, "1\n", 2) == 2)
        return 0;
      return cf_err(err, errno, "write 1 to %s%s/cgroup.kill", cg->root, cg->path);
    }
    if (errno != ENOENT)
      return cf_err(err, errno, "open %s%s/cgroup.kill", cg->root, cg->path);
  }
  _cleanup_free_ pid_t *pids = NULL;
  size_t n;
  int r = oci_cgroup_pids(cg, &pids, &n, err);
  if (r < 0)
    return r;
  /* frozen tasks get the signal at thaw; SIGKILL goes through at once */
  for (size_t i = 0; i < n; i++)
    if (kill(pids[i], sig) < 0 && errno != ESRCH)
      return cf_err(err, errno, "kill(%d, %d) in cgroup %s%s", (int)pids[i], sig, cg->root,
                    cg->path);
  return 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

#define FREEZE_TIMEOUT_MS 2000

/* Waits until cgroup.events says "frozen <want>". The kernel wakes POLLPRI
 * pollers of cgroup.events when it changes (after a read from the same
 * fd); the poll timeout is kept short in case a change is missed. */
static int wait_frozen(const oci_cgroup *cg, bool want, cf_error *err) {
  _cleanup_close_ int fd = cg_openat(cg, "cgroup.events", O_RDONLY);
  if (fd < 0)
    return cf_err(err, errno, "open %s%s/cgroup.events", cg->root, cg->path);
  int64_t deadline = (int64_t)cf_now_ms() + FREEZE_TIMEOUT_MS;
  for (;;) {
    _cleanup_free_ char *buf = NULL;
    uint64_t frozen;
    int r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : slurp_fd(fd, &buf);
    if (r < 0)
      return cf_err(err, -r, "read %s%s/cgroup.events", cg->root, cg->path);
    if (keyed_u64(buf, "frozen", &frozen) && (frozen != 0) == want)
      return 0;
    int64_t left = deadline - (int64_t)cf_now_ms();
    if (left <= 0)
      return cf_err_status(err, CF_DEADLINE_EXCEEDED,
                           "cgroup %s%s: not %s after %d ms (cgroup.events)", cg->root,
                           cg->path, want ? "frozen" : "thawed", FREEZE_TIMEOUT_MS);
    struct pollfd p = {.fd = fd, .events = POLLPRI};
    if (poll(&p, 1, left < 50 ? (int)left : 50) < 0 && errno != EINTR)
      return cf_err(err, errno, "poll %s%s/cgroup.events", cg->root, cg->path);
  }
}

int oci_cgroup_freeze(const oci_cgroup *cg, bool frozen, cf_error *err) {
  int r = cg_write_simple(cg, "cgroup.freeze", frozen ? "1\n" : "0\n", err);
  if (r < 0)
    return r;
  r = wait_frozen(cg, frozen, err);
  if (r < 0 && frozen) {
    /* a half-frozen container helps nobody: thaw it again */
    cf_error ignored = {0};
    cg_write_simple(cg, "cgroup.freeze", "0\n", &ignored);
  }
  return r;
}

/* ---------------------------------------------------------------- stats */

static void stats_cpu(const oci_cgroup *cg, Coffer__Agent__V1__CpuStats *cpu) {
  _cleanup_free_ char *buf = NULL;
  if (cg_slurp(cg, "cpu.stat", &buf) < 0)
    return;
  uint64_t v;
  if (keyed_u64(buf, "usage_usec", &v))
    cpu->usage_total_ns = v * 1000;
  if (keyed_u64(buf, "user_usec", &v))
    cpu->usage_user_ns = v * 1000;
  if (keyed_u64(buf, "system_usec", &v))
    cpu->usage_kernel_ns = v * 1000;
  keyed_u64(buf, "nr_periods", &cpu->throttling_periods);
  keyed_u64(buf, "nr_throttled", &cpu->throttled_periods);
  if (keyed_u64(buf, "throttled_usec", &v))
    cpu->throttled_time_ns = v * 1000;
}

static Coffer__Agent__V1__MemoryEntry *mem_entry(void) {
  Coffer__Agent__V1__MemoryEntry *e = malloc(sizeof(*e));
  if (e)
    coffer__agent__v1__memory_entry__init(e);
  return e;
}

static int stats_memory(const oci_cgroup *cg, Coffer__Agent__V1__StatsContainerResponse *r) {
  Coffer__Agent__V1__MemoryStats *m = r->memory;
  if (!(m->usage = mem_entry()) || !(m->swap = mem_entry()))
    return -ENOMEM;
  read_u64(cg, "memory.current", &m->usage->usage);
  read_u64(cg, "memory.max", &m->usage->limit);
  read_u64(cg, "memory.peak", &m->usage->max);
  read_u64(cg, "memory.swap.current", &m->swap->usage);
  read_u64(cg, "memory.swap.max", &m->swap->limit);
  _cleanup_free_ char *events = NULL;
  if (cg_slurp(cg, "memory.events", &events) == 0) {
    keyed_u64(events, "max", &m->usage->failcnt);
    keyed_u64(events, "oom_kill", &r->oom_kills);
  }
  _cleanup_free_ char *buf = NULL;
  if (cg_slurp(cg, "memory.stat", &buf) < 0)
    return 0;
  size_t lines = 1; /* the last one may lack its '\n' */
  for (const char *p = buf; *p; p++)
    lines += *p == '\n';
  if (!(m->stats = calloc(lines, sizeof(*m->stats))))
    return -ENOMEM;
  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l && m->n_stats < lines;
       l = strtok_r(NULL, "\n", &save)) {
    char *sp = strchr(l, ' ');
    uint64_t v;
    if (!sp || !parse_u64(sp + 1, &v))
      continue;
    Coffer__Agent__V1__MemoryStats__StatsEntry *e = malloc(sizeof(*e));
    if (!e)
      return -ENOMEM;
    coffer__agent__v1__memory_stats__stats_entry__init(e);
    e->value = v;
    if (!(e->key = strndup(l, (size_t)(sp - l)))) {
      free(e);
      return -ENOMEM;
    }
    m->stats[m->n_stats++] = e;
    if (strcmp(e->key, "file") == 0) /* the page cache, v1's "cache" */
      m->cache = v;
  }
  return 0;
}

static int blkio_add(Coffer__Agent__V1__BlkioEntry **arr, size_t *n, unsigned maj, unsigned min,
                     const char *op, uint64_t value) {
  Coffer__Agent__V1__BlkioEntry *e = malloc(sizeof(*e));
  if (!e)
    return -ENOMEM;
  coffer__agent__v1__blkio_entry__init(e);
  e->major = maj;
  e->minor = min;
  e->value = value;
  if (!(e->op = strdup(op))) {
    free(e);
    return -ENOMEM;
  }
  arr[(*n)++] = e;
  return 0;
}

/* io.stat lines: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" */
static int stats_io(const oci_cgroup *cg, Coffer__Agent__V1__BlkioStats *b) {
  _cleanup_free_ char *buf = NULL;
  if (cg_slurp(cg, "io.stat", &buf) < 0)
    return 0;
  size_t lines = 1; /* the last one may lack its '\n' */
  for (const char *p = buf; *p; p++)
    lines += *p == '\n';
  if (!(b->io_service_bytes_recursive = calloc(2 * lines, sizeof(void *))) ||
      !(b->io_serviced_recursive = calloc(2 * lines, sizeof(void *))))
    return -ENOMEM;
  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    unsigned maj, min;
    int used;
    if (sscanf(l, "%u:%u%n", &maj, &min, &used) != 2)
      continue;
    uint64_t rbytes = 0, wbytes = 0, rios = 0, wios = 0;
    for (char *s2 = NULL, *kv = strtok_r(l + used, " ", &s2); kv; kv = strtok_r(NULL, " ", &s2)) {
      char *eq = strchr(kv, '=');
      uint64_t v;
      if (!eq || !parse_u64(eq + 1, &v))
        continue;
      *eq = '\0';
      if (strcmp(kv, "rbytes") == 0)
        rbytes = v;
      else if (strcmp(kv, "wbytes") == 0)
        wbytes = v;
      else if (strcmp(kv, "rios") == 0)
        rios = v;
      else if (strcmp(kv, "wios") == 0)
        wios = v;
    }
    if (blkio_add(b->io_service_bytes_recursive, &b->n_io_service_bytes_recursive, maj, min,
                  "Read", rbytes) < 0 ||
        blkio_add(b->io_service_bytes_recursive, &b->n_io_service_bytes_recursive, maj, min,
                  "Write", wbytes) < 0 ||
        blkio_add(b->io_serviced_recursive, &b->n_io_serviced_recursive, maj, min, "Read",
                  rios) < 0 ||
        blkio_add(b->io_serviced_recursive, &b->n_io_serviced_recursive, maj, min, "Write",
                  wios) < 0)
      return -ENOMEM;
  }
  return 0;
}

/* one entry per hugetlb.<size>.current (not the .rsvd. ones) */
static int stats_hugetlb(const oci_cgroup *cg, Coffer__Agent__V1__StatsContainerResponse *r) {
  int dfd = cg_open_dir(cg);
  _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0)
      close(dfd);
    return 0;
  }
  struct dirent *de;
  size_t cap = 0;
  while ((de = readdir(d))) {
    const char *name = de->d_name;
    size_t len = strlen(name);
    if (strncmp(name, "hugetlb.", 8) != 0 || len < 8 + 9 ||
        strcmp(name + len - 8, ".current") != 0)
      continue;
    char size[64], file[96];
    snprintf(size, sizeof(size), "%.*s", (int)(len - 16), name + 8);
    if (strchr(size, '.')) /* hugetlb.2MB.rsvd.current */
      continue;
    if (r->n_hugetlb == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      Coffer__Agent__V1__HugetlbStats **n = realloc(r->hugetlb, ncap * sizeof(*n));
      if (!n)
        return -ENOMEM;
      r->hugetlb = n;
      cap = ncap;
    }
    Coffer__Agent__V1__HugetlbStats *h = malloc(sizeof(*h));
    if (!h)
      return -ENOMEM;
    coffer__agent__v1__hugetlb_stats__init(h);
    if (!(h->pagesize = strdup(size))) {
      free(h);
      return -ENOMEM;
    }
    r->hugetlb[r->n_hugetlb++] = h;
    read_u64(cg, name, &h->usage);
    snprintf(file, sizeof(file), "hugetlb.%s.max", size);
    read_u64(cg, file, &h->max);
    snprintf(file, sizeof(file), "hugetlb.%s.events", size);
    _cleanup_free_ char *events = NULL;
    if (cg_slurp(cg, file, &events) == 0)
      keyed_u64(events, "max", &h->failcnt);
  }
  return 0;
}

int oci_cgroup_stats(const oci_cgroup *cg, Coffer__Agent__V1__StatsContainerResponse **out,
                     cf_error *err) {
  *out = NULL;
  /* every v2 cgroup has cgroup.procs: without it the cgroup is gone */
  _cleanup_close_ int procs = cg_openat(cg, "cgroup.procs", O_RDONLY);
  if (procs < 0)
    return cf_err(err, errno, "stats of cgroup %s%s", cg->root, cg->path);
  Coffer__Agent__V1__StatsContainerResponse *r = calloc(1, sizeof(*r));
  if (!r)
    return cf_err(err, ENOMEM, "stats of cgroup %s%s", cg->root, cg->path);
  coffer__agent__v1__stats_container_response__init(r);
  r->cgroup_version = 2;
  int e = -ENOMEM;
  if (!(r->cpu = malloc(sizeof(*r->cpu))) || !(r->memory = malloc(sizeof(*r->memory))) ||
      !(r->pids = malloc(sizeof(*r->pids))) || !(r->blkio = malloc(sizeof(*r->blkio))))
    goto fail;
  coffer__agent__v1__cpu_stats__init(r->cpu);
  coffer__agent__v1__memory_stats__init(r->memory);
  coffer__agent__v1__pids_stats__init(r->pids);
  coffer__agent__v1__blkio_stats__init(r->blkio);
  stats_cpu(cg, r->cpu);
  if ((e = stats_memory(cg, r)) < 0)
    goto fail;
  read_u64(cg, "pids.current", &r->pids->current);
  if (read_u64(cg, "pids.max", &r->pids->limit) && r->pids->limit == UINT64_MAX)
    r->pids->limit = 0; /* 0 = unlimited in PidsStats */
  if ((e = stats_io(cg, r->blkio)) < 0 || (e = stats_hugetlb(cg, r)) < 0)
    goto fail;
  *out = r;
  return 0;
fail:
  stats_free(r);
  return cf_err(err, -e, "stats of cgroup %s%s", cg->root, cg->path);
}

/* --------------------------------------------------------------- destroy */

/* rmdir the cgroups below dirfd, deepest first; the first failure's errno */
static int rmdir_children(int dirfd) {
  int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0)
      close(dfd);
    return errno;
  }
  int first = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    _cleanup_close_ int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = sub < 0 ? (errno == ENOENT ? 0 : errno) : rmdir_children(sub);
    if (!e && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      e = errno;
    if (e && !first)
      first = e;
  }
  return first;
}

#define DESTROY_TIMEOUT_MS 2000

static int close_dirfd(oci_cgroup *cg) {
  if (cg->dirfd >= 0)
    close(cg->dirfd);
  cg->dirfd = -1;
  return 0;
}

int oci_cgroup_destroy(oci_cgroup *cg, cf_error *err) {
  char full[PATH_MAX];
  if (!cg->root || !cg->path)
    return close_dirfd(cg);
  if ((size_t)snprintf(full, sizeof(full), "%s%s", cg->root, cg->path) >= sizeof(full))
    return cf_err(err, ENAMETOOLONG, "cgroup %s%s", cg->root, cg->path);
  if (access(full, F_OK) < 0 && errno == ENOENT)
    return close_dirfd(cg);
  int r = oci_cgroup_signal_all(cg, SIGKILL, err);
  if (r < 0 && r != -ENOENT)
    return r;
  int64_t deadline = (int64_t)cf_now_ms() + DESTROY_TIMEOUT_MS;
  for (int round = 1;; round++) {
    _cleanup_close_ int dfd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = dfd < 0 ? errno : rmdir_children(dfd);
    if (!e && rmdir(full) < 0)
      e = errno;
    if (!e || e == ENOENT)
      return close_dirfd(cg);
    if (e != EBUSY || (int64_t)cf_now_ms() >= deadline)
      return cf_err(err, e, "remove cgroup %s%s", full,
                    e == EBUSY ? " (processes still in it)" : "");
    /* without cgroup.kill a process may have forked past the first
     * round of kill(2): go again now and then */
    if (round % 20 == 0) {
      cf_error ignored = {0};
      oci_cgroup_signal_all(cg, SIGKILL, &ignored);
    }
    sleep_ms(5);
  }
}

void oci_cgroup_close(oci_cgroup *cg) {
  if (cg->dirfd >= 0)
    close(cg->dirfd);
  cg->dirfd = -1;
  free(cg->root);
  free(cg->path);
  cg->root = NULL;
  cg->path = NULL;
}
