/* Pod networking in the guest: see net.h. */
#include "net.h"
#include "service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "init.h"
#include "coffer/ttrpc.h"

#define SERVICE "coffer.agent.v1.Agent"
#define NIC_WAIT_MS 1000
#define NIC_POLL_MS 20
/* Bounds on host input: a pod has one NIC with a few addresses, routes and
 * neighbours; a request beyond these is refused before any work. */
#define MAX_ADDRESSES 16
#define MAX_ROUTES 256
#define MAX_NEIGHBORS 256

static struct nl_sock *sock_open(cf_error *err) {
  struct nl_sock *sk = nl_socket_alloc();
  int r = sk ? nl_connect(sk, NETLINK_ROUTE) : -NLE_NOMEM;
  if (r < 0) {
    nl_socket_free(sk);
    cf_err_status(err, CF_INTERNAL, "netlink socket: %s", nl_geterror(r));
    return NULL;
  }
  return sk;
}
static void sock_freep(struct nl_sock **s) {
  if (*s)
    nl_socket_free(*s);
}
#define _cleanup_nlsock_ _cleanup_(sock_freep)

static int parse_mac(const char *s, unsigned char mac[6], cf_error *err) {
  char end;
  if (!s || strlen(s) != 17 ||
      sscanf(s, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
             &mac[5], &end) != 6)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "MAC \"%.40s\" is not aa:bb:cc:dd:ee:ff", s ? s : "");
  /* all zeros is the loopback device's address; a group address (incl.
   * broadcast) is no NIC's and would make a neighbour entry flood */
  static const unsigned char zero[6];
  if (!memcmp(mac, zero, 6) || (mac[0] & 1))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "MAC %s refused: all-zero or multicast/broadcast", s);
  return 0;
}

/* An address the guest may take or route through: no loopback, multicast,
 * broadcast or unspecified address (host input must not redirect the
 * guest's own traffic). *fam/bytes out. */
static int parse_ip(const char *what, const char *s, int *fam, unsigned char bytes[16], cf_error *err) {
  if (s && inet_pton(AF_INET, s, bytes) == 1) {
    *fam = AF_INET;
    uint32_t a = ntohl(*(uint32_t *)(void *)bytes);
    if ((a >> 24) == 127 || a == 0 || (a >> 28) == 0xe || a == 0xffffffffu)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s %s refused: loopback, multicast, broadcast or unspecified", what, s);
    return 0;
  }
  if (s && inet_pton(AF_INET6, s, bytes) == 1) {
    *fam = AF_INET6;
    static const unsigned char zero[16], loop[16] = {[15] = 1};
    if (!memcmp(bytes, zero, 16) || !memcmp(bytes, loop, 16) || bytes[0] == 0xff)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s %s refused: loopback, multicast or unspecified",
                           what, s);
    return 0;
  }
  return cf_err_status(err, CF_INVALID_ARGUMENT, "%s \"%.64s\" is not an IP address", what, s ? s : "");
}

static struct nl_addr *addr_new(int fam, const unsigned char *bytes, unsigned prefix) {
  struct nl_addr *a = nl_addr_build(fam, bytes, fam == AF_INET ? 4 : 16);
  if (a)
    nl_addr_set_prefixlen(a, (int)prefix);
  return a;
}

static int ifname_check(const char *n, cf_error *err) {
  size_t len = n ? strlen(n) : 0;
  bool ok = len > 0 && len < IFNAMSIZ && strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "lo");
  for (size_t i = 0; ok && i < len; i++)
    ok = n[i] > ' ' && n[i] != '/' && n[i] != ':' && (unsigned char)n[i] < 0x7f;
  if (!ok)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "interface name \"%.32s\" is not valid", n ? n : "");
  return 0;
}

/* Only an Ethernet NIC may be configured from the host: never the loopback
 * device or a tunnel, whatever the request names. */
static bool link_is_nic(struct rtnl_link *l) {
  return !(rtnl_link_get_flags(l) & IFF_LOOPBACK) && rtnl_link_get_arptype(l) == ARPHRD_ETHER;
}

