/* libFuzzer target: arbitrary bytes as a TOML document and as an init-data
 * document (which parses its aa.toml / coffer.toml entries too). Each input
 * must parse or fail with a message naming line and column, without crash,
 * leak or hang; a parsed tree is walked completely. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/initdata.h"
#include "coffer/toml.h"

static size_t walk(const cf_toml *t, int depth) {
  if (depth > CF_TOML_MAX_DEPTH + 2)
    abort(); /* nesting beyond the limit was accepted */
  size_t n = 1, len;
  const char *s = cf_toml_string(t, &len);
  if (s && s[len] != 0)
    abort();
  for (size_t i = 0; i < cf_toml_count(t); i++) {
    const char *key = NULL;
    const cf_toml *c = cf_toml_at(t, i, &key);
    if (cf_toml_type_of(t) == CF_TOML_TABLE && (!key || cf_toml_child(t, key) != c))
      abort(); /* keys of a table are unique and found again */
    n += walk(c, depth + 1);
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cf_error err = {0};
  cf_toml *t = cf_toml_parse((const char *)data, size, &err);
  if (t) {
    if (walk(t, 0) > CF_TOML_MAX_NODES)
      abort();
    cf_toml_free(t);
  } else if (!strstr(err.msg, "line ") && !strstr(err.msg, "toml")) {
    abort(); /* a refusal always says where */
  }
  cf_error err2 = {0};
  cf_initdata *id = cf_initdata_parse((const char *)data, size, &err2);
  if (id) {
    uint8_t fit[48];
    cf_initdata_fit(id->digest, id->digest_len, fit, sizeof(fit));
    cf_initdata_free(id);
  } else if (!err2.msg[0]) {
    abort();
  }
  return 0;
}
