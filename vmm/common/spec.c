#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/id.h"

#define SPEC_MAX_BYTES (1 << 20)

/* Every string field, by JSON key, so parse/write/free/init share one list. */
#define SPEC_STRINGS(X)                                                        \
  X(pod_id) X(profile) X(machine) X(accel) X(emulator) X(kernel) X(initrd)     \
  X(firmware) X(cmdline) X(state_dir) X(console_log) X(agent_socket)           \
  X(relay_socket)                                                              \
  X(share_dir) X(virtiofsd) X(init_data_path) X(init_data_sha256)             \
  X(init_data_sha384)                                                          \
  X(snp_policy) X(tdx_policy) X(tdx_qgs_socket)

bool vm_spec_is_tee(const vm_spec *s) {
  return s->profile && (!strcmp(s->profile, "sev-snp") || !strcmp(s->profile, "tdx"));
}

void vm_spec_init(vm_spec *s) {
  memset(s, 0, sizeof(*s));
#define X(f) s->f = strdup("");
  SPEC_STRINGS(X)
#undef X
  s->vsock_cid = -1;
  s->vcpus = 1;
  s->memory_mib = 256;
  s->tcg_cache_mib = VM_TCG_CACHE_MIB;
  s->snp_cbitpos = 51;
  s->snp_reduced_phys_bits = 1;
}

void vm_spec_free(vm_spec *s) {
#define X(f) free(s->f);
  SPEC_STRINGS(X)
#undef X
  for (unsigned i = 0; i < s->ndisks; i++) {
    free(s->disks[i].path);
    free(s->disks[i].serial);
  }
  memset(s, 0, sizeof(*s));
}

int vm_spec_kernel_cmdline(const char *log_level, const char *kernel_params, char *buf, size_t cap,
                        cf_error *err) {
  bool level = log_level && *log_level, extra = kernel_params && *kernel_params;
  int n = snprintf(buf, cap, "console=ttyS0 quiet panic=-1%s%s%s%s", level ? " coffer.log=" : "",
                   level ? log_level : "", extra ? " " : "", extra ? kernel_params : "");
  if (n < 0 || (size_t)n >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "kernel command line longer than %zu bytes", cap - 1);
  return 0;
}

int vm_spec_domain_name(const char *pod_id, char *buf, size_t cap, cf_error *err) {
  if (!pod_id || !cf_id_valid(pod_id))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "pod id \"%.80s\" is not a valid id (a letter or digit, then [A-Za-z0-9_.-], 1..128 chars)",
                         pod_id ? pod_id : "(null)");
  if ((size_t)snprintf(buf, cap, "coffer-%s", pod_id) >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "pod id \"%s\" too long", pod_id);
  return 0;
}

static bool is_hex_len(const char *s, size_t n) {
  if (strlen(s) != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
          (s[i] >= 'A' && s[i] <= 'F')))
      return false;
  return true;
}

static bool is_hexuint(const char *s) {
  if (strncmp(s, "0x", 2) != 0 || !s[2] || strlen(s) > 18)
    return false;
  return is_hex_len(s + 2, strlen(s + 2));
}

static int need_abs(const char *what, const char *v, cf_error *err) {
  if (v[0] != '/')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: %s \"%s\" must be an absolute path",
                         what, v);
  return 0;
}

