/* Strict checks of what a workload sends on tee.sock: the POST /v1/token
 * body (audience, nonces, token_type) and resource paths. Anything else gets a reason. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attester.h"

#define MAX_AUDIENCE 512
#define MAX_NONCES 6
#define MIN_NONCE 8
#define MAX_NONCE 88

void att_token_request_free(att_token_request *r) {
  free(r->audience);
  for (size_t i = 0; i < r->n_nonces; i++)
    free(r->nonces[i]);
  memset(r, 0, sizeof(*r));
}

static int parse_nonces(const json_t *a, att_token_request *r, cf_error *err) {
  if (!json_is_array(a) || json_array_size(a) > MAX_NONCES)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"nonces\" must be an array of at most %d strings",
                         MAX_NONCES);
  size_t i;
  const json_t *n;
  json_array_foreach(a, i, n) {
    size_t len = json_string_length(n);
    if (!json_is_string(n) || len < MIN_NONCE || len > MAX_NONCE ||
        strlen(json_string_value(n)) != len)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "nonce %zu must be a string of %d to %d bytes",
                           i, MIN_NONCE, MAX_NONCE);
    if (!(r->nonces[r->n_nonces++] = strdup(json_string_value(n))))
      return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "out of memory");
  }
  return 0;
}

static int parse_fields(const json_t *o, att_token_request *r, cf_error *err) {
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    if (strcmp(k, "audience") && strcmp(k, "nonces") && strcmp(k, "token_type"))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "unknown field \"%.64s\"", k);
  }
  const json_t *aud = json_object_get(o, "audience"), *tt = json_object_get(o, "token_type");
  size_t alen = json_string_length(aud);
  if (!json_is_string(aud) || !alen || alen > MAX_AUDIENCE || strlen(json_string_value(aud)) != alen)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"audience\" is required: a string of 1 to %d bytes",
                         MAX_AUDIENCE);
  if (!json_is_string(tt))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"token_type\" is required");
  /* The broker issues one kind of token, an OIDC-style signed JWT. */
  if (strcmp(json_string_value(tt), "OIDC"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "token_type \"%.32s\" is not supported (only OIDC)",
                         json_string_value(tt));
  snprintf(r->token_type, sizeof(r->token_type), "OIDC");
  if (!(r->audience = strdup(json_string_value(aud))))
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "out of memory");
  const json_t *n = json_object_get(o, "nonces");
  return n ? parse_nonces(n, r, err) : 0;
}

int att_token_request_parse(const char *body, size_t len, att_token_request *r, cf_error *err) {
  memset(r, 0, sizeof(*r));
  json_error_t je;
  json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!o)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "body is not JSON: %s", je.text);
  int rc = json_is_object(o) ? parse_fields(o, r, err)
                             : cf_err_status(err, CF_INVALID_ARGUMENT, "body must be a JSON object");
  json_decref(o);
  if (rc)
    att_token_request_free(r);
  return rc;
}

static bool seg_ok(const char *s, size_t n) {
  if (!n || s[0] == '.')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
      return false;
  return true;
}

bool att_resource_path_ok(const char *p) {
  if (strlen(p) > 255)
    return false;
  for (int i = 0; i < 3; i++) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (!seg_ok(p, n) || (i < 2) != (e != NULL))
      return false;
    p = e ? e + 1 : p + n;
  }
  return true;
}
