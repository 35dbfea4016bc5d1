#include "coffer/vmm.h"

#include <string.h>

/* Backends register by defining these; a build without one simply lacks it. */
extern const cf_vmm_ops cf_vmm_process_ops __attribute__((weak));
extern const cf_vmm_ops cf_vmm_libvirt_ops __attribute__((weak));

const cf_vmm_ops *cf_vmm_lookup(const char *name) {
  const cf_vmm_ops *all[] = {&cf_vmm_process_ops, &cf_vmm_libvirt_ops};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    if (all[i] && name && strcmp(all[i]->name, name) == 0)
      return all[i];
  return NULL;
}
