/* The tap and the tc redirects between it and the pod's interface (libnl). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/pod_net.h"
#include "net_internal.h"

#define INGRESS_HANDLE 0xffff0000U /* ffff: */
#define FILTER_PRIO 2 /* prio 1: portfwd.c's pass filter */
#define EBUSY_RETRIES 10

struct nl_sock *cf_net_sock(const char *netns_path, cf_error *err) {
  _cleanup_close_ int self = -1, target = -1;
  if (netns_path && *netns_path) {
    if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
      cf_err(err, errno, "open own network namespace");
      return NULL;
    }
    if ((target = open(netns_path, O_RDONLY | O_CLOEXEC)) < 0) {
      cf_err(err, errno, "open network namespace %s", netns_path);
      return NULL;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      cf_err(err, errno, "enter network namespace %s", netns_path);
      return NULL;
    }
  }
  struct nl_sock *sk = nl_socket_alloc();
  int r = sk ? nl_connect(sk, NETLINK_ROUTE) : -NLE_NOMEM;
  if (self >= 0 && setns(self, CLONE_NEWNET) < 0)
    abort(); /* staying in the pod's netns would misroute everything after */
  if (r < 0) {
    nl_socket_free(sk);
    cf_err_status(err, CF_INTERNAL, "netlink socket: %s", nl_geterror(r));
    return NULL;
  }
  return sk;
}

int cf_pod_net_tap_create(const char *name, cf_error *err) {
  _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open /dev/net/tun");
  struct ifreq ifr = {0};
  /* IFF_TUN_EXCL: a tap of that name that exists already is not ours */
  ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL);
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    return cf_err(err, errno, "create tap %s", name);
  if (ioctl(fd, TUNSETPERSIST, 1) < 0)
    return cf_err(err, errno, "make tap %s persistent", name);
  return 0;
}

static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **out, cf_error *err) {
  int r = rtnl_link_get_kernel(sk, 0, name, out);
  if (r < 0)
    return cf_err_status(err, r == -NLE_OBJ_NOTFOUND ? CF_NOT_FOUND : CF_INTERNAL, "link %s: %s",
                         name, nl_geterror(r));
  return 0;
}

static int ingress_add(struct nl_sock *sk, int ifindex, const char *what, cf_error *err) {
  struct rtnl_qdisc *q = rtnl_qdisc_alloc();
  if (!q)
    return cf_err(err, ENOMEM, "qdisc");
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
  int r = rtnl_tc_set_kind(TC_CAST(q), "ingress");
  /* EBUSY: the device is still settling after the move */
  for (int i = 0; r == 0 && i < EBUSY_RETRIES; i++) {
    r = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
    if (r != -NLE_BUSY)
      break;
    usleep(10000);
  }
  rtnl_qdisc_put(q);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "ingress qdisc on %s: %s", what, nl_geterror(r));
  return 0;
}

/* tc filter add dev SRC parent ffff: protocol all prio 1 u32 match u8 0 0
 *   action mirred egress redirect dev DST */
static int redirect_add(struct nl_sock *sk, int src, int dst, const char *what, cf_error *err) {
  struct rtnl_cls *c = rtnl_cls_alloc();
  struct rtnl_act *a = rtnl_act_alloc();
  int r = !c || !a ? -NLE_NOMEM : 0;
  if (r == 0) {
    rtnl_tc_set_ifindex(TC_CAST(c), src);
    rtnl_tc_set_parent(TC_CAST(c), INGRESS_HANDLE);
    rtnl_cls_set_prio(c, FILTER_PRIO);
    rtnl_cls_set_protocol(c, ETH_P_ALL);
    r = rtnl_tc_set_kind(TC_CAST(c), "u32");
  }
  if (r == 0)
    r = rtnl_u32_add_key_uint32(c, 0, 0, 0, 0); /* match everything */
  if (r == 0)
    r = rtnl_u32_set_cls_terminal(c);
  if (r == 0)
    r = rtnl_tc_set_kind(TC_CAST(a), "mirred");
  if (r == 0) {
    rtnl_mirred_set_action(a, TCA_EGRESS_REDIR);
    rtnl_mirred_set_policy(a, TC_ACT_STOLEN);
    rtnl_mirred_set_ifindex(a, (uint32_t)dst);
    r = rtnl_u32_add_action(c, a);
  }
  if (r == 0)
    r = rtnl_cls_add(sk, c, NLM_F_CREATE | NLM_F_EXCL);
  if (a)
    rtnl_act_put(a);
  if (c)
    rtnl_cls_put(c);
  if (r < 0)
    return cf_err_status(err, CF_INTERNAL, "u32 mirred redirect %s: %s", what, nl_geterror(r));
  return 0;
}

