/* Small path helpers shared by the shim, the agent and the tools. */
#ifndef COFFER_PATH_H
#define COFFER_PATH_H

#include <stdbool.h>
#include <sys/types.h>

/* mkdir -p: creates the missing parents of path with mode parents and
 * path itself with mode leaf (existing directories are left as they are).
 * 0, or a negative errno of the first failing mkdir (-ENAMETOOLONG for a
 * path longer than PATH_MAX). */
int cf_mkdir_p(const char *path, mode_t parents, mode_t leaf);

/* True when path has a ".." component ("..", "a/..", "../b", "a/../b"),
 * which would let it climb out of the directory it is resolved in. Names
 * that merely contain two dots ("a..b") are not components. */
bool cf_path_has_dotdot(const char *path);

#endif
