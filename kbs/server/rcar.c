/* The RCAR handshake: POST /auth (Request -> Challenge) and POST /attest
 * (Attestation -> token), and the router of /kbs/v0. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_jread.h"
#include "kbs.h"

#define ERR_PREFIX "https://github.com/confidential-containers/kbs/errors/"

int kbs_fail(kbs_response *rs, int status, const char *variant, const char *fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  json_t *o = json_pack("{s:s+,s:s}", "type", ERR_PREFIX, variant, "detail", detail);
  free(rs->body);
  rs->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  rs->status = status;
  rs->content_type = "application/json";
  return -1;
}

void kbs_json_reply(kbs_response *rs, json_t *body) {
  free(rs->body);
  rs->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!rs->body) {
    kbs_fail(rs, 500, "HTTPFailed", "out of memory");
    return;
  }
  rs->status = 200;
  rs->content_type = "application/json";
}

/* {"token": "<JWT>"}: a compact JWS is base64url and dots, nothing to
 * escape, so no JSON value is built for a 3 kB string. */
static void token_reply(kbs_response *rs, const char *token) {
  free(rs->body);
  if (asprintf(&rs->body, "{\"token\":\"%s\"}", token) < 0) {
    rs->body = NULL;
    kbs_fail(rs, 500, "HTTPFailed", "out of memory");
    return;
  }
  rs->status = 200;
  rs->content_type = "application/json";
}

static bool tee_known(const kbs_server *s, const char *tee) {
  return !strcmp(tee, "snp") || !strcmp(tee, "tdx") ||
         (!strcmp(tee, "sample") && (s->cfg.sample_enabled || s->cfg.dev));
}

static void set_cookie(kbs_response *rs, const char *id, time_t expires) {
  struct tm tm;
  char date[64];
  gmtime_r(&expires, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(rs->cookie, sizeof(rs->cookie), "kbs-session-id=%s; Expires=%s", id, date);
}

void kbs_handle_auth(kbs_server *s, const kbs_request *rq, kbs_response *rs) {
  cf_error err = {0};
  json_t *req = cf_kbs_json_parse(rq->body, rq->body_len, &err);
  if (!req) {
    kbs_fail(rs, 401, "SerdeError", "/auth request: %s", err.msg);
    return;
  }
  const char *version = json_string_value(json_object_get(req, "version"));
  const char *tee = json_string_value(json_object_get(req, "tee"));
  if (!json_is_object(req) || !version || !tee) {
    kbs_fail(rs, 401, "SerdeError", "/auth request needs string \"version\" and \"tee\"");
  } else if (strcmp(version, CF_KBS_PROTOCOL_VERSION)) {
    kbs_fail(rs, 401, "AttestationError",
             "protocol version \"%.32s\" is not supported: this broker speaks %s", version,
             CF_KBS_PROTOCOL_VERSION);
  } else if (!tee_known(s, tee)) {
    kbs_fail(rs, 401, "AttestationError", "tee \"%.32s\" is not accepted here (%s)", tee,
             s->cfg.sample_enabled || s->cfg.dev ? "snp, tdx, sample" : "snp, tdx");
  } else {
    uint8_t n[CF_KBS_NONCE_BYTES];
    _cleanup_free_ char *nonce = RAND_bytes(n, sizeof(n)) == 1 ? cf_kbs_b64std_encode(n, sizeof(n)) : NULL;
    char id[33];
    time_t expires;
    int r = nonce ? kbs_session_create(s->sessions, tee, nonce, s->cfg.session_timeout_s, id, &expires)
                  : -ENOMEM;
    if (r == -EAGAIN)
      kbs_fail(rs, 503, "HTTPFailed", "too many open sessions (%u); try again later",
               s->cfg.max_sessions);
    else if (r)
      kbs_fail(rs, 500, "HTTPFailed", "cannot create a session");
    else {
      set_cookie(rs, id, expires);
      kbs_json_reply(rs, json_pack("{s:s,s:s}", "nonce", nonce, "extra-params", ""));
    }
  }
  json_decref(req);
}

static json_t *value_of(kbs_span v, const char *what, cf_error *err) {
  json_error_t je;
  json_t *j = json_loadb(v.p, (size_t)(v.end - v.p), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!j)
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %s", what, je.text);
  return j;
}

/* The Attestation {runtime-data, init-data, tee-evidence {primary_evidence,
 * additional_evidence}}: all but the primary evidence as JSON values; that
 * one stays text for its verifier (SNP evidence is ~12 kB of integer
 * arrays: jread.h). */
static json_t *read_attestation(const char *body, size_t len, kbs_span *primary, cf_error *err) {
  static const char *const top[] = {"runtime-data", "init-data", "tee-evidence"};
  static const char *const te[] = {"primary_evidence", "additional_evidence"};
  kbs_span doc, v[3], e[2] = {{0}};
  if (kbs_jr_document(body, len, &doc)) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "the attestation is not well-formed JSON");
    return NULL;
  }
  if (!kbs_jr_is(doc, '{')) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "the attestation is not a JSON object");
    return NULL;
  }
  if (kbs_jr_members(doc, "attestation", top, sizeof(top[0]), 3, v, err) ||
      (v[2].p && kbs_jr_is(v[2], '{') &&
       kbs_jr_members(v[2], "tee-evidence", te, sizeof(te[0]), 2, e, err)))
    return NULL;
  json_t *a = json_object(), *tev = json_object();
  if (!a || !tev || json_object_set_new(a, "tee-evidence", tev)) {
    json_decref(a);
    cf_err(err, ENOMEM, "attestation");
    return NULL;
  }
  for (int i = 0; i < 2; i++) {
    json_t *j = v[i].p ? value_of(v[i], top[i], err) : NULL;
    if (v[i].p && (!j || json_object_set_new(a, top[i], j))) {
      json_decref(a);
      return NULL;
    }
  }
  json_t *add = e[1].p ? value_of(e[1], te[1], err) : NULL;
  if (e[1].p && (!add || json_object_set_new(tev, te[1], add))) {
    json_decref(a);
    return NULL;
  }
  *primary = e[0];
  return a;
}

