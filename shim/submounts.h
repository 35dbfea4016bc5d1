/* Host mounts below a directory, from a mountinfo file: what a
 * non-recursive read-only volume must leave writable in the guest. */
#ifndef COFFER_SHIM_SUBMOUNTS_H
#define COFFER_SHIM_SUBMOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "coffer/error.h"

#define SHIM_SUBMOUNTS_MAX 64

typedef struct shim_submount {
  char *rel;     /* path below the directory, relative, never "" or with ".." */
  bool readonly; /* the host mount's own read-only flag */
} shim_submount;

/* Lists the mount points strictly below dir (an absolute, resolved path) in
 * mountinfo (normally /proc/self/mountinfo), in the file's order (a parent
 * before what is mounted on it), each once. Fails (naming dir) past
 * SHIM_SUBMOUNTS_MAX or on a path it cannot represent safely. */
int shim_submounts_below(const char *mountinfo, const char *dir, shim_submount **out, size_t *n,
                         cf_error *err);
void shim_submounts_free(shim_submount *s, size_t n);

#endif
