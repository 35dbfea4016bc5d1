/* The list of named checks a verification produces. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/attest.h"

int cf_check_add(cf_checks *c, const char *name, bool pass, const char *fmt, ...) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    cf_check *items = realloc(c->items, cap * sizeof(*items));
    if (!items) {
      /* Keep the verdict conservative: overwrite the last entry with a failure. */
      if (c->n > 0) {
        cf_check *last = &c->items[c->n - 1];
        snprintf(last->name, sizeof(last->name), "internal");
        last->pass = false;
        snprintf(last->reason, sizeof(last->reason), "out of memory recording check %s", name);
      }
      return -ENOMEM;
    }
    c->items = items;
    c->cap = cap;
  }
  cf_check *k = &c->items[c->n++];
  snprintf(k->name, sizeof(k->name), "%s", name);
  k->pass = pass;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(k->reason, sizeof(k->reason), fmt, ap);
  va_end(ap);
  return 0;
}

const cf_check *cf_checks_find(const cf_checks *c, const char *name) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->items[i].name, name) == 0)
      return &c->items[i];
  return NULL;
}

bool cf_checks_all_pass(const cf_checks *c) {
  if (c->n == 0)
    return false;
  return cf_checks_first_failure(c) == NULL;
}

const cf_check *cf_checks_first_failure(const cf_checks *c) {
  for (size_t i = 0; i < c->n; i++)
    if (!c->items[i].pass)
      return &c->items[i];
  return NULL;
}

void cf_checks_reset(cf_checks *c) { c->n = 0; }

void cf_checks_free(cf_checks *c) {
  free(c->items);
  c->items = NULL;
  c->n = c->cap = 0;
}
