/* containerd's Task API handlers. */
#ifndef COFFER_SHIM_SERVICE_H
#define COFFER_SHIM_SERVICE_H

#include "coffer/error.h"

typedef struct shim shim;

int shim_service_register(shim *s, cf_error *err);

#endif
