/* Pod networking, the shim's part (net.c). */
#ifndef COFFER_SHIM_NET_H
#define COFFER_SHIM_NET_H

#include "coffer/pod_net.h"
#include "shim.h"

/* Before the backend starts: find the pod's network namespace in the
 * bundle's OCI spec and scan it; sets vc->netns_path / vc->net when there is
 * an interface to carry into the VM, else logs why the VM gets no NIC. */
void shim_net_prepare(shim *s, cf_vm_config *vc);

/* After the agent answered: configure the guest's NICs, routes and
 * neighbours, then done(s, NULL), or done(s, err) on the first failure. */
typedef void (*shim_net_done_fn)(shim *s, const cf_error *err);
void shim_net_configure(shim *s, shim_net_done_fn done);

#endif
