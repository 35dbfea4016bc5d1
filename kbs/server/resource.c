/* Resources: paths, the directory store, and GET /resource/<repo>/<type>/<tag>
 * (cookie of an attested session or a bearer token; the answer is a JWE to
 * the TEE key the token names). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "kbs.h"

#define MAX_RESOURCE (1u << 20)

static bool seg_ok(const char *s) {
  if (!*s || strlen(s) > 80 || !(strchr("_-", s[0]) || (s[0] >= '0' && s[0] <= '9') ||
                                 (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          *p == '_' || *p == '-' || *p == '.'))
      return false;
  return true;
}

int kbs_resource_split(const char *p, char buf[256], const char *seg[3]) {
  if (strlen(p) >= 256)
    return -EINVAL;
  strcpy(buf, p);
  char *save = NULL, *s = buf;
  int n = 0;
  /* strsep keeps empty segments, which are refused. */
  while ((save = strsep(&s, "/")) != NULL) {
    if (n == 3 || !seg_ok(save))
      return -EINVAL;
    seg[n++] = save;
  }
  return n == 3 ? 0 : -EINVAL;
}

static void res_path(const kbs_server *s, const char *const seg[3], char *out, size_t n) {
  snprintf(out, n, "%s/%s/%s/%s", s->cfg.resource_dir, seg[0], seg[1], seg[2]);
}

int kbs_resource_read(const kbs_server *s, const char *const seg[3], uint8_t **data,
                      size_t *len, cf_error *err) {
  char path[1024];
  res_path(s, seg, path, sizeof(path));
  _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode))
    return cf_err_status(err, CF_NOT_FOUND, "resource %s/%s/%s not found", seg[0], seg[1], seg[2]);
  if (st.st_size > MAX_RESOURCE)
    return cf_err_status(err, CF_OUT_OF_RANGE, "resource %s/%s/%s is over %u bytes", seg[0],
                         seg[1], seg[2], MAX_RESOURCE);
  uint8_t *b = malloc((size_t)st.st_size + 1);
  if (!b)
    return cf_err(err, ENOMEM, "reading resource");
  ssize_t got = read(fd, b, (size_t)st.st_size);
  if (got != st.st_size) {
    free(b);
    return cf_err(err, EIO, "reading resource %s/%s/%s", seg[0], seg[1], seg[2]);
  }
  *data = b;
  *len = (size_t)got;
  return 0;
}

int kbs_resource_write(const kbs_server *s, const char *const seg[3], const uint8_t *data,
                       size_t len, cf_error *err) {
  char dir[1024], path[1024];
  snprintf(dir, sizeof(dir), "%s/%s", s->cfg.resource_dir, seg[0]);
  mkdir(dir, 0700);
  snprintf(dir, sizeof(dir), "%s/%s/%s", s->cfg.resource_dir, seg[0], seg[1]);
  mkdir(dir, 0700);
  res_path(s, seg, path, sizeof(path));
  return cf_write_file_atomic(path, data, len, 0600, CF_WRITE_SYNC, err);
}

int kbs_resource_delete(const kbs_server *s, const char *const seg[3], cf_error *err) {
  char path[1024];
  res_path(s, seg, path, sizeof(path));
  if (unlink(path))
    return cf_err_status(err, CF_NOT_FOUND, "resource %s/%s/%s not found", seg[0], seg[1], seg[2]);
  return 0;
}

void kbs_handle_resource_get(kbs_server *s, const kbs_request *rq, const char *const seg[3],
                             kbs_response *rs) {
  cf_error err = {0};
  json_t *claims = NULL;
  kbs_session_view sv = {0};
  if (rq->bearer) {
    claims = kbs_token_verify(s, rq->bearer, &err);
    if (!claims) {
      kbs_fail(rs, 401, "TokenVerifierError", "bearer token refused: %s", err.msg);
      return;
    }
  } else if (rq->session && !kbs_session_get(s->sessions, rq->session, &sv) &&
             sv.state == KBS_ATTESTED) {
    claims = kbs_token_claims(sv.token, &err);
    if (!claims) {
      kbs_session_view_free(&sv);
      kbs_fail(rs, 500, "HTTPFailed", "the session's token: %s", err.msg);
      return;
    }
  } else {
    kbs_session_view_free(&sv);
    kbs_fail(rs, 401, "TokenNotFound",
             "no attested session (cookie) and no bearer token: attest first");
    return;
  }
  kbs_session_view_free(&sv);
  const json_t *pub = kbs_token_tee_pubkey(claims);
  uint8_t *data = NULL;
  size_t len = 0;
  pthread_rwlock_rdlock(&s->policy_lock);
  int r = kbs_policy_check(s->policy, claims, seg[0], seg[1], seg[2], &err);
  pthread_rwlock_unlock(&s->policy_lock);
  if (r)
    kbs_fail(rs, 401, "PolicyDeny", "%s", err.msg);
  else if (!pub || cf_kbs_tee_pubkey_check(pub, &err))
    kbs_fail(rs, 401, "TokenVerifierError", "the token names no usable tee-pubkey");
  else if (kbs_resource_read(s, seg, &data, &len, &err))
    kbs_fail(rs, 401, "PluginInternalError", "%s", err.msg);
  else {
    json_t *jwe = cf_kbs_jwe_encrypt(pub, data, len, &err);
    if (jwe)
      kbs_json_reply(rs, jwe);
    else
      kbs_fail(rs, 401, "JweError", "%s", err.msg);
  }
  free(data);
  json_decref(claims);
}
