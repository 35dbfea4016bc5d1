/* The short-lived `start` and `delete` commands containerd runs. */
#ifndef COFFER_SHIM_MANAGER_H
#define COFFER_SHIM_MANAGER_H

#include "shim.h"

int shim_manager_start(shim_opts *o);
int shim_manager_delete(shim_opts *o);
/* Decode containerd's stdin for start: runtimeoptions (in an Any) or 2.x
 * BootstrapParams. Fills config path / body (malloc'd, may stay NULL) and
 * the ttrpc address when the bootstrap params carry one. */
int shim_parse_start_input(const uint8_t *buf, size_t len, const shim_opts *o,
                           char **config_path, char **config_body, char **ttrpc_address,
                           cf_error *err);

/* bundle/coffer-pod: what delete needs to clean up after a dead daemon. */
#define SHIM_POD_FILE "coffer-pod"

#endif
