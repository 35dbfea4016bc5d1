/* Decoding what containerd sends on `start`'s stdin. */
#ifndef COFFER_SHIM_STARTOPTS_H
#define COFFER_SHIM_STARTOPTS_H

#include <stddef.h>
#include <stdint.h>
#include "coffer/error.h"

/* runtimeoptions (in an Any) or 2.3+ BootstrapParams (recognised by id and
 * namespace matching the command line). Fills config path / body
 * (malloc'd, may stay NULL) and the ttrpc address when the bootstrap
 * params carry one. Empty input is fine (no options). */
int shim_parse_start_input(const uint8_t *buf, size_t len, const char *id, const char *ns,
                           char **config_path, char **config_body, char **ttrpc_address,
                           cf_error *err);

#endif
