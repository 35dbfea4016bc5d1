#include "address.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coffer/sha2.h"
#include "coffer/id.h"

static void sha256_hex(const char *s, size_t len, char out[65]) {
  uint8_t d[32];
  cf_sha256(s, len, d);
  cf_hex(d, sizeof(d), out);
}

void shim_path_clean(const char *in, char *out, size_t cap) {
  if (cap == 0)
    return;
  bool abs = in[0] == '/';
  size_t o = 0;
  size_t rel_floor = 0; /* leading ".." of a relative path are kept */
  if (abs && cap > 1)
    out[o++] = '/';
  const char *p = in;
  while (*p) {
    while (*p == '/')
      p++;
    const char *s = p;
    while (*p && *p != '/')
      p++;
    size_t n = (size_t)(p - s);
    if (n == 0 || (n == 1 && s[0] == '.'))
      continue;
    if (n == 2 && s[0] == '.' && s[1] == '.') {
      size_t base = abs ? 1 : 0;
      if (o > base + rel_floor) { /* drop the last element */
        while (o > base && out[o - 1] != '/')
          o--;
        if (o > base)
          o--;
        continue;
      }
      if (abs)
        continue;
      if (o > 0 && o + 1 < cap)
        out[o++] = '/';
      if (o + 2 < cap) {
        out[o++] = '.';
        out[o++] = '.';
      }
      rel_floor = o;
      continue;
    }
    if (o > (abs ? 1 : 0) && o + 1 < cap)
      out[o++] = '/';
    for (size_t i = 0; i < n && o + 1 < cap; i++)
      out[o++] = s[i];
  }
  if (o == 0 && cap > 1)
    out[o++] = '.';
  out[o] = '\0';
}

int shim_socket_address(const char *containerd_address, const char *ns,
                        const char *group_id, char *out, size_t cap, cf_error *err) {
  char joined[4096], clean[4096], hex[65];
  int n = snprintf(joined, sizeof(joined), "%s/%s/%s", containerd_address, ns, group_id);
  if (n < 0 || (size_t)n >= sizeof(joined))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "socket address: containerd address too long");
  shim_path_clean(joined, clean, sizeof(clean));
  sha256_hex(clean, strlen(clean), hex);
  n = snprintf(out, cap, "unix://%s/%s", SHIM_SOCKET_DIR, hex);
  if (n < 0 || (size_t)n >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "socket address: buffer too small");
  return 0;
}

const char *shim_address_path(const char *address) {
  if (strncmp(address, "unix://", 7) == 0)
    return address + 7;
  if (strncmp(address, "unix:", 5) == 0)
    return address + 5;
  return address;
}

int shim_group_id(const char *config_json, const char *id, char *out, size_t cap,
                  cf_error *err) {
  const char *group = id;
  json_object *root = config_json ? json_tokener_parse(config_json) : NULL;
  json_object *ann = NULL, *v = NULL;
  if (root && json_object_object_get_ex(root, "annotations", &ann) &&
      json_object_is_type(ann, json_type_object)) {
    json_object *type = NULL;
    const char *ctype = NULL;
    if (json_object_object_get_ex(ann, "io.kubernetes.cri.container-type", &type) &&
        json_object_is_type(type, json_type_string))
      ctype = json_object_get_string(type);
    if (!(ctype && strcmp(ctype, "sandbox") == 0) &&
        json_object_object_get_ex(ann, "io.kubernetes.cri.sandbox-id", &v) &&
        json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
      group = json_object_get_string(v);
  }
  int r = 0;
  if (!cf_id_valid(group))
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "invalid pod id \"%.*s\"", 140, group);
  else if ((size_t)snprintf(out, cap, "%s", group) >= cap)
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "pod id too long");
  json_object_put(root);
  return r;
}

int shim_pod_dir(const char *state_root, const char *ns, const char *group_id,
                 char *out, size_t cap, cf_error *err) {
  if (!cf_id_valid(ns))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "invalid namespace \"%.*s\"", 140, ns);
  int n = snprintf(out, cap, "%s/%s/%s", state_root, ns, group_id);
  if (n < 0 || (size_t)n >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "state directory %s/%s/%s is too long",
                         state_root, ns, group_id);
  return 0;
}

int shim_sock_dir(const char *pod_dir, char *out, size_t cap, cf_error *err) {
  char hex[65];
  sha256_hex(pod_dir, strlen(pod_dir), hex);
  if ((size_t)snprintf(out, cap, SHIM_SOCK_ROOT "/%.32s", hex) >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "socket directory: buffer too small");
  return 0;
}

void shim_sock_dir_remove(const char *sock_dir) {
  if (!sock_dir || !*sock_dir)
    return;
  DIR *d = opendir(sock_dir);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      (void)unlinkat(dirfd(d), e->d_name, 0);
  if (d)
    closedir(d);
  (void)rmdir(sock_dir);
}

void shim_pod_dir_remove(const char *pod_dir) {
  char ns_dir[PATH_MAX];
  if (!pod_dir || !*pod_dir || (size_t)snprintf(ns_dir, sizeof(ns_dir), "%s", pod_dir) >= sizeof(ns_dir))
    return;
  if (rmdir(pod_dir) < 0 && errno != ENOENT)
    return; /* not empty: a backend left something (it logged why) */
  char *slash = strrchr(ns_dir, '/');
  if (!slash || slash == ns_dir)
    return;
  *slash = '\0';
  (void)rmdir(ns_dir); /* ENOTEMPTY: other pods of the namespace live on */
}
