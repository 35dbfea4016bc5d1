/* The shim's configuration: a JSON file (json-c) with documented keys.
 *
 * Found via containerd's runtime options (ConfigPath / inline config_body),
 * else /etc/coffer/config.json, else built-in defaults. Keys:
 *   backend           "libvirt" | "process"                (default "libvirt")
 *   kernel, initrd    guest kernel / initramfs paths        (default: the guest
 *                     image `cmake --install` puts in <datadir>/coffer/:
 *                     vmlinux, initramfs.img)
 *   firmware          OVMF / TDVF for TEE profiles          (default "")
 *   kernel_params     extra guest kernel command line       (default "")
 *   machine           "microvm" | "q35" | ""                (default "": profile default)
 *   vcpus             1..256                                (default 1)
 *   memory_mib        64..1048576                           (default 256)
 *   agent_transport   "auto" | "vsock" | "serial"           (default "auto")
 *   log_level         "error" | "warning" | "info" | "debug" (default "info")
 *   profile           "plain" | "sev-snp" | "tdx"           (default "plain")
 *   tee               "none" | "snp" | "tdx"  (alias of profile; must agree)
 *   agent_path        coffer-agent binary (process backend; default: next
 *                     to the shim binary, then PATH)
 *   agent_timeout_ms  100..600000                           (default 30000)
 *   busy_poll_us      0..1000: event loop spin before sleeping (default 50)
 *   state_dir         per-pod state root                    (default "/run/coffer")
 *   init_data         init-data TOML file for pods without the
 *                     io.coffer.init-data annotation        (default "": none)
 *   sample_attestation  plain profile only: the guest's sample attester
 *                     reports the init-data digest, which the shim puts on
 *                     the kernel command line (coffer.sample_init_data=HEX)
 *                     so the guest's init-data check runs without a TEE
 *                     (default false)
 *   relay_broker      the guest's broker relay reaches this broker when the
 *                     pod's init-data names none (default "": no relay)
 *   image_pull        "host" | "guest": where the images of the pod's
 *                     containers are pulled and unpacked. "guest": the agent
 *                     pulls the image CRI names (io.kubernetes.cri.image-name)
 *                     from its registry inside the VM and the host's rootfs
 *                     is not shared (encrypted images need it). The pod may
 *                     also ask with the annotation io.coffer.image-pull=guest
 *                     (default "host")
 *   test_hostile_init_data  TEST HOOK simulating a hostile host: the guest
 *                     is handed init-data other than the one hashed into the
 *                     launch (or the sample binding); the pod must not start
 *                     (default false)
 *   image_seed        absolute path of the tool that seeds a pod's guest-pulled
 *                     images (annotation io.coffer.guest-pull-images) before
 *                     containerd pulls them: deploy/coffer-image-seed
 *                     (default "": such pods are refused)
 *   image_seed_snapshotter  the snapshotter CRI pulls into for this handler
 *                     (default "": the tool's default, overlayfs)
 * Unknown keys and wrong types are errors naming the file and the key. */
#ifndef COFFER_SHIM_CONFIG_H
#define COFFER_SHIM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include "coffer/error.h"
#include "coffer/vmm.h"

#define SHIM_DEFAULT_CONFIG "/etc/coffer/config.json"

typedef struct shim_config {
  char *source;           /* file it came from, "(built-in defaults)", "(inline)" */
  char *backend;
  char *kernel;
  char *initrd;
  char *firmware;
  char *kernel_params;
  char *machine;
  unsigned vcpus;
  uint64_t memory_mib;
  char *agent_transport;
  char *log_level;
  char *profile;
  char *agent_path;
  int agent_timeout_ms;
  unsigned busy_poll_us;
  char *state_dir;
  char *init_data;
  bool sample_attestation;
  bool test_hostile_init_data;
  /* The one broker the guest's relay streams reach ("" = no relay): when the
   * pod's init-data names none (aa.toml [token_configs.kbs] url). */
  char *relay_broker;
  char *image_pull; /* "host" | "guest" */
  char *image_seed;             /* "" = off (image_seed.h) */
  char *image_seed_snapshotter; /* "" = the tool's default */
} shim_config;

/* Fill c with the defaults (c must be zeroed or freed before). */
int shim_config_defaults(shim_config *c, cf_error *err);
/* Parse JSON text over the defaults; `source` names it in errors. */
int shim_config_parse(shim_config *c, const char *source, const char *json,
                      cf_error *err);
/* Load: path if non-empty (missing file is an error), else body if
 * non-empty, else SHIM_DEFAULT_CONFIG if it exists, else defaults. */
int shim_config_load(shim_config *c, const char *path, const char *body,
                     cf_error *err);
void shim_config_free(shim_config *c);
/* What the VM backend gets from the config for one pod (strings borrowed
 * from c, pod_id and state_dir). */
void shim_config_vm(const shim_config *c, const char *pod_id, const char *state_dir,
                    cf_vm_config *out);

#endif
