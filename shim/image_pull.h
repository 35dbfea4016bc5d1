/* Where a container's image is pulled: on the host (containerd's snapshot,
 * shared with the guest by the backend) or in the guest (the agent pulls
 * the reference CRI names; the host shares nothing of it). */
#ifndef COFFER_SHIM_IMAGE_PULL_H
#define COFFER_SHIM_IMAGE_PULL_H

#include <stddef.h>
#include "coffer/error.h"
#include "config.h"

#define SHIM_ANNOT_IMAGE_PULL "io.coffer.image-pull"
#define SHIM_ANNOT_IMAGE_NAME "io.kubernetes.cri.image-name"
#define SHIM_ANNOT_CONTAINER_TYPE "io.kubernetes.cri.container-type"

/* spec: the container's config.json text. *ref is NULL when the host's
 * rootfs is used (image_pull "host" and no annotation, or the sandbox's
 * pause container, whose image holds nothing of the pod's), else the image
 * reference the agent pulls (malloc'd). A pod may ask for a guest pull
 * (annotation io.coffer.image-pull=guest, or its image listed in the pod's
 * io.coffer.guest-pull-images, which the host only seeded: image_seed.h) but
 * never for less than the config says; a malformed annotation, or a guest
 * pull without the image name containerd's CRI sets, is an error naming it. */
int shim_image_pull_ref(const shim_config *c, const char *spec, size_t len, char **ref,
                        cf_error *err);

#endif
