/* The OCI distribution API over libcurl: manifests and blobs, anonymous and
 * bearer-token auth, redirects followed by hand (bounded, loops named, no
 * credentials to another host), every body bounded and each blob verified
 * against its digest and size as it streams in. */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "internal.h"

#define MAX_REDIRECTS 5
#define MAX_ERROR_BODY (64u << 10)
#define MAX_TOKEN 16384

struct img_registry {
  CURL *c;
  const struct cf_image_pull_opts *o;
  const struct img_ref *ref;
  char scheme[8];
  int64_t deadline;
  char *token;
  bool token_tried;
  uint64_t fetched;
  unsigned connects;   /* new connections (1 when every request reused the first) */
  uint64_t connect_us; /* their TCP + TLS set-up */
};

/* One response: its body goes to memory or (a 200's) to an fd, hashed. */
struct xfer {
  struct img_registry *r;
  long status;
  char www_auth[2048];
  char ctype[256];
  /* memory sink */
  char *buf;
  size_t len;
  uint64_t max;
  /* fd sink (fd >= 0): a blob */
  int fd;
  struct img_hash *hash;
  uint64_t want, got;
  const char *fail; /* why the callback stopped the transfer */
};

uint64_t img_registry_fetched(const struct img_registry *r) { return r->fetched; }

void img_registry_connects(const struct img_registry *r, unsigned *n, uint64_t *us) {
  *n = r->connects;
  *us = r->connect_us;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  struct xfer *x = ud;
  size_t len = sz * n, kl;
  if (len >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response: forget the last one's */
    x->www_auth[0] = x->ctype[0] = '\0';
    return len;
  }
  char *dst = NULL;
  size_t cap = 0;
  if (len > (kl = 17) && !strncasecmp(p, "www-authenticate:", kl))
    dst = x->www_auth, cap = sizeof(x->www_auth);
  else if (len > (kl = 13) && !strncasecmp(p, "content-type:", kl))
    dst = x->ctype, cap = sizeof(x->ctype);
  if (!dst)
    return len;
  const char *v = p + kl, *e = p + len;
  while (v < e && (*v == ' ' || *v == '\t'))
    v++;
  while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
    e--;
  if ((size_t)(e - v) >= cap)
    return 0; /* an oversized header aborts: nothing legitimate is that long */
  memcpy(dst, v, (size_t)(e - v));
  dst[e - v] = '\0';
  return len;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
  struct xfer *x = ud;
  size_t len = sz * n;
  long status = 0;
  curl_easy_getinfo(x->r->c, CURLINFO_RESPONSE_CODE, &status);
  x->r->fetched += len;
  uint64_t total = x->r->o->max_total_bytes;
  if (x->r->fetched > total) {
    x->fail = "the pull's total size limit reached";
    return 0;
  }
  if (status == 200 && x->fd >= 0) {
    if (len > x->want - x->got) {
      x->fail = "more bytes than the descriptor's size";
      return 0;
    }
    img_hash_update(x->hash, p, len);
    for (size_t off = 0; off < len;) {
      ssize_t w = write(x->fd, p + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        x->fail = "cannot store the blob";
        return 0;
      }
      off += (size_t)w;
    }
    x->got += len;
    return len;
  }
  uint64_t max = status == 200 ? x->max : MAX_ERROR_BODY;
  if (x->len + len > max) {
    x->fail = status == 200 ? "over the size limit" : "error body too large";
    return 0;
  }
  char *b = realloc(x->buf, x->len + len + 1);
  if (!b) {
    x->fail = "out of memory";
    return 0;
  }
  memcpy(b + x->len, p, len);
  x->buf = b;
  x->len += len;
  b[x->len] = '\0';
  return len;
}

/* https, or http to loopback when the options allow it; *same_host: the
 * registry's own host (credentials go there only) */
static int check_url(struct img_registry *r, const char *url, bool *same_host, cf_error *err) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  int rc = -1;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    char hp[300];
    snprintf(hp, sizeof(hp), "%s%s%s", host, port ? ":" : "", port ? port : "");
    if (!strcmp(scheme, "https") || (!strcmp(scheme, "http") && r->o->insecure_http &&
                                     img_host_is_loopback(host)))
      rc = 0;
    *same_host = !strcmp(hp, r->ref->host) || (!port && !strcmp(host, r->ref->host));
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (rc < 0)
    return cf_err_status(err, CF_PERMISSION_DENIED, "%.300s: only https (plain http only to loopback, when allowed)", url);
  return 0;
}

