/* The guest's side of pod networking: the NIC that carries the pod's CNI
 * interface (found by MAC), its routes and neighbours, set over rtnetlink
 * (libnl-route-3, linked statically). Every value is host input and is
 * checked: loopback / multicast / unspecified addresses, a MAC no NIC has,
 * a route or neighbour through a device the guest lacks are refused with an
 * error naming the value. In a TEE the host is the adversary: the loopback
 * device is never configured (not by its all-zero MAC, not as a route or
 * neighbour device), group MACs, prefixes with stray characters or host
 * bits and oversized lists are refused, and a list is checked whole before
 * its first entry is applied. */
#ifndef COFFER_AGENT_NET_H
#define COFFER_AGENT_NET_H

#include "agent.pb-c.h"
#include "coffer/error.h"

typedef struct agent agent;

/* wait_ms: how long to wait for a NIC with the MAC to appear (virtio-net
 * probes asynchronously after its module loads). */
int agent_net_update_interface(const Coffer__Agent__V1__UpdateInterfaceRequest *req, int wait_ms,
                               cf_error *err);
int agent_net_update_routes(const Coffer__Agent__V1__UpdateRoutesRequest *req, cf_error *err);
int agent_net_add_neighbors(const Coffer__Agent__V1__AddNeighborsRequest *req, cf_error *err);

/* Registers UpdateInterface, UpdateRoutes, AddNeighbors. */
int agent_net_register(agent *a, cf_error *err);

#endif
