/* Finds the exact bytes of one top-level JSON value: Intel signs the raw text
 * of "tcbInfo" / "enclaveIdentity" as it appears in the PCS response. */
#include <errno.h>
#include <string.h>

#include "attest_internal.h"

static size_t skip_ws(const char *t, size_t i, size_t n) {
  while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
    i++;
  return i;
}

/* Index just past the string starting at t[i] == '"', or 0 on error. */
static size_t skip_string(const char *t, size_t i, size_t n) {
  for (i++; i < n; i++) {
    if (t[i] == '\\') {
      i++;
      continue;
    }
    if (t[i] == '"')
      return i + 1;
  }
  return 0;
}

/* Index just past the value starting at t[i], or 0 on error. */
static size_t skip_value(const char *t, size_t i, size_t n) {
  if (i >= n)
    return 0;
  if (t[i] == '"')
    return skip_string(t, i, n);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    for (; i < n; i++) {
      char c = t[i];
      if (c == '"') {
        size_t e = skip_string(t, i, n);
        if (!e)
          return 0;
        i = e - 1;
      } else if (c == '{' || c == '[') {
        if (++depth > 64)
          return 0;
      } else if (c == '}' || c == ']') {
        if (--depth == 0)
          return i + 1;
      }
    }
    return 0;
  }
  while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n' &&
         t[i] != '\r' && t[i] != '\t')
    i++;
  return i;
}

int cf_json_top_value_span(const char *t, size_t n, const char *key, const char **start,
                           size_t *span_len) {
  size_t klen = strlen(key), i = skip_ws(t, 0, n);
  if (i >= n || t[i] != '{')
    return -EINVAL;
  i++;
  int found = 0;
  for (;;) {
    i = skip_ws(t, i, n);
    if (i < n && t[i] == '}')
      break;
    if (i >= n || t[i] != '"')
      return -EINVAL;
    size_t ke = skip_string(t, i, n);
    if (!ke)
      return -EINVAL;
    bool match = ke - i - 2 == klen && memcmp(t + i + 1, key, klen) == 0;
    i = skip_ws(t, ke, n);
    if (i >= n || t[i] != ':')
      return -EINVAL;
    i = skip_ws(t, i + 1, n);
    size_t ve = skip_value(t, i, n);
    if (!ve)
      return -EINVAL;
    if (match) {
      if (found++)
        return -EINVAL; /* a duplicate key would make "what was signed" ambiguous */
      *start = t + i;
      *span_len = ve - i;
    }
    i = skip_ws(t, ve, n);
    if (i < n && t[i] == ',') {
      i++;
      continue;
    }
    if (i < n && t[i] == '}')
      break;
    return -EINVAL;
  }
  return found ? 0 : -ENOENT;
}
