/* Domain XML for a pod's VM, written with libxml2's xmlTextWriter so ids and
 * paths from outside are always escaped, never spliced into markup. */
#ifndef COFFER_VMM_DOMAIN_XML_H
#define COFFER_VMM_DOMAIN_XML_H

#include "spec.h"

/* Namespace of the <metadata> element that tags coffer's domains. */
#define COFFER_XML_NS "https://coffer.dev/xmlns/vmm/1"

/* Facts of the host the XML depends on (probed by domain_xml_host_probe,
 * or set by a caller that must not depend on this host: golden tests). */
typedef struct domain_xml_host {
  bool vhost_net; /* /dev/vhost-net usable: pod NICs get the in-kernel virtio-net backend */
} domain_xml_host;

domain_xml_host domain_xml_host_probe(void);

/* Returns malloc'd XML; spec must be validated and accel resolved (kvm|tcg).
 * host NULL: probed. */
char *domain_xml_build(const vm_spec *s, const domain_xml_host *host, cf_error *err);

#endif
