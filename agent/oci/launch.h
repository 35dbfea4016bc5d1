/* liboci internal: a container's state, and the steps its child processes
 * run (mounts.c, process.c) for the lifecycle in launch.c (coffer/oci.h). */
#ifndef COFFER_OCI_LAUNCH_H
#define COFFER_OCI_LAUNCH_H

#include "coffer/oci.h"
#include "cgroup.h"
#include "seccomp_filter.h"
#include "spec.h"

/* One container run by the library. */
struct oci_container {
  oci_cgroup cg;
  oci_seccomp *seccomp;  /* the container's filter, also applied to execs */
  pid_t pid;             /* its init, 0 before create */
  int sync_fd;           /* to the init while it waits for start, else -1 */
  bool has_caps;         /* the init's capability sets: an exec without */
  uint64_t caps[OCI_CAP_N];
};

/* oci_create, oci_start, oci_exec, oci_delete: coffer/oci.h. */

/* mounts.c: in the container's init, in its new mount namespace. */
int oci_rootfs_setup(const oci_spec *s, const oci_options *o, cf_error *err);

/* process.c: in the container's process, after its root is in place. */
int oci_find_executable(const oci_process *p, char *buf, size_t cap, cf_error *err);
int oci_process_prepare(const oci_process *p, cf_error *err);   /* oom, rlimits, cwd */
int oci_process_identity(const oci_process *p, cf_error *err);  /* bounding, groups, ids */
int oci_process_caps(const oci_process *p, cf_error *err);      /* capsets, no_new_privs */

#endif
