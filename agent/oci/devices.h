/* liboci internal: the device cgroup program (cgroup v2 device access is
 * eBPF). */
#ifndef COFFER_OCI_DEVICES_H
#define COFFER_OCI_DEVICES_H

#include <json-c/json.h>

#include "coffer/error.h"

/* linux.resources.devices (may be NULL) followed by the devices every
 * container may use (null, zero, full, random, urandom, tty, ptmx, every pts,
 * tun, mknod of any), compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program
 * and attached to the cgroup directory fd (the last matching rule wins).
 * A bad fd (-1) fails only after the program was compiled (fuzzing). */
int oci_devices_attach(json_object *rules, int cgroup_dirfd, cf_error *err);

#endif
