/* lib/toml.c: the TOML subset init-data uses is read exactly, and every
 * malformed document is refused with the line and column of the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/toml.h"
#include "test_util.h"

static cf_toml *parse(const char *s) {
  cf_error err = {0};
  cf_toml *t = cf_toml_parse(s, strlen(s), &err);
  if (!t) {
    fprintf(stderr, "parse failed: %s\n--- input\n%s\n---\n", err.msg, s);
    abort();
  }
  return t;
}

/* The document is refused and the message contains want (e.g. "line 2, column 5"). */
static void refused(const char *s, size_t len, const char *want) {
  cf_error err = {0};
  cf_toml *t = cf_toml_parse(s, len, &err);
  if (t || !strstr(err.msg, want)) {
    fprintf(stderr, "input %.*s\n  expected refusal with \"%s\", got %s\n", (int)len, s, want,
            t ? "success" : err.msg);
    abort();
  }
  CHECK(err.status == CF_INVALID_ARGUMENT);
}
#define REFUSED(s, want) refused(s, strlen(s), want)

static const char *str(const cf_toml *root, const char *path) {
  const char *s = cf_toml_string(cf_toml_get(root, path), NULL);
  CHECK(s);
  return s;
}

static void tables_keys_and_scalars(void) {
  _cleanup_(cf_toml_freep) cf_toml *t = parse(
      "# leading comment\n"
      "version = \"0.1.0\" # trailing\n"
      "n = -42\nh = 0xDEAD_beef\no = 0o17\nb = 0b101\nbig = 9_223_372_036_854_775_807\n"
      "min = -9223372036854775808\nyes = true\nno = false\n"
      "\"quoted.key\" = 'lit'\n"
      "dotted . inner = 1\n"
      "\n[token_configs.kbs]\r\nurl = \"https://kbs\"\n"
      "[token_configs]\ncoco = 1\n"
      "[a]\nx.y.z = 'deep'\n[a.x.w]\nv = 2\n");
  CHECK(!strcmp(str(t, "version"), "0.1.0"));
  int64_t i;
  bool b;
  CHECK(cf_toml_int(cf_toml_get(t, "n"), &i) && i == -42);
  CHECK(cf_toml_int(cf_toml_get(t, "h"), &i) && i == 0xDEADBEEF);
  CHECK(cf_toml_int(cf_toml_get(t, "o"), &i) && i == 15);
  CHECK(cf_toml_int(cf_toml_get(t, "b"), &i) && i == 5);
  CHECK(cf_toml_int(cf_toml_get(t, "big"), &i) && i == INT64_MAX);
  CHECK(cf_toml_int(cf_toml_get(t, "min"), &i) && i == INT64_MIN);
  CHECK(cf_toml_bool(cf_toml_get(t, "yes"), &b) && b);
  CHECK(cf_toml_bool(cf_toml_get(t, "no"), &b) && !b);
  CHECK(!strcmp(cf_toml_string(cf_toml_child(t, "quoted.key"), NULL), "lit"));
  CHECK(!cf_toml_get(t, "quoted.key")); /* the path splits at dots */
  CHECK(cf_toml_int(cf_toml_get(t, "dotted.inner"), &i) && i == 1);
  CHECK(!strcmp(str(t, "token_configs.kbs.url"), "https://kbs"));
  CHECK(cf_toml_int(cf_toml_get(t, "token_configs.coco"), &i) && i == 1);
  CHECK(!strcmp(str(t, "a.x.y.z"), "deep"));
  CHECK(cf_toml_int(cf_toml_get(t, "a.x.w.v"), &i) && i == 2);
  /* iteration keeps document order */
  const cf_toml *tc = cf_toml_get(t, "token_configs");
  CHECK(cf_toml_count(tc) == 2);
  const char *k;
  cf_toml_at(tc, 0, &k);
  CHECK(!strcmp(k, "kbs"));
  cf_toml_at(tc, 1, &k);
  CHECK(!strcmp(k, "coco"));
  CHECK(!cf_toml_at(tc, 2, &k));
  /* wrong-type reads fail rather than guess */
  CHECK(!cf_toml_string(cf_toml_get(t, "n"), NULL));
  CHECK(!cf_toml_int(cf_toml_get(t, "version"), &i));
  CHECK(!cf_toml_get(t, "version.x"));
}

