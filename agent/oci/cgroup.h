/* liboci internal: a container's cgroup v2 directory. Paths are cgroup paths
 * ("/coffer/<pod>/<ctr>") under root (normally "/sys/fs/cgroup"; tests pass
 * another). One job per file:
 *   cgroup_setup.c      create (controllers enabled on the way), enter, destroy
 *   cgroup_resources.c  linux.resources → the interface files
 *   cgroup_procs.c      pids, signals, freeze
 *   cgroup_stats.c      usage → oci_stats
 *   cgroup_file.c       file access shared by the above */
#ifndef COFFER_OCI_CGROUP_H
#define COFFER_OCI_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "coffer/error.h"
#include "coffer/oci.h"

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
/* Stats from the cgroup v2 files (*out zeroed first; oci_stats_free). */
int oci_cgroup_stats(const oci_cgroup *cg, oci_stats *out, cf_error *err);
/* Kill what is left, wait (bounded) for it to be gone, rmdir. */
int oci_cgroup_destroy(oci_cgroup *cg, cf_error *err);
void oci_cgroup_close(oci_cgroup *cg);

#endif
