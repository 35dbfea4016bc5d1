/* Whole-file reads of bounded size (configs, specs, evidence). */
#ifndef COFFER_FILE_H
#define COFFER_FILE_H

#include <stddef.h>

#include "coffer/error.h"

/* Reads the regular file at path, of at most max bytes, into a new
 * NUL-terminated buffer (*out, free()d by the caller; *len its length, may
 * be NULL). Fails naming the path: not found, not a regular file, larger
 * than max, or a read error. */
int cf_read_file(const char *path, size_t max, char **out, size_t *len, cf_error *err);

#endif
