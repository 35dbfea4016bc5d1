#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/id.h"

#define CONFIG_MAX_BYTES (64 * 1024)

static int set_str(char **dst, const char *v, cf_error *err) {
  char *s = strdup(v);
  if (!s)
    return cf_err(err, ENOMEM, "config");
  free(*dst);
  *dst = s;
  return 0;
}

void shim_config_free(shim_config *c) {
  char **strs[] = {&c->source, &c->backend, &c->kernel, &c->initrd, &c->firmware,
                   &c->kernel_params, &c->machine, &c->agent_transport,
                   &c->log_level, &c->profile, &c->agent_path, &c->state_dir,
                   &c->init_data, &c->relay_broker, &c->image_pull, &c->image_seed,
                   &c->image_seed_snapshotter};
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
    free(*strs[i]);
    *strs[i] = NULL;
  }
}

#ifndef COFFER_GUEST_DIR /* the build sets it: ${CMAKE_INSTALL_FULL_DATADIR}/coffer */
#define COFFER_GUEST_DIR "/usr/local/share/coffer"
#endif

int shim_config_defaults(shim_config *c, cf_error *err) {
  shim_config_free(c);
  memset(c, 0, sizeof(*c));
  c->vcpus = 1;
  c->memory_mib = 256;
  c->agent_timeout_ms = 30000;
  c->busy_poll_us = 50;
  if (set_str(&c->source, "(built-in defaults)", err) < 0 ||
      set_str(&c->backend, "libvirt", err) < 0 ||
      set_str(&c->kernel, COFFER_GUEST_DIR "/vmlinux", err) < 0 ||
      set_str(&c->initrd, COFFER_GUEST_DIR "/initramfs.img", err) < 0 || set_str(&c->firmware, "", err) < 0 ||
      set_str(&c->kernel_params, "", err) < 0 || set_str(&c->machine, "", err) < 0 ||
      set_str(&c->agent_transport, "auto", err) < 0 ||
      set_str(&c->log_level, "info", err) < 0 || set_str(&c->profile, "plain", err) < 0 ||
      set_str(&c->agent_path, "", err) < 0 || set_str(&c->state_dir, "/run/coffer", err) < 0 ||
      set_str(&c->init_data, "", err) < 0 || set_str(&c->relay_broker, "", err) < 0 ||
      set_str(&c->image_pull, "host", err) < 0 ||
      set_str(&c->image_seed, "", err) < 0 || set_str(&c->image_seed_snapshotter, "", err) < 0)
    return -ENOMEM;
  return 0;
}

static bool one_of(const char *v, const char *const *allowed) {
  for (; *allowed; allowed++)
    if (strcmp(v, *allowed) == 0)
      return true;
  return false;
}

static int bad(cf_error *err, const char *src, const char *key, const char *why) {
  return cf_err_status(err, CF_INVALID_ARGUMENT, "config %s: key \"%s\": %s", src, key, why);
}

/* A string key, optionally restricted to an enumeration. */
static int take_str(json_object *v, const char *src, const char *key,
                    const char *const *allowed, char **dst, cf_error *err) {
  if (!json_object_is_type(v, json_type_string))
    return bad(err, src, key, "must be a string");
  const char *s = json_object_get_string(v);
  if (strlen(s) >= 4096)
    return bad(err, src, key, "too long");
  if (allowed && !one_of(s, allowed)) {
    char list[256] = "";
    for (const char *const *a = allowed; *a; a++) {
      strncat(list, *a, sizeof(list) - strlen(list) - 4);
      if (a[1])
        strncat(list, " | ", sizeof(list) - strlen(list) - 1);
    }
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "config %s: key \"%s\": \"%s\" is not one of %s", src, key, s, list);
  }
  return set_str(dst, s, err);
}

static int take_int(json_object *v, const char *src, const char *key, int64_t lo,
                    int64_t hi, int64_t *out, cf_error *err) {
  if (!json_object_is_type(v, json_type_int))
    return bad(err, src, key, "must be an integer");
  errno = 0;
  int64_t n = json_object_get_int64(v);
  if (errno || n < lo || n > hi)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "config %s: key \"%s\": must be between %lld and %lld",
                         src, key, (long long)lo, (long long)hi);
  *out = n;
  return 0;
}

static int take_bool(json_object *v, const char *src, const char *key, bool *out, cf_error *err) {
  if (!json_object_is_type(v, json_type_boolean))
    return bad(err, src, key, "must be true or false");
  *out = json_object_get_boolean(v);
  return 0;
}

