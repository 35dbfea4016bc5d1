/* Volumes copied into a TEE guest (shim/guest_volumes.c): kubelet's volume
 * paths classified (configMap, secret, projected, downward API copied;
 * emptyDir in the guest; hostPath, subPaths and anything else refused), and
 * a volume in kubelet's layout read into entries (..data symlinks kept),
 * while a symlink leaving the volume, a special file and too many bytes are
 * refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "guest_volumes.h"

static const Coffer__Agent__V1__VolumeEntry *find(Coffer__Agent__V1__VolumeEntry **e, size_t n,
                                                  const char *path) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(e[i]->path, path))
      return e[i];
  return NULL;
}

static void sh(const char *fmt, const char *dir) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir, dir);
  if (system(cmd) != 0)
    fprintf(stderr, "setup failed: %s\n", cmd);
}

int main(void) {
  static const char pods[] = "/var/lib/kubelet/pods/0b1c-uid/volumes/";
  char p[256];
  struct {
    const char *tail;
    enum shim_gvol_kind want;
  } table[] = {
      {"kubernetes.io~configmap/cfg", SHIM_GVOL_COPY},
      {"kubernetes.io~secret/tls", SHIM_GVOL_COPY},
      {"kubernetes.io~projected/kube-api-access-x7", SHIM_GVOL_COPY},
      {"kubernetes.io~downward-api/info", SHIM_GVOL_COPY},
      {"kubernetes.io~empty-dir/cache", SHIM_GVOL_EMPTY},
      {"kubernetes.io~host-path/x", SHIM_GVOL_REFUSE},
      {"kubernetes.io~nfs/share", SHIM_GVOL_REFUSE},
      {"kubernetes.io~configmap/cfg/key", SHIM_GVOL_REFUSE}, /* a subPath */
      {"kubernetes.io~configmap/", SHIM_GVOL_REFUSE},
  };
  for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
    snprintf(p, sizeof(p), "%s%s", pods, table[i].tail);
    if (shim_gvol_classify(p) != table[i].want) {
      fprintf(stderr, "%s: got %d, want %d\n", p, shim_gvol_classify(p), table[i].want);
      failures++;
    }
  }
  CHECK(shim_gvol_classify("/srv/data") == SHIM_GVOL_REFUSE);
  /* kubelet's termination-message file: an empty file in the guest */
  CHECK(shim_gvol_classify("/var/lib/kubelet/pods/u/containers/c/0a1b2c3d") == SHIM_GVOL_FILE);
  CHECK(shim_gvol_classify("/var/lib/kubelet/pods/u/containers/c") == SHIM_GVOL_REFUSE);
  CHECK(shim_gvol_classify("/var/lib/kubelet/pods/u/containers/c/0/x") == SHIM_GVOL_REFUSE);
  CHECK(shim_gvol_classify("/var/lib/kubelet/pods//containers/c/0") == SHIM_GVOL_REFUSE);
  CHECK(shim_gvol_classify("/var/lib/kubelet/pods/u/containers//0") == SHIM_GVOL_REFUSE);
  CHECK(shim_gvol_classify("/var/lib/kubelet/pods/u/containers/c/") == SHIM_GVOL_REFUSE);

  char dir[] = "/tmp/cf-gvol-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  /* kubelet's atomic writer layout */
  sh("mkdir -p %s/v/..2024_01/sub && printf v1 >%s/v/..2024_01/key && printf d >%s/v/..2024_01/sub/deep"
     " && chmod 0600 %s/v/..2024_01/key", dir);
  sh("ln -s ..2024_01 %s/v/..data && ln -s ..data/key %s/v/key && ln -s ..data/sub %s/v/sub", dir);
  Coffer__Agent__V1__VolumeEntry **e = NULL;
  size_t n = 0;
  cf_error err = {0};
  snprintf(p, sizeof(p), "%s/v", dir);
  CHECK(shim_gvol_read(p, &e, &n, &err) == 0);
  CHECK(n == 7);
  const Coffer__Agent__V1__VolumeEntry *k = find(e, n, "..2024_01/key");
  CHECK(k && k->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__FILE && k->data.len == 2 &&
        !memcmp(k->data.data, "v1", 2) && k->mode == 0600);
  const Coffer__Agent__V1__VolumeEntry *l = find(e, n, "..data");
  CHECK(l && l->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK && !strcmp(l->target, "..2024_01"));
  l = find(e, n, "key");
  CHECK(l && l->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK && !strcmp(l->target, "..data/key"));
  CHECK(find(e, n, "..2024_01/sub/deep") && find(e, n, "..2024_01/sub") &&
        find(e, n, "..2024_01/sub")->type == COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__DIR);
  shim_gvol_free(e, n);

  /* a symlink that leaves the volume: refused, naming it */
  sh("mkdir -p %s/bad && ln -s ../../etc %s/bad/escape", dir);
  snprintf(p, sizeof(p), "%s/bad", dir);
  err = (cf_error){0};
  CHECK(shim_gvol_read(p, &e, &n, &err) < 0 && strstr(err.msg, "escape: symlink to \"../../etc\""));
  sh("mkdir -p %s/abs && ln -s /etc/shadow %s/abs/s", dir);
  snprintf(p, sizeof(p), "%s/abs", dir);
  err = (cf_error){0};
  CHECK(shim_gvol_read(p, &e, &n, &err) < 0 && strstr(err.msg, "leaves the volume"));
  /* a fifo is no volume content */
  sh("mkdir -p %s/fifo && mkfifo %s/fifo/f", dir);
  snprintf(p, sizeof(p), "%s/fifo", dir);
  err = (cf_error){0};
  CHECK(shim_gvol_read(p, &e, &n, &err) < 0 && strstr(err.msg, "not a file, directory or symlink"));
  /* more than the agent takes in one call */
  sh("mkdir -p %s/big && head -c 2000000 /dev/zero >%s/big/a && head -c 2000000 /dev/zero >%s/big/b", dir);
  snprintf(p, sizeof(p), "%s/big", dir);
  err = (cf_error){0};
  CHECK(shim_gvol_read(p, &e, &n, &err) < 0 && err.status == CF_RESOURCE_EXHAUSTED);

  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0)
    failures++;
  if (!failures)
    printf("PASS\n");
  return failures ? 1 : 0;
}
