#include "podfiles.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "coffer/error.h"
#include "coffer/file.h"
#include "coffer/log.h"

#define POD_FILE_MAX (64 * 1024) /* resolv.conf and hosts are a few lines */
#define POD_FILE_ENTRIES 64      /* per list: more is not a pod's DNS config */

static const char *mount_source(json_object *spec, const char *dst) {
  json_object *mounts;
  if (!json_object_object_get_ex(spec, "mounts", &mounts) ||
      !json_object_is_type(mounts, json_type_array))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(mounts); i++) {
    json_object *m = json_object_array_get_idx(mounts, i), *d, *s;
    if (json_object_object_get_ex(m, "destination", &d) && json_object_is_type(d, json_type_string) &&
        !strcmp(json_object_get_string(d), dst) && json_object_object_get_ex(m, "source", &s) &&
        json_object_is_type(s, json_type_string))
      return json_object_get_string(s);
  }
  return NULL;
}

static void push(char ***list, size_t *n, const char *word) {
  if (*n >= POD_FILE_ENTRIES)
    return;
  char **grown = realloc(*list, (*n + 1) * sizeof(char *));
  if (!grown)
    return;
  *list = grown;
  if (((*list)[*n] = strdup(word)))
    (*n)++;
}

static void free_list(char **l, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(l[i]);
  free(l);
}

/* Whitespace-separated words of one line, comments cut. */
static size_t words(char *line, char **w, size_t cap) {
  char *hash = strchr(line, '#');
  if (hash)
    *hash = '\0';
  size_t n = 0;
  for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t && n < cap;
       t = strtok_r(NULL, " \t\r", &save))
    w[n++] = t;
  return n;
}

static void parse_resolv(char *text, shim_pod_files *f) {
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *w[POD_FILE_ENTRIES + 1];
    size_t n = words(line, w, POD_FILE_ENTRIES + 1);
    if (n < 2)
      continue;
    if (!strcmp(w[0], "nameserver")) {
      push(&f->dns_servers, &f->n_dns_servers, w[1]);
    } else if (!strcmp(w[0], "search") || !strcmp(w[0], "domain")) {
      free_list(f->dns_searches, f->n_dns_searches); /* the last one wins */
      f->dns_searches = NULL;
      f->n_dns_searches = 0;
      for (size_t i = 1; i < n; i++)
        push(&f->dns_searches, &f->n_dns_searches, w[i]);
    } else if (!strcmp(w[0], "options")) {
      for (size_t i = 1; i < n; i++)
        push(&f->dns_options, &f->n_dns_options, w[i]);
    }
  }
}

static bool localhost_entry(char **w, size_t n) {
  return n >= 2 && (!strcmp(w[0], "127.0.0.1") || !strcmp(w[0], "::1")) &&
         !strcmp(w[1], "localhost"); /* the agent writes these itself */
}

static void parse_hosts(char *text, shim_pod_files *f) {
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && f->n_hosts < POD_FILE_ENTRIES;
       line = strtok_r(NULL, "\n", &save)) {
    char *w[POD_FILE_ENTRIES + 1];
    size_t n = words(line, w, POD_FILE_ENTRIES + 1);
    if (n < 2 || localhost_entry(w, n))
      continue;
    Coffer__Agent__V1__HostEntry **grown = realloc(f->hosts, (f->n_hosts + 1) * sizeof(*grown));
    Coffer__Agent__V1__HostEntry *e = calloc(1, sizeof(*e));
    if (grown)
      f->hosts = grown;
    if (!grown || !e) {
      free(e);
      return;
    }
    coffer__agent__v1__host_entry__init(e);
    e->ip = strdup(w[0]);
    for (size_t i = 1; i < n; i++)
      push(&e->names, &e->n_names, w[i]);
    f->hosts[f->n_hosts++] = e;
  }
}

static void read_one(json_object *spec, const char *dst, void (*parse)(char *, shim_pod_files *),
                     shim_pod_files *f) {
  const char *src = mount_source(spec, dst);
  if (!src)
    return;
  cf_error err = {0};
  char *text = NULL;
  if (cf_read_file(src, POD_FILE_MAX, &text, NULL, &err) < 0) {
    cf_warn("the pod's %s is not given to the guest: %s", dst, err.msg);
    return;
  }
  parse(text, f);
  free(text);
}

void shim_pod_files_read(const char *spec_json, shim_pod_files *out) {
  memset(out, 0, sizeof(*out));
  json_object *spec = json_tokener_parse(spec_json);
  if (!spec)
    return;
  read_one(spec, "/etc/resolv.conf", parse_resolv, out);
  read_one(spec, "/etc/hosts", parse_hosts, out);
  json_object_put(spec);
}

void shim_pod_files_fill(const shim_pod_files *f, Coffer__Agent__V1__CreateSandboxRequest *req) {
  req->dns_servers = f->dns_servers;
  req->n_dns_servers = f->n_dns_servers;
  req->dns_searches = f->dns_searches;
  req->n_dns_searches = f->n_dns_searches;
  req->dns_options = f->dns_options;
  req->n_dns_options = f->n_dns_options;
  req->hosts = f->hosts;
  req->n_hosts = f->n_hosts;
}

void shim_pod_files_free(shim_pod_files *f) {
  free_list(f->dns_servers, f->n_dns_servers);
  free_list(f->dns_searches, f->n_dns_searches);
  free_list(f->dns_options, f->n_dns_options);
  for (size_t i = 0; i < f->n_hosts; i++) {
    free(f->hosts[i]->ip);
    free_list(f->hosts[i]->names, f->hosts[i]->n_names);
    free(f->hosts[i]);
  }
  free(f->hosts);
  memset(f, 0, sizeof(*f));
}
