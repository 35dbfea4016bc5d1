/* Seeds a pod's guest-pulled images before containerd pulls them (see
 * image_seed.h). */
#include "image_seed.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/file.h"

/* A reference as the kubelet passes it: registry/path[:tag][@digest]. No
 * shell or option syntax can pass (the tool gets it as one argv entry after
 * "--" anyway). */
bool shim_image_ref_valid(const char *r, size_t len) {
  if (len == 0 || len > SHIM_IMAGE_REF_MAX || r[0] == '-' || r[0] == '.' || r[0] == '/')
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = r[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
    if (!ok)
      return false;
  }
  return true;
}

int shim_image_list_parse(const char *v, shim_image_list *out, cf_error *err) {
  const char *p = v;
  while (*p) {
    p += strspn(p, ", \t\n");
    size_t len = strcspn(p, ", \t\n");
    if (len == 0)
      break;
    if (!shim_image_ref_valid(p, len))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "annotation %s: \"%.*s\" is not an image reference",
                           SHIM_GUEST_PULL_ANNOTATION, (int)(len > 160 ? 160 : len), p);
    if (out->n == SHIM_IMAGE_SEED_MAX_IMAGES)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "annotation %s: more than %d images",
                           SHIM_GUEST_PULL_ANNOTATION, SHIM_IMAGE_SEED_MAX_IMAGES);
    memcpy(out->refs[out->n], p, len);
    out->refs[out->n][len] = '\0';
    out->n++;
    p += len;
  }
  return 0;
}

static const char *string_of(json_object *obj, const char *key) {
  json_object *v = NULL;
  if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

int shim_guest_pull_images(const char *spec_json, shim_image_list *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  json_object *root = spec_json ? json_tokener_parse(spec_json) : NULL;
  json_object *ann = NULL;
  if (!root || !json_object_object_get_ex(root, "annotations", &ann) ||
      !json_object_is_type(ann, json_type_object)) {
    json_object_put(root);
    return 0;
  }
  const char *type = string_of(ann, "io.kubernetes.cri.container-type");
  const char *images = string_of(ann, SHIM_GUEST_PULL_ANNOTATION);
  int r = 0;
  if (type && strcmp(type, "sandbox") == 0 && images)
    r = shim_image_list_parse(images, out, err);
  json_object_put(root);
  return r;
}

/* The last non-empty line of the tool's output, for the error message. */
static const char *last_line(char *buf, size_t len) {
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
    buf[--len] = '\0';
  char *nl = memrchr(buf, '\n', len);
  return nl ? nl + 1 : buf;
}

#define TAIL_MAX 1024 /* bytes of the tool's output kept for the error message */
#define CHUNK 512

/* Reads the child's output until EOF or the deadline, keeping its last
 * TAIL_MAX - 1 bytes in tail (NUL-terminated). False: deadline or error. */
static bool drain(int fd, char tail[TAIL_MAX], size_t *len, uint64_t deadline) {
  for (;;) {
    uint64_t now = cf_now_ms();
    if (now >= deadline)
      return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, (int)(deadline - now));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false; /* deadline, or poll failed: the caller kills the child */
    char chunk[CHUNK];
    ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return true;
    size_t g = (size_t)got; /* <= CHUNK < TAIL_MAX - 1 */
    if (*len + g > TAIL_MAX - 1) {
      size_t drop = *len + g - (TAIL_MAX - 1);
      memmove(tail, tail + drop, *len - drop);
      *len -= drop;
    }
    memcpy(tail + *len, chunk, g);
    *len += g;
    tail[*len] = '\0';
  }
}

static int run_seed(const shim_config *cfg, const shim_image_list *imgs, const char *address,
                    const char *ns, int timeout_ms, cf_error *err) {
  const char *argv[SHIM_IMAGE_SEED_MAX_IMAGES + 12];
  size_t a = 0;
  argv[a++] = cfg->image_seed;
  argv[a++] = "--address";
  argv[a++] = address;
  argv[a++] = "--namespace";
  argv[a++] = ns;
  if (cfg->image_seed_snapshotter[0]) {
    argv[a++] = "--snapshotter";
    argv[a++] = cfg->image_seed_snapshotter;
  }
  argv[a++] = "--";
  for (size_t i = 0; i < imgs->n; i++)
    argv[a++] = imgs->refs[i];
  argv[a] = NULL;

  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0)
    return cf_err(err, errno, "image seed: pipe");
  _cleanup_close_ int rd = pfd[0];
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[1]);
    return cf_err(err, errno, "image seed: fork");
  }
  if (pid == 0) {
    setpgid(0, 0); /* its own group: a timeout kills the tool's children too (ctr) */
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0)
      dup2(null, 0);
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    execv(cfg->image_seed, (char *const *)argv);
    dprintf(2, "exec %s: %s\n", cfg->image_seed, strerror(errno));
    _exit(127);
  }
  close(pfd[1]);
  char tail[TAIL_MAX] = "";
  size_t len = 0;
  bool done = drain(rd, tail, &len, cf_now_ms() + (uint64_t)timeout_ms);
  if (!done) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL); /* had setpgid not run yet */
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!done)
    return cf_err_status(err, CF_DEADLINE_EXCEEDED,
                         "image seed %s for %s: no result within %d ms (killed)", cfg->image_seed,
                         imgs->refs[0], timeout_ms);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return 0;
  const char *why = last_line(tail, len);
  if (WIFSIGNALED(st))
    return cf_err_status(err, CF_FAILED_PRECONDITION, "image seed %s for %s: killed by signal %d: %s",
                         cfg->image_seed, imgs->refs[0], WTERMSIG(st), why);
  return cf_err_status(err, CF_FAILED_PRECONDITION, "image seed %s for %s (%zu image(s)): exit %d: %s",
                       cfg->image_seed, imgs->refs[0], imgs->n, WEXITSTATUS(st), why);
}

int shim_image_seed_bundle(const shim_config *cfg, const char *bundle, const char *address,
                           const char *ns, cf_error *err) {
  return shim_image_seed_bundle_within(cfg, bundle, address, ns, SHIM_IMAGE_SEED_TIMEOUT_MS, err);
}

int shim_image_seed_bundle_within(const shim_config *cfg, const char *bundle, const char *address,
                                  const char *ns, int timeout_ms, cf_error *err) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof(path), "%s/config.json", bundle) >= sizeof(path))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "bundle path %s is too long", bundle);
  _cleanup_free_ char *spec = NULL;
  size_t len;
  if (cf_read_file(path, 1u << 20, &spec, &len, err) < 0)
    return -EINVAL;
  _cleanup_free_ shim_image_list *imgs = calloc(1, sizeof(*imgs));
  if (!imgs)
    return cf_err(err, ENOMEM, "image list");
  if (shim_guest_pull_images(spec, imgs, err) < 0)
    return -EINVAL;
  if (imgs->n == 0)
    return 0;
  if (!cfg->image_seed[0])
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "the pod names guest-pulled images (annotation %s: %s…) but config %s "
                         "sets no image_seed: containerd would try to unpack them on the host",
                         SHIM_GUEST_PULL_ANNOTATION, imgs->refs[0], cfg->source);
  return run_seed(cfg, imgs, address, ns, timeout_ms, err);
}
