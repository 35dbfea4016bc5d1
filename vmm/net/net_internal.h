/* Internals of vmm/net (pod networking, host side). */
#ifndef COFFER_VMM_NET_INTERNAL_H
#define COFFER_VMM_NET_INTERNAL_H

#include <netlink/netlink.h>
#include "coffer/error.h"

/* A NETLINK_ROUTE socket in the netns at path (NULL or "": the caller's):
 * the thread enters it only to open the socket, which stays bound to it. */
struct nl_sock *cf_net_sock(const char *netns_path, cf_error *err);

#endif
