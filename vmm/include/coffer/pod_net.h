/* Pod networking, host side: the pod's CNI interfaces carried into its VM.
 *
 * containerd's CRI creates the pod's network namespace and runs CNI before
 * the sandbox task exists, so at shim start the namespace named in the
 * sandbox's OCI spec (linux.namespaces[type=network].path) holds the CNI
 * interface (a veth, "eth0"). For each such interface:
 *   1. scan: its MAC, MTU, addresses, routes and permanent neighbours;
 *   2. a persistent tap "cof<hash><i>" is created in the HOST netns (libvirt
 *      opens an existing tap by name in its own netns, managed='no');
 *   3. once QEMU holds the tap, it is moved into the pod netns, given the
 *      veth's MTU, brought up, and two u32 match-all filters with mirred
 *      egress redirect (on ingress qdiscs) join veth and tap both ways;
 *   4. the guest gets the veth's MAC and addresses through the agent.
 * Teardown deletes the veth's ingress qdisc (its filter goes with it) and
 * the tap (in the pod netns, and in the host netns should the move not
 * have happened). u32, not matchall: CONFIG_NET_CLS_MATCHALL is not set on
 * the kernels seen here. Uses libnl-route-3.
 *
 * CRI port forwarding (containerd dials localhost:PORT in the pod netns):
 * cf_pod_net_portforward NATs it to CF_NET_PF_GUEST_IP through the tap;
 * the guest NIC gets that address, a link route to CF_NET_PF_HOST_IP and a
 * permanent neighbour CF_NET_PF_HOST_IP -> CF_NET_TAP_MAC (portfwd.c). */
#ifndef COFFER_POD_NET_H
#define COFFER_POD_NET_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include "coffer/error.h"

#define CF_NET_MAX_IFACES 4
#define CF_NET_MAX_ADDRS 8
#define CF_NET_MAX_ROUTES 32
#define CF_NET_MAX_NEIGHS 32
#define CF_NET_IP_MAX 46   /* INET6_ADDRSTRLEN */
#define CF_NET_MAC_MAX 18  /* "aa:bb:cc:dd:ee:ff" */
/* the tap-guest link's own addresses (link-local, never on the pod network) */
#define CF_NET_PF_HOST_IP "169.254.77.1"  /* the tap's, in the pod netns */
#define CF_NET_PF_GUEST_IP "169.254.77.2" /* the guest NIC's second address */
#define CF_NET_TAP_MAC "02:cf:00:00:00:01" /* every tap's (each on its own link) */

typedef struct cf_net_addr {
  int family;                 /* AF_INET | AF_INET6 */
  char ip[CF_NET_IP_MAX];
  unsigned prefix;
} cf_net_addr;

typedef struct cf_net_iface {
  char name[IFNAMSIZ];        /* in the pod netns (and in the guest) */
  int ifindex;                /* in the pod netns */
  char mac[CF_NET_MAC_MAX];
  unsigned mtu;
  unsigned flags;             /* IFF_* of the pod interface (IFF_NOARP matters) */
  unsigned naddrs;
  cf_net_addr addrs[CF_NET_MAX_ADDRS];
  char tap[IFNAMSIZ];         /* the tap that carries it into the VM */
} cf_net_iface;

typedef struct cf_net_route {
  int family;
  char dest[CF_NET_IP_MAX + 4]; /* "ip/len"; "" = default route */
  char gateway[CF_NET_IP_MAX];  /* "" = on-link */
  char source[CF_NET_IP_MAX];   /* preferred source, "" = none */
  char device[IFNAMSIZ];
  int scope;                    /* RT_SCOPE_* */
} cf_net_route;

typedef struct cf_net_neigh {
  char ip[CF_NET_IP_MAX];
  char mac[CF_NET_MAC_MAX];
  char device[IFNAMSIZ];
} cf_net_neigh;

typedef struct cf_pod_net {
  unsigned nifaces, nroutes, nneighs;
  cf_net_iface ifaces[CF_NET_MAX_IFACES];
  cf_net_route routes[CF_NET_MAX_ROUTES];
  cf_net_neigh neighs[CF_NET_MAX_NEIGHS];
} cf_pod_net;

/* The network namespace path of an OCI spec (JSON text): 1 and path filled
 * when it names one, 0 when it has none or one without a path (the host
 * network: no NIC for the VM), <0 on malformed JSON. */
int cf_pod_net_netns_from_spec(const char *spec_json, char *path, size_t cap, cf_error *err);

/* Read the interfaces of the netns at path that carry addresses (loopback
 * and address-less links skipped), their routes (RTPROT_KERNEL ones
 * skipped: the guest kernel makes its own) and permanent neighbours. Tap
 * names are derived from pod_id. Zero interfaces is not an error. */
int cf_pod_net_scan(const char *netns_path, const char *pod_id, cf_pod_net *out, cf_error *err);

/* "cof" + 11 hex of a hash of pod_id + index: <= 15 characters. */
void cf_pod_net_tap_name(const char *pod_id, unsigned index, char out[IFNAMSIZ]);

/* A persistent tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, single queue) in the
 * caller's netns; an existing one of that name is an error. */
int cf_pod_net_tap_create(const char *name, cf_error *err);

/* Move the tap from the caller's netns into netns_path, set the iface's MTU,
 * bring it up, add both ingress qdiscs and both redirects. */
int cf_pod_net_attach(const char *netns_path, const cf_net_iface *ifc, cf_error *err);

/* After attach: containerd's localhost:PORT dials in the pod netns reach
 * CF_NET_PF_GUEST_IP:PORT in the guest (NAT with iptables, a route, a
 * neighbour, a tc pass filter on the tap). ifc->mac is the guest's MAC. */
int cf_pod_net_portforward(const char *netns_path, const cf_net_iface *ifc, cf_error *err);

/* Undo portforward's NAT rules in netns_path (the rest goes with the tap):
 * idempotent; a netns already gone, or rules already gone, is fine. */
int cf_pod_net_portforward_remove(const char *netns_path, const char *tap, cf_error *err);

/* Undo attach (and create): idempotent, absent things are fine. netns_path
 * may be "" or gone (the pod's netns was removed already). */
int cf_pod_net_detach(const char *netns_path, const char *veth, const char *tap, cf_error *err);

#endif