int vm_spec_validate(const vm_spec *s, cf_error *err) {
  char name[160];
  if (vm_spec_domain_name(s->pod_id, name, sizeof(name), err) < 0)
    return cf_error_prefix(err, "spec");
  bool tee = vm_spec_is_tee(s);
  if (!tee && strcmp(s->profile, "plain") != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "spec: profile \"%s\" unknown (plain, sev-snp, tdx)", s->profile);
  if (strcmp(s->machine, "microvm") != 0 && strcmp(s->machine, "q35") != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: machine \"%s\" unknown (microvm, q35)",
                         s->machine);
  if (tee && strcmp(s->machine, "q35") != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: profile %s needs machine q35",
                         s->profile);
  if (strcmp(s->accel, "kvm") && strcmp(s->accel, "tcg") && strcmp(s->accel, "auto"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: accel \"%s\" unknown (kvm, tcg, auto)",
                         s->accel);
  if (tee && !strcmp(s->accel, "tcg"))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "spec: profile %s needs KVM (a TEE cannot run under TCG)", s->profile);
  if (s->vcpus < 1 || s->vcpus > 512)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: vcpus %u out of range 1..512", s->vcpus);
  if (s->memory_mib < 64 || s->memory_mib > (1u << 22))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: memory_mib %llu out of range",
                         (unsigned long long)s->memory_mib);
  int r;
  if ((r = need_abs("kernel", s->kernel, err)) < 0 || (r = need_abs("state_dir", s->state_dir, err)) < 0 ||
      (r = need_abs("console_log", s->console_log, err)) < 0)
    return r;
  if (s->initrd[0] && (r = need_abs("initrd", s->initrd, err)) < 0)
    return r;
  if (s->agent_socket[0] && (r = need_abs("agent_socket", s->agent_socket, err)) < 0)
    return r;
  if (s->relay_socket[0] && (r = need_abs("relay_socket", s->relay_socket, err)) < 0)
    return r;
  if (!s->agent_socket[0] && s->vsock_cid < 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "spec: no agent channel (set agent_socket or vsock_cid)");
  if (s->vsock_cid > 0 && s->vsock_cid < 3)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: vsock_cid %lld is reserved (>= 3)",
                         (long long)s->vsock_cid);
  if (s->vsock_cid > 0xffffffffLL)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: vsock_cid out of range");
  if (s->share_dir[0]) {
    if (tee)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "spec: profile %s has no shared filesystem (share_dir must be empty)",
                           s->profile);
    if ((r = need_abs("share_dir", s->share_dir, err)) < 0 ||
        (r = need_abs("virtiofsd", s->virtiofsd, err)) < 0)
      return r;
  }
  for (unsigned i = 0; i < s->ndisks; i++) {
    if ((r = need_abs("disk path", s->disks[i].path, err)) < 0)
      return r;
    /* virtio-blk serials are at most 20 bytes */
    if (!cf_id_valid(s->disks[i].serial) || strlen(s->disks[i].serial) > 20)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "spec: disk serial \"%s\" invalid (a letter or digit, then [A-Za-z0-9_.-], <= 20 chars)",
                           s->disks[i].serial);
  }
  if ((r = vm_spec_validate_nics(s, err)) < 0)
    return r;
  if (s->init_data_path[0] && (r = need_abs("init_data_path", s->init_data_path, err)) < 0)
    return r;
  if (s->init_data_path[0] && (s->init_data_sha256[0] || s->init_data_sha384[0]))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "spec: give init_data_path or the init-data digests, not both");
  if (s->init_data_sha256[0] && !is_hex_len(s->init_data_sha256, 64))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: init_data_sha256 is not 64 hex digits");
  if (s->init_data_sha384[0] && !is_hex_len(s->init_data_sha384, 96))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: init_data_sha384 is not 96 hex digits");
  if (!strcmp(s->profile, "sev-snp")) {
    if (!s->firmware[0] || (r = need_abs("firmware", s->firmware, err)) < 0)
      return s->firmware[0] ? r
                            : cf_err_status(err, CF_INVALID_ARGUMENT,
                                            "spec: profile sev-snp needs firmware (OVMF AMDSEV)");
    if (!is_hexuint(s->snp_policy))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: snp_policy \"%s\" is not 0x<hex>",
                           s->snp_policy);
  }
  if (!strcmp(s->profile, "tdx")) {
    if (!s->firmware[0] || (r = need_abs("firmware", s->firmware, err)) < 0)
      return s->firmware[0] ? r
                            : cf_err_status(err, CF_INVALID_ARGUMENT,
                                            "spec: profile tdx needs firmware (TDVF)");
    if (!is_hexuint(s->tdx_policy))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: tdx_policy \"%s\" is not 0x<hex>",
                           s->tdx_policy);
    if (s->tdx_qgs_socket[0] && (r = need_abs("tdx_qgs_socket", s->tdx_qgs_socket, err)) < 0)
      return r;
  }
  return 0;
}

