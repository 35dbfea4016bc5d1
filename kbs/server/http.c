/* The HTTP front: libmicrohttpd's internal epoll threads (one per CPU by
 * default), so a slow client holds one connection slot, never a thread.
 * Headers are bounded by the per-connection memory limit, bodies by
 * max_body_bytes; idle connections are closed after connection_timeout_s. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "http.h"

#define HEADER_MEMORY (32 * 1024)

typedef struct req_ctx {
  char *body;
  size_t len, cap;
  bool too_big;
} req_ctx;

static enum MHD_Result send_response(struct MHD_Connection *c, kbs_response *rs) {
  const char *body = rs->body ? rs->body : "";
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                           MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  if (rs->content_type)
    MHD_add_response_header(r, "Content-Type", rs->content_type);
  if (rs->cookie[0])
    MHD_add_response_header(r, "Set-Cookie", rs->cookie);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)rs->status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result too_large(struct MHD_Connection *c, const kbs_server *s) {
  kbs_response rs = {0};
  kbs_fail(&rs, 413, "HTTPFailed", "request body over the limit of %zu bytes", s->cfg.max_body);
  enum MHD_Result r = send_response(c, &rs);
  free(rs.body);
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls) {
  kbs_server *s = cls;
  req_ctx *rc = *con_cls;
  if (!rc) {
    rc = calloc(1, sizeof(*rc));
    if (!rc)
      return MHD_NO;
    *con_cls = rc;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
      rc->too_big = true;
      return too_large(c, s); /* answered before the body is read; MHD closes */
    }
    return MHD_YES;
  }
  if (*upload_size) {
    if (rc->too_big) {
      *upload_size = 0;
      return MHD_YES;
    }
    if (rc->len + *upload_size > s->cfg.max_body) {
      rc->too_big = true;
      free(rc->body);
      rc->body = NULL;
      *upload_size = 0;
      return too_large(c, s);
    }
    if (rc->len + *upload_size + 1 > rc->cap) {
      size_t cap = (rc->len + *upload_size + 1) * 2;
      if (cap > s->cfg.max_body + 1)
        cap = s->cfg.max_body + 1;
      char *b = realloc(rc->body, cap);
      if (!b)
        return MHD_NO;
      rc->body = b;
      rc->cap = cap;
    }
    memcpy(rc->body + rc->len, upload, *upload_size);
    rc->len += *upload_size;
    rc->body[rc->len] = '\0';
    *upload_size = 0;
    return MHD_YES;
  }
  if (rc->too_big)
    return MHD_YES; /* already answered */
  kbs_response rs = {0};
  if (!strcmp(url, "/healthz") || !strcmp(url, "/kbs/v0/healthz")) {
    rs.status = 200;
    rs.body = strdup("{\"status\":\"ok\"}");
    rs.content_type = "application/json";
  } else if (strncmp(url, "/kbs/v0/", 8)) {
    kbs_fail(&rs, 404, "InvalidRequestPath", "no endpoint %.200s (the API is under /kbs/v0)", url);
  } else {
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    kbs_request rq = {
        .method = method,
        .path = url + 7,
        .session = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "kbs-session-id"),
        .bearer = auth && !strncmp(auth, "Bearer ", 7) ? auth + 7 : NULL,
        .body = rc->body ? rc->body : "",
        .body_len = rc->len,
    };
    kbs_handle(s, &rq, &rs);
  }
  enum MHD_Result r = send_response(c, &rs);
  free(rs.body);
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  req_ctx *rc = *con_cls;
  if (rc) {
    free(rc->body);
    free(rc);
    *con_cls = NULL;
  }
}

/* The URL is used as sent: a percent-encoded slash or dot must not become a
 * path separator or a "..", so nothing is decoded (a '%' fails the resource
 * path syntax). */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) { return strlen(s); }

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  msg[strcspn(msg, "\n")] = '\0';
  cf_debug("http: %s", msg);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                        cf_error *err) {
  char host[128];
  const char *colon = strrchr(listen, ':');
  if (!colon || (size_t)(colon - listen) >= sizeof(host))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "listen \"%s\" is not host:port", listen);
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || port > 65535 || colon[1] == '\0')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "listen \"%s\": bad port", listen);
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  char *h = host;
  if (h[0] == '[' && h[strlen(h) - 1] == ']') {
    h[strlen(h) - 1] = '\0';
    h++;
  }
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, h, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *len = sizeof(*in);
  } else if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*in6);
  } else {
    return cf_err_status(err, CF_INVALID_ARGUMENT, "listen \"%s\": host must be an IP address", listen);
  }
  return 0;
}

int kbs_http_start(kbs_server *s, cf_error *err) {
  struct sockaddr_storage ss;
  socklen_t sl;
  int r = parse_listen(s->cfg.listen, &ss, &sl, err);
  if (r)
    return r;
  /* Every connection is a descriptor: allow as many as the configured limit. */
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  unsigned threads = s->cfg.threads;
  if (!threads) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (unsigned)n : 1;
  }
  _cleanup_free_ char *cert = NULL, *key = NULL;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  if (!s->cfg.insecure_http) {
    size_t n;
    if (cf_read_file(s->cfg.tls_cert, 1 << 20, &cert, &n, err) ||
        cf_read_file(s->cfg.tls_key, 1 << 20, &key, &n, err))
      return -EINVAL;
    flags |= MHD_USE_TLS;
  }
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  struct MHD_OptionItem tls[] = {
      {MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
      {MHD_OPTION_END, 0, NULL},
  };
  /* One thread: the internal polling thread itself (no pool). */
  struct MHD_OptionItem pool[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_ARRAY, threads > 1 ? pool : &pool[1], MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.connection_timeout_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
      MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_ARRAY,
      s->cfg.insecure_http ? &tls[2] : tls, MHD_OPTION_END);
  if (!d)
    return cf_err_status(err, CF_UNAVAILABLE, "cannot serve on %s (address in use, bad TLS "
                         "certificate/key, or not permitted)", s->cfg.listen);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : 0;
  s->http = d;
  return 0;
}

void kbs_http_stop(kbs_server *s) {
  if (s->http)
    MHD_stop_daemon(s->http);
  s->http = NULL;
}
