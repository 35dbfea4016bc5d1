/* An image's config from containerd: the name's target (ctr images ls, or a
 * digest in the reference), then index -> manifest (linux/amd64) -> config,
 * read from the content store directory or with `ctr content get`; every
 * blob is checked against its digest. */
#ifndef COFFER_POLICY_IMAGE_H
#define COFFER_POLICY_IMAGE_H

#include <json-c/json.h>

#include "coffer/error.h"

typedef struct image_source {
  const char *address;     /* containerd socket (ctr -a) */
  const char *namespace;   /* ctr -n */
  const char *content_dir; /* .../io.containerd.content.v1.content/blobs/sha256, or NULL: ctr content get */
} image_source;

typedef struct image_info {
  char ref[512];     /* normalized: docker.io/library/busybox:latest */
  char digest[80];   /* the name's target (index or manifest): sha256:<hex> */
  json_object *config; /* the config's "config" object (Entrypoint, Cmd, Env, ...); owned */
  json_object *layers; /* the manifest's layers [{digest, mediaType}], bottom first; owned */
} image_info;

/* busybox -> docker.io/library/busybox:latest; keeps a tag or a digest. */
int image_ref_normalize(const char *ref, char *out, size_t cap, cf_error *err);
int image_lookup(const image_source *src, const char *ref, image_info *out, cf_error *err);
void image_info_clear(image_info *info);
/* A file of the image's root (path relative, e.g. "etc/group") as the
 * topmost layer that has it holds it (tar extracts it from each layer blob,
 * top down). *buf is NULL when no layer has it. Layer blobs are trusted
 * as containerd stored them (it checked their digests on pull). */
int image_read_file(const image_source *src, const image_info *img, const char *path, char **buf,
                    cf_error *err);

#endif
