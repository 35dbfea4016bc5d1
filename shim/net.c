/* Pod networking, the shim's part: which network namespace the pod has
 * (from the sandbox's OCI spec), what is in it (cf_pod_net_scan, handed to
 * the backend, which creates the taps and redirects), and, once the agent
 * answers, the guest's configuration (UpdateInterface per NIC, then
 * UpdateRoutes, then AddNeighbors), before CreateSandbox. One shim serves
 * one pod, so the scan lives here. */
#include "net.h"

#include <limits.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "coffer/log.h"
#include "coffer/file.h"

static cf_pod_net scanned;
static char netns[PATH_MAX];
static shim_net_done_fn on_done;
static unsigned next_iface;

/* The guest's end of CRI port forwarding (coffer/pod_net.h): on the first
 * NIC, when it carries IPv4, the link-local address the pod netns NATs
 * localhost to, and the way back to the tap. */
static void add_portforward_link(cf_pod_net *n) {
  cf_net_iface *ifc = &n->ifaces[0];
  bool v4 = false;
  for (unsigned i = 0; i < ifc->naddrs; i++)
    v4 |= ifc->addrs[i].family == AF_INET;
  if (!v4 || ifc->naddrs >= CF_NET_MAX_ADDRS || n->nroutes >= CF_NET_MAX_ROUTES ||
      n->nneighs >= CF_NET_MAX_NEIGHS)
    return;
  ifc->addrs[ifc->naddrs++] = (cf_net_addr){.family = AF_INET, .ip = CF_NET_PF_GUEST_IP, .prefix = 32};
  cf_net_route *r = &n->routes[n->nroutes++];
  *r = (cf_net_route){.family = AF_INET, .dest = CF_NET_PF_HOST_IP "/32", .scope = RT_SCOPE_LINK};
  snprintf(r->device, sizeof(r->device), "%s", ifc->name);
  cf_net_neigh *ne = &n->neighs[n->nneighs++];
  *ne = (cf_net_neigh){.ip = CF_NET_PF_HOST_IP, .mac = CF_NET_TAP_MAC};
  snprintf(ne->device, sizeof(ne->device), "%s", ifc->name);
}

void shim_net_prepare(shim *s, cf_vm_config *vc) {
  memset(&scanned, 0, sizeof(scanned));
  netns[0] = 0;
  if (!strcmp(s->pod.ops->name, "process"))
    return; /* the agent shares the host's network */
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/config.json", s->bundle);
  char *spec = NULL;
  size_t len = 0;
  cf_error err = {0};
  int r = cf_read_file(path, 1u << 20, &spec, &len, &err);
  if (r == 0)
    r = cf_pod_net_netns_from_spec(spec, netns, sizeof(netns), &err);
  free(spec);
  if (r < 0) {
    cf_warn("pod %s: no NIC: %s", s->group_id, err.msg);
    return;
  }
  if (r == 0) {
    cf_warn("pod %s: no NIC: its OCI spec names no network namespace path (host network, or a "
            "new empty one)", s->group_id);
    return;
  }
  if (cf_pod_net_scan(netns, s->group_id, &scanned, &err) < 0) {
    cf_warn("pod %s: no NIC: %s", s->group_id, err.msg);
    memset(&scanned, 0, sizeof(scanned));
    return;
  }
  if (scanned.nifaces == 0) {
    cf_warn("pod %s: no NIC: network namespace %s has no interface with an address", s->group_id,
            netns);
    return;
  }
  add_portforward_link(&scanned);
  cf_info("pod %s: network namespace %s: %u interface(s), %u route(s), %u neighbour(s)",
          s->group_id, netns, scanned.nifaces, scanned.nroutes, scanned.nneighs);
  vc->netns_path = netns;
  vc->net = &scanned;
}

static void step(shim *s);

