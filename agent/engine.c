/* Which engine runs a new container (engine.h). */

#include "engine.h"

#include <string.h>

#include "coffer/log.h"

const engine_ops *engine_choose(agent *a, const char *id, const char *config, oci_spec **spec,
                                cf_error *err) {
  *spec = NULL;
  if (!a->builtin)
    return &engine_runc;
  if (oci_spec_load(config, strlen(config), spec, err) == 0)
    return &engine_builtin;
  if (err->status != CF_UNIMPLEMENTED)
    return NULL;
  if (a->tee_mode) /* one OCI engine in a TEE: what it does not implement is refused */
    return cf_error_prefix(err, "container %s: the built-in runtime (the only one in a TEE) "
                                "does not implement it", id), NULL;
  if (!a->runtime) {
    cf_error_prefix(err, "runc is not there to run what the built-in runtime does not");
    return NULL;
  }
  cf_info("container %s: runc runs it (%s)", id, err->msg);
  cf_error_clear(err);
  return &engine_runc;
}
