/* Rootfs PULL: coffer-image-pull run as a bounded child (see image_pull.h).
 *
 * The decryption keys reach it down a socket while it runs (never on a disk,
 * never in argv), the allowed digests as arguments; its stdout is the pull's result
 * (logged: digests and the layers' media types), its stderr the reason of a
 * failure. The tmpfs it fills is the container's and goes with it. */
#include "image_pull.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attester_client.h"
#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "coffer/policy.h"
#include "job.h"
#include "prefetch.h"
#include "rootfs.h"

#define MAX_DIGESTS 64
#define MAX_KEYS 16
#define KEY_FD0 3 /* the child's end of the keys socket */
#define KEY_FD0_STR "3"
#define OUT_MAX (1u << 20)

extern char **environ;

static const char *pull_bin(const agent *a) {
  const char *t = a->guest ? NULL : getenv("COFFER_AGENT_IMAGE_PULL");
  return t && *t ? t : AGENT_IMAGE_PULL_BIN;
}

static bool send_all(int fd, const void *p, size_t n);

/* Fetches each decryption key of init-data through the attester (after
 * attestation) and sends it down fd to coffer-image-pull (--keys-fd), which
 * reads them only when a layer is encrypted: the pull's fetching and
 * unpacking overlap the attestation and the key's fetch, and a plain image
 * needs no key. A key the broker refuses goes down as the error the tool
 * fails with at its first encrypted layer (and into err). */
static int feed_keys(agent *a, int fd, cf_error *err) {
  const cf_initdata *id = a->initdata;
  int rc = 0;
  for (size_t i = 0; id && i < id->n_image_keys && i < MAX_KEYS && rc == 0; i++) {
    char name[24], head[64];
    snprintf(name, sizeof(name), "image-key-%zu", i);
    uint8_t *data = NULL;
    size_t len = 0;
    if (agent_attester_secret(a, name, id->image_keys[i], &data, &len, err) < 0) {
      rc = cf_error_prefix(err, "image decryption key %s", id->image_keys[i]);
      break;
    }
    int hl = snprintf(head, sizeof(head), "key %zu %zu\n", strlen(id->image_keys[i]), len);
    bool ok = send_all(fd, head, (size_t)hl) && send_all(fd, id->image_keys[i], strlen(id->image_keys[i])) &&
              send_all(fd, data, len);
    explicit_bzero(data, len);
    free(data);
    if (!ok) /* the tool ended (an image with no encrypted layer needs no key) */
      return 0;
  }
  if (rc < 0) {
    char head[32];
    int hl = snprintf(head, sizeof(head), "error %zu\n", strlen(err->msg));
    if (send_all(fd, head, (size_t)hl))
      send_all(fd, err->msg, strlen(err->msg));
  }
  return rc;
}

static bool send_all(int fd, const void *p, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    off += (size_t)w;
  }
  return true;
}

static bool drain(int fd, char **buf, size_t *len) {
  char tmp[4096];
  ssize_t r = read(fd, tmp, sizeof(tmp));
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (r <= 0)
    return false;
  if (*len + (size_t)r > OUT_MAX)
    return true; /* bounded: the rest is dropped */
  char *n = realloc(*buf, *len + (size_t)r + 1);
  if (!n)
    return false;
  memcpy(n + *len, tmp, (size_t)r);
  *len += (size_t)r;
  n[*len] = 0;
  *buf = n;
  return true;
}

/* Runs argv with key fds at KEY_FD0.., collects stdout and stderr until it
 * ends or the deadline passes (then it is killed). */
