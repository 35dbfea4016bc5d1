/* The VM spec's NICs ("nics": [{"tap","mac","mtu"}]): taps coffer made. */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "spec.h"

static bool mac_valid(const char *m) {
  if (strlen(m) != 17)
    return false;
  for (int i = 0; i < 17; i++)
    if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
      return false;
  return true;
}

static bool ifname_valid(const char *n) {
  size_t len = strlen(n);
  if (len == 0 || len > 15)
    return false;
  for (; *n; n++)
    if (!isalnum((unsigned char)*n) && *n != '_' && *n != '-' && *n != '.')
      return false;
  return true;
}

int vm_spec_validate_nics(const vm_spec *s, cf_error *err) {
  for (unsigned i = 0; i < s->nnics; i++) {
    const vm_nic *n = &s->nics[i];
    if (!ifname_valid(n->tap))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "spec: nics[%u].tap \"%s\" is not an interface name (1..15 of [A-Za-z0-9_.-])",
                           i, n->tap);
    if (!mac_valid(n->mac))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: nics[%u].mac \"%s\" is not aa:bb:cc:dd:ee:ff",
                           i, n->mac);
    /* 68: the IPv4 minimum; 65521: the largest a tap takes */
    if (n->mtu && (n->mtu < 68 || n->mtu > 65521))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: nics[%u].mtu %u out of range 68..65521", i,
                           n->mtu);
  }
  return 0;
}

static int copy_str(json_object *v, const char *key, char *dst, size_t cap, cf_error *err) {
  if (!json_object_is_type(v, json_type_string))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: nics[].%s must be a string", key);
  if ((size_t)snprintf(dst, cap, "%s", json_object_get_string(v)) >= cap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: nics[].%s too long", key);
  return 0;
}

int vm_spec_parse_nics(vm_spec *s, json_object *arr, cf_error *err) {
  if (!json_object_is_type(arr, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: \"nics\" must be an array");
  size_t n = json_object_array_length(arr);
  if (n > SPEC_MAX_NICS)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: more than %d nics", SPEC_MAX_NICS);
  s->nnics = 0;
  for (size_t i = 0; i < n; i++) {
    json_object *d = json_object_array_get_idx(arr, i);
    if (!json_object_is_type(d, json_type_object))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: nics[%zu] must be an object", i);
    vm_nic *k = &s->nics[s->nnics++];
    memset(k, 0, sizeof(*k));
    json_object_object_foreach(d, key, v) {
      int r = 0;
      if (!strcmp(key, "tap"))
        r = copy_str(v, key, k->tap, sizeof(k->tap), err);
      else if (!strcmp(key, "mac"))
        r = copy_str(v, key, k->mac, sizeof(k->mac), err);
      else if (!strcmp(key, "mtu")) {
        errno = 0;
        int64_t x = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || errno || x < 0 || x > 65535)
          return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: nics[].mtu must be an integer 0..65535");
        k->mtu = (unsigned)x;
      } else
        return cf_err_status(err, CF_INVALID_ARGUMENT, "spec: unknown key nics[].%s", key);
      if (r < 0)
        return r;
    }
  }
  return 0;
}

void vm_spec_nics_to_json(const vm_spec *s, json_object *o) {
  if (s->nnics == 0)
    return; /* specs without NICs keep their earlier form */
  json_object *arr = json_object_new_array();
  for (unsigned i = 0; i < s->nnics; i++) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "tap", json_object_new_string(s->nics[i].tap));
    json_object_object_add(d, "mac", json_object_new_string(s->nics[i].mac));
    json_object_object_add(d, "mtu", json_object_new_int64(s->nics[i].mtu));
    json_object_array_add(arr, d);
  }
  json_object_object_add(o, "nics", arr);
}
