/* JSON rendering of verification results for coffer-attest. */
#ifndef COFFER_ATTEST_CLI_JSON_H
#define COFFER_ATTEST_CLI_JSON_H

#include <json-c/json.h>

#include "coffer/attest.h"

json_object *cf_json_snp_result(const cf_snp_result *res);
json_object *cf_json_tdx_result(const cf_tdx_result *res);
json_object *cf_json_checks(const cf_checks *c);

#endif