/* keys[0]: the end the keys are sent down, keys[1]: the child's (closed here once it runs) */
static int run(agent *a, const char *const *argv, int keys[2], uint64_t timeout_ms,
               agent_pull_child *child, char **out, char **errtext, int *wstatus,
               cf_error *key_err, cf_error *err) {
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) < 0)
    return cf_err(err, errno, "%s: pipe", argv[0]);
  if (pipe2(pe, O_CLOEXEC) < 0) {
    int e = errno;
    close(po[0]), close(po[1]);
    return cf_err(err, e, "%s: pipe", argv[0]);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  if (keys[1] >= 0) /* dup2 to a new number clears close-on-exec */
    posix_spawn_file_actions_adddup2(&fa, keys[1], KEY_FD0);
  pid_t pid;
  agent_jobs_fork_enter();
  int r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  if (child && !r) { /* a cancel from now on kills it */
    pthread_mutex_lock(&child->lock);
    child->pid = pid;
    if (child->cancelled)
      kill(pid, SIGKILL);
    pthread_mutex_unlock(&child->lock);
  }
  agent_jobs_fork_leave();
  posix_spawn_file_actions_destroy(&fa);
  close(po[1]), close(pe[1]);
  if (keys[1] >= 0)
    close(keys[1]), keys[1] = -1;
  if (r) {
    close(po[0]), close(pe[0]);
    return cf_err(err, r, "%s: cannot run it", argv[0]);
  }
  if (keys[0] >= 0) { /* the tool runs meanwhile (its output fits the pipes) */
    if (feed_keys(a, keys[0], key_err) < 0 && !key_err->status)
      key_err->status = CF_UNAVAILABLE;
    close(keys[0]), keys[0] = -1; /* EOF: no more keys */
  }
  size_t olen = 0, elen = 0;
  uint64_t deadline = cf_now_ms() + timeout_ms;
  while (po[0] >= 0 || pe[0] >= 0) {
    struct pollfd pf[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    uint64_t now = cf_now_ms();
    if (now >= deadline)
      break;
    if (poll(pf, 2, (int)(deadline - now)) < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; i++) {
      int *fd = i ? &pe[0] : &po[0];
      if (*fd >= 0 && pf[i].revents && !drain(*fd, i ? errtext : out, i ? &elen : &olen))
        close(*fd), *fd = -1;
    }
  }
  bool late = po[0] >= 0 || pe[0] >= 0;
  if (late)
    kill(pid, SIGKILL);
  if (child) { /* before the reap: the pid may be reused after it */
    pthread_mutex_lock(&child->lock);
    child->pid = 0;
    pthread_mutex_unlock(&child->lock);
  }
  if (po[0] >= 0)
    close(po[0]);
  if (pe[0] >= 0)
    close(pe[0]);
  while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR)
    ;
  if (late)
    return cf_err_status(err, CF_DEADLINE_EXCEEDED, "%s: no result within %llu ms", argv[0],
                         (unsigned long long)timeout_ms);
  return 0;
}

static int64_t get_int(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

/* waited: how long CreateContainer waited for a pull started at
 * CreateSandbox (prefetch.h), or -1 when it pulled itself */
static void log_result(const container *c, const char *ref, const char *out, uint64_t ms,
                       int64_t waited) {
  json_object *o = out ? json_tokener_parse(out) : NULL, *v, *layers, *t = NULL;
  const char *digest = json_object_object_get_ex(o, "platform_manifest_digest", &v)
                           ? json_object_get_string(v) : "?";
  cf_info("container %s: image %s (%s) pulled in the guest", c->id, ref, digest);
  json_object_object_get_ex(o, "timings_ms", &t);
  int64_t fetch = 0, hook = 0, unpack = 0;
  if (json_object_object_get_ex(o, "layers", &layers))
    for (size_t i = 0; i < json_object_array_length(layers); i++) {
      json_object *l = json_object_array_get_idx(layers, i), *d, *mt, *um;
      json_object_object_get_ex(l, "digest", &d);
      json_object_object_get_ex(l, "media_type", &mt);
      json_object_object_get_ex(l, "unpacked_media_type", &um);
      cf_info("container %s: layer %s %s -> %s", c->id, json_object_get_string(d),
              json_object_get_string(mt), json_object_get_string(um));
      fetch += get_int(l, "fetch_ms"), hook += get_int(l, "hook_ms"), unpack += get_int(l, "unpack_ms");
    }
  /* the rest of the total is the child's exec, loading and exit */
  char how[96] = "";
  if (waited >= 0)
    snprintf(how, sizeof(how), "; started at CreateSandbox, CreateContainer waited %lld ms",
             (long long)waited);
  cf_info("container %s: image %s pulled and unpacked in %llu ms%s (coffer-image-pull: started "
          "%lld ms after its fork, manifest %lld, config %lld, layers fetched %lld, decrypted "
          "%lld, unpacked %lld, %lld connection(s) %lld, pull %lld)",
          c->id, ref, (unsigned long long)ms, how, (long long)get_int(t, "start"),
          (long long)get_int(t, "manifest"), (long long)get_int(t, "config"), (long long)fetch,
          (long long)hook, (long long)unpack, (long long)get_int(t, "connects"),
          (long long)get_int(t, "connect"), (long long)get_int(t, "pull"));
  json_object_put(o);
}

/* The checks that need no registry: a pulled image only as a rootfs, no
 * plain HTTP in a TEE, a pinning policy that pins something. */
static int pull_allowed(agent *a, const char *ref, const char **digests, size_t *n_digests,
                        bool *pinned, cf_error *err) {
  const cf_initdata *id = a->initdata;
  if (id && id->image_insecure_http && a->tee_mode)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "image %s: init-data asks for plain HTTP (coffer.toml [image] "
                         "insecure_http), refused in a TEE", ref);
  *pinned = false;
  *n_digests = a->policy ? cf_policy_image_digests(a->policy, digests, MAX_DIGESTS, pinned) : 0;
  if (*pinned && !*n_digests)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "policy: image %s is pulled in the guest and no rule pins an image "
                         "digest (rule containers.image.digests)", ref);
  return 0;
}