static void on_reply(int status, const char *message, const uint8_t *payload, size_t len,
                     void *data) {
  (void)payload;
  (void)len;
  shim *s = data;
  if (status != CF_OK) {
    cf_error err = {0};
    cf_err_status(&err, status, "guest network configuration: %s", message);
    on_done(s, &err);
    return;
  }
  step(s);
}

static void send_interface(shim *s, const cf_net_iface *ifc) {
  Coffer__Agent__V1__UpdateInterfaceRequest req = COFFER__AGENT__V1__UPDATE_INTERFACE_REQUEST__INIT;
  Coffer__Agent__V1__IPAddress addrs[CF_NET_MAX_ADDRS], *ptrs[CF_NET_MAX_ADDRS];
  for (unsigned i = 0; i < ifc->naddrs; i++) {
    coffer__agent__v1__ipaddress__init(&addrs[i]);
    addrs[i].address = (char *)ifc->addrs[i].ip;
    addrs[i].prefix_len = ifc->addrs[i].prefix;
    ptrs[i] = &addrs[i];
  }
  req.hw_addr = (char *)ifc->mac;
  req.name = (char *)ifc->name;
  req.mtu = ifc->mtu;
  req.addresses = ptrs;
  req.n_addresses = ifc->naddrs;
  shim_pod_agent_call(s, "UpdateInterface", &req.base, s->cfg.agent_timeout_ms, on_reply, s);
}

static void send_routes(shim *s) {
  Coffer__Agent__V1__UpdateRoutesRequest req = COFFER__AGENT__V1__UPDATE_ROUTES_REQUEST__INIT;
  Coffer__Agent__V1__Route r[CF_NET_MAX_ROUTES], *ptrs[CF_NET_MAX_ROUTES];
  for (unsigned i = 0; i < scanned.nroutes; i++) {
    const cf_net_route *x = &scanned.routes[i];
    coffer__agent__v1__route__init(&r[i]);
    r[i].dest = (char *)x->dest;
    r[i].gateway = (char *)x->gateway;
    r[i].device = (char *)x->device;
    r[i].source = (char *)x->source;
    r[i].scope = (uint32_t)x->scope;
    ptrs[i] = &r[i];
  }
  req.routes = ptrs;
  req.n_routes = scanned.nroutes;
  shim_pod_agent_call(s, "UpdateRoutes", &req.base, s->cfg.agent_timeout_ms, on_reply, s);
}

static void send_neighbors(shim *s) {
  Coffer__Agent__V1__AddNeighborsRequest req = COFFER__AGENT__V1__ADD_NEIGHBORS_REQUEST__INIT;
  Coffer__Agent__V1__Neighbor n[CF_NET_MAX_NEIGHS], *ptrs[CF_NET_MAX_NEIGHS];
  for (unsigned i = 0; i < scanned.nneighs; i++) {
    coffer__agent__v1__neighbor__init(&n[i]);
    n[i].ip = scanned.neighs[i].ip;
    n[i].hw_addr = scanned.neighs[i].mac;
    n[i].device = scanned.neighs[i].device;
    ptrs[i] = &n[i];
  }
  req.neighbors = ptrs;
  req.n_neighbors = scanned.nneighs;
  shim_pod_agent_call(s, "AddNeighbors", &req.base, s->cfg.agent_timeout_ms, on_reply, s);
}

/* next_iface counts the steps: interfaces, then routes, then neighbours. */
static void step(shim *s) {
  unsigned i = next_iface++;
  if (i < scanned.nifaces)
    send_interface(s, &scanned.ifaces[i]);
  else if (i == scanned.nifaces && scanned.nroutes)
    send_routes(s);
  else if (i <= scanned.nifaces + 1 && scanned.nneighs) {
    next_iface = scanned.nifaces + 2;
    send_neighbors(s);
  } else
    on_done(s, NULL);
}

void shim_net_configure(shim *s, shim_net_done_fn done) {
  on_done = done;
  next_iface = 0;
  step(s);
}
