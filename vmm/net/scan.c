/* Reading a pod's network namespace (libnl-route-3): see coffer/pod_net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <string.h>

#include "coffer/pod_net.h"
#include "net_internal.h"

int cf_pod_net_netns_from_spec(const char *spec_json, char *path, size_t cap, cf_error *err) {
  path[0] = 0;
  json_object *o = json_tokener_parse(spec_json);
  if (!o)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "OCI spec: not JSON");
  json_object *linux_, *nss;
  int found = 0;
  if (json_object_object_get_ex(o, "linux", &linux_) &&
      json_object_object_get_ex(linux_, "namespaces", &nss) &&
      json_object_is_type(nss, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(nss); i++) {
      json_object *ns = json_object_array_get_idx(nss, i), *t, *p;
      if (!json_object_object_get_ex(ns, "type", &t) ||
          strcmp(json_object_get_string(t) ? json_object_get_string(t) : "", "network") != 0)
        continue;
      /* a network namespace without a path is a new empty one: no NIC */
      if (json_object_object_get_ex(ns, "path", &p) && json_object_get_string(p) &&
          *json_object_get_string(p)) {
        if ((size_t)snprintf(path, cap, "%s", json_object_get_string(p)) >= cap) {
          json_object_put(o);
          return cf_err_status(err, CF_INVALID_ARGUMENT, "OCI spec: network namespace path too long");
        }
        found = 1;
      }
    }
  }
  json_object_put(o);
  return found;
}

void cf_pod_net_tap_name(const char *pod_id, unsigned index, char out[IFNAMSIZ]) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: a name, not a secret */
  for (const char *p = pod_id; *p; p++)
    h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
  snprintf(out, IFNAMSIZ, "cof%011llx%u", (unsigned long long)(h & 0xfffffffffffULL), index % 10);
}

static void addr_str(struct nl_addr *a, char *out, size_t cap) {
  out[0] = 0;
  if (!a || nl_addr_get_len(a) == 0)
    return;
  int fam = nl_addr_get_family(a);
  if (fam == AF_INET || fam == AF_INET6)
    inet_ntop(fam, nl_addr_get_binary_addr(a), out, (socklen_t)cap);
}

static cf_net_iface *iface_by_index(cf_pod_net *n, int ifindex) {
  for (unsigned i = 0; i < n->nifaces; i++)
    if (n->ifaces[i].ifindex == ifindex)
      return &n->ifaces[i];
  return NULL;
}

static int scan_links(struct nl_sock *sk, const char *pod_id, cf_pod_net *n, cf_error *err) {
  struct nl_cache *links = NULL, *addrs = NULL;
  int r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "list links: %s", nl_geterror(r));
  if ((r = rtnl_addr_alloc_cache(sk, &addrs)) < 0) {
    nl_cache_free(links);
    return cf_err_status(err, CF_INTERNAL, "list addresses: %s", nl_geterror(r));
  }
  for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
    struct rtnl_link *l = (struct rtnl_link *)o;
    struct nl_addr *ll = rtnl_link_get_addr(l);
    if ((rtnl_link_get_flags(l) & IFF_LOOPBACK) || !ll || nl_addr_get_len(ll) != 6)
      continue;
    cf_net_iface ifc = {.ifindex = rtnl_link_get_ifindex(l), .mtu = rtnl_link_get_mtu(l),
                        .flags = rtnl_link_get_flags(l)};
    snprintf(ifc.name, sizeof(ifc.name), "%s", rtnl_link_get_name(l));
    const unsigned char *m = nl_addr_get_binary_addr(ll);
    snprintf(ifc.mac, sizeof(ifc.mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
             m[4], m[5]);
    for (struct nl_object *ao = nl_cache_get_first(addrs); ao; ao = nl_cache_get_next(ao)) {
      struct rtnl_addr *a = (struct rtnl_addr *)ao;
      if (rtnl_addr_get_ifindex(a) != ifc.ifindex || ifc.naddrs >= CF_NET_MAX_ADDRS)
        continue;
      int fam = rtnl_addr_get_family(a);
      /* link-local v6 addresses the guest kernel makes itself */
      if (fam != AF_INET && (fam != AF_INET6 || rtnl_addr_get_scope(a) == RT_SCOPE_LINK))
        continue;
      cf_net_addr *x = &ifc.addrs[ifc.naddrs];
      x->family = fam;
      x->prefix = (unsigned)rtnl_addr_get_prefixlen(a);
      addr_str(rtnl_addr_get_local(a), x->ip, sizeof(x->ip));
      if (x->ip[0])
        ifc.naddrs++;
    }
    if (ifc.naddrs == 0)
      continue; /* nothing the pod can be reached at */
    if (n->nifaces >= CF_NET_MAX_IFACES) {
      nl_cache_free(addrs);
      nl_cache_free(links);
      return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "more than %d interfaces with addresses",
                           CF_NET_MAX_IFACES);
    }
    cf_pod_net_tap_name(pod_id, n->nifaces, ifc.tap);
    n->ifaces[n->nifaces++] = ifc;
  }
  nl_cache_free(addrs);
  nl_cache_free(links);
  return 0;
}

