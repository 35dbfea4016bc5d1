/* Guest pull: an OCI image fetched from its registry and unpacked by the
 * guest itself, so the host never holds the image's files in clear.
 *
 * Every byte is checked before use: the manifest (and index) against the
 * digest it was asked for or pinned to, the config and each layer blob
 * against the manifest's descriptor while it streams in (size and digest),
 * each uncompressed layer against the config's diff_id. A layer is unpacked
 * only after its blob verified. Sizes and the total time are bounded. */
#ifndef COFFER_AGENT_IMAGE_H
#define COFFER_AGENT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

/* A layer as the manifest describes it. */
struct cf_image_layer {
  size_t index;              /* 0 = the base layer */
  const char *media_type;    /* as in the manifest, e.g. …tar+gzip+encrypted */
  const char *digest;        /* "sha256:…" of the blob */
  uint64_t size;             /* of the blob */
  const char *const *annotations; /* key, value, key, value, …, NULL */
};

/* Called for each layer after its blob verified, before it is unpacked:
 * `blob_fd` reads the verified blob from offset 0. To leave the layer as it
 * is, return 0 with *out_fd = -1. To transform it (decryption), return 0 with
 * *out_fd a readable fd (read from its current offset to EOF; the library
 * closes it) and *out_media_type the malloc()ed media type of what it yields
 * (e.g. application/vnd.oci.image.layer.v1.tar+gzip). A negative return
 * (with `err` filled) fails the pull. */
typedef int (*cf_image_layer_hook)(void *ud, const struct cf_image_layer *layer, int blob_fd,
                                   int *out_fd, char **out_media_type, cf_error *err);

/* Zero fields take the defaults in brackets. */
struct cf_image_pull_opts {
  const char *ca_file;   /* PEM file of trusted CAs, or */
  const char *ca_pem;    /* PEM text (e.g. from init-data); neither: the system CAs */
  bool insecure_http;    /* plain http, only ever to 127.0.0.1, ::1 or localhost (tests) */
  const char *credentials; /* "user:password" for the registry's token endpoint; NULL: anonymous */
  const char *pinned_digest; /* the manifest (or index) must have this digest */
  /* NULL-terminated: the index's or the platform manifest's digest must be
   * one of them (the policy's image.digests), checked before any layer */
  const char *const *allowed_digests;
  const char *os, *arch;     /* platform picked from an index [linux, amd64] */
  uint64_t max_manifest_bytes; /* manifest, index, config [4 MiB]; a token reply: 16 KiB */
  uint64_t max_blob_bytes;     /* one layer blob [1 GiB] */
  uint64_t max_total_bytes;    /* everything fetched [4 GiB] */
  uint64_t max_unpacked_bytes; /* file bytes written to dest_rootfs [8 GiB] */
  unsigned max_layers;         /* [128] */
  unsigned time_limit_ms;      /* the whole pull and unpack [600000] */
  const char *tmp_dir; /* where blobs wait for their digest; NULL: memfd (guest memory) */
  bool keep_owners;    /* chown to the tar's uid/gid (needs root) */
  cf_image_layer_hook layer_hook; /* NULL: encrypted layers are refused */
  void *hook_ud;
};

/* A layer as it was seen. */
struct cf_image_layer_info {
  char *media_type, *digest;
  uint64_t size;
  char **annotations;     /* key, value, …, NULL */
  char *unpacked_media_type; /* what was unpacked (the hook's output type), */
  char *diff_id;          /* and the sha256 of its tar stream */
  uint32_t fetch_ms, hook_ms, unpack_ms; /* where its time went (logs) */
};

struct cf_image_result {
  char *manifest_digest;   /* what the reference resolved to (index or manifest) */
  char *platform_manifest_digest; /* the os/arch manifest (= manifest_digest without index) */
  char *config_digest;
  /* The config's process defaults; NULL when the config has none. */
  char **env, **entrypoint, **cmd; /* NULL-terminated */
  char *working_dir, *user;
  struct cf_image_layer_info *layers;
  size_t n_layers;
  uint64_t bytes_fetched, bytes_unpacked;
  uint32_t manifest_ms, config_ms; /* the manifest (and index), the config */
  unsigned connects;  /* connections opened (reused for every request when 1) */
  uint32_t connect_ms; /* their TCP + TLS set-up */
};

/* Pulls `ref` ([registry[:port]/]repository[:tag][@sha256:…]; no registry
 * means docker.io, one path component means library/) and unpacks its
 * layers in order into the existing directory `dest_rootfs`. opts may be
 * NULL (all defaults). On failure dest_rootfs holds a partial tree that the
 * caller removes, `res` what was learnt so far (free it either way), and
 * `err` names the registry, digest and entry path involved. */
int cf_image_pull(const struct cf_image_pull_opts *opts, const char *ref,
                  const char *dest_rootfs, struct cf_image_result *res, cf_error *err);
void cf_image_result_free(struct cf_image_result *res);

/* One layer (tar, tar+gzip or tar+zstd by media type) from `fd` onto the
 * directory `root_fd`: whiteouts apply to what lies below; nothing is
 * created or followed outside root_fd. `diff_id` (may be NULL) is checked
 * against the tar stream; `what` names the layer in errors. Exposed for the
 * agent's tests and fuzzing. */
struct cf_unpack_limits {
  uint64_t max_bytes;  /* file bytes [8 GiB] */
  uint64_t *written;   /* adds the bytes written, may be NULL */
  int64_t deadline_ms; /* CLOCK_MONOTONIC ms, 0: none */
  bool keep_owners;
};
int cf_image_unpack_layer(int root_fd, int fd, const char *media_type, const char *what,
                          const char *diff_id, const struct cf_unpack_limits *lim,
                          char **diff_id_out, cf_error *err);

#endif
