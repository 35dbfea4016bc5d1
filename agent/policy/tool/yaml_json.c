/* libyaml's document API gives a node graph; it becomes json-c objects.
 * Plain scalars get YAML 1.1's core types (null, booleans, integers, floats)
 * so `runAsUser: 1000` is a number; quoted scalars stay strings. Aliases are
 * resolved by libyaml to the same node: a depth bound stops alias bombs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "coffer/cleanup.h"
#include "yaml_json.h"

#define MAX_DEPTH 64
#define MAX_NODES 200000
#define MAX_FILE (4u << 20)

typedef struct conv {
  yaml_document_t *doc;
  size_t budget; /* nodes left: alias fan-out cannot blow up */
  cf_error *err;
  const char *path;
} conv;

static json_object *scalar(const yaml_node_t *n) {
  const char *v = (const char *)n->data.scalar.value;
  size_t len = n->data.scalar.length;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return json_object_new_string_len(v, (int)len);
  if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
    return NULL;
  if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
    return json_object_new_boolean(1);
  if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
    return json_object_new_boolean(0);
  char *end;
  errno = 0;
  long long i = strtoll(v, &end, 10);
  if (*end == '\0' && errno == 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')))
    return json_object_new_int64(i);
  errno = 0;
  double d = strtod(v, &end);
  if (*end == '\0' && errno == 0 && (v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')))
    return json_object_new_double(d);
  return json_object_new_string_len(v, (int)len);
}

static int node_to_json(conv *c, yaml_node_t *n, int depth, json_object **out) {
  if (depth > MAX_DEPTH || c->budget-- == 0)
    return cf_err_status(c->err, CF_INVALID_ARGUMENT,
                         "%s: line %zu: nesting deeper than %d or more than %d nodes (alias bomb?)",
                         c->path, n->start_mark.line + 1, MAX_DEPTH, MAX_NODES);
  *out = NULL;
  switch (n->type) {
  case YAML_SCALAR_NODE:
    *out = scalar(n);
    return 0;
  case YAML_SEQUENCE_NODE: {
    json_object *a = json_object_new_array();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
      json_object *e;
      if (node_to_json(c, yaml_document_get_node(c->doc, *it), depth + 1, &e) < 0) {
        json_object_put(a);
        return -EINVAL;
      }
      json_object_array_add(a, e);
    }
    *out = a;
    return 0;
  }
  case YAML_MAPPING_NODE: {
    json_object *o = json_object_new_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
      if (!k || k->type != YAML_SCALAR_NODE) {
        json_object_put(o);
        return cf_err_status(c->err, CF_INVALID_ARGUMENT, "%s: line %zu: a mapping key is not a scalar",
                             c->path, n->start_mark.line + 1);
      }
      json_object *v;
      if (node_to_json(c, yaml_document_get_node(c->doc, p->value), depth + 1, &v) < 0) {
        json_object_put(o);
        return -EINVAL;
      }
      json_object_object_add(o, (const char *)k->data.scalar.value, v);
    }
    *out = o;
    return 0;
  }
  default:
    return cf_err_status(c->err, CF_INVALID_ARGUMENT, "%s: empty YAML node", c->path);
  }
}

json_object *yaml_to_json(const char *path, cf_error *err) {
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f) {
    cf_err(err, errno, "open %s", path);
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s: not a regular file of at most %u bytes", path, MAX_FILE);
    return NULL;
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    cf_err(err, ENOMEM, "libyaml");
    return NULL;
  }
  yaml_parser_set_input_file(&parser, f);
  json_object *docs = json_object_new_array();
  for (;;) {
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
      cf_err_status(err, CF_INVALID_ARGUMENT, "%s: line %zu column %zu: %s", path,
                    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                    parser.problem ? parser.problem : "malformed YAML");
      json_object_put(docs);
      docs = NULL;
      break;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) { /* end of stream */
      yaml_document_delete(&doc);
      break;
    }
    conv c = {.doc = &doc, .budget = MAX_NODES, .err = err, .path = path};
    json_object *j;
    int r = node_to_json(&c, root, 0, &j);
    yaml_document_delete(&doc);
    if (r < 0) {
      json_object_put(docs);
      docs = NULL;
      break;
    }
    if (j)
      json_object_array_add(docs, j);
  }
  yaml_parser_delete(&parser);
  return docs;
}
