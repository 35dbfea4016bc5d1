/* Identifiers that name things on disk and on the wire (container, exec,
 * pod, namespace ids). */
#ifndef COFFER_ID_H
#define COFFER_ID_H

#include <stdbool.h>

#define CF_ID_MAX 128

/* True for 1..CF_ID_MAX characters of [A-Za-z0-9_.-] that start with a
 * letter or digit: never empty, never "." or "..", never a path, never an
 * option ("-x"), so an id is safe as a file name and a command argument. */
bool cf_id_valid(const char *id);

#endif
