/* Secrets before start and tokens after: what a container's annotations ask
 * of coffer-attester, mounted read-only into it. The secret bytes exist only
 * in the guest: in the attester, briefly in the agent, and in a tmpfs. */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attester_client.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/initdata.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "rootfs.h"

typedef struct wants {
  const char *name[AGENT_MAX_SECRETS], *uri[AGENT_MAX_SECRETS];
  size_t n;
  bool token;
  uid_t uid;
  gid_t gid;
} wants;

void agent_coffer_mounts_free(agent_coffer_mounts *m) {
  for (size_t i = 0; i < m->n; i++)
    free(m->src[i]);
  m->n = 0;
}

static int read_wants(json_object *spec, wants *w, cf_error *err) {
  json_object *ann = NULL, *proc = NULL, *user = NULL, *v = NULL;
  if (json_object_object_get_ex(spec, "process", &proc) &&
      json_object_object_get_ex(proc, "user", &user)) {
    if (json_object_object_get_ex(user, "uid", &v))
      w->uid = (uid_t)json_object_get_int64(v);
    if (json_object_object_get_ex(user, "gid", &v))
      w->gid = (gid_t)json_object_get_int64(v);
  }
  if (!json_object_object_get_ex(spec, "annotations", &ann) || !json_object_is_type(ann, json_type_object))
    return 0;
  json_object_object_foreach(ann, key, val) {
    const char *s = json_object_get_string(val);
    if (!strcmp(key, AGENT_TOKEN_ANNOTATION)) {
      w->token = s && !strcmp(s, "true");
      continue;
    }
    if (strncmp(key, AGENT_SECRET_ANNOTATION, strlen(AGENT_SECRET_ANNOTATION)))
      continue;
    const char *name = key + strlen(AGENT_SECRET_ANNOTATION);
    if (!cf_initdata_name_valid(name) || !s || strncmp(s, "kbs:///", 7) || strlen(s) > 300 ||
        strchr(s, '?') || strchr(s, ' ') || strchr(s, '\r') || strchr(s, '\n'))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "annotation %.160s: expected io.coffer.secret.<name> = kbs:///<repo>/<type>/<tag> "
                           "(name [A-Za-z0-9._-], not starting with a dot)", key);
    if (w->n == AGENT_MAX_SECRETS)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "more than %d secrets", AGENT_MAX_SECRETS);
    w->name[w->n] = name;
    w->uri[w->n++] = s;
  }
  return 0;
}

/* In a TEE, tokens go only to pods whose init-data allows them
 * ([attestation] token = true): the host cannot turn them on. */
static int token_allowed(agent *a, cf_error *err) {
  if (!agent_in_tee(a) || (a->initdata && a->initdata->token))
    return 0;
  return cf_err_status(err, CF_PERMISSION_DENIED,
                       "io.coffer.token: the pod's init-data does not allow tokens "
                       "(coffer.toml [attestation] token = true)");
}

static int write_secret(int dirfd, const char *name, const uint8_t *d, size_t n, const wants *w,
                        cf_error *err) {
  _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (fd < 0)
    return cf_err(err, errno, "secret %s: create", name);
  for (size_t off = 0; off < n;) {
    ssize_t r = write(fd, d + off, n - off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return cf_err(err, errno ? errno : EIO, "secret %s: write", name);
    off += (size_t)r;
  }
  if (fchown(fd, w->uid, w->gid) || fchmod(fd, 0400))
    return cf_err(err, errno, "secret %s: owner", name);
  return 0;
}

/* <state>/secrets/<id>: a tmpfs of this container's, read-only once filled. */
static int secrets_dir(agent *a, container *c, const wants *w, char **out, cf_error *err) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s/secrets/%s", a->state_dir, c->id);
  if (cf_mkdir_p(dir, 0700, 0700) < 0)
    return cf_err(err, errno, "mkdir %s", dir);
  if (mount("coffer-secrets", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=8m") < 0)
    return cf_err(err, errno, "mount tmpfs on %s", dir);
  if (agent_rootfs_track(c, dir) < 0) {
    umount2(dir, MNT_DETACH);
    return cf_err(err, ENOMEM, "secrets");
  }
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return cf_err(err, errno, "open %s", dir);
  for (size_t i = 0; i < w->n; i++) {
    uint8_t *data = NULL;
    size_t len = 0;
    if (agent_attester_secret(a, w->name[i], w->uri[i], &data, &len, err))
      return cf_error_prefix(err, "container %s", c->id);
    int r = write_secret(dfd, w->name[i], data, len, w, err);
    explicit_bzero(data, len);
    free(data);
    if (r)
      return cf_error_prefix(err, "container %s", c->id);
  }
  if (fchown(dfd, w->uid, w->gid) || fchmod(dfd, 0500) ||
      mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return cf_err(err, errno, "seal %s", dir);
  *out = strdup(dir);
  return *out ? 0 : cf_err(err, ENOMEM, "secrets");
}

int agent_secrets_prepare(agent *a, container *c, const uint8_t *spec, size_t len,
                          agent_coffer_mounts *m, cf_error *err) {
  m->n = 0;
  json_tokener *tok = json_tokener_new();
  json_object *s = tok ? json_tokener_parse_ex(tok, (const char *)spec, (int)len) : NULL;
  json_tokener_free(tok);
  if (!s)
    return 0; /* bundle_make_config reports a spec that does not parse */
  wants w = {0};
  int r = read_wants(s, &w, err);
  if (!r && w.token)
    r = token_allowed(a, err);
  if (!r && (w.token || w.n))
    r = agent_attester_ensure(a, err);
  if (!r && w.token) {
    char pod[PATH_MAX];
    agent_pod_dir(a, pod, sizeof(pod));
    m->dst[m->n] = "/run/coffer";
    if (!(m->src[m->n++] = strdup(pod)))
      r = cf_err(err, ENOMEM, "token mount");
  }
  if (!r && w.n) {
    m->dst[m->n] = "/run/coffer/secrets";
    r = secrets_dir(a, c, &w, &m->src[m->n], err);
    if (!r)
      m->n++;
  }
  json_object_put(s);
  if (r)
    agent_coffer_mounts_free(m);
  else if (w.n || w.token)
    cf_info("container %s: %zu secret(s)%s mounted read-only", c->id, w.n, w.token ? ", token and tee.sock" : "");
  return r;
}
