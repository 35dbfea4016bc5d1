/* Domain XML for a pod's VM, written with libxml2's xmlTextWriter so ids and
 * paths from outside are always escaped, never spliced into markup. */
#ifndef COFFER_VMM_DOMAIN_XML_H
#define COFFER_VMM_DOMAIN_XML_H

#include "spec.h"

/* Namespace of the <metadata> element that tags coffer's domains. */
#define COFFER_XML_NS "https://coffer.dev/xmlns/vmm/1"

/* Returns malloc'd XML; spec must be validated and accel resolved (kvm|tcg). */
char *domain_xml_build(const vm_spec *s, cf_error *err);

#endif
