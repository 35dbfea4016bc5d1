#include "coffer/id.h"

#include <string.h>

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool cf_id_valid(const char *id) {
  if (!id || !is_alnum(id[0]))
    return false;
  size_t n = strnlen(id, CF_ID_MAX + 1);
  if (n > CF_ID_MAX)
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_alnum(id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
      return false;
  return true;
}