/* The NIC with that MAC (a reference), or NULL. */
static struct rtnl_link *link_by_mac(struct nl_sock *sk, const unsigned char mac[6]) {
  struct nl_cache *c = NULL;
  if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &c) < 0)
    return NULL;
  struct rtnl_link *hit = NULL;
  for (struct nl_object *o = nl_cache_get_first(c); o && !hit; o = nl_cache_get_next(o)) {
    struct nl_addr *ll = rtnl_link_get_addr((struct rtnl_link *)o);
    if (ll && nl_addr_get_len(ll) == 6 && !memcmp(nl_addr_get_binary_addr(ll), mac, 6) &&
        link_is_nic((struct rtnl_link *)o)) {
      hit = (struct rtnl_link *)o;
      nl_object_get(o);
    }
  }
  nl_cache_free(c);
  return hit;
}

static int link_change(struct nl_sock *sk, struct rtnl_link *l, struct rtnl_link *chg, const char *what,
                       cf_error *err) {
  int r = rtnl_link_change(sk, l, chg, 0);
  rtnl_link_put(chg);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "%s: %s", what, nl_geterror(r));
  return 0;
}

int agent_net_update_interface(const Coffer__Agent__V1__UpdateInterfaceRequest *req, int wait_ms,
                               cf_error *err) {
  unsigned char mac[6];
  int r;
  if ((r = parse_mac(req->hw_addr, mac, err)) < 0 || (r = ifname_check(req->name, err)) < 0)
    return r;
  if (req->mtu && (req->mtu < 68 || req->mtu > 65535))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "MTU %u out of range 68..65535", req->mtu);
  if (req->n_addresses == 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "interface %s: no address", req->name);
  if (req->n_addresses > MAX_ADDRESSES)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "interface %s: %zu addresses (at most %d)", req->name,
                         req->n_addresses, MAX_ADDRESSES);
  for (size_t i = 0; i < req->n_addresses; i++) {
    int fam;
    unsigned char b[16];
    const Coffer__Agent__V1__IPAddress *a = req->addresses[i];
    if ((r = parse_ip("address", a->address, &fam, b, err)) < 0)
      return r;
    if (a->prefix_len > (fam == AF_INET ? 32u : 128u))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "address %s/%u: bad prefix length", a->address,
                           a->prefix_len);
  }
  _cleanup_nlsock_ struct nl_sock *sk = sock_open(err);
  if (!sk)
    return -EIO;
  struct rtnl_link *l = NULL;
  for (int waited = 0; !(l = link_by_mac(sk, mac)) && waited < wait_ms; waited += NIC_POLL_MS)
    usleep(NIC_POLL_MS * 1000);
  if (!l)
    return cf_err_status(err, CF_NOT_FOUND, "no network interface has MAC %s", req->hw_addr);
  int ifindex = rtnl_link_get_ifindex(l);
  /* down to rename, then name and MTU, addresses, up */
  struct rtnl_link *chg = rtnl_link_alloc();
  rtnl_link_unset_flags(chg, IFF_UP);
  r = link_change(sk, l, chg, "bring the NIC down", err);
  if (r == 0) {
    chg = rtnl_link_alloc();
    if (strcmp(rtnl_link_get_name(l), req->name) != 0)
      rtnl_link_set_name(chg, req->name);
    if (req->mtu)
      rtnl_link_set_mtu(chg, req->mtu);
    r = link_change(sk, l, chg, "rename the NIC / set its MTU", err);
  }
  for (size_t i = 0; r == 0 && i < req->n_addresses; i++) {
    int fam;
    unsigned char b[16];
    parse_ip("address", req->addresses[i]->address, &fam, b, err);
    struct rtnl_addr *a = rtnl_addr_alloc();
    struct nl_addr *local = addr_new(fam, b, req->addresses[i]->prefix_len);
    rtnl_addr_set_ifindex(a, ifindex);
    rtnl_addr_set_local(a, local);
    rtnl_addr_set_prefixlen(a, (int)req->addresses[i]->prefix_len);
    int e = rtnl_addr_add(sk, a, NLM_F_REPLACE);
    nl_addr_put(local);
    rtnl_addr_put(a);
    if (e < 0 && e != -NLE_EXIST)
      r = cf_err_status(err, CF_INTERNAL, "address %s/%u on %s: %s", req->addresses[i]->address,
                        req->addresses[i]->prefix_len, req->name, nl_geterror(e));
  }
  if (r == 0) {
    chg = rtnl_link_alloc();
    rtnl_link_set_flags(chg, IFF_UP);
    r = link_change(sk, l, chg, "bring the NIC up", err);
  }
  rtnl_link_put(l);
  if (r < 0)
    return cf_error_prefix(err, "NIC %s (%s)", req->name, req->hw_addr);
  cf_info("network: %s (%s) up with %zu address(es), mtu %u", req->name, req->hw_addr,
          req->n_addresses, req->mtu);
  return 0;
}

