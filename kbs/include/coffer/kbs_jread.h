/* A small validating JSON reader that walks text in place, for the parts of
 * a request that are bulk data: SNP evidence is ~12 kB of integer arrays
 * (the report and the VCEK as serde writes them), which as JSON values cost
 * about as much CPU as the report's signature check. Values are spans of
 * the text; nothing is allocated. */
#ifndef COFFER_KBS_JREAD_H
#define COFFER_KBS_JREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

typedef struct kbs_span {
  const char *p, *end; /* one JSON value, no surrounding whitespace */
} kbs_span;

/* The one value that makes up text[0..len) (whitespace around it allowed),
 * validated entirely (strings: escapes, control characters, UTF-8; numbers:
 * RFC 8259 grammar; nesting at most 64 deep). 0 or -EINVAL. */
int kbs_jr_document(const char *text, size_t len, kbs_span *out);

/* Members of an object / elements of an array, in order. `next` returns 1
 * with the next member (key: its text between the quotes, NUL-terminated,
 * or "" when it holds escapes or does not fit), 0 at the end, -EINVAL when
 * `v` is not an object / array. */
typedef struct kbs_jr_iter {
  const char *p, *end;
  bool first;
} kbs_jr_iter;
int kbs_jr_object(kbs_span v, kbs_jr_iter *it);
int kbs_jr_member(kbs_jr_iter *it, char *key, size_t cap, kbs_span *val);
int kbs_jr_array(kbs_span v, kbs_jr_iter *it);
int kbs_jr_element(kbs_jr_iter *it, kbs_span *val);

bool kbs_jr_is(kbs_span v, char kind); /* '{', '[', '"', 'n'ull, '0' number */
/* A non-negative integer without fraction or exponent that fits 64 bits. */
int kbs_jr_uint(kbs_span v, uint64_t *out);
/* An array of integers 0..255: its length, and the bytes into out[0..cap)
 * when it fits. -EINVAL when `v` is anything else. */
long kbs_jr_bytes(kbs_span v, uint8_t *out, size_t cap);
/* A string without escapes, copied NUL-terminated; -EINVAL otherwise. */
int kbs_jr_plain_string(kbs_span v, char *out, size_t cap);

/* The members of object `o` named names[0], names[stride], … (n of them)
 * into v[] (absent: p NULL). A repeated known member is an error naming
 * `what`; unknown members are skipped. */
int kbs_jr_members(kbs_span o, const char *what, const char *const *names, size_t stride, size_t n,
                   kbs_span *v, cf_error *err);

#endif
