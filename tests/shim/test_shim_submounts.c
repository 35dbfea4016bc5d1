/* Host mounts below a read-only volume's source (shim/submounts.c), from a
 * mountinfo file written here: only mount points strictly below the
 * directory, in the file's order, each once, with their own read-only flag,
 * escaped names decoded; a sibling sharing the prefix, the directory itself
 * and a name with ".." are not taken as plain submounts. Then the real
 * /proc/self/mountinfo: "/proc" holds no mount below "/proc/self/fdinfo". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "submounts.h"

static const char *write_file(const char *text) {
  static char path[64];
  snprintf(path, sizeof(path), "/tmp/test_shim_submounts.XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
    fprintf(stderr, "cannot write %s\n", path);
  if (fd >= 0)
    close(fd);
  return path;
}

int main(void) {
  const char *mi = write_file(
      "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
      "30 22 0:30 / /vol rw,relatime shared:2 - ext4 /dev/vdb rw\n"
      "31 30 0:31 / /vol/tmpfs rw,relatime - tmpfs tmpfs rw\n"
      "32 30 0:32 / /volume-sibling rw - tmpfs tmpfs rw\n"
      "33 31 0:33 / /vol/tmpfs/inner ro,relatime - tmpfs tmpfs rw\n"
      "34 30 0:34 / /vol/with\\040space rw - tmpfs tmpfs rw\n"
      "35 31 0:35 / /vol/tmpfs rw - tmpfs tmpfs rw\n"
      "garbage line\n");
  shim_submount *s = NULL;
  size_t n = 0;
  cf_error err = {0};
  CHECK(shim_submounts_below(mi, "/vol", &s, &n, &err) == 0);
  CHECK(n == 3);
  if (n == 3) {
    CHECK(!strcmp(s[0].rel, "tmpfs") && !s[0].readonly);
    CHECK(!strcmp(s[1].rel, "tmpfs/inner") && s[1].readonly);
    CHECK(!strcmp(s[2].rel, "with space") && !s[2].readonly);
  }
  shim_submounts_free(s, n);

  CHECK(shim_submounts_below(mi, "/vol/", &s, &n, &err) == 0 && n == 3);
  shim_submounts_free(s, n);
  CHECK(shim_submounts_below(mi, "/vol/tmpfs/inner", &s, &n, &err) == 0 && n == 0);
  shim_submounts_free(s, n);
  unlink(mi);

  mi = write_file("40 1 0:40 / /vol/a/../../etc rw - tmpfs tmpfs rw\n");
  err = (cf_error){0};
  CHECK(shim_submounts_below(mi, "/vol", &s, &n, &err) < 0 && strstr(err.msg, "not a plain path"));
  unlink(mi);

  CHECK(shim_submounts_below("/nonexistent/mountinfo", "/vol", &s, &n, &err) < 0);
  CHECK(shim_submounts_below("/proc/self/mountinfo", "/proc/self/fdinfo", &s, &n, &err) == 0 &&
        n == 0);
  shim_submounts_free(s, n);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