int agent_image_pull_into(agent *a, const char *ref, const char *dir, const char *ca,
                          agent_pull_child *child, char **out, cf_error *err) {
  const cf_initdata *id = a->initdata;
  const char *digests[MAX_DIGESTS + 1];
  size_t n_digests = 0;
  bool pinned = false;
  *out = NULL;
  if (pull_allowed(a, ref, digests, &n_digests, &pinned, err) < 0)
    return -EPERM;
  if (id && id->registry_ca &&
      cf_write_file_atomic(ca, id->registry_ca, strlen(id->registry_ca), 0444, 0, err) < 0)
    return -EIO;
  int sp[2] = {-1, -1};
  bool with_keys = id && id->n_image_keys;
  if (with_keys && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return cf_err(err, errno, "image %s: socketpair for its keys", ref);
  char timeout[24];
  const char *argv[16 + 2 * (MAX_DIGESTS + MAX_KEYS)];
  size_t n = 0;
  argv[n++] = pull_bin(a);
  if (id && id->registry_ca)
    argv[n++] = "--ca", argv[n++] = ca;
  if (id && id->image_insecure_http)
    argv[n++] = "--insecure-http";
  for (size_t i = 0; pinned && i < n_digests; i++)
    argv[n++] = "--allow-digest", argv[n++] = digests[i];
  if (with_keys) /* each with its resource: the keyprovider's key-encryption key too */
    argv[n++] = "--keys-fd", argv[n++] = KEY_FD0_STR;
  uint32_t ms = id ? id->image_timeout_ms : 600000;
  snprintf(timeout, sizeof(timeout), "%u", ms);
  argv[n++] = "--time-limit-ms", argv[n++] = timeout;
  argv[n++] = ref;
  argv[n++] = dir;
  argv[n] = NULL;
  _cleanup_free_ char *errtext = NULL;
  int wstatus = 0;
  cf_error key_err = {0};
  int rc = run(a, argv, sp, (uint64_t)ms + 5000, child, out, &errtext, &wstatus, &key_err, err);
  for (int i = 0; i < 2; i++)
    if (sp[i] >= 0)
      close(sp[i]);
  if (rc < 0)
    return rc;
  if (key_err.status && (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus))) {
    free(*out); /* the broker's reason, with its status */
    *out = NULL;
    *err = key_err;
    return -EPERM;
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus)) {
    size_t l = errtext ? strlen(errtext) : 0;
    while (l && (errtext[l - 1] == '\n' || errtext[l - 1] == '\r'))
      errtext[--l] = 0;
    free(*out);
    *out = NULL;
    return cf_err_status(err, strstr(errtext ? errtext : "", "policy allows") ? CF_PERMISSION_DENIED
                                                                               : CF_FAILED_PRECONDITION,
                         "image %s: %s", ref,
                         l ? errtext : WIFEXITED(wstatus) ? "coffer-image-pull failed"
                                                          : "coffer-image-pull was killed");
  }
  return 0;
}

char *agent_image_pull_rootfs(agent *a, container *c, const Coffer__Agent__V1__Rootfs *r,
                              const char *name, cf_error *err) {
  if (strcmp(name, "rootfs")) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "a pulled image (%s) can only be a rootfs", r->source);
    return NULL;
  }
  const char *digests[MAX_DIGESTS + 1];
  size_t n_digests;
  bool pinned;
  if (pull_allowed(a, r->source, digests, &n_digests, &pinned, err) < 0)
    return NULL;
  char target[PATH_MAX], ca[PATH_MAX];
  snprintf(target, sizeof(target), "%s/%s", c->bundle, name);
  if (cf_mkdir_p(target, 0755, 0755) < 0) {
    cf_err(err, errno, "image %s: %s", r->source, target);
    return NULL;
  }
  uint64_t t0 = cf_now_ms();
  _cleanup_free_ char *out = NULL, *early = NULL;
  /* pulled since CreateSandbox (prefetch.h): its tmpfs becomes the rootfs */
  uint64_t pull_ms = 0;
  int taken = agent_prefetch_take(a, r->source, &early, &out, &pull_ms, err);
  if (taken < 0)
    return NULL;
  if (taken) {
    if (mount(early, target, NULL, MS_BIND, NULL) < 0) {
      cf_err(err, errno, "image %s: bind %s on %s", r->source, early, target);
      umount2(early, MNT_DETACH);
      return NULL;
    }
    agent_rootfs_track(c, target);
    umount2(early, MNT_DETACH); /* the tmpfs lives on at target */
    rmdir(early);
    log_result(c, r->source, out, pull_ms, (int64_t)(cf_now_ms() - t0));
    return strdup(target);
  }
  if (mount("coffer-image", target, "tmpfs", 0, "mode=0755") < 0) {
    cf_err(err, errno, "image %s: tmpfs on %s", r->source, target);
    return NULL;
  }
  agent_rootfs_track(c, target);
  snprintf(ca, sizeof(ca), "%s/registry-ca.pem", c->bundle);
  if (agent_image_pull_into(a, r->source, target, ca, NULL, &out, err) < 0)
    return NULL;
  log_result(c, r->source, out, cf_now_ms() - t0, -1);
  return strdup(target);
}
