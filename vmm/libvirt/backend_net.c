/* Pod NICs for the libvirt backend (coffer/pod_net.h).
 *
 * libvirt opens an existing tap by name in its own (the host's) netns, so
 * the taps are created in the host netns, named in the domain XML
 * (managed='no'), and moved into the pod's netns once QEMU holds them (the
 * guest is still booting then; the agent configures its NIC later).
 * <dir>/net records what to remove, before anything is created:
 *   line 1: the pod's netns path; then one "<pod interface> <tap>" a line. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/pod_net.h"
#include "spec.h"

#define NET_RECORD "net"

static bool has_nics(const cf_vm_config *cfg) {
  return cfg->net && cfg->net->nifaces > 0 && cfg->netns_path && *cfg->netns_path;
}

int lv_backend_net_prepare(const cf_vm_config *cfg, const char *dir, vm_spec *s, cf_error *err) {
  if (!has_nics(cfg))
    return 0;
  const cf_pod_net *n = cfg->net;
  if (n->nifaces > SPEC_MAX_NICS)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "pod has %u interfaces, at most %d", n->nifaces,
                         SPEC_MAX_NICS);
  char path[PATH_MAX + 8];
  snprintf(path, sizeof(path), "%s/" NET_RECORD, dir);
  _cleanup_fclose_ FILE *f = fopen(path, "we");
  if (!f)
    return cf_err(err, errno, "create %s", path);
  fprintf(f, "%s\n", cfg->netns_path);
  for (unsigned i = 0; i < n->nifaces; i++)
    fprintf(f, "%s %s\n", n->ifaces[i].name, n->ifaces[i].tap);
  if (fflush(f) != 0)
    return cf_err(err, errno, "write %s", path);
  for (unsigned i = 0; i < n->nifaces; i++) {
    const cf_net_iface *ifc = &n->ifaces[i];
    int r = cf_pod_net_tap_create(ifc->tap, err);
    if (r < 0)
      return cf_error_prefix(err, "pod interface %s", ifc->name);
    vm_nic *nic = &s->nics[s->nnics++];
    snprintf(nic->tap, sizeof(nic->tap), "%s", ifc->tap);
    snprintf(nic->mac, sizeof(nic->mac), "%s", ifc->mac);
    nic->mtu = ifc->mtu;
  }
  return vm_spec_validate_nics(s, err);
}

int lv_backend_net_attach(const cf_vm_config *cfg, cf_error *err) {
  if (!has_nics(cfg))
    return 0;
  for (unsigned i = 0; i < cfg->net->nifaces; i++) {
    const cf_net_iface *ifc = &cfg->net->ifaces[i];
    if (cf_pod_net_attach(cfg->netns_path, ifc, err) < 0)
      return cf_error_prefix(err, "pod interface %s", ifc->name);
    cf_info("pod %s: %s (%s, mtu %u) carried into the VM by tap %s", cfg->pod_id, ifc->name,
            ifc->mac, ifc->mtu, ifc->tap);
  }
  /* CRI PortForward through the first NIC; without it the pod still runs */
  cf_error pe = {0};
  if (cf_pod_net_portforward(cfg->netns_path, &cfg->net->ifaces[0], &pe) < 0)
    cf_warn("pod %s: no port forwarding: %s", cfg->pod_id, pe.msg);
  return 0;
}

void lv_backend_net_teardown(const char *pod_id, const char *dir) {
  char path[PATH_MAX + 8], netns[PATH_MAX + 2], line[128];
  snprintf(path, sizeof(path), "%s/" NET_RECORD, dir);
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f || !fgets(netns, sizeof(netns), f))
    return;
  netns[strcspn(netns, "\n")] = 0;
  bool first = true;
  while (fgets(line, sizeof(line), f)) {
    char veth[IFNAMSIZ], tap[IFNAMSIZ];
    if (sscanf(line, "%15s %15s", veth, tap) != 2)
      continue;
    cf_error err = {0};
    /* port forwarding goes through the first NIC (lv_backend_net_attach);
     * its NAT rules stay in the pod netns, which can outlive the shim */
    if (first && cf_pod_net_portforward_remove(netns, tap, &err) < 0)
      cf_warn("pod %s: %s", pod_id, err.msg);
    first = false;
    err = (cf_error){0};
    if (cf_pod_net_detach(netns, veth, tap, &err) < 0)
      cf_warn("pod %s: removing tap %s: %s", pod_id, tap, err.msg);
    else
      cf_info("pod %s: tap %s and the redirects of %s removed", pod_id, tap, veth);
  }
}
