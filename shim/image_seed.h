/* The host side of guest-pulled images (deploy/README.md, "Encrypted and
 * guest-pulled images"): a pod names the images its guest pulls in the
 * sandbox annotation io.coffer.guest-pull-images; the kubelet creates the
 * sandbox before it pulls the pod's images, so the sandbox's `start` runs the
 * configured seed tool (config key image_seed, deploy/coffer-image-seed) for
 * them first, and containerd's CRI pull then skips the layers only the guest
 * can read instead of failing on them. */
#ifndef COFFER_SHIM_IMAGE_SEED_H
#define COFFER_SHIM_IMAGE_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include "coffer/error.h"
#include "config.h"

#define SHIM_GUEST_PULL_ANNOTATION "io.coffer.guest-pull-images"
#define SHIM_IMAGE_SEED_MAX_IMAGES 16
#define SHIM_IMAGE_REF_MAX 255
#define SHIM_IMAGE_SEED_TIMEOUT_MS 60000 /* under the kubelet's 2 min runtime request timeout */

typedef struct shim_image_list {
  size_t n;
  char refs[SHIM_IMAGE_SEED_MAX_IMAGES][SHIM_IMAGE_REF_MAX + 1];
} shim_image_list;

/* A reference as the kubelet passes it: registry/path[:tag][@digest], at
 * most SHIM_IMAGE_REF_MAX bytes, no shell or option syntax. */
bool shim_image_ref_valid(const char *r, size_t len);
/* The annotation's value (comma or space separated references) into out
 * (which the caller zeroed); an invalid reference or too many is an error. */
int shim_image_list_parse(const char *value, shim_image_list *out, cf_error *err);

/* The images a sandbox spec's annotation names (comma or space separated),
 * each checked to be a plain image reference. A spec that is no sandbox or
 * has no such annotation gives an empty list. */
int shim_guest_pull_images(const char *spec_json, shim_image_list *out, cf_error *err);

/* Runs cfg->image_seed for the images of the bundle's sandbox spec, against
 * containerd at address in namespace ns; 0 when there is nothing to seed or
 * the seed succeeded, else an error quoting the tool's last output line. */
int shim_image_seed_bundle(const shim_config *cfg, const char *bundle, const char *address,
                           const char *ns, cf_error *err);
/* The same with another bound (tests); the tool's process group is killed
 * when it has not finished within timeout_ms. */
int shim_image_seed_bundle_within(const shim_config *cfg, const char *bundle, const char *address,
                                  const char *ns, int timeout_ms, cf_error *err);

#endif
