/* Guest or host image pull for a container (see image_pull.h). */
#include "image_pull.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "image_seed.h"

static void json_putp(json_object **o) { json_object_put(*o); }

/* The annotation's string, NULL when absent; -EINVAL when not a string. */
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

/* Whether the pod's io.coffer.guest-pull-images lists name. */
static int listed(const char *list, const char *name, bool *out, cf_error *err) {
  shim_image_list l = {0};
  *out = false;
  if (!list)
    return 0;
  if (shim_image_list_parse(list, &l, err) < 0)
    return -EINVAL;
  for (size_t i = 0; i < l.n && !*out; i++)
    *out = name && !strcmp(l.refs[i], name);
  return 0;
}

int shim_image_pull_ref(const shim_config *c, const char *spec, size_t len, char **ref,
                        cf_error *err) {
  *ref = NULL;
  _cleanup_(json_putp) json_object *root = NULL;
  json_tokener *tok = json_tokener_new();
  if (!tok)
    return cf_err(err, ENOMEM, "image pull");
  root = json_tokener_parse_ex(tok, spec, (int)len);
  json_tokener_free(tok);
  json_object *ann = NULL;
  if (!root || !json_object_object_get_ex(root, "annotations", &ann) ||
      !json_object_is_type(ann, json_type_object))
    ann = NULL;
  const char *ask, *type, *name, *list;
  bool in_list = false;
  if (annotation(ann, SHIM_ANNOT_IMAGE_PULL, &ask, err) < 0 ||
      annotation(ann, SHIM_ANNOT_CONTAINER_TYPE, &type, err) < 0 ||
      annotation(ann, SHIM_ANNOT_IMAGE_NAME, &name, err) < 0 ||
      annotation(ann, SHIM_GUEST_PULL_ANNOTATION, &list, err) < 0 ||
      listed(list, name, &in_list, err) < 0)
    return -EINVAL;
  bool guest = !strcmp(c->image_pull, "guest");
  if (ask && strcmp(ask, "guest")) {
    if (strcmp(ask, "host"))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "annotation %s: \"%.64s\" is not \"guest\" or \"host\"",
                           SHIM_ANNOT_IMAGE_PULL, ask);
    if (guest)
      return cf_err_status(err, CF_PERMISSION_DENIED,
                           "annotation %s=host: this runtime (config %s) pulls images in the "
                           "guest and a pod cannot ask for less",
                           SHIM_ANNOT_IMAGE_PULL, c->source);
    if (in_list)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "annotation %s=host, yet the pod's %s lists its image %.160s",
                           SHIM_ANNOT_IMAGE_PULL, SHIM_GUEST_PULL_ANNOTATION, name);
  }
  /* a listed image was only seeded on the host: its rootfs there is empty */
  guest = guest || in_list || (ask && !strcmp(ask, "guest"));
  if (!guest || (type && !strcmp(type, "sandbox")))
    return 0;
  if (!name)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "guest image pull needs the image's name (annotation %s, which "
                         "containerd's CRI sets); this container has none",
                         SHIM_ANNOT_IMAGE_NAME);
  if (!shim_image_ref_valid(name, strlen(name)))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "annotation %s: \"%.80s\" is not an image reference",
                         SHIM_ANNOT_IMAGE_NAME, name);
  if (!(*ref = strdup(name)))
    return cf_err(err, ENOMEM, "image pull");
  return 0;
}
