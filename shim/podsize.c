/* Pod sizing from the sandbox spec's annotations (see podsize.h). */
#include "podsize.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

/* The annotation's string value; NULL when absent; -EINVAL when not a string. */
static int annotation(json_object *ann, const char *key, const char **out, cf_error *err) {
  json_object *v = NULL;
  *out = NULL;
  if (!ann || !json_object_object_get_ex(ann, key, &v) || json_object_is_type(v, json_type_null))
    return 0;
  if (!json_object_is_type(v, json_type_string))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "annotation %s: not a string", key);
  *out = json_object_get_string(v);
  return 0;
}

int shim_pod_size(const shim_config *c, const char *spec, cf_pod_size *out, cf_error *err) {
  json_object *root = spec ? json_tokener_parse(spec) : NULL;
  json_object *ann = NULL;
  if (root && !(json_object_object_get_ex(root, "annotations", &ann) &&
                json_object_is_type(ann, json_type_object)))
    ann = NULL;
  cf_pod_annotations a = {0};
  int r = 0;
  if (annotation(ann, CF_ANNOT_CPU_QUOTA, &a.cpu_quota, err) < 0 ||
      annotation(ann, CF_ANNOT_CPU_PERIOD, &a.cpu_period, err) < 0 ||
      annotation(ann, CF_ANNOT_CPU_SHARES, &a.cpu_shares, err) < 0 ||
      annotation(ann, CF_ANNOT_MEMORY, &a.memory, err) < 0)
    r = -EINVAL;
  cf_pod_size_limits l = {.default_vcpus = c->vcpus, .default_memory_mib = c->memory_mib};
  if (r == 0)
    r = cf_pod_size_compute(&a, &l, out, err);
  json_object_put(root); /* a's strings point into it */
  return r;
}