static const char *const backends[] = {"libvirt", "process", NULL};
static const char *const transports[] = {"auto", "vsock", "serial", NULL};
static const char *const levels[] = {"error", "warning", "warn", "info", "debug", NULL};
static const char *const profiles[] = {"plain", "sev-snp", "tdx", NULL};
static const char *const tees[] = {"none", "snp", "tdx", NULL};
static const char *const machines[] = {"", "microvm", "q35", NULL};
static const char *const pulls[] = {"host", "guest", NULL};

static const char *profile_of_tee(const char *tee) {
  if (strcmp(tee, "snp") == 0)
    return "sev-snp";
  if (strcmp(tee, "tdx") == 0)
    return "tdx";
  return "plain";
}

static int apply_key(shim_config *c, const char *src, const char *key, json_object *v,
                     char **tee, bool *profile_set, cf_error *err) {
  int64_t n;
  if (strcmp(key, "backend") == 0)
    return take_str(v, src, key, backends, &c->backend, err);
  if (strcmp(key, "kernel") == 0)
    return take_str(v, src, key, NULL, &c->kernel, err);
  if (strcmp(key, "initrd") == 0)
    return take_str(v, src, key, NULL, &c->initrd, err);
  if (strcmp(key, "firmware") == 0)
    return take_str(v, src, key, NULL, &c->firmware, err);
  if (strcmp(key, "kernel_params") == 0)
    return take_str(v, src, key, NULL, &c->kernel_params, err);
  if (strcmp(key, "machine") == 0)
    return take_str(v, src, key, machines, &c->machine, err);
  if (strcmp(key, "agent_transport") == 0)
    return take_str(v, src, key, transports, &c->agent_transport, err);
  if (strcmp(key, "log_level") == 0)
    return take_str(v, src, key, levels, &c->log_level, err);
  if (strcmp(key, "profile") == 0) {
    *profile_set = true;
    return take_str(v, src, key, profiles, &c->profile, err);
  }
  if (strcmp(key, "tee") == 0)
    return take_str(v, src, key, tees, tee, err);
  if (strcmp(key, "agent_path") == 0)
    return take_str(v, src, key, NULL, &c->agent_path, err);
  if (strcmp(key, "relay_broker") == 0)
    return take_str(v, src, key, NULL, &c->relay_broker, err);
  if (strcmp(key, "image_pull") == 0)
    return take_str(v, src, key, pulls, &c->image_pull, err);
  if (strcmp(key, "state_dir") == 0) {
    int r = take_str(v, src, key, NULL, &c->state_dir, err);
    if (r == 0 && c->state_dir[0] != '/')
      return bad(err, src, key, "must be an absolute path");
    return r;
  }
  if (strcmp(key, "image_seed") == 0) {
    int r = take_str(v, src, key, NULL, &c->image_seed, err);
    if (r == 0 && c->image_seed[0] && c->image_seed[0] != '/')
      return bad(err, src, key, "must be an absolute path");
    return r;
  }
  if (strcmp(key, "image_seed_snapshotter") == 0) {
    int r = take_str(v, src, key, NULL, &c->image_seed_snapshotter, err);
    if (r == 0 && c->image_seed_snapshotter[0] && !cf_id_valid(c->image_seed_snapshotter))
      return bad(err, src, key, "must be a snapshotter name");
    return r;
  }
  if (strcmp(key, "init_data") == 0) {
    int r = take_str(v, src, key, NULL, &c->init_data, err);
    if (r == 0 && c->init_data[0] && c->init_data[0] != '/')
      return bad(err, src, key, "must be an absolute path");
    return r;
  }
  if (strcmp(key, "sample_attestation") == 0)
    return take_bool(v, src, key, &c->sample_attestation, err);
  if (strcmp(key, "test_hostile_init_data") == 0)
    return take_bool(v, src, key, &c->test_hostile_init_data, err);
  if (strcmp(key, "vcpus") == 0) {
    if (take_int(v, src, key, 1, 256, &n, err) < 0)
      return -EINVAL;
    c->vcpus = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "memory_mib") == 0) {
    if (take_int(v, src, key, 64, 1048576, &n, err) < 0)
      return -EINVAL;
    c->memory_mib = (uint64_t)n;
    return 0;
  }
  if (strcmp(key, "agent_timeout_ms") == 0) {
    if (take_int(v, src, key, 100, 600000, &n, err) < 0)
      return -EINVAL;
    c->agent_timeout_ms = (int)n;
    return 0;
  }
  if (strcmp(key, "busy_poll_us") == 0) {
    if (take_int(v, src, key, 0, 1000, &n, err) < 0)
      return -EINVAL;
    c->busy_poll_us = (unsigned)n;
    return 0;
  }
  return bad(err, src, key, "unknown key");
}

