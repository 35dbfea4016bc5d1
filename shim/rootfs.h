/* The Create request's mounts on the bundle's rootfs. */
#ifndef COFFER_SHIM_ROOTFS_H
#define COFFER_SHIM_ROOTFS_H

#include <stddef.h>

#include "coffer/error.h"

struct Containerd__Types__Mount;
int shim_rootfs_mount(const char *target, struct Containerd__Types__Mount **mounts,
                 size_t n, cf_error *err);
int shim_rootfs_unmount(const char *target, cf_error *err);

#endif
