/* Validation of names and paths that arrive from the host. */
#include "agent.h"

#include <string.h>

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
