/* libcurl exchanges for the KBS client. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_REPLY (8u << 20)

static size_t on_data(char *p, size_t sz, size_t n, void *ud) {
  kbs_reply *r = ud;
  size_t add = sz * n;
  if (r->len + add > MAX_REPLY)
    return 0; /* aborts the transfer */
  char *b = realloc(r->body, r->len + add + 1);
  if (!b)
    return 0;
  memcpy(b + r->len, p, add);
  r->body = b;
  r->len += add;
  b[r->len] = '\0';
  return add;
}

/* Asks for no content coding, so any but identity is a broken or hostile
 * reply: decoding is not attempted, the body would be misread. */
static int refuse_coding(kbs_http *h, const char *p, size_t len) {
  static const char k[] = "content-encoding:";
  if (len <= sizeof(k) - 1 || strncasecmp(p, k, sizeof(k) - 1))
    return 0;
  const char *v = p + sizeof(k) - 1, *e = p + len;
  while (v < e && (*v == ' ' || *v == '\t'))
    v++;
  while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
    e--;
  if ((size_t)(e - v) == 8 && !strncasecmp(v, "identity", 8))
    return 0;
  snprintf(h->refused, sizeof(h->refused), "reply has Content-Encoding \"%.*s\", not asked for",
           (int)((e - v) > 40 ? 40 : (e - v)), v);
  return 1;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  kbs_http *h = ud;
  size_t len = sz * n;
  if (refuse_coding(h, p, len))
    return 0; /* aborts the transfer */
  static const char k[] = "set-cookie:";
  if (len > sizeof(k) && !strncasecmp(p, k, sizeof(k) - 1)) {
    const char *v = p + sizeof(k) - 1;
    while (*v == ' ')
      v++;
    const char *e = memchr(v, ';', len - (size_t)(v - p));
    if (!e)
      e = p + len;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n'))
      e--;
    if (!strncmp(v, "kbs-session-id=", 15) && (size_t)(e - v) < sizeof(h->cookie))
      snprintf(h->cookie, sizeof(h->cookie), "%.*s", (int)(e - v), v);
  }
  return len;
}

int kbs_http_call(kbs_http *h, const char *method, const char *path, const char *ctype,
                  const void *body, size_t len, const char *bearer, kbs_reply *out,
                  cf_error *err) {
  memset(out, 0, sizeof(*out));
  h->refused[0] = '\0';
  CURL *c = h->curl;
  if (c)
    curl_easy_reset(c); /* options only: the live connection stays */
  else if (!(c = h->curl = curl_easy_init()))
    return cf_err(err, ENOMEM, "curl");
  char url[1024], auth[8192 + 32], ct[128];
  snprintf(url, sizeof(url), "%s%s", h->url, path);
  struct curl_slist *hdr = NULL;
  if (ctype) {
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
    hdr = curl_slist_append(hdr, ct);
  }
  /* No "Expect: 100-continue" round trip before bodies over 1 KiB. */
  hdr = curl_slist_append(hdr, "Expect:");
  if (bearer) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
    hdr = curl_slist_append(hdr, auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (!strcmp(method, "POST")) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  if (h->ca_file)
    curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file), curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
  if (h->cookie[0])
    curl_easy_setopt(c, CURLOPT_COOKIE, h->cookie);
  if (h->connect) /* through the bridge to the hook's socket (bridge.c) */
    curl_easy_setopt(c, CURLOPT_ABSTRACT_UNIX_SOCKET, h->bridge_name);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hdr);
  if (rc != CURLE_OK) {
    kbs_reply_free(out);
    if (h->refused[0])
      return cf_err_status(err, CF_UNAVAILABLE, "%s %s: %s", method, url, h->refused);
    if (h->connect && h->connect_err.msg[0])
      return cf_err_status(err, CF_UNAVAILABLE, "%s %s: %s", method, url, h->connect_err.msg);
    return cf_err_status(err, CF_UNAVAILABLE, "%s %s: %s", method, url, curl_easy_strerror(rc));
  }
  if (!out->body && !(out->body = calloc(1, 1)))
    return cf_err(err, ENOMEM, "reply");
  return 0;
}

void kbs_http_close(kbs_http *h) {
  if (h->curl)
    curl_easy_cleanup(h->curl);
  h->curl = NULL;
}

void kbs_reply_free(kbs_reply *r) {
  free(r->body);
  r->body = NULL;
  r->len = 0;
}

const char *kbs_reply_detail(const kbs_reply *r, char *buf, size_t n) {
  json_t *o = json_loads(r->body ? r->body : "", 0, NULL);
  const char *d = json_string_value(json_object_get(o, "detail"));
  snprintf(buf, n, "%s", d ? d : r->body ? r->body : "");
  json_decref(o);
  return buf;
}
