/* Rootfs image + dm-verity hash tree, cached per image identity
 * (rootfs_image.h). */
#include "rootfs_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"

extern char **environ;

static void crypt_freep(struct crypt_device **cd) {
  if (*cd)
    crypt_free(*cd);
}

int rootfs_verity_build(const char *image, const char *tree, char root_hash[65],
                        uint64_t *data_blocks, cf_error *err) {
  struct stat st;
  if (stat(image, &st) < 0)
    return cf_err(err, errno, "stat %s", image);
  if (st.st_size == 0 || st.st_size % ROOTFS_VERITY_BLOCK)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "image %s: %lld bytes is not a positive multiple of %u",
                         image, (long long)st.st_size, ROOTFS_VERITY_BLOCK);
  /* libcryptsetup writes into an existing hash device */
  _cleanup_close_ int fd = open(tree, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return cf_err(err, errno, "create %s", tree);
  _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
  int r = crypt_init(&cd, tree);
  if (r < 0)
    return cf_err(err, -r, "libcryptsetup: open hash device %s", tree);
  struct crypt_params_verity p = {
      .hash_name = "sha256",
      .data_device = image,
      .salt = NULL,
      .salt_size = 0, /* no salt: the root hash is a function of the image alone */
      .hash_type = 1,
      .data_block_size = ROOTFS_VERITY_BLOCK,
      .hash_block_size = ROOTFS_VERITY_BLOCK,
      .data_size = (uint64_t)st.st_size / ROOTFS_VERITY_BLOCK,
      .hash_area_offset = 0,
      .flags = CRYPT_VERITY_CREATE_HASH | CRYPT_VERITY_NO_HEADER,
  };
  r = crypt_format(cd, CRYPT_VERITY, NULL, NULL, NULL, NULL, 0, &p);
  if (r < 0)
    return cf_err(err, -r, "libcryptsetup: build the dm-verity hash tree of %s into %s", image, tree);
  char raw[64];
  size_t rl = sizeof(raw);
  r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, raw, &rl, NULL, 0);
  if (r < 0 || rl != 32)
    return cf_err(err, r < 0 ? -r : EINVAL, "libcryptsetup: root hash of %s", image);
  for (size_t i = 0; i < 32; i++)
    snprintf(root_hash + 2 * i, 3, "%02x", (unsigned char)raw[i]);
  *data_blocks = p.data_size;
  return 0;
}

/* Reproducible: every timestamp fixed at 0 and a fixed filesystem UUID, so
 * the same tree gives the same image bytes and so the same root hash (which
 * a policy pins ahead of time). erofs-utils sorts directory entries itself. */
#define ROOTFS_EROFS_UUID "c0ffe500-0000-4000-8000-000000000001"

static int run_mkfs(const char *image, const char *src, cf_error *err) {
  char *argv[] = {"mkfs.erofs", "--quiet", "-T0", "-U" ROOTFS_EROFS_UUID, (char *)image, (char *)src, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0)
    return cf_err(err, r, "run mkfs.erofs");
  int wst;
  while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
    return cf_err_status(err, CF_INTERNAL, "mkfs.erofs %s from %s failed (status %d)", image, src,
                         WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst));
  /* dm-verity hashes whole blocks */
  struct stat st;
  if (stat(image, &st) < 0)
    return cf_err(err, errno, "stat %s", image);
  off_t rem = st.st_size % ROOTFS_VERITY_BLOCK;
  if (rem && truncate(image, st.st_size + (ROOTFS_VERITY_BLOCK - rem)) < 0)
    return cf_err(err, errno, "pad %s to a block", image);
  return 0;
}

static int build(const char *src, const char *dir, rootfs_image *out, cf_error *err) {
  snprintf(out->image, sizeof(out->image), "%s/rootfs.erofs", dir);
  snprintf(out->tree, sizeof(out->tree), "%s/rootfs.verity", dir);
  if (run_mkfs(out->image, src, err) < 0 ||
      rootfs_verity_build(out->image, out->tree, out->root_hash, &out->data_blocks, err) < 0)
    return -1;
  char p[PATH_MAX + 16];
  snprintf(p, sizeof(p), "%s/root_hash", dir);
  _cleanup_fclose_ FILE *f = fopen(p, "wxe");
  if (!f || fprintf(f, "%s %llu\n", out->root_hash, (unsigned long long)out->data_blocks) < 0 ||
      fflush(f) != 0)
    return cf_err(err, errno ? errno : EIO, "write %s", p);
  out->cached = false;
  return 0;
}

/* The overlay mounted at src: its super options (lowerdir=…,upperdir=…). */
static int overlay_options(const char *src, char *opts, size_t cap) {
  char real[PATH_MAX];
  if (!realpath(src, real))
    return -errno;
  _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f)
    return -errno;
  _cleanup_free_ char *line = NULL;
  size_t lcap = 0;
  int found = -ENOENT;
  while (getline(&line, &lcap, f) > 0) {
    char mp[PATH_MAX], fstype[64], so[8192];
    const char *sep = strstr(line, " - ");
    if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
        sscanf(sep + 3, "%63s %*s %8191s", fstype, so) != 2)
      continue;
    if (strcmp(mp, real) != 0) /* an escaped path never equals a plain one: no cache */
      continue;
    /* the last mount on the point is the one seen */
    if (strcmp(fstype, "overlay") != 0) {
      found = -EINVAL;
      continue;
    }
    snprintf(opts, cap, "%s", so);
    found = 0;
  }
  return found;
}

