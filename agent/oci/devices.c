/* The device cgroup program. cgroup v2 has no devices.allow/deny files: the
 * kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup
 * (BPF_CGROUP_DEVICE) on every open and mknod of a device node. The rules of
 * linux.resources.devices, then the defaults every container gets, are
 * compiled here by hand into that program (no libbpf) and attached with
 * BPF_F_ALLOW_MULTI, so programs of ancestor cgroups keep applying too.
 *
 * Program layout (r1 = struct bpf_cgroup_dev_ctx *, kept in r6):
 *   one block per rule, last rule first (the last matching rule decides):
 *     r1 = ctx->access_type; r1 &= 0xffff; if r1 != TYPE goto next  (not 'a')
 *     r1 = ctx->major; if r1 != MAJOR goto next          (not a wildcard)
 *     r1 = ctx->minor; if r1 != MINOR goto next          (not a wildcard)
 *     r1 = ctx->access_type; r1 >>= 16; r1 &= ~ACCESS;
 *     if r1 != 0 goto next                               (access not rwm)
 *     r0 = ALLOW; exit
 *   next: ...
 *   r0 = 0; exit                            (nothing matched: deny)
 * Each test reloads its field from ctx into r1 rather than keeping the
 * fields in registers: a register a branch has narrowed to a constant makes
 * the verifier walk every later rule once per such constant (1024 rules
 * then exceed its 1M-instruction budget); r1 is dead at every "next", so
 * all paths reaching it are one state there. MAJOR/MINOR past INT32_MAX
 * are compared through r2, as a jump's immediate is sign-extended.
 * A rule without conditions ends the program: the verifier refuses code it
 * cannot reach, and the rules before it could never decide anything. */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "coffer/cleanup.h"

/* Spec rules at most: keeps the program (17 instructions a rule at most)
 * and the verifier's walk of it well inside the kernel's limits. */
#define DEVICES_MAX_RULES 1024
#define INSNS_PER_RULE_MAX 17
#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)
#define ANY (-1)
#define VERIFIER_LOG_SIZE (256 * 1024)

typedef struct dev_rule {
  bool allow;
  int type;       /* BPF_DEVCG_DEV_BLOCK / _CHAR, 0 = any */
  int64_t major;  /* ANY or 0..UINT32_MAX */
  int64_t minor;
  unsigned access; /* BPF_DEVCG_ACC_* bits */
} dev_rule;

/* What every container may use, after the spec's rules. */
static const dev_rule default_rules[] = {
    {true, BPF_DEVCG_DEV_CHAR, ANY, ANY, BPF_DEVCG_ACC_MKNOD},  /* mknod of any char */
    {true, BPF_DEVCG_DEV_BLOCK, ANY, ANY, BPF_DEVCG_ACC_MKNOD}, /* mknod of any block */
    {true, BPF_DEVCG_DEV_CHAR, 1, 3, ACC_ALL},                  /* null */
    {true, BPF_DEVCG_DEV_CHAR, 1, 5, ACC_ALL},                  /* zero */
    {true, BPF_DEVCG_DEV_CHAR, 1, 7, ACC_ALL},                  /* full */
    {true, BPF_DEVCG_DEV_CHAR, 5, 0, ACC_ALL},                  /* tty */
    {true, BPF_DEVCG_DEV_CHAR, 1, 9, ACC_ALL},                  /* urandom */
    {true, BPF_DEVCG_DEV_CHAR, 1, 8, ACC_ALL},                  /* random */
    {true, BPF_DEVCG_DEV_CHAR, 136, ANY, ACC_ALL},              /* pts/N */
    {true, BPF_DEVCG_DEV_CHAR, 5, 2, ACC_ALL},                  /* ptmx */
    {true, BPF_DEVCG_DEV_CHAR, 10, 200, ACC_ALL},               /* net/tun */
};
#define N_DEFAULT_RULES (sizeof(default_rules) / sizeof(default_rules[0]))

/* ------------------------------------------------------------ parsing */

/* major/minor: absent, null or -1 = any. */
static int parse_number(json_object *entry, size_t i, const char *key, int64_t *out,
                        cf_error *err) {
  json_object *v = NULL;
  *out = ANY;
  if (!json_object_object_get_ex(entry, key, &v) || !v)
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.resources.devices[%zu].%s: %s is not an integer", i, key,
                         json_object_to_json_string(v));
  /* json-c clamps what int64 cannot hold, which the range check refuses */
  int64_t n = json_object_get_int64(v);
  if (n < -1 || n > (int64_t)UINT32_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.resources.devices[%zu].%s: %" PRId64
                         " is out of range (-1 for any, or 0..%" PRIu32 ")",
                         i, key, n, UINT32_MAX);
  *out = n;
  return 0;
}