/* coffer's extension: a relying party's audience (≤ 512 bytes) and nonces
 * (≤ 6, each 1–88 bytes) in runtime-data, bound by the evidence and copied
 * into the token as `aud` and `eat_nonce`. */
static int check_bound(const json_t *aud, const json_t *nonces, cf_error *err) {
  if (aud && (!json_is_string(aud) || !json_string_length(aud) || json_string_length(aud) > 512))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "runtime-data \"audience\" must be a string of 1 to 512 bytes");
  if (!nonces)
    return 0;
  if (!json_is_array(nonces) || json_array_size(nonces) > 6)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "runtime-data \"nonces\" must be an array of at most 6 strings");
  size_t i;
  const json_t *n;
  json_array_foreach(nonces, i, n) {
    if (!json_is_string(n) || !json_string_length(n) || json_string_length(n) > 88)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "runtime-data nonce %zu must be a string of 1 to 88 bytes", i);
  }
  return 0;
}

/* Checks the Attestation's shape and computes what the evidence must bind. */
static int parse_attestation(const json_t *a, const kbs_span *primary, const char *nonce,
                             kbs_binding *b, const json_t **pubkey, cf_error *err) {
  if (!json_is_object(a))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "the attestation is not a JSON object");
  const json_t *rt = json_object_get(a, "runtime-data");
  const json_t *te = json_object_get(a, "tee-evidence");
  const json_t *init = json_object_get(a, "init-data");
  const char *sent_nonce = json_string_value(json_object_get(rt, "nonce"));
  *pubkey = json_object_get(rt, "tee-pubkey");
  if (!sent_nonce || !*pubkey)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "runtime-data needs \"nonce\" and \"tee-pubkey\"");
  if (strcmp(sent_nonce, nonce))
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "the nonce is not this session's challenge (stale, reused or forged)");
  if (cf_kbs_tee_pubkey_check(*pubkey, err))
    return -EINVAL;
  const json_t *add = json_object_get(te, "additional_evidence");
  if (!primary->p || (add && !json_is_string(add)))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "tee-evidence needs \"primary_evidence\" (and a string \"additional_evidence\")");
  if (add && json_string_length(add))
    return cf_err_status(err, CF_UNIMPLEMENTED, "additional (device) evidence is not supported");
  const json_t *aud = json_object_get(rt, "audience"), *nonces = json_object_get(rt, "nonces");
  if (check_bound(aud, nonces, err))
    return -EINVAL;
  if (cf_kbs_runtime_digest_bound(*pubkey, nonce, "", aud, nonces, b->runtime, err))
    return -EINVAL;
  if (init && !json_is_null(init)) {
    const char *fmt = json_string_value(json_object_get(init, "format"));
    json_t *body = json_object_get(init, "body");
    if (!fmt || strcmp(fmt, "toml") || !json_is_string(body))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "init-data must be {\"format\": \"toml\", \"body\": \"...\"}");
    if (cf_kbs_initdata_digest(json_string_value(body), json_string_length(body), b->init,
                               &b->init_len, err) ||
        !(b->init_claims = kbs_initdata_claims(json_string_value(body), json_string_length(body), err)))
      return -EINVAL;
    b->has_init = true;
  }
  return 0;
}

