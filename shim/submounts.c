/* Host mounts below a directory (submounts.h). */
#include "submounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/path.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

static bool has_opt(const char *opts, const char *o) {
  size_t l = strlen(o);
  for (const char *p = opts; p && *p;) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    if (n == l && !strncmp(p, o, l))
      return true;
    p = c ? c + 1 : NULL;
  }
  return false;
}

void shim_submounts_free(shim_submount *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(s[i].rel);
  free(s);
}

int shim_submounts_below(const char *mountinfo, const char *dir, shim_submount **out, size_t *n,
                         cf_error *err) {
  *out = NULL;
  *n = 0;
  _cleanup_fclose_ FILE *f = fopen(mountinfo, "re");
  if (!f)
    return cf_err(err, errno, "read %s", mountinfo);
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/')
    dl--;
  shim_submount *v = NULL;
  size_t k = 0;
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    /* id parent maj:min root mountpoint options ... */
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    for (int i = 0; tok && i < 4; i++)
      tok = strtok_r(NULL, " ", &save);
    char *mp = tok, *opts = strtok_r(NULL, " ", &save);
    if (!mp || !opts)
      continue;
    unescape(mp);
    if (strncmp(mp, dir, dl) || mp[dl] != '/' || !mp[dl + 1])
      continue;
    const char *rel = mp + dl + 1;
    bool seen = false;
    for (size_t i = 0; i < k && !seen; i++)
      seen = !strcmp(v[i].rel, rel);
    if (seen)
      continue;
    if (cf_path_has_dotdot(rel) || rel[0] == '/' || strstr(rel, "//")) {
      shim_submounts_free(v, k);
      return cf_err_status(err, CF_INVALID_ARGUMENT, "mount point %s below %s: not a plain path",
                           mp, dir);
    }
    if (k >= SHIM_SUBMOUNTS_MAX) {
      shim_submounts_free(v, k);
      return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "more than %d mounts below %s",
                           SHIM_SUBMOUNTS_MAX, dir);
    }
    shim_submount *nv = realloc(v, (k + 1) * sizeof(*v));
    if (!nv || !(nv[k].rel = strdup(rel))) {
      shim_submounts_free(nv ? nv : v, k);
      return cf_err(err, ENOMEM, "mounts below %s", dir);
    }
    nv[k].readonly = has_opt(opts, "ro");
    v = nv;
    k++;
  }
  *out = v;
  *n = k;
  return 0;
}