static int ifindex_of(struct nl_sock *sk, const char *what, const char *dev, cf_error *err) {
  struct rtnl_link *l = NULL;
  if (!dev || !*dev || strlen(dev) >= IFNAMSIZ || rtnl_link_get_kernel(sk, 0, dev, &l) < 0)
    return cf_err_status(err, CF_NOT_FOUND, "%s: no device \"%.32s\" in the guest", what, dev ? dev : "");
  if (!link_is_nic(l)) {
    rtnl_link_put(l);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: device %s is not a NIC (loopback or not Ethernet)",
                         what, dev);
  }
  int i = rtnl_link_get_ifindex(l);
  rtnl_link_put(l);
  return i;
}

/* Host bits set beyond the prefix (10.0.0.5/24): the kernel would refuse
 * it with EINVAL; say which route instead. */
static bool host_bits_set(const unsigned char *a, unsigned prefix, unsigned bytes) {
  for (unsigned bit = prefix; bit < bytes * 8; bit++)
    if (a[bit / 8] & (0x80u >> (bit % 8)))
      return true;
  return false;
}

/* The route the request describes, checked against the guest's devices
 * (*out, a new reference), or an error naming it; nothing is applied. */
static int route_build(struct nl_sock *sk, const Coffer__Agent__V1__Route *rt, struct rtnl_route **out,
                       cf_error *err) {
  char what[160];
  snprintf(what, sizeof(what), "route to %s via %s dev %s", rt->dest[0] ? rt->dest : "default",
           rt->gateway[0] ? rt->gateway : "(on-link)", rt->device);
  unsigned char dst[16] = {0}, gw[16], src[16];
  int fam = 0, gfam = 0, sfam = 0, r;
  unsigned prefix = 0;
  if (rt->dest[0]) {
    char ip[64];
    const char *slash = strchr(rt->dest, '/');
    size_t n = slash ? (size_t)(slash - rt->dest) : strlen(rt->dest);
    size_t digits = slash ? strspn(slash + 1, "0123456789") : 0;
    char *end = NULL;
    /* digits only: strtoul would take " 8", "+8" or "-1" */
    if (n >= sizeof(ip) || !slash || digits == 0 || digits > 3 || slash[1 + digits])
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: destination is not ip/len", what);
    memcpy(ip, rt->dest, n);
    ip[n] = 0;
    prefix = (unsigned)strtoul(slash + 1, &end, 10);
    /* a network address may be all zeros only as the default route */
    if (inet_pton(AF_INET, ip, dst) == 1)
      fam = AF_INET;
    else if (inet_pton(AF_INET6, ip, dst) == 1)
      fam = AF_INET6;
    else
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: destination is not an IP network", what);
    static const unsigned char loop6[16] = {[15] = 1};
    if (*end || prefix > (fam == AF_INET ? 32u : 128u) || (fam == AF_INET && dst[0] == 127) ||
        (fam == AF_INET6 && !memcmp(dst, loop6, 16)))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: bad or loopback destination", what);
    if (host_bits_set(dst, prefix, fam == AF_INET ? 4 : 16))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: host bits set beyond /%u", what, prefix);
  }
  if (rt->gateway[0] && (r = parse_ip("gateway", rt->gateway, &gfam, gw, err)) < 0)
    return cf_error_prefix(err, "%s", what);
  if (rt->source[0] && (r = parse_ip("source", rt->source, &sfam, src, err)) < 0)
    return cf_error_prefix(err, "%s", what);
  if (!fam)
    fam = gfam ? gfam : sfam;
  if (!fam || (gfam && gfam != fam) || (sfam && sfam != fam))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: no or mixed address family", what);
  if (rt->scope > 255)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: scope %u", what, rt->scope);
  int ifindex = ifindex_of(sk, what, rt->device, err);
  if (ifindex < 0)
    return ifindex;
  struct rtnl_route *ro = rtnl_route_alloc();
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
  struct nl_addr *d = addr_new(fam, dst, prefix), *g = NULL, *s = NULL;
  rtnl_route_set_family(ro, (uint8_t)fam);
  rtnl_route_set_dst(ro, d);
  rtnl_route_set_table(ro, RT_TABLE_MAIN);
  rtnl_route_set_protocol(ro, RTPROT_BOOT);
  rtnl_route_set_scope(ro, (uint8_t)rt->scope);
  rtnl_route_set_type(ro, RTN_UNICAST);
  if (sfam) {
    s = addr_new(fam, src, fam == AF_INET ? 32 : 128);
    rtnl_route_set_pref_src(ro, s);
  }
  rtnl_route_nh_set_ifindex(nh, ifindex);
  if (gfam) {
    g = addr_new(fam, gw, fam == AF_INET ? 32 : 128);
    rtnl_route_nh_set_gateway(nh, g);
  }
  rtnl_route_add_nexthop(ro, nh);
  nl_addr_put(d);
  nl_addr_put(g);
  nl_addr_put(s);
  *out = ro;
  return 0;
}