static int parse_rule(json_object *entry, size_t i, dev_rule *r, cf_error *err) {
  if (!json_object_is_type(entry, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.resources.devices[%zu]: %s is not an object", i,
                         json_object_to_json_string(entry));
  /* an unknown key could be a restriction we would silently drop */
  json_object_object_foreach(entry, key, val) {
    (void)val;
    if (strcmp(key, "allow") && strcmp(key, "type") && strcmp(key, "major") &&
        strcmp(key, "minor") && strcmp(key, "access"))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "linux.resources.devices[%zu]: unknown field \"%s\"", i, key);
  }

  json_object *v = NULL;
  if (!json_object_object_get_ex(entry, "allow", &v) || !v)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.resources.devices[%zu].allow: missing (it is required)", i);
  if (!json_object_is_type(v, json_type_boolean))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.resources.devices[%zu].allow: %s is not a boolean", i,
                         json_object_to_json_string(v));
  r->allow = json_object_get_boolean(v);

  r->type = 0;
  if (json_object_object_get_ex(entry, "type", &v) && v) {
    const char *t = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    if (!strcmp(t, "b"))
      r->type = BPF_DEVCG_DEV_BLOCK;
    else if (!strcmp(t, "c"))
      r->type = BPF_DEVCG_DEV_CHAR;
    else if (strcmp(t, "a"))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "linux.resources.devices[%zu].type: %s is not \"a\", \"b\" or \"c\"",
                           i, json_object_to_json_string(v));
  }

  int rc = parse_number(entry, i, "major", &r->major, err);
  if (rc < 0)
    return rc;
  rc = parse_number(entry, i, "minor", &r->minor, err);
  if (rc < 0)
    return rc;

  r->access = ACC_ALL; /* absent or "" */
  if (json_object_object_get_ex(entry, "access", &v) && v) {
    if (!json_object_is_type(v, json_type_string))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "linux.resources.devices[%zu].access: %s is not a string", i,
                           json_object_to_json_string(v));
    const char *a = json_object_get_string(v);
    if (*a)
      r->access = 0;
    for (; *a; a++) {
      if (*a == 'r')
        r->access |= BPF_DEVCG_ACC_READ;
      else if (*a == 'w')
        r->access |= BPF_DEVCG_ACC_WRITE;
      else if (*a == 'm')
        r->access |= BPF_DEVCG_ACC_MKNOD;
      else
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "linux.resources.devices[%zu].access: %s has '%c', not one of r, w, m",
                             i, json_object_to_json_string(v), *a);
    }
  }
  return 0;
}

/* --------------------------------------------------------- compiling */

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* Appends "if r1 != value goto next" (its offset patched by the caller). */
static size_t emit_jne(struct bpf_insn *p, size_t n, int64_t value, size_t *jumps,
                       size_t *n_jumps) {
  if (value <= INT32_MAX) {
    jumps[(*n_jumps)++] = n;
    p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, (int32_t)value);
    return n;
  }
  p[n++] = insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, 0, 0, (int32_t)(uint32_t)value);
  p[n++] = insn(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)value >> 32));
  jumps[(*n_jumps)++] = n;
  p[n++] = insn(BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_2, 0, 0);
  return n;
}

static struct bpf_insn load_field(int16_t off) {
  return insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, BPF_REG_6, off, 0);
}

/* Fills p (room for 3 + INSNS_PER_RULE_MAX * n rules); returns its length. */
static size_t compile(const dev_rule *rules, size_t n_rules, struct bpf_insn *p) {
  const int16_t access_type = offsetof(struct bpf_cgroup_dev_ctx, access_type),
                major = offsetof(struct bpf_cgroup_dev_ctx, major),
                minor = offsetof(struct bpf_cgroup_dev_ctx, minor);
  size_t n = 0;
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
  for (size_t k = n_rules; k-- > 0;) {
    const dev_rule *r = &rules[k];
    size_t jumps[4], n_jumps = 0;
    if (r->type) {
      p[n++] = load_field(access_type);
      p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_1, 0, 0, 0xffff);
      n = emit_jne(p, n, r->type, jumps, &n_jumps);
    }
    if (r->major != ANY) {
      p[n++] = load_field(major);
      n = emit_jne(p, n, r->major, jumps, &n_jumps);
    }
    if (r->minor != ANY) {
      p[n++] = load_field(minor);
      n = emit_jne(p, n, r->minor, jumps, &n_jumps);
    }
    if ((r->access & ACC_ALL) != ACC_ALL) {
      /* every requested bit must be one the rule names */
      p[n++] = load_field(access_type);
      p[n++] = insn(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_1, 0, 0, 16);
      p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t)~r->access);
      n = emit_jne(p, n, 0, jumps, &n_jumps);
    }
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
    p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    if (!n_jumps)
      return n; /* matches everything: nothing after it is reachable */
    for (size_t j = 0; j < n_jumps; j++)
      p[jumps[j]].off = (int16_t)(n - jumps[j] - 1);
  }
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
  p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return n;
}

/* ------------------------------------------------- loading, attaching */

