/* The guest pull's internal pieces (one file each). */
#ifndef COFFER_AGENT_IMAGE_INTERNAL_H
#define COFFER_AGENT_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffer/error.h"
#include "image.h"

/* digest.c: "sha256:<64 hex>" / "sha512:<128 hex>", lower-case hex only. */
#define IMG_DIGEST_MAX 136
bool img_digest_valid(const char *d);
struct img_hash {
  void *ctx; /* EVP_MD_CTX */
  char algo[8];
};
int img_hash_init(struct img_hash *h, const char *digest, cf_error *err);
void img_hash_update(struct img_hash *h, const void *p, size_t n);
/* "algo:hex" into out (IMG_DIGEST_MAX bytes); frees the context. */
void img_hash_final(struct img_hash *h, char *out);
void img_hash_free(struct img_hash *h);

/* ref.c */
struct img_ref {
  char registry[256]; /* as named ("docker.io", "127.0.0.1:5000") */
  char host[256];     /* where the API is ("registry-1.docker.io") */
  char repo[256];
  char tag[129];
  char digest[IMG_DIGEST_MAX];
};
int img_ref_parse(const char *ref, struct img_ref *r, cf_error *err);
/* host[:port] is 127.0.0.1, ::1 or localhost */
bool img_host_is_loopback(const char *hostport);

/* manifest.c */
struct img_desc {
  char *media_type, *digest;
  uint64_t size;
  char **annotations; /* key, value, …, NULL */
  char *os, *arch;    /* index entries */
};
struct img_manifest {
  bool is_index;
  char *media_type;
  struct img_desc config;
  struct img_desc *items; /* layers, or an index's manifests */
  size_t n;
};
int img_manifest_parse(const char *buf, size_t len, const char *content_type,
                       struct img_manifest *m, cf_error *err);
void img_manifest_free(struct img_manifest *m);
void img_desc_free(struct img_desc *d);
/* config JSON: process defaults into res, rootfs.diff_ids (NULL-terminated) */
int img_config_parse(const char *buf, size_t len, struct cf_image_result *res,
                     char ***diff_ids, cf_error *err);
void img_strv_free(char **v);

/* tar.c: a strict reader of ustar, pax (path, linkpath, size, uid, gid,
 * mtime) and GNU long names, pulling bytes from a source. */
struct tar_src {
  /* up to n bytes; 0 at the end; negative with err filled */
  ssize_t (*read)(void *ud, void *buf, size_t n, cf_error *err);
  void *ud;
};
struct tar_entry {
  char type; /* '0' file, '1' hard link, '2' symlink, '3' chr, '4' blk, '5' dir, '6' fifo */
  char *path, *link;
  uint64_t size;
  uint32_t mode;
  uint64_t uid, gid;
  int64_t mtime;
};
struct tar_reader;
struct tar_reader *tar_reader_new(struct tar_src src, uint64_t max_entry_size);
/* 1 with *e filled (valid until the next call), 0 at the end, <0 error */
int tar_next(struct tar_reader *t, struct tar_entry **e, cf_error *err);
/* the current entry's data; 0 when it is consumed */
ssize_t tar_read(struct tar_reader *t, void *buf, size_t n, cf_error *err);
void tar_reader_free(struct tar_reader *t);

/* decompress.c: tar, tar+gzip, tar+zstd from an fd, hashing the output */
struct img_stream;
int img_stream_open(int fd, const char *media_type, uint64_t max_out, struct img_stream **s,
                    cf_error *err);
ssize_t img_stream_read(void *s, void *buf, size_t n, cf_error *err);
/* reads the rest (tar padding) into the hash; "sha256:…" of all output */
int img_stream_finish(struct img_stream *s, char *diff_id, cf_error *err);
void img_stream_free(struct img_stream *s);
/* "tar", "gzip", "zstd", or NULL (unknown, encrypted) */
const char *img_layer_compression(const char *media_type);

/* fsops.c: changes below a root fd that never leave it */
/* The parent directory of rel (opened O_PATH) and its last component. */
int img_open_parent(int root_fd, const char *rel, int *parent_fd, const char **name,
                    cf_error *err);
int img_remove_tree(int dir_fd, const char *name, cf_error *err);
/* removes every child of dir_fd for which keep(ud, child) is false */
int img_clear_dir(int dir_fd, const char *dir_rel, bool (*keep)(void *ud, const char *rel),
                  void *ud, cf_error *err);

/* registry.c */
struct img_registry;
int img_registry_open(const struct cf_image_pull_opts *o, const struct img_ref *ref,
                      int64_t deadline_ms, struct img_registry **r, cf_error *err);
void img_registry_close(struct img_registry *r);
/* GET the manifest named by reference (tag or digest) into memory. */
int img_registry_manifest(struct img_registry *r, const char *reference, uint64_t max,
                          char **body, size_t *len, char **content_type, cf_error *err);
/* GET a blob into fd (or memory when fd < 0: *body), verified against digest and size. */
int img_registry_blob(struct img_registry *r, const char *digest, uint64_t size, int fd,
                      char **body, cf_error *err);
uint64_t img_registry_fetched(const struct img_registry *r);
/* New connections so far and their TCP + TLS set-up time. */
void img_registry_connects(const struct img_registry *r, unsigned *n, uint64_t *us);

int64_t img_now_ms(void);

#endif