static void set_common(struct img_registry *r, const char *url, struct xfer *x) {
  CURL *c = r->c;
  curl_easy_reset(c);
  int64_t left = r->deadline - img_now_ms();
  if (left < 1)
    left = 1;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "coffer-agent");
  if (r->o->ca_file) {
    curl_easy_setopt(c, CURLOPT_CAINFO, r->o->ca_file);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
  } else if (r->o->ca_pem) {
    struct curl_blob b = {(void *)r->o->ca_pem, strlen(r->o->ca_pem), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
}

static int perform(struct img_registry *r, struct xfer *x, const char *url, cf_error *err) {
  CURLcode rc = curl_easy_perform(r->c);
  curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &x->status);
  long nc = 0;
  curl_off_t t = 0;
  if (curl_easy_getinfo(r->c, CURLINFO_NUM_CONNECTS, &nc) == CURLE_OK && nc > 0) {
    r->connects += (unsigned)nc;
    if (curl_easy_getinfo(r->c, CURLINFO_APPCONNECT_TIME_T, &t) == CURLE_OK && t > 0)
      r->connect_us += (uint64_t)t;
    else if (curl_easy_getinfo(r->c, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK && t > 0)
      r->connect_us += (uint64_t)t; /* plain http */
  }
  if (rc == CURLE_OK)
    return 0;
  if (x->fail)
    return cf_err_status(err, CF_DATA_LOSS, "GET %.300s: %s", url, x->fail);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return cf_err_status(err, CF_DEADLINE_EXCEEDED, "GET %.300s: the pull's time limit ran out", url);
  return cf_err_status(err, CF_UNAVAILABLE, "GET %.300s: %s", url, curl_easy_strerror(rc));
}

/* realm="…",service="…",scope="…" after "Bearer ": quoted strings or tokens */
static int parse_challenge(const char *h, char **realm, char **service, char **scope) {
  if (strncasecmp(h, "Bearer ", 7))
    return -1;
  const char *p = h + 7;
  for (;;) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    const char *k = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')
      p++;
    size_t kl = (size_t)(p - k);
    if (!kl || *p++ != '=')
      return -1;
    char val[2048];
    size_t vl = 0;
    if (*p == '"') {
      for (p++; *p != '"'; p++) {
        if (!*p || vl + 1 >= sizeof(val))
          return -1;
        if (*p == '\\' && !*++p)
          return -1;
        val[vl++] = *p;
      }
      p++;
    } else {
      while (*p && *p != ',' && *p != ' ' && vl + 1 < sizeof(val))
        val[vl++] = *p++;
      if (!vl)
        return -1;
    }
    val[vl] = '\0';
    char **dst = kl == 5 && !strncasecmp(k, "realm", 5)     ? realm
                 : kl == 7 && !strncasecmp(k, "service", 7) ? service
                 : kl == 5 && !strncasecmp(k, "scope", 5)   ? scope
                                                            : NULL;
    if (dst) {
      if (*dst) /* a parameter twice: ambiguous */
        return -1;
      if (!(*dst = strdup(val)))
        return -1;
    }
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == ',')
      p++;
    else if (*p)
      return -1;
  }
  return *realm ? 0 : -1;
}