static bool dir_empty(const char *p) {
  _cleanup_closedir_ DIR *d = opendir(p);
  if (!d)
    return false;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      return false;
  return true;
}

/* The image identity of src as a hex sha256, or -ENOENT when it has none
 * (not an overlay, or its upper layer already has content). */
static int image_key(const char *src, char key[65]) {
  char opts[8192];
  if (overlay_options(src, opts, sizeof(opts)) < 0)
    return -ENOENT;
  char *lower = NULL, *upper = NULL, *save = NULL;
  for (char *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (!strncmp(t, "lowerdir=", 9))
      lower = t + 9;
    else if (!strncmp(t, "upperdir=", 9))
      upper = t + 9;
  }
  if (!lower || (upper && !dir_empty(upper)))
    return -ENOENT;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx)
    return -ENOMEM;
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  static const char tag[] = "coffer rootfs image v1: erofs, sha256 verity 4096 no salt\n";
  EVP_DigestUpdate(ctx, tag, sizeof(tag) - 1);
  char *save2 = NULL;
  int r = 0;
  for (char *l = strtok_r(lower, ":", &save2); l; l = strtok_r(NULL, ":", &save2)) {
    struct stat st;
    if (stat(l, &st) < 0) {
      r = -ENOENT;
      break;
    }
    /* a snapshot directory recreated under the same path is another layer */
    char rec[PATH_MAX + 128];
    int n = snprintf(rec, sizeof(rec), "%s %llu %llu %lld.%09ld\n", l, (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino, (long long)st.st_ctim.tv_sec,
                     st.st_ctim.tv_nsec);
    EVP_DigestUpdate(ctx, rec, (size_t)n);
  }
  unsigned char md[32];
  unsigned mdl = 0;
  EVP_DigestFinal_ex(ctx, md, &mdl);
  EVP_MD_CTX_free(ctx);
  if (r < 0)
    return r;
  for (unsigned i = 0; i < 32; i++)
    snprintf(key + 2 * i, 3, "%02x", md[i]);
  return 0;
}

static int read_entry(const char *dir, rootfs_image *out) {
  char p[PATH_MAX + 16];
  snprintf(p, sizeof(p), "%s/root_hash", dir);
  _cleanup_fclose_ FILE *f = fopen(p, "re");
  unsigned long long blocks = 0;
  if (!f || fscanf(f, "%64[0-9a-f] %llu", out->root_hash, &blocks) != 2 ||
      strlen(out->root_hash) != 64 || blocks == 0)
    return -ENOENT;
  out->data_blocks = blocks;
  snprintf(out->image, sizeof(out->image), "%s/rootfs.erofs", dir);
  snprintf(out->tree, sizeof(out->tree), "%s/rootfs.verity", dir);
  struct stat a, b;
  if (stat(out->image, &a) < 0 || stat(out->tree, &b) < 0 ||
      (unsigned long long)a.st_size != blocks * ROOTFS_VERITY_BLOCK)
    return -ENOENT;
  out->cached = true;
  return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void remove_dir(const char *d) { nftw(d, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

int rootfs_image_get(const char *src, const char *cache_dir, const char *out_dir,
                     rootfs_image *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  char key[65];
  if (!cache_dir || !*cache_dir || image_key(src, key) < 0) {
    cf_info("rootfs %s has no image identity: image and hash tree built uncached", src);
    return build(src, out_dir, out, err);
  }
  char entry[PATH_MAX];
  snprintf(entry, sizeof(entry), "%s/%s", cache_dir, key);
  if (read_entry(entry, out) == 0)
    return 0;
  if (cf_mkdir_p(cache_dir, 0700, 0700) < 0)
    return cf_err(err, errno, "create verity cache %s", cache_dir);
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s/.build-XXXXXX", cache_dir);
  if (!mkdtemp(tmp))
    return cf_err(err, errno, "create a build directory in %s", cache_dir);
  chmod(tmp, 0755);
  if (build(src, tmp, out, err) < 0) {
    remove_dir(tmp);
    return -1;
  }
  /* publish whole; a concurrent builder of the same image may win */
  if (rename(tmp, entry) < 0) {
    int e = errno;
    remove_dir(tmp);
    if ((e == EEXIST || e == ENOTEMPTY) && read_entry(entry, out) == 0)
      return 0;
    return cf_err(err, e, "publish %s into the verity cache", entry);
  }
  snprintf(out->image, sizeof(out->image), "%s/rootfs.erofs", entry);
  snprintf(out->tree, sizeof(out->tree), "%s/rootfs.verity", entry);
  cf_info("rootfs %s: image and hash tree built into %s (root hash %s)", src, entry, out->root_hash);
  return 0;
}