/* An interface name into a record of the same scan (both live in *out, so
 * not through snprintf, which may not read what it writes). */
static void copy_name(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memmove(dst, src, n);
  dst[n] = '\0';
}

static int scan_routes(struct nl_sock *sk, cf_pod_net *n, cf_error *err) {
  struct nl_cache *routes = NULL;
  int r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "list routes: %s", nl_geterror(r));
  for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
    struct rtnl_route *rt = (struct rtnl_route *)o;
    int fam = rtnl_route_get_family(rt);
    if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || rtnl_route_get_protocol(rt) == RTPROT_KERNEL ||
        rtnl_route_get_type(rt) != RTN_UNICAST || (fam != AF_INET && fam != AF_INET6) ||
        rtnl_route_get_nnexthops(rt) != 1)
      continue;
    struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
    cf_net_iface *ifc = iface_by_index(n, rtnl_route_nh_get_ifindex(nh));
    if (!ifc || n->nroutes >= CF_NET_MAX_ROUTES)
      continue;
    cf_net_route *x = &n->routes[n->nroutes];
    memset(x, 0, sizeof(*x));
    x->family = fam;
    x->scope = rtnl_route_get_scope(rt);
    copy_name(x->device, sizeof(x->device), ifc->name);
    struct nl_addr *dst = rtnl_route_get_dst(rt);
    if (dst && nl_addr_get_prefixlen(dst) > 0) {
      char ip[CF_NET_IP_MAX];
      addr_str(dst, ip, sizeof(ip));
      snprintf(x->dest, sizeof(x->dest), "%s/%u", ip, nl_addr_get_prefixlen(dst));
    }
    addr_str(rtnl_route_nh_get_gateway(nh), x->gateway, sizeof(x->gateway));
    addr_str(rtnl_route_get_pref_src(rt), x->source, sizeof(x->source));
    n->nroutes++;
  }
  nl_cache_free(routes);
  return 0;
}

static int scan_neighs(struct nl_sock *sk, cf_pod_net *n, cf_error *err) {
  struct nl_cache *neighs = NULL;
  int r = rtnl_neigh_alloc_cache(sk, &neighs);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "list neighbours: %s", nl_geterror(r));
  for (struct nl_object *o = nl_cache_get_first(neighs); o; o = nl_cache_get_next(o)) {
    struct rtnl_neigh *ne = (struct rtnl_neigh *)o;
    cf_net_iface *ifc = iface_by_index(n, rtnl_neigh_get_ifindex(ne));
    struct nl_addr *ll = rtnl_neigh_get_lladdr(ne);
    if (!ifc || !(rtnl_neigh_get_state(ne) & NUD_PERMANENT) || !ll || nl_addr_get_len(ll) != 6 ||
        n->nneighs >= CF_NET_MAX_NEIGHS)
      continue;
    cf_net_neigh *x = &n->neighs[n->nneighs];
    addr_str(rtnl_neigh_get_dst(ne), x->ip, sizeof(x->ip));
    if (!x->ip[0])
      continue;
    const unsigned char *m = nl_addr_get_binary_addr(ll);
    snprintf(x->mac, sizeof(x->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
             m[4], m[5]);
    copy_name(x->device, sizeof(x->device), ifc->name);
    n->nneighs++;
  }
  nl_cache_free(neighs);
  return 0;
}

int cf_pod_net_scan(const char *netns_path, const char *pod_id, cf_pod_net *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  struct nl_sock *sk = cf_net_sock(netns_path, err);
  if (!sk)
    return -EIO;
  int r = scan_links(sk, pod_id, out, err);
  if (r == 0)
    r = scan_routes(sk, out, err);
  if (r == 0)
    r = scan_neighs(sk, out, err);
  nl_socket_free(sk);
  return r < 0 ? cf_error_prefix(err, "network namespace %s", netns_path) : 0;
}
