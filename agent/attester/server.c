/* The attester's two HTTP services on unix sockets (libmicrohttpd):
 *  - tee.sock, mounted into containers that opt in: POST /v1/token (a token
 *    bound to the caller's audience and nonces), GET /v1/token (the default
 *    token), GET /v1/resource/<repo>/<type>/<tag>;
 *  - the agent's socket (mode 0600, never mounted):
 *    GET /v1/secret/<r>/<t>/<g>?name=<name>, restricted to the name/resource
 *    pairs init-data lists.
 * Bad requests get 400 with the reason as text; broker refusals carry the
 * broker's reason. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "attester.h"
#include "coffer/cleanup.h"

#define MAX_BODY 8192

struct att_server {
  struct MHD_Daemon *d;
  att_state *s;
  bool agent;
};

typedef struct upload {
  char buf[MAX_BODY];
  size_t len;
  bool too_big;
} upload;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
                             const void *data, size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *msg) {
  char line[CF_ERROR_MSG_MAX + 2];
  int n = snprintf(line, sizeof(line), "%s\n", msg);
  return reply(c, code, "text/plain", line, (size_t)n);
}

static unsigned status_of(const cf_error *err) {
  switch (err->status) {
  case CF_PERMISSION_DENIED:
    return 403;
  case CF_INVALID_ARGUMENT:
    return 400;
  default:
    return 502;
  }
}

static enum MHD_Result resource(att_server *srv, struct MHD_Connection *c, const char *path,
                                bool listed_only) {
  const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
  if (!att_resource_path_ok(path))
    return reply_text(c, 400, "resource path must be <repo>/<type>/<tag>, each [A-Za-z0-9_-][A-Za-z0-9_.-]*");
  char uri[300];
  snprintf(uri, sizeof(uri), "kbs:///%s", path);
  if (listed_only && !att_secret_allowed(srv->s, name, uri)) {
    char msg[600];
    snprintf(msg, sizeof(msg), "secret %.128s = %s is not listed in the pod's init-data",
             name ? name : "(no name)", uri);
    return reply_text(c, 403, msg);
  }
  cf_error err = {0};
  uint8_t *data = NULL;
  size_t len = 0;
  if (att_fetch(srv->s, uri, &data, &len, &err))
    return reply_text(c, status_of(&err), err.msg);
  enum MHD_Result r = reply(c, 200, "application/octet-stream", data, len);
  explicit_bzero(data, len);
  free(data);
  return r;
}

static enum MHD_Result bound_token(att_server *srv, struct MHD_Connection *c, const upload *u) {
  if (u->too_big)
    return reply_text(c, 400, "body larger than 8192 bytes");
  cf_error err = {0};
  att_token_request rq;
  if (att_token_request_parse(u->buf, u->len, &rq, &err))
    return reply_text(c, 400, err.msg);
  char *jwt = NULL;
  int r = att_bound_token(srv->s, rq.audience, (const char *const *)rq.nonces, rq.n_nonces, &jwt, &err);
  att_token_request_free(&rq);
  if (r)
    return reply_text(c, status_of(&err), err.msg);
  enum MHD_Result ret = reply(c, 200, "application/jwt", jwt, strlen(jwt));
  free(jwt);
  return ret;
}

static enum MHD_Result default_token(att_server *srv, struct MHD_Connection *c) {
  pthread_mutex_lock(&srv->s->lock);
  _cleanup_free_ char *t = srv->s->token ? strdup(srv->s->token) : NULL;
  pthread_mutex_unlock(&srv->s->lock);
  return t ? reply(c, 200, "application/jwt", t, strlen(t)) : reply_text(c, 503, "no token yet");
}

static enum MHD_Result route(att_server *srv, struct MHD_Connection *c, const char *method,
                             const char *url, const upload *u) {
  bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
  if (srv->agent) {
    if (get && !strncmp(url, "/v1/secret/", 11))
      return resource(srv, c, url + 11, true);
    return reply_text(c, 404, "no such endpoint");
  }
  if (post && !strcmp(url, "/v1/token"))
    return bound_token(srv, c, u);
  if (get && !strcmp(url, "/v1/token"))
    return default_token(srv, c);
  if (get && !strncmp(url, "/v1/resource/", 13))
    return resource(srv, c, url + 13, false);
  if (!strcmp(url, "/v1/token") || !strncmp(url, "/v1/resource/", 13))
    return reply_text(c, 405, "method not allowed");
  return reply_text(c, 404, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls) {
  (void)version;
  att_server *srv = cls;
  upload *u = *con_cls;
  if (!u) {
    if (!(u = calloc(1, sizeof(*u))))
      return MHD_NO;
    *con_cls = u;
    return MHD_YES;
  }
  if (*size) {
    if (u->len + *size > sizeof(u->buf) - 1)
      u->too_big = true; /* keep reading, answer 400 at the end */
    else
      memcpy(u->buf + u->len, data, *size), u->len += *size;
    *size = 0;
    return MHD_YES;
  }
  return route(srv, c, method, url, u);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  free(*con_cls);
  *con_cls = NULL;
}

static int listen_unix(const char *path, mode_t mode, cf_error *err) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(a.sun_path))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "socket %s: path too long", path);
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return cf_err(err, errno, "socket %s", path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || chmod(path, mode) || listen(fd, 64)) {
    int e = errno;
    close(fd);
    return cf_err(err, e, "socket %s", path);
  }
  return fd;
}

att_server *att_server_start(att_state *s, const char *path, bool agent, int mode, cf_error *err) {
  int fd = listen_unix(path, (mode_t)mode, err);
  if (fd < 0)
    return NULL;
  att_server *srv = calloc(1, sizeof(*srv));
  if (!srv) {
    close(fd);
    cf_err(err, ENOMEM, "server %s", path);
    return NULL;
  }
  srv->s = s;
  srv->agent = agent;
  srv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, srv,
                            MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
  if (!srv->d) {
    close(fd);
    free(srv);
    cf_err_status(err, CF_INTERNAL, "server %s: libmicrohttpd did not start", path);
    return NULL;
  }
  return srv;
}

void att_server_stop(att_server *srv) {
  if (!srv)
    return;
  MHD_stop_daemon(srv->d);
  free(srv);
}
