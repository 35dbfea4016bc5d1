/* YAML (libyaml) to json-c: a Kubernetes manifest as the JSON tree the API
 * server would store. */
#ifndef COFFER_POLICY_YAML_JSON_H
#define COFFER_POLICY_YAML_JSON_H

#include <json-c/json.h>

#include "coffer/error.h"

/* The documents of a YAML stream (a JSON array, one element per document;
 * empty documents are left out). Errors name the line and column. */
json_object *yaml_to_json(const char *path, cf_error *err);

#endif
