/* CRI port forwarding into the VM (coffer/pod_net.h).
 *
 * containerd serves PortForward by dialing localhost:PORT from inside the
 * pod's netns. With the tc model nothing there listens: the pod's processes
 * are in the guest. So, in the pod netns:
 *   - nat OUTPUT: TCP to 127.0.0.1 is DNATed to CF_NET_PF_GUEST_IP (same
 *     port), which the guest NIC holds as a second address;
 *   - a route to it through the tap and a permanent neighbour entry with
 *     the guest's MAC (no ARP through the redirects);
 *   - nat POSTROUTING: the 127.0.0.1 source becomes CF_NET_PF_HOST_IP, an
 *     address of the tap (route_localnet on the tap lets 127.0.0.1 leave
 *     it before that rewrite, and lets the un-NATed reply in);
 *   - a u32 filter ahead of the tap's redirect passes frames for
 *     CF_NET_PF_HOST_IP to the netns's own stack: the guest's replies.
 * The guest routes CF_NET_PF_HOST_IP on-link with a permanent neighbour
 * (CF_NET_TAP_MAC, the tap's). Nothing of this reaches the pod network:
 * both addresses are link-local and live on the tap-guest link only. The
 * NAT rules go with the pod's netns. Needs iptables (as CNI's portmap). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_sched.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/pod_net.h"
#include "net_internal.h"

#define INGRESS_HANDLE 0xffff0000U
#define PASS_PRIO 1 /* ahead of the redirects (tc.c) */

static int build_addr(const char *ip, int prefix, struct nl_addr **out) {
  int r = nl_addr_parse(ip, AF_INET, out);
  if (r == 0)
    nl_addr_set_prefixlen(*out, prefix);
  return r;
}

static int tap_address(struct nl_sock *sk, int tap) {
  struct nl_addr *local = NULL;
  int r = build_addr(CF_NET_PF_HOST_IP, 32, &local);
  struct rtnl_addr *a = rtnl_addr_alloc();
  if (r == 0) {
    rtnl_addr_set_ifindex(a, tap);
    rtnl_addr_set_local(a, local);
    rtnl_addr_set_scope(a, RT_SCOPE_LINK);
    r = rtnl_addr_add(sk, a, NLM_F_CREATE | NLM_F_REPLACE);
  }
  rtnl_addr_put(a);
  nl_addr_put(local);
  return r == -NLE_EXIST ? 0 : r;
}

static int tap_route_localnet(struct nl_sock *sk, struct rtnl_link *tap) {
  struct rtnl_link *chg = rtnl_link_alloc();
  int r = rtnl_link_inet_set_conf(chg, IPV4_DEVCONF_ROUTE_LOCALNET, 1);
  if (r == 0)
    r = rtnl_link_change(sk, tap, chg, 0);
  rtnl_link_put(chg);
  return r;
}

static int guest_route(struct nl_sock *sk, int tap) {
  struct nl_addr *dst = NULL;
  int r = build_addr(CF_NET_PF_GUEST_IP, 32, &dst);
  struct rtnl_route *ro = rtnl_route_alloc();
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
  if (r == 0) {
    rtnl_route_set_family(ro, AF_INET);
    rtnl_route_set_dst(ro, dst);
    rtnl_route_set_table(ro, RT_TABLE_MAIN);
    rtnl_route_set_scope(ro, RT_SCOPE_LINK);
    rtnl_route_set_type(ro, RTN_UNICAST);
    rtnl_route_nh_set_ifindex(nh, tap);
    rtnl_route_add_nexthop(ro, nh);
    nh = NULL;
    r = rtnl_route_add(sk, ro, NLM_F_CREATE | NLM_F_REPLACE);
  }
  if (nh)
    rtnl_route_nh_free(nh);
  rtnl_route_put(ro);
  nl_addr_put(dst);
  return r;
}

