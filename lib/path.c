#include "coffer/path.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int cf_mkdir_p(const char *path, mode_t parents, mode_t leaf) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0)
    return -ENOENT;
  if (n >= sizeof(buf))
    return -ENAMETOOLONG;
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, parents) < 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(buf, leaf) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

bool cf_path_has_dotdot(const char *path) {
  for (const char *s = path; (s = strstr(s, "..")); s += 2) {
    bool starts = s == path || s[-1] == '/';
    bool ends = s[2] == '\0' || s[2] == '/';
    if (starts && ends)
      return true;
  }
  return false;
}
