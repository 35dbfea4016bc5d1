/* What containerd hands `start` on stdin: runtime options wrapped in an Any
 * (containerd 1.x, 2.0-2.2) or BootstrapParams (2.3+). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "containerd/bootstrap/v1/bootstrap.pb-c.h"
#include "containerd/runtimeoptions/v1/api.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "startopts.h"

static int decode_options(const ProtobufCBinaryData *value, char **path, char **body) {
  Runtimeoptions__V1__Options *opt =
      runtimeoptions__v1__options__unpack(NULL, value->len, value->data);
  if (!opt)
    return -EINVAL;
  if (opt->config_path && *opt->config_path)
    *path = strdup(opt->config_path);
  if (opt->config_body && *opt->config_body)
    *body = strdup(opt->config_body);
  runtimeoptions__v1__options__free_unpacked(opt, NULL);
  return 0;
}

static bool is_options_url(const char *url) {
  size_t n = strlen(url);
  const char *suffix = "runtimeoptions.v1.Options";
  size_t m = strlen(suffix);
  return n >= m && strcmp(url + n - m, suffix) == 0;
}

int shim_parse_start_input(const uint8_t *buf, size_t len, const char *id, const char *ns,
                           char **config_path, char **config_body, char **ttrpc_address,
                           cf_error *err) {
  if (len == 0)
    return 0;
  /* containerd 2.3+: BootstrapParams, recognised by its id and namespace
   * (legacy options also decode as it, protobuf being lenient). */
  Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp =
      containerd__runtime__bootstrap__v1__bootstrap_params__unpack(NULL, len, buf);
  if (bp && bp->instance_id && strcmp(bp->instance_id, id) == 0 && bp->namespace_ &&
      strcmp(bp->namespace_, ns) == 0) {
    if (bp->containerd_ttrpc_address && *bp->containerd_ttrpc_address)
      *ttrpc_address = strdup(bp->containerd_ttrpc_address);
    for (size_t i = 0; i < bp->n_extensions; i++) {
      Google__Protobuf__Any *a = bp->extensions[i]->value;
      if (a && a->type_url && is_options_url(a->type_url))
        decode_options(&a->value, config_path, config_body);
    }
    containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(bp, NULL);
    return 0;
  }
  if (bp)
    containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(bp, NULL);
  /* containerd 1.x / 2.0-2.2: the runtime options as an Any. */
  Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, buf);
  if (!any)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "runtime options on stdin: not a protobuf Any (%zu bytes)", len);
  int r = 0;
  if (any->type_url && is_options_url(any->type_url)) {
    if (decode_options(&any->value, config_path, config_body) < 0)
      r = cf_err_status(err, CF_INVALID_ARGUMENT,
                        "runtime options on stdin: malformed %s", any->type_url);
  }
  /* Other option types (e.g. runc's) carry nothing for us: ignored. */
  google__protobuf__any__free_unpacked(any, NULL);
  return r;
}

