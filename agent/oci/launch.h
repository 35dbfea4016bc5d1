/* The built-in runtime's container lifecycle (launch.c) and the child-side
 * steps it runs (mounts.c, process.c). */
#ifndef COFFER_AGENT_OCI_LAUNCH_H
#define COFFER_AGENT_OCI_LAUNCH_H

#include "oci.h"
#include "spec.h"

/* One container run by the built-in runtime. */
typedef struct oci_container {
  oci_cgroup cg;
  oci_seccomp *seccomp;  /* the container's filter, also applied to execs */
  pid_t pid;             /* its init, 0 before create */
  int sync_fd;           /* to the init while it waits for start, else -1 */
  bool has_caps;         /* the init's capability sets: an exec without */
  uint64_t caps[OCI_CAP_N];
} oci_container;

/* Where a new process's stdio goes: fds (-1 = /dev/null), or a terminal
 * made inside the container whose master comes back in *pty_master. */
typedef struct oci_stdio {
  int in, out, err;
  bool terminal;
  int *pty_master;
} oci_stdio;

typedef struct oci_options {
  const char *cgroup_root;   /* "/sys/fs/cgroup" */
  const char *cgroup_path;   /* the container's cgroup, e.g. /coffer/<pod>/<id> */
  int cgroup_version;
  bool no_pivot;             /* / is the initramfs: move and chroot */
  bool pod_netns;            /* the network namespace is the pod's (a VM) */
  int timeout_ms;
} oci_options;

/* Runs the spec's init up to the point of exec, and leaves it waiting for
 * oci_start. The spec (oci_spec_parse) stays the caller's. */
int oci_create(oci_container *ct, const char *id, oci_spec *s, const oci_options *o,
               const oci_stdio *io, cf_error *err);
/* Lets the init exec its program; returns once it did (or failed to). */
int oci_start(oci_container *ct, const char *id, int timeout_ms, cf_error *err);
/* A new process in the running container (process: the OCI "process"). */
int oci_exec(oci_container *ct, const char *id, const char *process, size_t len,
             const oci_stdio *io, int timeout_ms, pid_t *pid, cf_error *err);
/* Kills what is left and removes the cgroup; frees the state. */
int oci_delete(oci_container *ct, const char *id, cf_error *err);

/* mounts.c: in the container's init, in its new mount namespace. */
int oci_rootfs_setup(const oci_spec *s, const oci_options *o, cf_error *err);

/* process.c: in the container's process, after its root is in place. */
int oci_find_executable(const oci_process *p, char *buf, size_t cap, cf_error *err);
int oci_process_prepare(const oci_process *p, cf_error *err);   /* oom, rlimits, cwd */
int oci_process_identity(const oci_process *p, cf_error *err);  /* bounding, groups, ids */
int oci_process_caps(const oci_process *p, cf_error *err);      /* capsets, no_new_privs */

#endif