static int route_add(struct nl_sock *sk, const Coffer__Agent__V1__Route *rt, struct rtnl_route *ro,
                     cf_error *err) {
  int e = rtnl_route_add(sk, ro, NLM_F_CREATE | NLM_F_REPLACE);
  if (e < 0)
    return cf_err_status(err, e == -NLE_NODEV ? CF_NOT_FOUND : CF_INTERNAL, "route to %s via %s dev %s: %s",
                         rt->dest[0] ? rt->dest : "default", rt->gateway[0] ? rt->gateway : "(on-link)",
                         rt->device, nl_geterror(e));
  return 0;
}

static void routes_free(struct rtnl_route **ro, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ro[i])
      rtnl_route_put(ro[i]);
  free(ro);
}

int agent_net_update_routes(const Coffer__Agent__V1__UpdateRoutesRequest *req, cf_error *err) {
  if (req->n_routes > MAX_ROUTES)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%zu routes (at most %d)", req->n_routes, MAX_ROUTES);
  _cleanup_nlsock_ struct nl_sock *sk = sock_open(err);
  if (!sk)
    return -EIO;
  /* every route is checked before the first is added: a bad one changes nothing */
  struct rtnl_route **ro = calloc(req->n_routes ? req->n_routes : 1, sizeof(*ro));
  if (!ro)
    return cf_err_status(err, CF_INTERNAL, "out of memory for %zu routes", req->n_routes);
  int r = 0;
  for (size_t i = 0; r == 0 && i < req->n_routes; i++)
    r = route_build(sk, req->routes[i], &ro[i], err);
  /* two passes: on-link routes first, so the gateways of the rest resolve */
  for (int pass = 0; r == 0 && pass < 2; pass++)
    for (size_t i = 0; r == 0 && i < req->n_routes; i++)
      if ((pass == 0) == (req->routes[i]->gateway[0] == 0))
        r = route_add(sk, req->routes[i], ro[i], err);
  routes_free(ro, req->n_routes);
  if (r < 0)
    return r;
  cf_info("network: %zu route(s) added", req->n_routes);
  return 0;
}

