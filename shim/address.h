/* Which pod a task belongs to, and where that pod's shim listens. */
#ifndef COFFER_SHIM_ADDRESS_H
#define COFFER_SHIM_ADDRESS_H

#include <stddef.h>
#include "coffer/error.h"

#define SHIM_SOCKET_DIR "/run/containerd/s"

/* Go's filepath.Clean for absolute and relative paths, into out. */
void shim_path_clean(const char *in, char *out, size_t cap);
/* "unix:///run/containerd/s/<sha256 hex of Clean(address/ns/group)>". */
int shim_socket_address(const char *containerd_address, const char *ns,
                        const char *group_id, char *out, size_t cap, cf_error *err);
/* The path part of a "unix://" address. */
const char *shim_address_path(const char *address);
/* The pod (group) id from a bundle's config.json text: the annotation
 * io.kubernetes.cri.sandbox-id of a CRI container, else the task id itself
 * (CRI sandboxes and plain ctr tasks each form their own group). */
int shim_group_id(const char *config_json, const char *id, char *out, size_t cap,
                  cf_error *err);
/* The pod's private state directory: <state_root>/<ns>/<group_id>. */
int shim_pod_dir(const char *state_root, const char *ns, const char *group_id,
                 char *out, size_t cap, cf_error *err);
/* Remove the pod's state directory and then <state_root>/<ns> if they are
 * empty; another pod of the namespace may be creating its own at the same
 * time, so a plain rmdir whose ENOTEMPTY/ENOENT is ignored, never a check. */
void shim_pod_dir_remove(const char *pod_dir);

#define SHIM_SOCK_ROOT "/run/coffer/s"
/* The pod's socket directory, SHIM_SOCK_ROOT/<first 32 hex digits of
 * sha256(pod_dir)>: short and fixed-length whatever state_dir is, so the
 * backend's unix sockets always fit (containerd does the same for shims). */
int shim_sock_dir(const char *pod_dir, char *out, size_t cap, cf_error *err);
/* Remove the socket directory and the sockets in it (nothing else lives
 * there); absent is fine. */
void shim_sock_dir_remove(const char *sock_dir);

#endif