void kbs_handle_attest(kbs_server *s, const kbs_request *rq, kbs_response *rs) {
  kbs_session_view sv = {0};
  if (!rq->session || kbs_session_get(s->sessions, rq->session, &sv)) {
    kbs_fail(rs, 401, "AttestationError",
             "no live session: send the kbs-session-id cookie from /auth (the session may have expired)");
    return;
  }
  uint8_t hash[32];
  EVP_Digest(rq->body, rq->body_len, hash, NULL, EVP_sha256(), NULL);
  if (sv.state == KBS_ATTESTED) {
    /* A repeat of the request that attested gets the same token; other
     * evidence on an attested session is refused. */
    if (!memcmp(hash, sv.attest_hash, 32)) {
      set_cookie(rs, rq->session, sv.expires);
      token_reply(rs, sv.token);
    } else {
      kbs_fail(rs, 401, "AttestationError",
               "this session is already attested with other evidence; start a new one with /auth");
    }
    kbs_session_view_free(&sv);
    return;
  }
  cf_error err = {0};
  kbs_binding b = {0};
  const json_t *pubkey = NULL;
  kbs_span primary = {0};
  json_t *claims = NULL, *token_claims = NULL, *rt_claims = NULL;
  char *token = NULL;
  kbs_ear ear;
  json_t *a = read_attestation(rq->body, rq->body_len, &primary, &err);
  int r = a ? parse_attestation(a, &primary, sv.nonce, &b, &pubkey, &err) : -EINVAL;
  if (!r)
    r = kbs_evidence_verify(s, sv.tee, primary.p, (size_t)(primary.end - primary.p), &b, &claims,
                            &ear, &err);
  if (!r) {
    rt_claims = json_pack("{s:s,s:O}", "nonce", sv.nonce, "tee-pubkey", pubkey);
    const json_t *rt = json_object_get(a, "runtime-data");
    const char *bound[] = {"audience", "nonces"};
    for (size_t i = 0; rt_claims && i < 2; i++)
      if (json_object_get(rt, bound[i]))
        json_object_set(rt_claims, bound[i], json_object_get(rt, bound[i]));
    token = kbs_token_issue(s, sv.tee, claims, &ear, rt_claims, &b, &token_claims, &err);
    r = token ? kbs_session_attest(s->sessions, rq->session, token, hash) : -EIO;
  }
  if (r) {
    /* A failed attestation burns the challenge: the next try needs /auth. */
    kbs_session_drop(s->sessions, rq->session);
    kbs_fail(rs, 401, "AttestationError", "attestation failed: %s", err.msg[0] ? err.msg : "session lost");
  } else {
    set_cookie(rs, rq->session, sv.expires);
    token_reply(rs, token);
  }
  free(token);
  json_decref(token_claims);
  json_decref(rt_claims);
  json_decref(claims);
  json_decref(a);
  json_decref(b.init_claims);
  kbs_session_view_free(&sv);
}

void kbs_handle(kbs_server *s, const kbs_request *rq, kbs_response *rs) {
  const char *p = rq->path;
  bool post = !strcmp(rq->method, "POST"), get = !strcmp(rq->method, "GET");
  if (!strcmp(p, "/auth") && post)
    kbs_handle_auth(s, rq, rs);
  else if (!strcmp(p, "/attest") && post)
    kbs_handle_attest(s, rq, rs);
  else if (!strcmp(p, "/token-jwks") && get)
    kbs_json_reply(rs, json_pack("{s:[O]}", "keys", s->token_pub));
  else if (!strncmp(p, "/resource/", 10) && get) {
    char buf[256];
    const char *seg[3];
    if (kbs_resource_split(p + 10, buf, seg))
      kbs_fail(rs, 404, "InvalidRequestPath",
               "resource path must be <repo>/<type>/<tag>, each [A-Za-z0-9_-][A-Za-z0-9_.-]*");
    else
      kbs_handle_resource_get(s, rq, seg, rs);
  } else if (!strncmp(p, "/resource", 9) && (post || !strcmp(rq->method, "DELETE")))
    kbs_handle_admin(s, rq, rs);
  else
    kbs_fail(rs, 404, "InvalidRequestPath", "no endpoint %s %.200s", rq->method, p);
}
