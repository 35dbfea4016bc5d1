#ifndef COFFER_POLICY_EXPLAIN_H
#define COFFER_POLICY_EXPLAIN_H

#include "coffer/error.h"

/* Prints the verdict; returns 0 allowed, 1 denied, < 0 error (err set). */
int explain(const char *policy_path, const char *request_path, cf_error *err);

#endif