static void json_put_free(json_object *o) { json_object_put(o); }
static void json_putp(json_object **o) { if (*o) json_put_free(*o); }
#define _cleanup_json_ _cleanup_(json_putp)

static int get_string(json_object *v, const char *key, char **dst, cf_error *err) {
  if (!json_object_is_type(v, json_type_string))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: \"%s\" must be a string", key);
  char *d = strdup(json_object_get_string(v));
  if (!d)
    return cf_err(err, ENOMEM, "spec: %s", key);
  free(*dst);
  *dst = d;
  return 0;
}

static int get_uint(json_object *v, const char *key, int64_t lo, int64_t hi, int64_t *dst,
                    cf_error *err) {
  if (!json_object_is_type(v, json_type_int))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: \"%s\" must be an integer", key);
  errno = 0;
  int64_t x = json_object_get_int64(v);
  if (errno || x < lo || x > hi)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: \"%s\" out of range %lld..%lld", key,
                         (long long)lo, (long long)hi);
  *dst = x;
  return 0;
}

static int parse_disks(vm_spec *s, json_object *arr, cf_error *err) {
  if (!json_object_is_type(arr, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: \"disks\" must be an array");
  size_t n = json_object_array_length(arr);
  if (n > SPEC_MAX_DISKS)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: more than %d disks", SPEC_MAX_DISKS);
  for (size_t i = 0; i < n; i++) {
    json_object *d = json_object_array_get_idx(arr, i);
    if (!json_object_is_type(d, json_type_object))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: disks[%zu] must be an object", i);
    vm_disk *k = &s->disks[s->ndisks++];
    k->path = strdup("");
    k->serial = strdup("");
    if (!k->path || !k->serial)
      return cf_err(err, ENOMEM, "spec: disks");
    json_object_object_foreach(d, key, v) {
      int r = 0;
      if (!strcmp(key, "path"))
        r = get_string(v, "disks[].path", &k->path, err);
      else if (!strcmp(key, "serial"))
        r = get_string(v, "disks[].serial", &k->serial, err);
      else if (!strcmp(key, "readonly")) {
        if (!json_object_is_type(v, json_type_boolean))
          return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: disks[].readonly must be a boolean");
        k->readonly = json_object_get_boolean(v);
      } else
        return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: unknown key disks[].%s", key);
      if (r < 0)
        return r;
    }
  }
  return 0;
}

int vm_spec_parse_json(vm_spec *s, const char *json, cf_error *err) {
  if (strlen(json) > SPEC_MAX_BYTES)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: larger than %d bytes", SPEC_MAX_BYTES);
  enum json_tokener_error jerr;
  _cleanup_json_ json_object *root = json_tokener_parse_verbose(json, &jerr);
  if (!root)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: invalid JSON: %s",
                         json_tokener_error_desc(jerr));
  if (!json_object_is_type(root, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: top level must be an object");
  json_object_object_foreach(root, key, v) {
    int r = -1;
    int64_t x;
#define X(f)                                    \
    if (r < 0 && !strcmp(key, #f)) {            \
      if (get_string(v, key, &s->f, err) < 0)   \
        return -EINVAL;                         \
      r = 0;                                    \
    }
    SPEC_STRINGS(X)
#undef X
    if (r == 0)
      continue;
    if (!strcmp(key, "vcpus")) {
      if (get_uint(v, key, 1, 512, &x, err) < 0)
        return -EINVAL;
      s->vcpus = (unsigned)x;
    } else if (!strcmp(key, "memory_mib")) {
      if (get_uint(v, key, 64, 1 << 22, &x, err) < 0)
        return -EINVAL;
      s->memory_mib = (uint64_t)x;
    } else if (!strcmp(key, "tcg_cache_mib")) {
      if (get_uint(v, key, 8, 4096, &x, err) < 0)
        return -EINVAL;
      s->tcg_cache_mib = (unsigned)x;
    } else if (!strcmp(key, "vsock_cid")) {
      if (get_uint(v, key, -1, 0xffffffffLL, &x, err) < 0)
        return -EINVAL;
      s->vsock_cid = x;
    } else if (!strcmp(key, "snp_cbitpos")) {
      if (get_uint(v, key, 0, 63, &x, err) < 0)
        return -EINVAL;
      s->snp_cbitpos = (unsigned)x;
    } else if (!strcmp(key, "snp_reduced_phys_bits")) {
      if (get_uint(v, key, 0, 63, &x, err) < 0)
        return -EINVAL;
      s->snp_reduced_phys_bits = (unsigned)x;
    } else if (!strcmp(key, "disks")) {
      if (parse_disks(s, v, err) < 0)
        return -EINVAL;
    } else if (!strcmp(key, "nics")) {
      if (vm_spec_parse_nics(s, v, err) < 0)
        return -EINVAL;
    } else {
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: unknown key \"%s\"", key);
    }
  }
  return 0;
}

int vm_spec_read_file(vm_spec *s, const char *path, cf_error *err) {
  _cleanup_free_ char *buf = NULL;
  size_t n;
  if (cf_read_file(path, SPEC_MAX_BYTES, &buf, &n, err) < 0)
    return cf_error_prefix(err, "spec");
  if (memchr(buf, 0, n))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec %s contains NUL bytes", path);
  int r = vm_spec_parse_json(s, buf, err);
  if (r < 0)
    return cf_error_prefix(err, "%s", path);
  return 0;
}

char *vm_spec_to_json(const vm_spec *s, cf_error *err) {
  _cleanup_json_ json_object *o = json_object_new_object();
  if (!o) {
    cf_err(err, ENOMEM, "spec to JSON");
    return NULL;
  }
#define X(f) json_object_object_add(o, #f, json_object_new_string(s->f ? s->f : ""));
  SPEC_STRINGS(X)
#undef X
  json_object_object_add(o, "vcpus", json_object_new_int64(s->vcpus));
  json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)s->memory_mib));
  json_object_object_add(o, "tcg_cache_mib", json_object_new_int64(s->tcg_cache_mib));
  json_object_object_add(o, "vsock_cid", json_object_new_int64(s->vsock_cid));
  json_object_object_add(o, "snp_cbitpos", json_object_new_int64(s->snp_cbitpos));
  json_object_object_add(o, "snp_reduced_phys_bits", json_object_new_int64(s->snp_reduced_phys_bits));
  json_object *arr = json_object_new_array();
  for (unsigned i = 0; i < s->ndisks; i++) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "path", json_object_new_string(s->disks[i].path));
    json_object_object_add(d, "serial", json_object_new_string(s->disks[i].serial));
    json_object_object_add(d, "readonly", json_object_new_boolean(s->disks[i].readonly));
    json_object_array_add(arr, d);
  }
  json_object_object_add(o, "disks", arr);
  vm_spec_nics_to_json(s, o);
  const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  char *out = txt ? strdup(txt) : NULL;
  if (!out)
    cf_err(err, ENOMEM, "spec to JSON");
  return out;
}

int vm_spec_write_file(const vm_spec *s, const char *path, cf_error *err) {
  _cleanup_free_ char *txt = vm_spec_to_json(s, err);
  if (!txt)
    return -ENOMEM;
  return cf_write_file_atomic(path, txt, strlen(txt), 0600, 0, err);
}
