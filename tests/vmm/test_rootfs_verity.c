/* The rootfs image and its dm-verity hash tree on the host (coffer-vmm's
 * rootfs_image.c, libcryptsetup) against the guest side's expectations
 * (agent/verity.c), without a VM:
 *  - the agent's hash tree size equals what libcryptsetup writes, for sizes
 *    around each level boundary;
 *  - the cache: an overlay rootfs with an empty upper layer is built once,
 *    the second call reuses image and tree (same inode); once the upper
 *    layer has content the rootfs has no image identity and is built fresh;
 *  - the agent refuses bad parameters before any device-mapper call: a
 *    malformed root hash, a hash offset inside the data, a disk (loop
 *    device) too short for the tree it claims, a file that is no block
 *    device.
 * Needs root (overlay and loop devices); dm-verity itself runs in the VM
 * test (this host kernel has no device-mapper). */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expect.h"
#include "rootfs_image.h"
#include "verity.h"

static char tmp[64] = "/tmp/cf-verity-test.XXXXXX";

static void put_file(const char *path, size_t bytes, int seed) {
  FILE *f = fopen(path, "we");
  for (size_t i = 0; f && i < bytes; i++)
    fputc((int)((i * 31 + (size_t)seed) & 0xff), f);
  if (f)
    fclose(f);
}

static void tree_sizes(void) {
  static const unsigned long long blocks[] = {1, 2, 127, 128, 129, 16384, 16385};
  for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
    char img[128], tree[128], root[65];
    snprintf(img, sizeof(img), "%s/img-%llu", tmp, blocks[i]);
    snprintf(tree, sizeof(tree), "%s/tree-%llu", tmp, blocks[i]);
    int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT(fd >= 0 && ftruncate(fd, (off_t)(blocks[i] * 4096)) == 0, "create %s", img);
    if (fd >= 0)
      close(fd);
    uint64_t got = 0;
    cf_error err = {0};
    int r = rootfs_verity_build(img, tree, root, &got, &err);
    EXPECT(r == 0, "build %llu blocks: %s", blocks[i], err.msg);
    struct stat st;
    EXPECT(r < 0 || (stat(tree, &st) == 0 &&
                     (uint64_t)st.st_size == agent_verity_tree_bytes(blocks[i])),
           "%llu blocks: libcryptsetup wrote %lld bytes of tree, the agent expects %llu",
           blocks[i], (long long)st.st_size,
           (unsigned long long)agent_verity_tree_bytes(blocks[i]));
    EXPECT(r < 0 || (got == blocks[i] && strlen(root) == 64), "%llu blocks: got %llu, root %s",
           blocks[i], (unsigned long long)got, root);
    unlink(img);
    unlink(tree);
  }
  /* a partial block is refused, never silently hashed short */
  char img[128], tree[128], root[65];
  snprintf(img, sizeof(img), "%s/odd", tmp);
  snprintf(tree, sizeof(tree), "%s/odd.tree", tmp);
  put_file(img, 5000, 1);
  uint64_t got;
  cf_error err = {0};
  EXPECT(rootfs_verity_build(img, tree, root, &got, &err) < 0 && strstr(err.msg, "multiple of 4096"),
         "a 5000-byte image: %s", err.msg);
}

static int cached_tree_inode(const char *src, const char *cache, const char *out, ino_t *ino,
                             rootfs_image *img) {
  cf_error err = {0};
  if (rootfs_image_get(src, cache, out, img, &err) < 0) {
    fprintf(stderr, "rootfs_image_get %s: %s\n", src, err.msg);
    return -1;
  }
  struct stat st;
  if (stat(img->tree, &st) < 0)
    return -1;
  *ino = st.st_ino;
  return 0;
}

