/* The coffer-vmm helper's libvirt calls (only the helper links libvirt). */
#ifndef COFFER_VMM_LIBVIRT_H
#define COFFER_VMM_LIBVIRT_H

#include <stdio.h>
#include <sys/types.h>
#include "coffer/error.h"

typedef struct vmm_created {
  pid_t pid;          /* QEMU */
  long long vsock_cid; /* the CID libvirt assigned, -1 when none */
} vmm_created;

/* Create (define + start) the transient domain `name` from xml. */
int vmm_create(const char *uri, const char *name, const char *xml, vmm_created *out, cf_error *err);
/* Destroy the domain; absent is success (idempotent). *existed tells which.
 * owner_dir (may be NULL): only a domain whose metadata names this state dir
 * is destroyed; another one of the same name is left alone (success). */
int vmm_destroy(const char *uri, const char *name, const char *owner_dir, int *existed,
                cf_error *err);
/* Print coffer's domains (name, pod id, state, pid, state dir). */
int vmm_list(const char *uri, FILE *out, int json, cf_error *err);

#endif
