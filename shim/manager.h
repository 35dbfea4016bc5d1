/* The short-lived `start` and `delete` commands containerd runs. */
#ifndef COFFER_SHIM_MANAGER_H
#define COFFER_SHIM_MANAGER_H

#include "shim.h"

int shim_manager_start(shim_opts *o);
int shim_manager_delete(shim_opts *o);

/* bundle/coffer-pod: what delete needs to clean up after a dead daemon. */
#define SHIM_POD_FILE "coffer-pod"

#endif