int agent_net_add_neighbors(const Coffer__Agent__V1__AddNeighborsRequest *req, cf_error *err) {
  if (req->n_neighbors > MAX_NEIGHBORS)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%zu neighbours (at most %d)", req->n_neighbors,
                         MAX_NEIGHBORS);
  _cleanup_nlsock_ struct nl_sock *sk = sock_open(err);
  if (!sk)
    return -EIO;
  /* pass 0 checks every entry, pass 1 adds them: a bad one changes nothing */
  for (int apply = 0; apply < 2; apply++)
  for (size_t i = 0; i < req->n_neighbors; i++) {
    const Coffer__Agent__V1__Neighbor *n = req->neighbors[i];
    char what[128];
    snprintf(what, sizeof(what), "neighbour %.46s dev %.16s", n->ip, n->device);
    unsigned char ip[16], mac[6];
    int fam, r;
    if ((r = parse_ip("neighbour", n->ip, &fam, ip, err)) < 0 || (r = parse_mac(n->hw_addr, mac, err)) < 0)
      return cf_error_prefix(err, "%s", what);
    int ifindex = ifindex_of(sk, what, n->device, err);
    if (ifindex < 0)
      return ifindex;
    if (!apply)
      continue;
    struct rtnl_neigh *ne = rtnl_neigh_alloc();
    struct nl_addr *dst = addr_new(fam, ip, fam == AF_INET ? 32 : 128);
    struct nl_addr *ll = nl_addr_build(AF_LLC, mac, 6);
    rtnl_neigh_set_ifindex(ne, ifindex);
    rtnl_neigh_set_family(ne, fam);
    rtnl_neigh_set_dst(ne, dst);
    rtnl_neigh_set_lladdr(ne, ll);
    rtnl_neigh_set_state(ne, NUD_PERMANENT);
    int e = rtnl_neigh_add(sk, ne, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_neigh_put(ne);
    nl_addr_put(dst);
    nl_addr_put(ll);
    if (e < 0)
      return cf_err_status(err, CF_INTERNAL, "%s: %s", what, nl_geterror(e));
  }
  cf_info("network: %zu neighbour(s) added", req->n_neighbors);
  return 0;
}

/* ------------------------------------------------------------------ ttrpc */

#define DECODE(T, prefix, var)                                                       \
  _cleanup_pb_ T *var = prefix##__unpack(NULL, len, payload);                         \
  if (!var) {                                                                        \
    ttrpc_call_reply_status(call, CF_INVALID_ARGUMENT, "%s: malformed request",     \
                            ttrpc_call_method(call));                                \
    return;                                                                          \
  }

static void reply(ttrpc_call *call, int r, const cf_error *err) {
  if (r < 0) {
    cf_warn("%s: %s", ttrpc_call_method(call), err->msg);
    ttrpc_call_reply_status(call, err->status ? err->status : CF_INTERNAL, "%s", err->msg);
    return;
  }
  ttrpc_call_reply(call, NULL);
}

/* A host-process agent (process backend) shares the host's network: it
 * must never reconfigure it. */
static bool in_guest(agent *a, ttrpc_call *call) {
  if (a->pid1)
    return true;
  ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION,
                          "%s: network configuration is done only by the guest's agent (PID 1)",
                          ttrpc_call_method(call));
  return false;
}

static void h_update_interface(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  agent *a = data;
  DECODE(Coffer__Agent__V1__UpdateInterfaceRequest, coffer__agent__v1__update_interface_request, req);
  if (!in_guest(a, call))
    return;
  if (a->modules)
    init_load_modules(a->modules, "net"); /* virtio-net, once */
  cf_error err = {0};
  reply(call, agent_net_update_interface(req, NIC_WAIT_MS, &err), &err);
}

static void h_update_routes(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  DECODE(Coffer__Agent__V1__UpdateRoutesRequest, coffer__agent__v1__update_routes_request, req);
  if (!in_guest(data, call))
    return;
  cf_error err = {0};
  reply(call, agent_net_update_routes(req, &err), &err);
}

static void h_add_neighbors(ttrpc_call *call, const uint8_t *payload, size_t len, void *data) {
  DECODE(Coffer__Agent__V1__AddNeighborsRequest, coffer__agent__v1__add_neighbors_request, req);
  if (!in_guest(data, call))
    return;
  cf_error err = {0};
  reply(call, agent_net_add_neighbors(req, &err), &err);
}

int agent_net_register(agent *a, cf_error *err) {
  if (agent_service_add(a, SERVICE, "UpdateInterface", h_update_interface, err) < 0 ||
      agent_service_add(a, SERVICE, "UpdateRoutes", h_update_routes, err) < 0 ||
      agent_service_add(a, SERVICE, "AddNeighbors", h_add_neighbors, err) < 0)
    return -EIO;
  return 0;
}
