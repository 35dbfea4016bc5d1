#include "coffer/vmm.h"

#include <string.h>

extern const cf_vmm_ops cf_vmm_process_ops;
extern const cf_vmm_ops cf_vmm_libvirt_ops;

/* Every backend, by name. Each entry is a strong reference: a build that
 * leaves one out fails to link instead of failing a pod at run time. */
static const cf_vmm_ops *const backends[] = {&cf_vmm_process_ops, &cf_vmm_libvirt_ops};

const cf_vmm_ops *cf_vmm_lookup(const char *name) {
  for (size_t i = 0; name && i < sizeof(backends) / sizeof(backends[0]); i++)
    if (strcmp(backends[i]->name, name) == 0)
      return backends[i];
  return NULL;
}
