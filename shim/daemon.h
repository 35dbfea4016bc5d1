/* The shim daemon: one per pod, serving containerd's Task API. */
#ifndef COFFER_SHIM_DAEMON_H
#define COFFER_SHIM_DAEMON_H

#include "shim.h"

int shim_daemon_main(shim_opts *o);

#endif
