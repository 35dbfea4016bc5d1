/* Internals of the shim-side libvirt backend (backend*.c). */
#ifndef COFFER_VMM_LIBVIRT_BACKEND_H
#define COFFER_VMM_LIBVIRT_BACKEND_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "coffer/vmm.h"

/* Everything of ours lives under <state_dir>/vm (removed whole by cleanup):
 *   spec.json    the VM spec handed to coffer-vmm
 *   record.json  what cleanup needs after a shim crash (helper, uri, pid, …)
 *   console.log  the guest's serial console
 *   agent.sock   virtio-serial agent.0, bound by QEMU (or under /run/coffer
 *                when the state dir is too long for a socket path)
 *   relay.sock   virtio-serial relay.0 (the broker relay), bound by QEMU, in
 *                the shim's socket dir (or here); none when both are too long
 *   share/       virtiofs share (plain): <container>/rootfs bind mounts
 *   disks/       block slots (TEE): slot-N.img, slot-N.owner */
#define VM_SUBDIR "vm"
#define VM_SLOT_SERIAL_FMT "cfslot-%u"
#define VM_SHORT_SOCK_DIR "/run/coffer/vmm-sock"

struct cf_vm {
  char pod_id[256];
  char name[300];
  char dir[PATH_MAX];        /* <state_dir>/vm */
  char helper[PATH_MAX];
  char uri[512];
  char agent_addr[PATH_MAX + 32];
  char agent_sock[PATH_MAX]; /* "" with vsock */
  char relay_sock[PATH_MAX]; /* virtio-serial relay.0, bound by QEMU; "" = none */
  char console[PATH_MAX];
  char share[PATH_MAX];      /* "" unless virtiofs */
  pid_t pid;
  bool block_rootfs;
  unsigned nslots;
};

/* Locate coffer-vmm: $COFFER_VMM_HELPER, next to our binary, the build
 * tree's vmm/coffer-vmm/, then PATH. */
int lv_backend_find_helper(char *out, size_t cap, cf_error *err);
/* Run the helper with argv (argv[0] ignored), capture stdout (≤ cap-1 bytes,
 * NUL-terminated), bounded by timeout_ms; stderr goes to ours (the shim log).
 * Fails when it exits non-zero. */
int lv_backend_run_helper(const char *helper, char *const argv[], char *out, size_t cap,
                       int timeout_ms, cf_error *err);

/* Rootfs delivery (backend_rootfs.c). */
int lv_backend_share_prepare(struct cf_vm *vm, cf_error *err);
int lv_backend_slots_prepare(struct cf_vm *vm, unsigned nslots, unsigned long long slot_mib,
                          cf_error *err);
int lv_backend_add_rootfs(struct cf_vm *vm, const char *container_id, const char *host_rootfs,
                       cf_rootfs *out, cf_error *err);
int lv_backend_remove_rootfs(struct cf_vm *vm, const char *container_id, cf_error *err);
/* Volumes into the guest (backend_volume.c). */
int lv_backend_add_volume(struct cf_vm *vm, const char *container_id, unsigned index,
                          const cf_volume *v, cf_rootfs *out, cf_error *err);
/* Pod NICs (backend_net.c): before create, record and create the taps and
 * add them to the spec; after create, move them into the pod netns and add
 * the redirects; at teardown (from <dir>/net, also after a shim crash)
 * remove them. */
struct vm_spec;
int lv_backend_net_prepare(const cf_vm_config *cfg, const char *dir, struct vm_spec *s, cf_error *err);
int lv_backend_net_attach(const cf_vm_config *cfg, cf_error *err);
void lv_backend_net_teardown(const char *pod_id, const char *dir);
/* Unmount everything under dir (deepest first) and remove it; refuses to
 * remove anything while a mount remains beneath it. Absent dir: success. */
int lv_backend_remove_tree(const char *dir, cf_error *err);

#endif
