/* The agent's built-in OCI runtime: runs a container from its OCI spec
 * without an external runtime binary. Under TCG a Go runtime (runc) costs
 * ~1.5 s per container start; this path costs a fork and the syscalls the
 * spec asks for. Pieces, one job per file:
 *   launch.c   create (namespaces, the container's init waiting for start),
 *              start, exec (joining a running container)
 *   mounts.c   rootfs, spec mounts, /dev, masked/readonly paths, pivot_root
 *   process.c  user, groups, capabilities, rlimits, no_new_privs, exec
 *   cgroup.c   cgroup v2: create, resources, stats, freeze, kill, remove
 *   devices.c  the device cgroup program (cgroup v2 device access is eBPF)
 *   seccomp.c  linux.seccomp → a seccomp filter (libseccomp)
 * Anything a spec asks that is not implemented here is refused at create
 * time with its name (oci_unsupported), so the caller can use runc. */
#ifndef COFFER_AGENT_OCI_H
#define COFFER_AGENT_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "coffer/error.h"
#include "agent.pb-c.h"

/* ------------------------------------------------------------- cgroup.c
 * Paths are cgroup paths ("/coffer/<pod>/<ctr>") under root (normally
 * "/sys/fs/cgroup", a cgroup v2 mount; tests pass another). */
typedef struct oci_cgroup {
  char *root;            /* mount point of the v2 hierarchy */
  char *path;            /* cgroup path, starts with '/' */
  int dirfd;             /* O_RDONLY|O_DIRECTORY of root+path (BPF attach needs
                            more than O_PATH), -1 when closed */
} oci_cgroup;

/* Errors: CF_INVALID_ARGUMENT for a malformed field, CF_UNIMPLEMENTED for
 * what cgroup v2 cannot do (naming it). A failed create leaves cg closed and
 * removes only a leaf it made itself.
 * mkdir -p root+path, enabling in each ancestor's cgroup.subtree_control the
 * controllers the parent offers (cpu cpuset io memory pids hugetlb), then
 * applies linux.resources (may be NULL). */
int oci_cgroup_create(oci_cgroup *cg, const char *root, const char *path,
                      json_object *resources, cf_error *err);
/* Enables in dir's cgroup.subtree_control the controllers containers use
 * (cpu cpuset io memory pids hugetlb) that dir offers and has off. */
int oci_cgroup_enable_controllers(const char *dir, cf_error *err);
/* Writes linux.resources (the same JSON object shape as the spec's
 * linux.resources) to the cgroup's files. Fields not given are left as they
 * are. An unknown or unsupported field is an error naming it. */
int oci_cgroup_apply(const oci_cgroup *cg, json_object *resources, cf_error *err);
/* Moves pid into the cgroup (cgroup.procs). */
int oci_cgroup_enter(const oci_cgroup *cg, pid_t pid, cf_error *err);
/* Freeze (true) / thaw (false); waits (bounded) until cgroup.events says so. */
int oci_cgroup_freeze(const oci_cgroup *cg, bool frozen, cf_error *err);
/* Signal every process in the cgroup (SIGKILL: cgroup.kill when present). */
int oci_cgroup_signal_all(const oci_cgroup *cg, int sig, cf_error *err);
/* The pids in the cgroup (malloc'd array). */
int oci_cgroup_pids(const oci_cgroup *cg, pid_t **pids, size_t *n, cf_error *err);
/* Stats from the cgroup v2 files, in the shape `runc events --stats` gives
 * for v2 (cgroup_version = 2). Free with stats_free() (agent.h). */
int oci_cgroup_stats(const oci_cgroup *cg, Coffer__Agent__V1__StatsContainerResponse **out,
                     cf_error *err);
/* Kill what is left, wait (bounded) for it to be gone, rmdir. */
int oci_cgroup_destroy(oci_cgroup *cg, cf_error *err);
void oci_cgroup_close(oci_cgroup *cg);

/* ------------------------------------------------------------ devices.c
 * linux.resources.devices (may be NULL) followed by the devices every
 * container may use (null, zero, full, random, urandom, tty, ptmx, every pts,
 * tun, mknod of any), compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program
 * and attached to the cgroup directory fd (the last matching rule wins). */
int oci_devices_attach(json_object *rules, int cgroup_dirfd, cf_error *err);

/* ------------------------------------------------------------ seccomp.c */
typedef struct oci_seccomp oci_seccomp;
/* Builds the filter of linux.seccomp; *out NULL when seccomp is NULL. */
int oci_seccomp_build(json_object *seccomp, oci_seccomp **out, cf_error *err);
/* Loads it into the calling process. With no_new_privs, the last step
 * before execve; without, seccomp(2) needs CAP_SYS_ADMIN, so before the
 * user and capabilities change (the profile must then allow those calls).
 * NULL: nothing to load. */
int oci_seccomp_load(oci_seccomp *s, cf_error *err);
void oci_seccomp_free(oci_seccomp *s);

#endif