static int sys_bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static const char *kernel_hint(int e) {
  switch (e) {
  case ENOSYS:
    return " (the kernel has no bpf(2): is CONFIG_BPF_SYSCALL enabled?)";
  case EPERM:
    return " (the kernel refused: is CONFIG_CGROUP_BPF enabled, and do we have CAP_SYS_ADMIN?)";
  case EINVAL:
    return " (the kernel refused the program type: is CONFIG_CGROUP_BPF enabled?)";
  case E2BIG:
    return " (too long for this kernel: before 5.2 a program had at most 4096 instructions)";
  default:
    return "";
  }
}

/* The verifier's reason: the log's last line, or the one before it when
 * that is the "processed N insns" statistics line. In place. */
static const char *last_line(char *log) {
  size_t len = strnlen(log, VERIFIER_LOG_SIZE - 1);
  log[len] = '\0';
  char *line = NULL;
  for (int i = 0; i < 2; i++) {
    while (len && (log[len - 1] == '\n' || log[len - 1] == ' '))
      log[--len] = '\0';
    char *nl = strrchr(log, '\n');
    line = nl ? nl + 1 : log;
    if (strncmp(line, "processed ", 10) || line == log)
      break;
    len = (size_t)(line - log);
  }
  return line;
}

static int load(const struct bpf_insn *prog, size_t n_insns, cf_error *err) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)prog;
  attr.insn_cnt = (uint32_t)n_insns;
  attr.license = (uint64_t)(uintptr_t)"Apache-2.0"; /* no GPL-only helpers are called */
  strncpy(attr.prog_name, "coffer_devices", sizeof(attr.prog_name) - 1);
  int fd = sys_bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0)
    return fd;

  /* again with the verifier's log, for the reason: only on failure, as
   * older kernels fail a load whose log does not fit */
  int e = errno;
  _cleanup_free_ char *log = calloc(1, VERIFIER_LOG_SIZE);
  if (log && e != ENOSYS && e != EPERM) {
    attr.log_level = 1;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = VERIFIER_LOG_SIZE;
    fd = sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0)
      return fd; /* passed this time */
    const char *why = last_line(log);
    if (*why)
      return cf_err(err, e, "device program (%zu instructions): BPF_PROG_LOAD: verifier: %s",
                    n_insns, why);
  }
  return cf_err(err, e, "device program (%zu instructions): BPF_PROG_LOAD%s", n_insns,
                kernel_hint(e));
}

int oci_devices_attach(json_object *rules, int cgroup_dirfd, cf_error *err) {
  size_t n_spec = 0;
  if (rules && !json_object_is_type(rules, json_type_null)) {
    if (!json_object_is_type(rules, json_type_array))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "linux.resources.devices: %s is not an array",
                           json_object_to_json_string(rules));
    n_spec = json_object_array_length(rules);
  }
  if (n_spec > DEVICES_MAX_RULES)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "linux.resources.devices: %zu rules, more than the %d one device "
                         "program may hold (the kernel's verifier limits its size)",
                         n_spec, DEVICES_MAX_RULES);

  size_t n_rules = n_spec + N_DEFAULT_RULES;
  _cleanup_free_ dev_rule *all = calloc(n_rules, sizeof(*all));
  _cleanup_free_ struct bpf_insn *prog = calloc(3 + INSNS_PER_RULE_MAX * n_rules, sizeof(*prog));
  if (!all || !prog)
    return cf_err(err, ENOMEM, "device program of %zu rules", n_rules);
  for (size_t i = 0; i < n_spec; i++) {
    int rc = parse_rule(json_object_array_get_idx(rules, i), i, &all[i], err);
    if (rc < 0)
      return rc;
  }
  memcpy(all + n_spec, default_rules, sizeof(default_rules));
  size_t n_insns = compile(all, n_rules, prog);

  /* the cgroup's dirfd may be O_PATH (oci_cgroup's is): BPF_PROG_ATTACH
   * gets a plain read-only one, not to depend on the kernel taking O_PATH */
  int flags = fcntl(cgroup_dirfd, F_GETFL);
  if (flags < 0)
    return cf_err(err, errno, "device program: cgroup directory fd %d", cgroup_dirfd);
  _cleanup_close_ int dirfd = -1;
  if (flags & O_PATH) {
    dirfd = openat(cgroup_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
      return cf_err(err, errno, "device program: reopen cgroup directory fd %d", cgroup_dirfd);
  }

  _cleanup_close_ int prog_fd = load(prog, n_insns, err);
  if (prog_fd < 0)
    return prog_fd;

  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)(dirfd >= 0 ? dirfd : cgroup_dirfd);
  attr.attach_bpf_fd = (uint32_t)prog_fd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI; /* ancestors' programs still apply */
  if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) {
    int e = errno;
    return cf_err(err, e, "device program: BPF_PROG_ATTACH to the cgroup%s",
                  e == EBADF ? " (is the fd a cgroup v2 directory?)" : kernel_hint(e));
  }
  /* the attachment holds the program: prog_fd closes here */
  return 0;
}
