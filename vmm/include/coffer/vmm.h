/* The VM backend interface: how the shim gets a pod's agent running.
 *
 * One backend instance per pod. Backends: "process" (the agent as a host
 * process, no isolation: tests and development), "libvirt" (one QEMU VM per
 * pod, plain / sev-snp / tdx profiles). The shim only ever talks to this
 * interface, so a backend slots in without shim changes. Every call is
 * synchronous and bounded in time; the shim calls them at pod start/stop and
 * per container, never on a hot path. */
#ifndef COFFER_VMM_H
#define COFFER_VMM_H

#include <stdint.h>
#include <sys/types.h>
#include "coffer/error.h"

/* What the backend needs to launch a pod. Strings are borrowed. */
typedef struct cf_vm_config {
  const char *pod_id;          /* sandbox id (names the VM: coffer-<pod_id>) */
  const char *state_dir;       /* per-pod, private, already created; console
                                  log, images and pid files live here (any
                                  length up to PATH_MAX) */
  const char *sock_dir;        /* per-pod, private, already created, short
                                  (/run/coffer/s/<hash>): the backend's unix
                                  sockets, so their paths never depend on
                                  state_dir's length; removed by the shim.
                                  NULL: sockets go under state_dir */
  const char *agent_path;      /* process backend: coffer-agent binary */
  const char *profile;         /* "plain" | "sev-snp" | "tdx" */
  const char *kernel;          /* guest kernel (vmlinux / bzImage) */
  const char *initrd;          /* guest initramfs */
  const char *firmware;        /* OVMF / TDVF for TEE profiles */
  const char *kernel_params;   /* extra kernel command line, may be NULL */
  const char *machine;         /* "microvm" | "q35"; NULL = profile default */
  unsigned vcpus;
  uint64_t memory_mib;
  const uint8_t *init_data;    /* the pod's init-data TOML (checked by the shim),
                                  may be NULL. TEE profiles: coffer-vmm binds its
                                  digest (the document's algorithm, fitted) into
                                  SNP hostData / TDX mrConfigId. The guest gets the
                                  bytes in CreateSandbox, not from the backend. */
  size_t init_data_len;
  int agent_timeout_ms;        /* bound on waiting for the agent to answer */
  const char *log_level;       /* passed to the agent */
  const char *agent_transport; /* config agent_transport: "auto" | "vsock" |
                                  "serial"; NULL = "auto". The process backend
                                  ignores it (always a unix socket) */
  int attests;                 /* the guest runs coffer-attester (the pod has a
                                  broker): a larger TCG translation cache */
  int relay;                   /* give the guest the broker relay port relay.0
                                  (coffer/relay.h; relay_channel() serves it) */
  const char *netns_path;      /* the pod's network namespace; NULL = none */
  const struct cf_pod_net *net;/* its interfaces to carry into the VM (taps,
                                  tc redirects; coffer/pod_net.h); NULL or
                                  none = no NIC. The process backend ignores it */
} cf_vm_config;

/* How the agent is to mount a container's rootfs (mirrors agent.proto's
 * Rootfs message; the shim copies it into CreateContainer). */
enum cf_rootfs_kind {
  CF_ROOTFS_HOST_PATH = 0,
  CF_ROOTFS_VIRTIOFS = 1,
  CF_ROOTFS_BLOCK = 2,
  CF_ROOTFS_GUEST = 3, /* add_volume: nothing is shared; the shim copies what it may */
  CF_ROOTFS_PULL = 4,  /* the agent pulls the image itself; never from add_rootfs */
};
typedef struct cf_rootfs {
  enum cf_rootfs_kind kind;
  char source[4096];  /* HOST_PATH: absolute host path; VIRTIOFS: path relative
                         to the pod's share; BLOCK: virtio-blk serial */
  char fstype[32];    /* BLOCK: "erofs" | "ext4" */
  int readonly;       /* BLOCK erofs: the agent stacks a writable overlay */
  /* BLOCK: dm-verity over the same disk (sha256, 4096-byte blocks, no salt,
   * no superblock): data in blocks [0, data_blocks), the hash tree from
   * byte hash_offset. root_hash "" = no verity (process backend, virtiofs). */
  char verity_root_hash[65];
  unsigned long long verity_data_blocks;
  unsigned long long verity_hash_offset;
} cf_rootfs;

/* A host bind mount of a container (a Kubernetes volume: emptyDir,
 * hostPath, configMap, secret, projected token, ...) for the guest. */
enum cf_propagation {
  CF_PROPAGATION_PRIVATE = 0, /* later host mounts below the source stay unseen */
  CF_PROPAGATION_SLAVE = 1,   /* later host mounts below the source are seen */
};
typedef struct cf_volume {
  const char *host_path;   /* absolute host path, symlinks resolved */
  const char *destination; /* where the container sees it (for messages) */
  int readonly;
  enum cf_propagation propagation;
  /* share host_path alone, not the mounts below it (the shim shares those
   * as volumes of their own: a non-recursive read-only volume) */
  int non_recursive;
} cf_volume;

typedef struct cf_vm cf_vm;

typedef struct cf_vmm_ops {
  const char *name;
  /* Launch the pod's VM (or agent process). Returns when it runs; the agent
   * may still be booting: the shim dials agent_address with its timeout. */
  int (*start)(const cf_vm_config *cfg, cf_vm **out, cf_error *err);
  /* Transport address for cf_transport_connect(): "unix:…", "vsock:CID:1024". */
  const char *(*agent_address)(cf_vm *vm);
  /* The host process that embodies the VM (QEMU, or the agent for the process
   * backend): the shim watches it with a pidfd to learn of the VM's death. */
  pid_t (*pid)(cf_vm *vm);
  /* Make host_rootfs (a mounted directory on the host) visible to the guest
   * for container_id; fill out with what the agent must mount. */
  int (*add_rootfs)(cf_vm *vm, const char *container_id, const char *host_rootfs,
                    cf_rootfs *out, cf_error *err);
  int (*remove_rootfs)(cf_vm *vm, const char *container_id, cf_error *err);
  /* Make volume number index of container_id visible to the guest and fill
   * out with what the agent mounts in its place; remove_rootfs removes it
   * too. A backend that cannot share it fails naming the volume, never
   * drops it. NULL: the agent sees host paths itself (process backend). */
  int (*add_volume)(cf_vm *vm, const char *container_id, unsigned index, const cf_volume *v,
                    cf_rootfs *out, cf_error *err);
  /* A byte stream to the guest's broker relay port (coffer/relay.h); the
   * caller owns the fd. -ENOTSUP when this VM has none. NULL: never one. */
  int (*relay_channel)(cf_vm *vm, cf_error *err);
  /* Path of the guest console log (NULL when there is none). */
  const char *(*console_log)(cf_vm *vm);
  /* Stop the VM (grace_ms for a clean power-off, then force) and remove all
   * it created. Frees vm. */
  int (*stop)(cf_vm *vm, int grace_ms, cf_error *err);
  /* Clean up after a shim that died: from what start() recorded under
   * state_dir, kill what still runs and remove everything. Idempotent. */
  int (*cleanup)(const char *pod_id, const char *state_dir, cf_error *err);
} cf_vmm_ops;

/* Look up a backend by name ("process", "libvirt"); NULL if unknown. */
const cf_vmm_ops *cf_vmm_lookup(const char *name);

#endif
