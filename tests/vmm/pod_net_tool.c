/* Test tool for vmm/net (coffer/pod_net.h), run by pod_net_host.sh:
 *   pod_net_tool scan NETNS POD         print what the scan found
 *   pod_net_tool attach NETNS POD       scan, create the taps, attach them
 *   pod_net_tool portforward NETNS POD  scan, port forwarding through eth0's tap only
 *   pod_net_tool detach NETNS POD       scan-free teardown (NAT rules, tap 0, eth0's
 *                                       qdisc), as the backend's teardown does it
 * The taps are not held open by a VM here: the redirects still install. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "coffer/pod_net.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s scan|attach|portforward|detach NETNS POD\n", argv[0]);
    return 2;
  }
  cf_error err = {0};
  cf_pod_net n;
  if (!strcmp(argv[1], "detach")) {
    char tap[IFNAMSIZ];
    cf_pod_net_tap_name(argv[3], 0, tap);
    if (cf_pod_net_portforward_remove(argv[2], tap, &err) < 0) {
      fprintf(stderr, "detach: %s\n", err.msg);
      return 1;
    }
    if (cf_pod_net_detach(argv[2], "eth0", tap, &err) < 0) {
      fprintf(stderr, "detach: %s\n", err.msg);
      return 1;
    }
    return 0;
  }
  if (cf_pod_net_scan(argv[2], argv[3], &n, &err) < 0) {
    fprintf(stderr, "scan: %s\n", err.msg);
    return 1;
  }
  for (unsigned i = 0; i < n.nifaces; i++) {
    const cf_net_iface *f = &n.ifaces[i];
    printf("iface %s mac %s mtu %u tap %s", f->name, f->mac, f->mtu, f->tap);
    for (unsigned j = 0; j < f->naddrs; j++)
      printf(" addr %s/%u", f->addrs[j].ip, f->addrs[j].prefix);
    printf("\n");
  }
  for (unsigned i = 0; i < n.nroutes; i++)
    printf("route %s via %s dev %s scope %d\n", n.routes[i].dest[0] ? n.routes[i].dest : "default",
           n.routes[i].gateway[0] ? n.routes[i].gateway : "-", n.routes[i].device, n.routes[i].scope);
  for (unsigned i = 0; i < n.nneighs; i++)
    printf("neigh %s lladdr %s dev %s\n", n.neighs[i].ip, n.neighs[i].mac, n.neighs[i].device);
  if (!strcmp(argv[1], "attach"))
    for (unsigned i = 0; i < n.nifaces; i++)
      if (cf_pod_net_tap_create(n.ifaces[i].tap, &err) < 0 ||
          cf_pod_net_attach(argv[2], &n.ifaces[i], &err) < 0) {
        fprintf(stderr, "attach: %s\n", err.msg);
        return 1;
      }
  bool pf = !strcmp(argv[1], "attach") || !strcmp(argv[1], "portforward");
  if (pf && n.nifaces && cf_pod_net_portforward(argv[2], &n.ifaces[0], &err) < 0) {
    fprintf(stderr, "portforward: %s\n", err.msg);
    return 1;
  }
  return 0;
}