static void strings_and_escapes(void) {
  _cleanup_(cf_toml_freep) cf_toml *t = parse(
      "e = \"tab\\tnl\\nq\\\"bs\\\\ \\u00e9\\U0001F600 \\b\\f\\r\"\n"
      "lit = 'C:\\no\\escapes'\n"
      "ml = \"\"\"\nfirst\nsecond \\\n     joined\"\"\"\n"
      "mllit = '''\n[data]\nkey = \"x\" # kept\n'''\n"
      "quotes = \"\"\"a \"\" b\"\"\"\"\"\n"
      "litquotes = '''it''s'''\n"
      "crlf = \"\"\"\r\nx\r\ny\"\"\"\n"
      "nul = \"a\\u0000b\"\n"
      "empty = \"\"\nemptylit = ''\nemptyml = \"\"\"\"\"\"\n");
  CHECK(!strcmp(str(t, "e"), "tab\tnl\nq\"bs\\ \xc3\xa9\xf0\x9f\x98\x80 \b\f\r"));
  CHECK(!strcmp(str(t, "lit"), "C:\\no\\escapes"));
  CHECK(!strcmp(str(t, "ml"), "first\nsecond joined"));
  CHECK(!strcmp(str(t, "mllit"), "[data]\nkey = \"x\" # kept\n"));
  CHECK(!strcmp(str(t, "quotes"), "a \"\" b\"\""));
  CHECK(!strcmp(str(t, "litquotes"), "it''s")); /* one or two quotes are content */
  CHECK(!strcmp(str(t, "crlf"), "x\r\ny"));
  size_t n;
  const char *nul = cf_toml_string(cf_toml_get(t, "nul"), &n);
  CHECK(nul && n == 3 && nul[1] == 0);
  CHECK(!cf_toml_cstr(cf_toml_get(t, "nul"))); /* embedded NUL is visible */
  CHECK(!strcmp(str(t, "empty"), "") && !strcmp(str(t, "emptylit"), "") &&
        !strcmp(str(t, "emptyml"), ""));
}

static void arrays_and_inline_tables(void) {
  _cleanup_(cf_toml_freep) cf_toml *t = parse(
      "a = [ \"x\", 'y', # comment\n  \"\"\"z\"\"\", ]\n"
      "mixed = [1, true, [2, 3], {k = 'v'}]\n"
      "empty = []\n"
      "it = { url = \"u\", nested.deep = 1, sub = { x = 2 } }\n");
  const cf_toml *a = cf_toml_get(t, "a");
  CHECK(cf_toml_type_of(a) == CF_TOML_ARRAY && cf_toml_count(a) == 3);
  CHECK(!strcmp(cf_toml_string(cf_toml_at(a, 0, NULL), NULL), "x"));
  CHECK(!strcmp(cf_toml_string(cf_toml_at(a, 2, NULL), NULL), "z"));
  const cf_toml *m = cf_toml_get(t, "mixed");
  CHECK(cf_toml_count(m) == 4 && cf_toml_count(cf_toml_at(m, 2, NULL)) == 2);
  CHECK(!strcmp(cf_toml_string(cf_toml_child(cf_toml_at(m, 3, NULL), "k"), NULL), "v"));
  CHECK(cf_toml_count(cf_toml_get(t, "empty")) == 0);
  int64_t i;
  CHECK(!strcmp(str(t, "it.url"), "u"));
  CHECK(cf_toml_int(cf_toml_get(t, "it.nested.deep"), &i) && i == 1);
  CHECK(cf_toml_int(cf_toml_get(t, "it.sub.x"), &i) && i == 2);
}

static void duplicates_are_refused(void) {
  REFUSED("a = 1\na = 2\n", "line 2, column 1: duplicate key \"a\"");
  REFUSED("a = 1\n\"a\" = 2\n", "duplicate key");
  REFUSED("[t]\n[t]\n", "line 2, column 1: table \"t\" is defined twice");
  REFUSED("[t.u]\n[t]\n[t]\n", "line 3, column 1: table \"t\" is defined twice");
  REFUSED("a = 1\n[a]\n", "line 2, column 2: \"a\" is already defined as a value");
  REFUSED("a.b = 1\n[a]\n", "defined twice");
  REFUSED("[x]\na.b = 1\n[x.a]\n", "defined twice");
  REFUSED("a = {b = 1}\na.c = 2\n", "cannot be extended");
  REFUSED("a = {b = 1}\n[a.c]\n", "already defined as a value");
  REFUSED("[a.b]\n[a]\nb.c = 1\n", "cannot be extended");
  REFUSED("a = {b = 1, b = 2}\n", "duplicate key \"b\"");
  REFUSED("a.b = 1\na.b.c = 2\n", "cannot be extended");
}

