/* Which accelerator a pod VM gets: KVM when it actually works, else TCG.
 * /dev/kvm existing is not enough (on some hosts QEMU aborts setting MSRs),
 * so the probe starts QEMU with KVM, paused (-S), and calls KVM usable when
 * it is still alive after a second. The verdict is cached in a file on tmpfs
 * (cleared at reboot) so only the first VM on a host pays for it. */
#ifndef COFFER_VMM_ACCEL_H
#define COFFER_VMM_ACCEL_H

#include <stddef.h>
#include "coffer/error.h"

#define ACCEL_CACHE_DEFAULT "/run/coffer/vmm-accel"

/* Writes "kvm" or "tcg" into out and a human reason into why. requested is
 * "auto" | "kvm" | "tcg": only "auto" probes. cache_path may be NULL (no cache). */
int accel_resolve(const char *requested, const char *emulator, const char *cache_path,
                  char *out, size_t cap, char *why, size_t whycap, cf_error *err);

#endif