static void cache(void) {
  char lower[128], upper[128], work[128], merged[128], cachedir[128], out[128], opts[512];
  snprintf(lower, sizeof(lower), "%s/lower", tmp);
  snprintf(upper, sizeof(upper), "%s/upper", tmp);
  snprintf(work, sizeof(work), "%s/work", tmp);
  snprintf(merged, sizeof(merged), "%s/merged", tmp);
  snprintf(cachedir, sizeof(cachedir), "%s/var/cache/rootfs", tmp); /* parents made too */
  snprintf(out, sizeof(out), "%s/out", tmp);
  mkdir(lower, 0755);
  mkdir(upper, 0755);
  mkdir(work, 0755);
  mkdir(merged, 0755);
  mkdir(out, 0755);
  char f[160];
  snprintf(f, sizeof(f), "%s/data", lower);
  put_file(f, 300000, 7);
  snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  if (mount("overlay", merged, "overlay", 0, opts) < 0) {
    printf("SKIP cache checks: overlay mount: %s\n", strerror(errno));
    return;
  }
  rootfs_image a, b, c;
  ino_t ia = 0, ib = 0, ic = 0;
  EXPECT(cached_tree_inode(merged, cachedir, out, &ia, &a) == 0, "first build");
  EXPECT(!a.cached && strncmp(a.tree, cachedir, strlen(cachedir)) == 0,
         "first: cached=%d tree %s not in the cache", a.cached, a.tree);
  EXPECT(cached_tree_inode(merged, cachedir, out, &ib, &b) == 0, "second build");
  EXPECT(b.cached && ia == ib && !strcmp(a.root_hash, b.root_hash),
         "second: cached=%d inode %lu vs %lu, root %s vs %s", b.cached, (unsigned long)ib,
         (unsigned long)ia, b.root_hash, a.root_hash);
  /* the container wrote: this rootfs is no longer the image */
  snprintf(f, sizeof(f), "%s/new", merged);
  put_file(f, 10, 3);
  EXPECT(cached_tree_inode(merged, cachedir, out, &ic, &c) == 0, "third build");
  EXPECT(!c.cached && strncmp(c.tree, out, strlen(out)) == 0 && strcmp(c.root_hash, a.root_hash),
         "with content in the upper layer: cached=%d tree %s root %s", c.cached, c.tree,
         c.root_hash);
  umount2(merged, MNT_DETACH);
}

static int loop_attach(const char *file, char *dev, size_t cap) {
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0)
    return -1;
  int n = ioctl(ctl, LOOP_CTL_GET_FREE);
  close(ctl);
  if (n < 0)
    return -1;
  snprintf(dev, cap, "/dev/loop%d", n);
  int lfd = open(dev, O_RDWR | O_CLOEXEC), ffd = open(file, O_RDWR | O_CLOEXEC);
  int r = lfd >= 0 && ffd >= 0 ? ioctl(lfd, LOOP_SET_FD, ffd) : -1;
  if (ffd >= 0)
    close(ffd);
  if (lfd >= 0)
    close(lfd);
  return r;
}

static void loop_detach(const char *dev) {
  int fd = open(dev, O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    ioctl(fd, LOOP_CLR_FD, 0);
    close(fd);
  }
}

static void refuse(const char *dev, const agent_verity *v, const char *needle) {
  char node[256];
  cf_error err = {0};
  char dir[128];
  snprintf(dir, sizeof(dir), "%s/nodes", tmp);
  int r = agent_verity_open("coffer-test-refuse", dev, v, dir, node, sizeof(node), &err);
  EXPECT(r < 0, "%s accepted (root %s, blocks %llu, offset %llu)", dev, v->root_hash,
         (unsigned long long)v->data_blocks, (unsigned long long)v->hash_offset);
  EXPECT(r >= 0 || strstr(err.msg, needle), "error \"%s\" does not say \"%s\"", err.msg, needle);
}

static void agent_checks(void) {
  static const char good[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char file[128], dev[64];
  snprintf(file, sizeof(file), "%s/disk", tmp);
  put_file(file, 200 * 4096, 5); /* 200 data blocks need a 3-block tree */
  agent_verity bad_hex = {.root_hash = "0123XYZ", .data_blocks = 1, .hash_offset = 4096};
  refuse(file, &bad_hex, "64 lower-case hex");
  agent_verity upper = {.root_hash = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
                        .data_blocks = 1, .hash_offset = 4096};
  refuse(file, &upper, "64 lower-case hex");
  agent_verity inside = {.root_hash = good, .data_blocks = 100, .hash_offset = 50 * 4096};
  refuse(file, &inside, "at or after the 100 data blocks");
  agent_verity unaligned = {.root_hash = good, .data_blocks = 100, .hash_offset = 100 * 4096 + 1};
  refuse(file, &unaligned, "multiple of 4096");
  agent_verity zero = {.root_hash = good, .data_blocks = 0, .hash_offset = 0};
  refuse(file, &zero, "data_blocks 0");
  agent_verity fits = {.root_hash = good, .data_blocks = 197, .hash_offset = 197 * 4096};
  refuse(file, &fits, "not a block device");
  if (loop_attach(file, dev, sizeof(dev)) < 0) {
    printf("SKIP loop device checks: %s\n", strerror(errno));
    return;
  }
  /* 197 data blocks + 3 tree blocks fill the disk: the next check is dm's */
  agent_verity shorttree = {.root_hash = good, .data_blocks = 198, .hash_offset = 198 * 4096};
  refuse(dev, &shorttree, "hash tree truncated");
  agent_verity past = {.root_hash = good, .data_blocks = 10, .hash_offset = 200 * 4096};
  refuse(dev, &past, "hash tree truncated");
  loop_detach(dev);
}

int main(void) {
  if (geteuid() != 0) {
    printf("SKIP: needs root (overlay, loop devices)\n");
    return 77;
  }
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  tree_sizes();
  cache();
  agent_checks();
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmp);
  if (!failed)
    printf("PASS\n");
  return failed;
}