static int guest_neigh(struct nl_sock *sk, int tap, const char *guest_mac) {
  struct nl_addr *dst = NULL, *ll = NULL;
  int r = build_addr(CF_NET_PF_GUEST_IP, 32, &dst);
  if (r == 0)
    r = nl_addr_parse(guest_mac, AF_LLC, &ll);
  struct rtnl_neigh *ne = rtnl_neigh_alloc();
  if (r == 0) {
    rtnl_neigh_set_ifindex(ne, tap);
    rtnl_neigh_set_family(ne, AF_INET);
    rtnl_neigh_set_dst(ne, dst);
    rtnl_neigh_set_lladdr(ne, ll);
    rtnl_neigh_set_state(ne, NUD_PERMANENT);
    r = rtnl_neigh_add(sk, ne, NLM_F_CREATE | NLM_F_REPLACE);
  }
  rtnl_neigh_put(ne);
  nl_addr_put(dst);
  nl_addr_put(ll);
  return r;
}

/* tc filter add dev TAP parent ffff: protocol ip prio 1 u32 match ip dst
 * HOST_IP/32 classid ffff:1 -- a match without action: the frame goes on
 * to the netns's stack instead of the redirect (gact is not built here). */
static int pass_filter(struct nl_sock *sk, int tap) {
  struct in_addr ip;
  inet_pton(AF_INET, CF_NET_PF_HOST_IP, &ip);
  struct rtnl_cls *c = rtnl_cls_alloc();
  if (!c)
    return -NLE_NOMEM;
  rtnl_tc_set_ifindex(TC_CAST(c), tap);
  rtnl_tc_set_parent(TC_CAST(c), INGRESS_HANDLE);
  rtnl_cls_set_prio(c, PASS_PRIO);
  rtnl_cls_set_protocol(c, ETH_P_IP);
  int r = rtnl_tc_set_kind(TC_CAST(c), "u32");
  if (r == 0) /* the IPv4 destination: offset 16 of the network header */
    r = rtnl_u32_add_key_uint32(c, ntohl(ip.s_addr), 0xffffffffU, 16, 0);
  if (r == 0)
    r = rtnl_u32_set_classid(c, TC_H_MAKE(INGRESS_HANDLE, 1));
  if (r == 0)
    r = rtnl_u32_set_cls_terminal(c);
  if (r == 0)
    r = rtnl_cls_add(sk, c, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_cls_put(c);
  return r;
}

/* iptables -t nat ARGS in the netns at path (a child enters it, then
 * execs); its exit status in *status. Output goes to /dev/null when quiet
 * (a -C that finds nothing says so on stderr), else stderr is kept. */
static int iptables_run(const char *netns_path, const char *const *args, bool quiet, int *status,
                        cf_error *err) {
  _cleanup_close_ int ns = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (ns < 0)
    return cf_err(err, errno, "open network namespace %s", netns_path);
  const char *argv[24] = {"iptables", "-w", "5", "-t", "nat"};
  size_t n = 5;
  for (size_t i = 0; args[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid < 0)
    return cf_err(err, errno, "fork for iptables");
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, 1);
      if (quiet)
        dup2(null, 2);
    }
    if (setns(ns, CLONE_NEWNET) < 0)
      _exit(126);
    execvp("iptables", (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 0;
}

static int iptables_in(const char *netns_path, const char *const *args, cf_error *err) {
  int st = 0;
  if (iptables_run(netns_path, args, false, &st, err) < 0)
    return -EIO;
  if (st != 0)
    return cf_err_status(err, CF_INTERNAL, "iptables -t nat %s %s in %s: %s", args[0], args[1], netns_path,
                         st == 127   ? "iptables is not installed"
                         : st == 126 ? "cannot enter the namespace"
                                     : "failed");
  return 0;
}

/* The two NAT rules of a pod's tap, with op ("-A", "-C" or "-D") first. */
#define DNAT_RULE(op) {op, "OUTPUT", "-d", "127.0.0.1/32", "-p", "tcp", "-j", "DNAT", \
                       "--to-destination", CF_NET_PF_GUEST_IP, NULL}
#define SNAT_RULE(op, tap) {op, "POSTROUTING", "-o", tap, "-s", "127.0.0.1/32", "-j", "SNAT", \
                            "--to-source", CF_NET_PF_HOST_IP, NULL}

