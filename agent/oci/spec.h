/* liboci internal: the OCI runtime spec as the library uses it: parsed and checked
 * in the agent before anything is forked, so every mistake in a spec is an
 * error naming its field, and the forked child only acts. */
#ifndef COFFER_OCI_SPEC_H
#define COFFER_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "coffer/error.h"
#include "coffer/oci.h"

enum oci_ns { OCI_NS_PID, OCI_NS_IPC, OCI_NS_UTS, OCI_NS_NET, OCI_NS_CGROUP, OCI_NS_MNT, OCI_NS_N };
extern const char *const oci_ns_names[OCI_NS_N]; /* spec type names: "pid", "network", ... */
extern const char *const oci_ns_proc[OCI_NS_N];  /* /proc/<pid>/ns/ names: "pid", "net", ... */
extern const int oci_ns_flags[OCI_NS_N];         /* CLONE_NEW* */

enum oci_cap_set { OCI_CAP_BOUNDING, OCI_CAP_EFFECTIVE, OCI_CAP_PERMITTED, OCI_CAP_INHERITABLE,
                   OCI_CAP_AMBIENT, OCI_CAP_N };

typedef struct oci_rlimit {
  int resource;
  uint64_t soft, hard;
} oci_rlimit;

typedef struct oci_process {
  char **args, **env;         /* NULL-terminated */
  char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t n_groups;
  bool has_umask;
  mode_t umask;
  bool has_caps;              /* no "capabilities": keep what the process has */
  uint64_t caps[OCI_CAP_N];
  oci_rlimit *rlimits;
  size_t n_rlimits;
  bool no_new_privs;
  bool has_oom_score_adj;
  int oom_score_adj;
  bool terminal;
} oci_process;

typedef struct oci_mount {
  char *destination, *type, *source, *data;
  unsigned long flags;        /* MS_* for mount(2), without propagation */
  unsigned long propagation;  /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE [| MS_REC], 0 none */
  bool bind, rec;
} oci_mount;

typedef struct oci_device {
  char *path;                 /* absolute, in the container */
  char type;                  /* 'c', 'b', 'p' (fifo) */
  uint32_t major, minor;
  mode_t mode;                /* permission bits */
  uid_t uid;
  gid_t gid;
} oci_device;

typedef struct oci_spec {
  json_object *json;          /* the parsed spec (owned); the fields below point into it */
  oci_process process;
  const char *root;
  bool root_readonly;
  const char *hostname;
  bool ns[OCI_NS_N];          /* namespace asked for */
  const char *ns_path[OCI_NS_N]; /* join this one instead of creating it */
  oci_mount *mounts;
  size_t n_mounts;
  oci_device *devices;
  size_t n_devices;
  const char **masked, **readonly;
  size_t n_masked, n_readonly;
  const char **sysctl_keys, **sysctl_values;
  size_t n_sysctl;
  unsigned long rootfs_propagation; /* 0: none asked */
  json_object *resources;     /* linux.resources, borrowed */
  json_object *seccomp;       /* linux.seccomp, borrowed */
} oci_spec;

/* Parses config.json text. Features the built-in runtime does not
 * implement (user namespaces, time namespaces, Intel RDT, personality, I/O
 * priority, scheduler) fail with CF_UNIMPLEMENTED naming the field, so the
 * caller can hand the container to runc instead. */
int oci_spec_parse(const char *json, size_t len, oci_spec *s, cf_error *err);
void oci_spec_free(oci_spec *s);
/* Refuses sysctls that are not scoped by the container's namespaces;
 * pod_netns: the container shares a network namespace that is the pod's own
 * (the VM's), so net.* sysctls stay within the pod. */
int oci_spec_check_sysctls(const oci_spec *s, bool pod_netns, cf_error *err);
/* A "process" object alone (exec). */
int oci_process_parse(json_object *o, const char *what, oci_process *p, cf_error *err);
void oci_process_free(oci_process *p);

/* Exactly one JSON object in text[0..len) (blanks may follow), else
 * INVALID_ARGUMENT naming `what`. */
int oci_json_parse(const char *text, size_t len, const char *what, json_object **out,
                   cf_error *err);

/* Mount options → flags; unknown options become data (comma-joined). */
int oci_mount_options(json_object *opts, oci_mount *m, const char *what, cf_error *err);

#endif