static int tap_move(const char *netns_path, const char *tap, cf_error *err) {
  struct nl_sock *host = cf_net_sock(NULL, err);
  if (!host)
    return -EIO;
  _cleanup_close_ int ns = open(netns_path, O_RDONLY | O_CLOEXEC);
  struct rtnl_link *l = NULL, *chg = rtnl_link_alloc();
  int r = ns < 0 ? cf_err(err, errno, "open network namespace %s", netns_path) : 0;
  if (r == 0)
    r = link_get(host, tap, &l, err);
  if (r == 0) {
    rtnl_link_set_ns_fd(chg, ns);
    int e = rtnl_link_change(host, l, chg, 0);
    if (e < 0)
      r = cf_err_status(err, CF_INTERNAL, "move tap %s into %s: %s", tap, netns_path, nl_geterror(e));
  }
  rtnl_link_put(l);
  rtnl_link_put(chg);
  nl_socket_free(host);
  return r;
}

int cf_pod_net_attach(const char *netns_path, const cf_net_iface *ifc, cf_error *err) {
  int r = tap_move(netns_path, ifc->tap, err);
  if (r < 0)
    return r;
  struct nl_sock *sk = cf_net_sock(netns_path, err);
  if (!sk)
    return -EIO;
  struct rtnl_link *tap = NULL, *chg = rtnl_link_alloc();
  r = link_get(sk, ifc->tap, &tap, err);
  if (r == 0) {
    /* the move downed it; a fixed MAC the guest can name (port forwarding) */
    struct nl_addr *mac = NULL;
    if (nl_addr_parse(CF_NET_TAP_MAC, AF_LLC, &mac) == 0) {
      rtnl_link_set_addr(chg, mac);
      nl_addr_put(mac);
    }
    rtnl_link_set_mtu(chg, ifc->mtu);
    rtnl_link_set_flags(chg, IFF_UP);
    int e = rtnl_link_change(sk, tap, chg, 0);
    if (e < 0)
      r = cf_err_status(err, CF_INTERNAL, "tap %s: MTU %u and up: %s", ifc->tap, ifc->mtu,
                        nl_geterror(e));
  }
  int tapidx = tap ? rtnl_link_get_ifindex(tap) : 0;
  char what[64];
  if (r == 0)
    r = ingress_add(sk, ifc->ifindex, ifc->name, err);
  if (r == 0)
    r = ingress_add(sk, tapidx, ifc->tap, err);
  snprintf(what, sizeof(what), "%s -> %s", ifc->name, ifc->tap);
  if (r == 0)
    r = redirect_add(sk, ifc->ifindex, tapidx, what, err);
  snprintf(what, sizeof(what), "%s -> %s", ifc->tap, ifc->name);
  if (r == 0)
    r = redirect_add(sk, tapidx, ifc->ifindex, what, err);
  rtnl_link_put(tap);
  rtnl_link_put(chg);
  nl_socket_free(sk);
  return r;
}

static int ingress_del(struct nl_sock *sk, const char *dev, cf_error *err) {
  struct rtnl_link *l = NULL;
  if (rtnl_link_get_kernel(sk, 0, dev, &l) < 0)
    return 0; /* gone: so is its qdisc */
  struct rtnl_qdisc *q = rtnl_qdisc_alloc();
  rtnl_tc_set_ifindex(TC_CAST(q), rtnl_link_get_ifindex(l));
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
  rtnl_tc_set_kind(TC_CAST(q), "ingress");
  int r = rtnl_qdisc_delete(sk, q);
  rtnl_qdisc_put(q);
  rtnl_link_put(l);
  if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_INVAL && r != -NLE_NOADDR)
    return cf_err_status(err, CF_INTERNAL, "delete ingress qdisc of %s: %s", dev, nl_geterror(r));
  return 0;
}

static int link_del(struct nl_sock *sk, const char *dev, cf_error *err) {
  struct rtnl_link *l = NULL;
  if (rtnl_link_get_kernel(sk, 0, dev, &l) < 0)
    return 0;
  int r = rtnl_link_delete(sk, l);
  rtnl_link_put(l);
  if (r < 0 && r != -NLE_NODEV && r != -NLE_OBJ_NOTFOUND)
    return cf_err_status(err, CF_INTERNAL, "delete %s: %s", dev, nl_geterror(r));
  return 0;
}

int cf_pod_net_detach(const char *netns_path, const char *veth, const char *tap, cf_error *err) {
  int rc = 0;
  if (netns_path && *netns_path && access(netns_path, F_OK) == 0) {
    cf_error e = {0};
    struct nl_sock *sk = cf_net_sock(netns_path, &e);
    if (sk) {
      /* deleting the tap takes its qdisc and filter along */
      if (veth && *veth && ingress_del(sk, veth, err) < 0)
        rc = -EIO;
      if (tap && *tap && link_del(sk, tap, err) < 0)
        rc = -EIO;
      nl_socket_free(sk);
    }
  }
  /* never moved (a crash between create and attach) */
  struct nl_sock *host = cf_net_sock(NULL, err);
  if (!host)
    return -EIO;
  if (tap && *tap && link_del(host, tap, err) < 0)
    rc = -EIO;
  nl_socket_free(host);
  return rc;
}
