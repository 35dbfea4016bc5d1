/* liboci: coffer's built-in OCI runtime, a library of its own (the agent is
 * one user). It runs a container from its OCI spec (config.json) on cgroup
 * v2 without an external runtime binary: under TCG a Go runtime (runc)
 * costs ~1.5 s per container start, this costs a clone and the system calls
 * the spec asks for.
 *
 * This header is the library's one door: it knows nothing of the agent or
 * its wire format. Errors fill a cf_error (coffer/error.h): a malformed
 * spec field is CF_INVALID_ARGUMENT naming it; a field the library does not
 * implement is CF_UNIMPLEMENTED naming it, so a caller can hand the
 * container to another runtime. */
#ifndef COFFER_OCI_H
#define COFFER_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "coffer/error.h"

/* ------------------------------------------------------------------ spec */

typedef struct oci_spec oci_spec;

/* Parses and checks config.json text (all of it, before anything runs). */
int oci_spec_load(const char *json, size_t len, oci_spec **out, cf_error *err);
void oci_spec_unload(oci_spec *s);

/* ------------------------------------------------------------- container */

typedef struct oci_container oci_container;

/* Where a new process's stdio goes: fds (-1 = /dev/null), or a terminal
 * made inside the container whose master comes back in *pty_master. */
typedef struct oci_stdio {
  int in, out, err;
  bool terminal;
  int *pty_master;
} oci_stdio;

typedef struct oci_options {
  const char *cgroup_root;   /* "/sys/fs/cgroup", a cgroup v2 mount */
  const char *cgroup_path;   /* the container's cgroup, e.g. /coffer/<pod>/<id> */
  bool no_pivot;             /* / is the initramfs: move and chroot */
  bool pod_netns;            /* the network namespace is the pod's (a VM) */
  int timeout_ms;            /* bound on each step's wait for the child; 0: 30 s */
} oci_options;

/* Called around each clone()/fork() of a runtime child (NULL: none): in a
 * process with threads, enter() returns once no other thread holds a lock
 * of the C library the child would inherit held (a raw clone gets none of
 * fork()'s care); leave() ends that. */
void oci_set_fork_guard(void (*enter)(void), void (*leave)(void));

/* Runs the spec's init up to the point of exec and leaves it waiting for
 * oci_start. The spec stays the caller's. */
int oci_create(const char *id, oci_spec *s, const oci_options *o, const oci_stdio *io,
               oci_container **out, cf_error *err);
pid_t oci_container_pid(const oci_container *ct);
/* Lets the init exec its program; returns once it did (or failed to). */
int oci_start(oci_container *ct, const char *id, int timeout_ms, cf_error *err);
/* A new process in the running container (process: the OCI "process" JSON). */
int oci_exec(oci_container *ct, const char *id, const char *process, size_t len,
             const oci_stdio *io, int timeout_ms, pid_t *pid, cf_error *err);
/* Freeze (true) / thaw (false) the container's cgroup; waits (bounded). */
int oci_pause(oci_container *ct, bool frozen, cf_error *err);
/* Signal every process in the container's cgroup (SIGKILL: cgroup.kill). */
int oci_kill_all(oci_container *ct, int sig, cf_error *err);
/* The pids in the container's cgroup and below (malloc'd array). */
int oci_pids(oci_container *ct, pid_t **pids, size_t *n, cf_error *err);
/* Writes resources (the spec's linux.resources shape) to the cgroup. */
int oci_update(oci_container *ct, json_object *resources, cf_error *err);
/* Kills what is left, removes the cgroup and frees ct (NULL: nothing). */
int oci_delete(oci_container *ct, const char *id, cf_error *err);

/* ----------------------------------------------------------------- stats
 * A container's resource usage, in the shape `runc events --stats` gives
 * (runc's types.Stats), so that runc's numbers fit it too. */
typedef struct oci_mem_entry {
  uint64_t usage, max, limit, failcnt;   /* max: high-water mark */
} oci_mem_entry;

typedef struct oci_stat_kv {
  char *key;
  uint64_t value;
} oci_stat_kv;

typedef struct oci_blkio_entry {
  uint64_t major, minor;
  char op[16];                           /* "Read", "Write", ... */
  uint64_t value;
} oci_blkio_entry;

typedef struct oci_hugetlb_stats {
  char pagesize[32];
  uint64_t usage, max, failcnt;
} oci_hugetlb_stats;

typedef struct oci_net_stats {
  char name[64];
  uint64_t rx_bytes, rx_packets, rx_errors, rx_dropped;
  uint64_t tx_bytes, tx_packets, tx_errors, tx_dropped;
} oci_net_stats;

typedef struct oci_stats {
  struct {
    uint64_t total_ns, user_ns, kernel_ns;
    uint64_t *percpu_ns;
    size_t n_percpu;
    uint64_t throttling_periods, throttled_periods, throttled_time_ns;
  } cpu;
  struct {
    uint64_t cache;
    oci_mem_entry usage, swap, kernel, kernel_tcp;
    bool use_hierarchy;
    oci_stat_kv *stat;                   /* memory.stat as is */
    size_t n_stat;
  } memory;
  struct {
    uint64_t current, limit;             /* limit 0: unlimited */
  } pids;
  struct {
    oci_blkio_entry *service_bytes, *serviced;
    size_t n_service_bytes, n_serviced;
  } blkio;
  oci_hugetlb_stats *hugetlb;
  size_t n_hugetlb;
  oci_net_stats *network;
  size_t n_network;
} oci_stats;

/* Reads the container's cgroup v2 files into *out (zeroed first). */
int oci_stats_read(oci_container *ct, oci_stats *out, cf_error *err);
void oci_stats_free(oci_stats *s);

/* ---------------------------------------------------------------- cgroup */

/* Enables in dir's cgroup.subtree_control the controllers containers use
 * (cpu cpuset io memory pids hugetlb) that dir offers and has off. */
int oci_cgroup_enable_controllers(const char *dir, cf_error *err);

#endif