int shim_config_parse(shim_config *c, const char *source, const char *json, cf_error *err) {
  if (set_str(&c->source, source, err) < 0)
    return -ENOMEM;
  json_tokener *tok = json_tokener_new();
  if (!tok)
    return cf_err(err, ENOMEM, "config %s", source);
  json_object *root = json_tokener_parse_ex(tok, json, (int)strlen(json));
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t off = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!root || jerr != json_tokener_success) {
    json_object_put(root);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "config %s: invalid JSON near byte %zu: %s",
                         source, off, json_tokener_error_desc(jerr));
  }
  if (!json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "config %s: must be a JSON object", source);
  }
  char *tee = NULL;
  bool profile_set = false;
  int r = 0;
  json_object_object_foreach(root, key, val) {
    if ((r = apply_key(c, source, key, val, &tee, &profile_set, err)) < 0)
      break;
  }
  json_object_put(root);
  if (r == 0 && tee) {
    const char *p = profile_of_tee(tee);
    if (profile_set && strcmp(p, c->profile) != 0)
      r = cf_err_status(err, CF_INVALID_ARGUMENT,
                        "config %s: key \"tee\": \"%s\" contradicts \"profile\": \"%s\"",
                        source, tee, c->profile);
    else
      r = set_str(&c->profile, p, err);
  }
  free(tee);
  if (r == 0 && c->sample_attestation && strcmp(c->profile, "plain") != 0)
    r = cf_err_status(err, CF_INVALID_ARGUMENT,
                      "config %s: key \"sample_attestation\": only the plain profile may use the "
                      "sample attester (profile is \"%s\")", source, c->profile);
  return r;
}

/* The TEE profiles boot the TEE image (no shell, no runc) through OVMF/TDVF,
 * which take the kernel's bzImage: a config that picks a TEE profile but
 * names no guest image gets the installed TEE image, not the plain one. */
static int tee_image_defaults(shim_config *c, cf_error *err) {
  bool tee = !strcmp(c->profile, "sev-snp") || !strcmp(c->profile, "tdx");
  if (tee && !strcmp(c->kernel, COFFER_GUEST_DIR "/vmlinux") &&
      set_str(&c->kernel, COFFER_GUEST_DIR "/tee/vmlinuz", err) < 0)
    return -ENOMEM;
  if (tee && !strcmp(c->initrd, COFFER_GUEST_DIR "/initramfs.img") &&
      set_str(&c->initrd, COFFER_GUEST_DIR "/tee/initramfs.img", err) < 0)
    return -ENOMEM;
  return 0;
}

int shim_config_load(shim_config *c, const char *path, const char *body, cf_error *err) {
  if (shim_config_defaults(c, err) < 0)
    return -ENOMEM;
  if (!(path && *path) && body && *body)
    return shim_config_parse(c, "(inline config_body)", body, err) < 0 ? -EINVAL
                                                                       : tee_image_defaults(c, err);
  if (!(path && *path)) {
    if (access(SHIM_DEFAULT_CONFIG, F_OK) != 0)
      return 0;
    path = SHIM_DEFAULT_CONFIG;
  }
  _cleanup_free_ char *text = NULL;
  if (cf_read_file(path, CONFIG_MAX_BYTES, &text, NULL, err) < 0)
    return cf_error_prefix(err, "config");
  if (shim_config_parse(c, path, text, err) < 0)
    return -EINVAL;
  return tee_image_defaults(c, err);
}

void shim_config_vm(const shim_config *c, const char *pod_id, const char *state_dir,
                    cf_vm_config *out) {
  *out = (cf_vm_config){
      .pod_id = pod_id,
      .state_dir = state_dir,
      .agent_path = c->agent_path,
      .profile = c->profile,
      .kernel = c->kernel,
      .initrd = c->initrd,
      .firmware = c->firmware,
      .kernel_params = c->kernel_params,
      .machine = c->machine && *c->machine ? c->machine : NULL,
      .vcpus = c->vcpus,
      .memory_mib = c->memory_mib,
      .agent_timeout_ms = c->agent_timeout_ms,
      .log_level = c->log_level,
      .agent_transport = c->agent_transport,
  };
}
