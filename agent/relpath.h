/* Names and paths that arrive from the host (relpath.c). */
#ifndef COFFER_AGENT_RELPATH_H
#define COFFER_AGENT_RELPATH_H

#include <stdbool.h>

/* Relative path without "..", "." or empty components. */
bool agent_valid_relpath(const char *p);

#endif
