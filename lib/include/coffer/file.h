/* Whole-file reads of bounded size (configs, specs, evidence) and atomic
 * whole-file writes (state records, specs, tokens, stored resources). */
#ifndef COFFER_FILE_H
#define COFFER_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "coffer/error.h"

/* Reads the regular file at path, of at most max bytes, into a new
 * NUL-terminated buffer (*out, free()d by the caller; *len its length, may
 * be NULL). Fails naming the path: not found, not a regular file, larger
 * than max, or a read error. */
int cf_read_file(const char *path, size_t max, char **out, size_t *len, cf_error *err);

/* cf_write_file_atomic flags */
#define CF_WRITE_SYNC 1u /* fsync before the rename: the file must survive a crash */

/* Replaces the file at path with exactly len bytes of data, atomically: a
 * reader sees the old content or the new, never a part. The bytes go to a
 * temporary file beside path (unique per process, never followed if it is a
 * symlink), which gets mode (whatever the umask) and is renamed over path;
 * on failure it is removed and path is unchanged. Fails naming the path. */
int cf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         unsigned flags, cf_error *err);

#endif
