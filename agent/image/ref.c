/* Image references: [registry[:port]/]repository[:tag][@digest]. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int64_t img_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool img_host_is_loopback(const char *hp) {
  const char *names[] = {"127.0.0.1", "[::1]", "localhost"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(names[i]);
    if (!strncmp(hp, names[i], n) && (hp[n] == '\0' || hp[n] == ':' || hp[n] == '/'))
      return true;
  }
  return false;
}

static bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* path components of lower-case alphanumerics joined by ".", "_", "__" or "-"s */
static bool valid_repo(const char *s, size_t n) {
  if (n == 0 || n >= 256)
    return false;
  bool need_alnum = true;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (lower_alnum(c)) {
      need_alnum = false;
      continue;
    }
    if (need_alnum)
      return false;
    if (c == '/' || c == '.') {
      need_alnum = true;
    } else if (c == '_') {
      if (i + 1 < n && s[i + 1] == '_')
        i++;
      need_alnum = true;
    } else if (c == '-') {
      while (i + 1 < n && s[i + 1] == '-')
        i++;
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

static bool valid_tag(const char *s, size_t n) {
  if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

static bool valid_host(const char *s, size_t n) {
  if (n == 0 || n >= 256)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      return false;
  }
  return true;
}

int img_ref_parse(const char *ref, struct img_ref *r, cf_error *err) {
  memset(r, 0, sizeof(*r));
  size_t len = ref ? strlen(ref) : 0;
  if (len == 0 || len > 1024)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference: empty or too long");
  const char *at = strchr(ref, '@');
  size_t name_end = at ? (size_t)(at - ref) : len;
  if (at) {
    if (!img_digest_valid(at + 1))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference %s: bad digest", ref);
    snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
  }
  /* the registry: a first component with '.' or ':', or "localhost" */
  const char *slash = memchr(ref, '/', name_end);
  size_t rest = 0;
  if (slash) {
    size_t n = (size_t)(slash - ref);
    if (memchr(ref, '.', n) || memchr(ref, ':', n) || (n == 9 && !memcmp(ref, "localhost", 9))) {
      if (!valid_host(ref, n))
        return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference %s: bad registry", ref);
      snprintf(r->registry, sizeof(r->registry), "%.*s", (int)n, ref);
      rest = n + 1;
    }
  }
  if (!r->registry[0])
    snprintf(r->registry, sizeof(r->registry), "docker.io");
  /* the tag: after the last ':' that follows the last '/' */
  const char *name = ref + rest;
  size_t nlen = name_end - rest;
  const char *colon = NULL;
  for (size_t i = 0; i < nlen; i++) {
    if (name[i] == '/')
      colon = NULL;
    else if (name[i] == ':')
      colon = name + i;
  }
  size_t repo_len = colon ? (size_t)(colon - name) : nlen;
  if (colon) {
    size_t tl = nlen - repo_len - 1;
    if (!valid_tag(colon + 1, tl))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference %s: bad tag", ref);
    snprintf(r->tag, sizeof(r->tag), "%.*s", (int)tl, colon + 1);
  } else if (!at) {
    snprintf(r->tag, sizeof(r->tag), "latest");
  }
  if (!valid_repo(name, repo_len))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference %s: bad repository name", ref);
  bool docker = !strcmp(r->registry, "docker.io") || !strcmp(r->registry, "index.docker.io");
  if (docker && !memchr(name, '/', repo_len))
    snprintf(r->repo, sizeof(r->repo), "library/%.*s", (int)repo_len, name);
  else if (repo_len < sizeof(r->repo))
    snprintf(r->repo, sizeof(r->repo), "%.*s", (int)repo_len, name);
  else
    return cf_err_status(err, CF_INVALID_ARGUMENT, "image reference %s: name too long", ref);
  snprintf(r->host, sizeof(r->host), "%s", docker ? "registry-1.docker.io" : r->registry);
  return 0;
}