static void syntax_errors_name_line_and_column(void) {
  REFUSED("a = \n", "line 1, column 5: expected a value");
  REFUSED("a\n", "line 1, column 2: expected '='");
  REFUSED("= 1\n", "line 1, column 1: expected a key");
  REFUSED("a = 1 b = 2\n", "line 1, column 7: expected the end of the line");
  REFUSED("\n\n  x = \"open\n", "line 3, column 7: unterminated string");
  REFUSED("x = '''never closed\n", "unterminated string");
  REFUSED("x = \"\\q\"\n", "line 1, column 6: invalid escape");
  REFUSED("x = \"\\u12\"\n", "needs 4 hex digits");
  REFUSED("x = \"\\uD800\"\n", "not a Unicode scalar value");
  REFUSED("x = \"\\U00110000\"\n", "not a Unicode scalar value");
  REFUSED("x = 1.5\n", "floats and dates are not supported");
  REFUSED("x = 1e3\n", "floats and dates are not supported");
  REFUSED("x = inf\n", "floats are not supported");
  REFUSED("x = 1979-05-27\n", "floats and dates are not supported");
  REFUSED("[[arr]]\n", "arrays of tables");
  REFUSED("x = 0123\n", "leading zeros");
  REFUSED("x = 1__0\n", "'_' must be between digits");
  REFUSED("x = _1\n", "expected a value");
  REFUSED("x = 1_\n", "'_' must be between digits");
  REFUSED("x = +0x10\n", "cannot have a sign");
  REFUSED("x = 9223372036854775808\n", "out of range");
  REFUSED("x = -9223372036854775809\n", "out of range");
  REFUSED("x = truex\n", "after a boolean");
  REFUSED("x = [1 2]\n", "expected ',' or ']'");
  REFUSED("x = [1,,]\n", "expected a value");
  REFUSED("x = {a = 1,}\n", "expected a key");
  REFUSED("x = {a = 1\n}\n", "expected ',' or '}'");
  REFUSED("[a\n", "expected ']'");
  REFUSED("[]\n", "expected a key");
  REFUSED("'''k''' = 1\n", "multi-line");
  REFUSED("x = 1\r y = 2\n", "expected the end of the line");
}

static void control_characters_and_bad_utf8(void) {
  REFUSED("x = \"a\x01" "b\"\n", "line 1, column 7: control character 0x01 in a string");
  REFUSED("x = 'a\x7f'\n", "control character 0x7f");
  REFUSED("x = \"\"\"a\rb\"\"\"\n", "bare carriage return");
  REFUSED("# c\x02omment\n", "control character 0x02 in a comment");
  REFUSED("x = \"a\nb\"\n", "line 1, column 5: unterminated string");
  REFUSED("a = 1\nx = \"\xc3\x28\"\n", "line 2, column 6: invalid UTF-8");
  REFUSED("x = \"\xed\xa0\x80\"\n", "invalid UTF-8");     /* surrogate */
  REFUSED("x = \"\xc0\xaf\"\n", "invalid UTF-8");         /* overlong */
  REFUSED("x = \"\xf4\x90\x80\x80\"\n", "invalid UTF-8"); /* > U+10FFFF */
  refused("x = 1\n\0", 7, "line 2, column 1: NUL byte");
  /* tabs are fine in strings and comments; a valid multi-byte character too */
  _cleanup_(cf_toml_freep) cf_toml *t = parse("x = \"a\tb\u00e9\" # c\tc\n");
  CHECK(!strcmp(str(t, "x"), "a\tb\xc3\xa9"));
}

static void limits_hold(void) {
  /* nesting deeper than the limit fails instead of recursing without end */
  char deep[CF_TOML_MAX_DEPTH * 2 + 16];
  size_t n = 0;
  n += (size_t)sprintf(deep, "x = ");
  for (int i = 0; i < CF_TOML_MAX_DEPTH + 1; i++)
    deep[n++] = '[';
  deep[n] = 0;
  REFUSED(deep, "nested deeper");
  /* too many values */
  size_t cap = (CF_TOML_MAX_NODES + 10) * 16;
  char *many = malloc(cap);
  CHECK(many);
  size_t m = 0;
  for (int i = 0; i < CF_TOML_MAX_NODES + 5; i++)
    m += (size_t)snprintf(many + m, cap - m, "k%d = %d\n", i, i);
  refused(many, m, "more than");
  free(many);
}

int main(void) {
  tables_keys_and_scalars();
  strings_and_escapes();
  arrays_and_inline_tables();
  duplicates_are_refused();
  syntax_errors_name_line_and_column();
  control_characters_and_bad_utf8();
  limits_hold();
  printf("ok: toml\n");
  return 0;
}
