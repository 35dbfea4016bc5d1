/* The VM spec: everything coffer-vmm needs to build one pod's domain.
 *
 * The shim-side libvirt backend fills it from cf_vm_config and writes it as
 * JSON (vm_spec_write_file); the coffer-vmm helper reads it back
 * (vm_spec_parse_json) and turns it into domain XML. One struct, one JSON
 * encoding, so both sides agree by construction. JSON keys are the field
 * names below. */
#ifndef COFFER_VMM_SPEC_H
#define COFFER_VMM_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "coffer/error.h"

#define SPEC_MAX_DISKS 16

typedef struct vm_disk {
  char *path;    /* host file (raw) */
  char *serial;  /* the guest finds it by /sys/block/vdX/serial */
  bool readonly;
} vm_disk;

/* A NIC: a tap that exists already, opened by libvirt as managed='no'
 * (coffer creates and deletes it: pod networking, coffer/pod_net.h). */
#define SPEC_MAX_NICS 4

/* TCG translation cache sizes (MiB). QEMU's default, 1 GiB, costs ~40 MB
 * RSS per VM. 32 MiB holds a pod that runs only the agent and its
 * containers. A guest that also runs coffer-attester (OpenSSL, libcurl and
 * their libraries) fills 32 MiB; QEMU then drops every translation, and the
 * kernel's and the agent's code is translated again: measured here, the
 * next container's create took 3-5 times as long, and a pod with one secret
 * reached its container 0.63 s after a pod without instead of 0.37 s. 128 MiB
 * holds it, for ~45 MB more RSS. */
#define VM_TCG_CACHE_MIB 32
#define VM_TCG_CACHE_MIB_ATTESTING 128
typedef struct vm_nic {
  char tap[16];   /* IFNAMSIZ */
  char mac[18];   /* the pod interface's MAC: the CNI bridge expects it */
  unsigned mtu;
} vm_nic;

typedef struct vm_spec {
  char *pod_id;        /* names the domain: coffer-<pod_id> */
  char *profile;       /* "plain" | "sev-snp" | "tdx" */
  char *machine;       /* "microvm" | "q35" */
  char *accel;         /* "kvm" | "tcg" | "auto" (coffer-vmm probes) */
  char *emulator;      /* QEMU binary; "" = libvirt's default */
  char *kernel, *initrd, *firmware, *cmdline;
  unsigned vcpus;
  uint64_t memory_mib;
  unsigned tcg_cache_mib; /* TCG translation cache (ignored under KVM) */
  char *state_dir;     /* per-pod directory (absolute) */
  char *console_log;   /* guest serial console file */
  char *agent_socket;  /* virtio-serial agent.0 host side (unix, bound by QEMU); "" = none */
  char *relay_socket;  /* virtio-serial relay.0 (the broker relay), bound by QEMU; "" = none */
  int64_t vsock_cid;   /* -1 none, 0 auto (libvirt picks), >= 3 fixed */
  char *share_dir;     /* virtiofs share, tag "coffer"; "" = none */
  char *virtiofsd;     /* virtiofsd binary */
  unsigned ndisks;
  vm_disk disks[SPEC_MAX_DISKS];
  unsigned nnics;
  vm_nic nics[SPEC_MAX_NICS];
  /* The pod's init-data file ("" = none). coffer-vmm hashes it into the two
   * digests below (the shim must not map libcrypto); a spec gives either the
   * path or the digests. */
  char *init_data_path;
  /* hex of the init-data digest fitted to the field (the names are the
   * historic ones: the digest uses the document's algorithm, kbs-protocol §C) */
  char *init_data_sha256; /* SNP hostData: 32 bytes */
  char *init_data_sha384; /* TDX mrConfigId: 48 bytes */
  /* SEV-SNP launch parameters */
  unsigned snp_cbitpos, snp_reduced_phys_bits;
  char *snp_policy;    /* hex, e.g. "0x30000" */
  /* TDX launch parameters */
  char *tdx_policy;    /* hex, e.g. "0x10000000" */
  char *tdx_qgs_socket;
} vm_spec;

bool vm_spec_is_tee(const vm_spec *s);
/* Fill defaults for everything optional (strings become ""). */
void vm_spec_init(vm_spec *s);
void vm_spec_free(vm_spec *s);
/* Check the spec is complete and consistent (names the bad field). */
int vm_spec_validate(const vm_spec *s, cf_error *err);

int vm_spec_parse_json(vm_spec *s, const char *json, cf_error *err);
int vm_spec_read_file(vm_spec *s, const char *path, cf_error *err);
/* Returns malloc'd JSON text. */
char *vm_spec_to_json(const vm_spec *s, cf_error *err);
/* Atomically (tmp + rename) writes the JSON to path, mode 0600. */
int vm_spec_write_file(const vm_spec *s, const char *path, cf_error *err);

/* The "nics" array (spec_nic.c). */
struct json_object;
int vm_spec_parse_nics(vm_spec *s, struct json_object *arr, cf_error *err);
void vm_spec_nics_to_json(const vm_spec *s, struct json_object *o);
int vm_spec_validate_nics(const vm_spec *s, cf_error *err);
/* The guest kernel command line the backend passes for a pod: fixed
 * options, coffer.log=<log_level> when set, then the configured extra
 * parameters. coffer-measure's reference values hash this same string
 * (coffer-vmm cmdline prints it). */
int vm_spec_kernel_cmdline(const char *log_level, const char *kernel_params, char *buf, size_t cap,
                        cf_error *err);

/* "coffer-" + pod_id into buf. */
int vm_spec_domain_name(const char *pod_id, char *buf, size_t cap, cf_error *err);

#endif