/* 1 when the rule (args with -C) is in the netns's nat table, else 0. */
static int rule_present(const char *netns_path, const char *const *check, cf_error *err) {
  int st = 0;
  if (iptables_run(netns_path, check, true, &st, err) < 0)
    return -EIO;
  return st == 0;
}

/* Add a rule unless it is there already (a second start in the same netns
 * must not stack a second DNAT). */
static int rule_ensure(const char *netns_path, const char *const *check, const char *const *add,
                       cf_error *err) {
  int r = rule_present(netns_path, check, err);
  if (r != 0)
    return r < 0 ? r : 0;
  return iptables_in(netns_path, add, err);
}

/* Delete every copy of a rule; an absent rule (or no iptables: then none
 * was added) is fine. */
static int rule_remove(const char *netns_path, const char *const *check, const char *const *del,
                       cf_error *err) {
  for (int i = 0; i < 8; i++) {
    int r = rule_present(netns_path, check, err);
    if (r <= 0)
      return r;
    if (iptables_in(netns_path, del, err) < 0)
      return -EIO;
  }
  return cf_err_status(err, CF_INTERNAL, "iptables -t nat %s %s in %s: still present after 8 deletions",
                       check[0], check[1], netns_path);
}

int cf_pod_net_portforward(const char *netns_path, const cf_net_iface *ifc, cf_error *err) {
  struct nl_sock *sk = cf_net_sock(netns_path, err);
  if (!sk)
    return -EIO;
  struct rtnl_link *tap = NULL;
  int r = rtnl_link_get_kernel(sk, 0, ifc->tap, &tap);
  const char *step = "find the tap";
  int idx = r == 0 ? rtnl_link_get_ifindex(tap) : 0;
  if (r == 0 && (r = tap_address(sk, idx)) < 0)
    step = "address " CF_NET_PF_HOST_IP " on the tap";
  else if (r == 0 && (r = tap_route_localnet(sk, tap)) < 0)
    step = "route_localnet on the tap";
  else if (r == 0 && (r = guest_route(sk, idx)) < 0)
    step = "route to " CF_NET_PF_GUEST_IP;
  else if (r == 0 && (r = guest_neigh(sk, idx, ifc->mac)) < 0)
    step = "neighbour " CF_NET_PF_GUEST_IP;
  else if (r == 0 && (r = pass_filter(sk, idx)) < 0)
    step = "u32 filter passing " CF_NET_PF_HOST_IP;
  rtnl_link_put(tap);
  nl_socket_free(sk);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "port forwarding through %s: %s: %s", ifc->tap, step,
                         nl_geterror(r));
  const char *dnat_c[] = DNAT_RULE("-C"), *dnat_a[] = DNAT_RULE("-A");
  const char *snat_c[] = SNAT_RULE("-C", ifc->tap), *snat_a[] = SNAT_RULE("-A", ifc->tap);
  /* the reply path first: a DNAT without it would black-hole localhost */
  if (rule_ensure(netns_path, snat_c, snat_a, err) < 0 || rule_ensure(netns_path, dnat_c, dnat_a, err) < 0)
    return cf_error_prefix(err, "port forwarding through %s", ifc->tap);
  return 0;
}

int cf_pod_net_portforward_remove(const char *netns_path, const char *tap, cf_error *err) {
  if (!netns_path || !*netns_path || access(netns_path, F_OK) != 0)
    return 0; /* the netns, and its rules with it, are gone */
  const char *dnat_c[] = DNAT_RULE("-C"), *dnat_d[] = DNAT_RULE("-D");
  const char *snat_c[] = SNAT_RULE("-C", tap), *snat_d[] = SNAT_RULE("-D", tap);
  /* the DNAT first: without its reply path it would black-hole localhost */
  if (rule_remove(netns_path, dnat_c, dnat_d, err) < 0 || rule_remove(netns_path, snat_c, snat_d, err) < 0)
    return cf_error_prefix(err, "port forwarding rules of %s", tap);
  return 0;
}