static int fetch_token(struct img_registry *r, const char *challenge, cf_error *err) {
  _cleanup_free_ char *realm = NULL, *service = NULL, *scope = NULL;
  if (parse_challenge(challenge, &realm, &service, &scope) < 0)
    return cf_err_status(err, CF_UNAUTHENTICATED,
                         "registry %s: unusable auth challenge \"%.200s\"", r->ref->registry,
                         challenge);
  bool same;
  int rc = check_url(r, realm, &same, err);
  if (rc < 0)
    return cf_error_prefix(err, "registry %s: token realm", r->ref->registry);
  if (strchr(realm, '?'))
    return cf_err_status(err, CF_UNAUTHENTICATED, "registry %s: token realm with a query",
                         r->ref->registry);
  char dflt[300];
  snprintf(dflt, sizeof(dflt), "repository:%s:pull", r->ref->repo);
  char *es = curl_easy_escape(r->c, service ? service : "", 0);
  char *esc = curl_easy_escape(r->c, scope ? scope : dflt, 0);
  _cleanup_free_ char *url = NULL;
  int n = es && esc ? asprintf(&url, "%s?%s%s%sscope=%s", realm, service ? "service=" : "",
                               service ? es : "", service ? "&" : "", esc)
                    : -1;
  curl_free(es);
  curl_free(esc);
  if (n < 0)
    return cf_err(err, ENOMEM, "token url");
  struct xfer x = {.r = r, .fd = -1, .max = MAX_TOKEN};
  set_common(r, url, &x);
  if (r->o->credentials) {
    curl_easy_setopt(r->c, CURLOPT_USERPWD, r->o->credentials);
    curl_easy_setopt(r->c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
  }
  rc = perform(r, &x, url, err);
  _cleanup_free_ char *body = x.buf;
  if (rc < 0)
    return cf_error_prefix(err, "registry %s: token", r->ref->registry);
  if (x.status != 200)
    return cf_err_status(err, CF_UNAUTHENTICATED, "registry %s: token endpoint %s answered %ld",
                         r->ref->registry, realm, x.status);
  json_object *o = json_tokener_parse(body ? body : "");
  json_object *t = NULL;
  if (!json_object_object_get_ex(o, "token", &t) || !json_object_is_type(t, json_type_string))
    json_object_object_get_ex(o, "access_token", &t);
  const char *tok = t && json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
  bool ok = tok && tok[0] && strlen(tok) < MAX_TOKEN && !strpbrk(tok, "\r\n");
  free(r->token);
  r->token = ok ? strdup(tok) : NULL;
  json_object_put(o);
  if (!ok)
    return cf_err_status(err, CF_UNAUTHENTICATED, "registry %s: no token from %s",
                         r->ref->registry, realm);
  return r->token ? 0 : cf_err(err, ENOMEM, "token");
}

/* GET path below /v2/<repo>/: auth, redirects. x->status is the final one. */
static int get(struct img_registry *r, const char *what, const char *accept, struct xfer *x,
               cf_error *err) {
  _cleanup_free_ char *url = NULL;
  if (asprintf(&url, "%s://%s/v2/%s/%s", r->scheme, r->ref->host, r->ref->repo, what) < 0)
    return cf_err(err, ENOMEM, "url");
  char *seen[MAX_REDIRECTS + 1] = {0};
  size_t nseen = 0;
  int rc = 0;
  for (int hops = 0;; hops++) {
    bool same;
    if ((rc = check_url(r, url, &same, err)) < 0)
      break;
    if (x->buf)
      x->len = 0;
    struct curl_slist *hdr = NULL;
    char line[MAX_TOKEN + 64];
    if (accept) {
      snprintf(line, sizeof(line), "Accept: %s", accept);
      hdr = curl_slist_append(hdr, line);
    }
    if (r->token && same) {
      snprintf(line, sizeof(line), "Authorization: Bearer %s", r->token);
      hdr = curl_slist_append(hdr, line);
    }
    set_common(r, url, x);
    curl_easy_setopt(r->c, CURLOPT_HTTPHEADER, hdr);
    rc = perform(r, x, url, err);
    curl_slist_free_all(hdr);
    if (rc < 0)
      break;
    if (x->status == 401 && !r->token_tried && same) {
      r->token_tried = true;
      if (!x->www_auth[0]) {
        rc = cf_err_status(err, CF_UNAUTHENTICATED, "registry %s: 401 without a challenge",
                           r->ref->registry);
        break;
      }
      if ((rc = fetch_token(r, x->www_auth, err)) < 0)
        break;
      hops--;
      continue;
    }
    if (x->status < 300 || x->status >= 400 || x->status == 304)
      break;
    char *loc = NULL;
    curl_easy_getinfo(r->c, CURLINFO_REDIRECT_URL, &loc);
    if (!loc) {
      rc = cf_err_status(err, CF_UNAVAILABLE, "registry %s: %ld without a location for %s",
                         r->ref->registry, x->status, what);
      break;
    }
    for (size_t i = 0; i < nseen; i++)
      if (!strcmp(seen[i], loc)) {
        rc = cf_err_status(err, CF_UNAVAILABLE, "registry %s: redirect loop fetching %s (back to %.300s)",
                           r->ref->registry, what, loc);
        goto out;
      }
    if (hops >= MAX_REDIRECTS) {
      rc = cf_err_status(err, CF_UNAVAILABLE, "registry %s: more than %d redirects fetching %s",
                         r->ref->registry, MAX_REDIRECTS, what);
      break;
    }
    if (!(seen[nseen++] = strdup(url)) || !(loc = strdup(loc))) {
      rc = cf_err(err, ENOMEM, "redirect");
      break;
    }
    free(url);
    url = loc;
  }
out:
  for (size_t i = 0; i < nseen; i++)
    free(seen[i]);
  return rc;
}

static int status_error(struct img_registry *r, const char *what, struct xfer *x, cf_error *err) {
  char body[200] = "";
  if (x->buf)
    snprintf(body, sizeof(body), ": %.*s", (int)(x->len < 150 ? x->len : 150), x->buf);
  for (char *p = body; *p; p++)
    if (*p < 0x20)
      *p = ' ';
  int st = x->status == 404 ? CF_NOT_FOUND : x->status == 401 || x->status == 403
                                                 ? CF_PERMISSION_DENIED : CF_UNAVAILABLE;
  return cf_err_status(err, st, "registry %s: %s: HTTP %ld%s", r->ref->registry, what,
                       x->status, body);
}

int img_registry_manifest(struct img_registry *r, const char *reference, uint64_t max,
                          char **body, size_t *len, char **ctype, cf_error *err) {
  _cleanup_free_ char *what = NULL;
  if (asprintf(&what, "manifests/%s", reference) < 0)
    return cf_err(err, ENOMEM, "url");
  static const char accept[] =
      "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json, "
      "application/vnd.docker.distribution.manifest.v2+json";
  struct xfer x = {.r = r, .fd = -1, .max = max};
  int rc = get(r, what, accept, &x, err);
  if (rc == 0 && x.status != 200)
    rc = status_error(r, what, &x, err);
  if (rc == 0 && !(*ctype = strdup(x.ctype)))
    rc = cf_err(err, ENOMEM, "manifest");
  if (rc < 0) {
    free(x.buf);
    if (!strstr(err->msg, r->ref->registry))
      cf_error_prefix(err, "registry %s: manifest %s", r->ref->registry, reference);
    return rc;
  }
  *body = x.buf ? x.buf : strdup("");
  *len = x.len;
  return *body ? 0 : cf_err(err, ENOMEM, "manifest");
}

int img_registry_blob(struct img_registry *r, const char *digest, uint64_t size, int fd,
                      char **body, cf_error *err) {
  _cleanup_free_ char *what = NULL;
  if (asprintf(&what, "blobs/%s", digest) < 0)
    return cf_err(err, ENOMEM, "url");
  struct img_hash h;
  int rc = img_hash_init(&h, digest, err);
  if (rc < 0)
    return rc;
  struct xfer x = {.r = r, .fd = fd, .hash = &h, .want = size, .max = size};
  rc = get(r, what, NULL, &x, err);
  if (rc == 0 && x.status != 200)
    rc = status_error(r, what, &x, err);
  if (rc == 0 && fd < 0) {
    img_hash_update(&h, x.buf, x.len);
    x.got = x.len;
  }
  char got[IMG_DIGEST_MAX] = "";
  if (rc == 0) {
    img_hash_final(&h, got);
    if (x.got != size)
      rc = cf_err_status(err, CF_DATA_LOSS, "blob %s from %s: truncated: %llu of %llu bytes",
                         digest, r->ref->registry, (unsigned long long)x.got,
                         (unsigned long long)size);
    else if (strcmp(got, digest))
      rc = cf_err_status(err, CF_DATA_LOSS, "blob %s from %s: content has digest %s", digest,
                         r->ref->registry, got);
  } else {
    img_hash_free(&h);
    if (!strstr(err->msg, digest))
      cf_error_prefix(err, "blob %s from %s", digest, r->ref->registry);
  }
  if (rc < 0 || fd >= 0) {
    free(x.buf);
    return rc;
  }
  *body = x.buf ? x.buf : strdup("");
  return *body ? 0 : cf_err(err, ENOMEM, "blob");
}

int img_registry_open(const struct cf_image_pull_opts *o, const struct img_ref *ref,
                      int64_t deadline_ms, struct img_registry **out, cf_error *err) {
  static bool inited;
  if (!inited) { /* libcurl's global state, once (the agent is single-threaded here) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    inited = true;
  }
  struct img_registry *r = calloc(1, sizeof(*r));
  if (!r || !(r->c = curl_easy_init())) {
    free(r);
    return cf_err(err, ENOMEM, "curl");
  }
  r->o = o;
  r->ref = ref;
  r->deadline = deadline_ms;
  bool plain = o->insecure_http && img_host_is_loopback(ref->host);
  snprintf(r->scheme, sizeof(r->scheme), "%s", plain ? "http" : "https");
  *out = r;
  return 0;
}

void img_registry_close(struct img_registry *r) {
  if (!r)
    return;
  curl_easy_cleanup(r->c);
  free(r->token);
  free(r);
}
