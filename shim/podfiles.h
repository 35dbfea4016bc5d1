/* The pod's DNS and hosts files, as containerd wrote them on the host for
 * the sandbox, read once so the agent can write the guest's copies
 * (CreateSandbox): inside a VM the host's files are not the containers'. */
#ifndef COFFER_SHIM_PODFILES_H
#define COFFER_SHIM_PODFILES_H

#include <stddef.h>

#include "agent.pb-c.h"

typedef struct shim_pod_files {
  char **dns_servers, **dns_searches, **dns_options;
  size_t n_dns_servers, n_dns_searches, n_dns_options;
  Coffer__Agent__V1__HostEntry **hosts;
  size_t n_hosts;
} shim_pod_files;

/* From the sandbox's OCI spec (spec_json): the host sources of its
 * /etc/resolv.conf and /etc/hosts bind mounts, parsed. A pod without them
 * (plain ctr run) gets none; an unreadable or oversized file is logged and
 * skipped, the pod still starts with the agent's defaults. */
void shim_pod_files_read(const char *spec_json, shim_pod_files *out);
/* Fills CreateSandbox's dns_* and hosts fields (borrowed from f). */
void shim_pod_files_fill(const shim_pod_files *f, Coffer__Agent__V1__CreateSandboxRequest *req);
void shim_pod_files_free(shim_pod_files *f);

#endif
