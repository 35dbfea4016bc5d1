/* Validation of names and paths that arrive from the host. */
#include "agent.h"

#include <string.h>

bool agent_valid_id(const char *id) {
  if (!id || !id[0])
    return false;
  size_t n = strlen(id);
  if (n > 128)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
      return false;
  }
  return true;
}

bool path_has_dotdot(const char *p) {
  for (const char *s = p; (s = strstr(s, "..")); s += 2) {
    bool start = s == p || s[-1] == '/';
    bool end = s[2] == '\0' || s[2] == '/';
    if (start && end)
      return true;
  }
  return false;
}

bool agent_valid_relpath(const char *p) {
  if (!p || !p[0] || p[0] == '/' || strlen(p) > 4000)
    return false;
  /* no empty, "." or ".." components */
  const char *s = p;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
      return false;
    if (!e)
      break;
    s = e + 1;
    if (!*s)
      return false;
  }
  return true;
}
