/* A strict TOML 1.0 parser for the subset init-data uses: tables ([a],
 * [a.b]), bare/quoted/dotted keys, basic and literal strings (one-line and
 * multi-line, every escape), integers, booleans, arrays, inline tables and
 * comments. Floats, dates and arrays of tables ([[a]]) are refused as
 * unsupported. The input must be valid UTF-8; duplicate keys, redefined
 * tables, control characters and anything else outside the grammar fail
 * with "line L, column C: why". Values are read through a small tree API. */
#ifndef COFFER_TOML_H
#define COFFER_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

typedef enum cf_toml_type {
  CF_TOML_TABLE,
  CF_TOML_STRING,
  CF_TOML_INTEGER,
  CF_TOML_BOOL,
  CF_TOML_ARRAY,
} cf_toml_type;

typedef struct cf_toml cf_toml;

/* Limits that keep hostile input cheap: nesting of arrays/inline tables,
 * and the number of values in one document. */
#define CF_TOML_MAX_DEPTH 32
#define CF_TOML_MAX_NODES 4096

/* Parses len bytes (no NUL needed; an embedded NUL is an error). Returns the
 * root table, or NULL with err filled (CF_INVALID_ARGUMENT). */
cf_toml *cf_toml_parse(const char *text, size_t len, cf_error *err);
void cf_toml_free(cf_toml *t);
static inline void cf_toml_freep(cf_toml **t) { cf_toml_free(*t); }

cf_toml_type cf_toml_type_of(const cf_toml *t);
/* A table's entry by one key (may contain dots: quoted keys). */
const cf_toml *cf_toml_child(const cf_toml *table, const char *key);
/* Entry by a dotted path of bare keys ("token_configs.kbs.url"); NULL when
 * any step is missing or not a table. */
const cf_toml *cf_toml_get(const cf_toml *table, const char *path);
/* Entries of a table or items of an array, in document order. */
size_t cf_toml_count(const cf_toml *t);
/* The i-th entry; *key (tables only, may be NULL) gets its key. */
const cf_toml *cf_toml_at(const cf_toml *t, size_t i, const char **key);

/* Typed reads: NULL / false when t is NULL or of another type. A string is
 * NUL-terminated and may contain NUL (from \u0000): check *len if it matters. */
const char *cf_toml_string(const cf_toml *t, size_t *len);
bool cf_toml_int(const cf_toml *t, int64_t *out);
bool cf_toml_bool(const cf_toml *t, bool *out);
/* A string without embedded NUL, else NULL. */
const char *cf_toml_cstr(const cf_toml *t);

#endif
