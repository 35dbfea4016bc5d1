/* The attestation token: an EAR-shaped JWT signed ES256 with the broker's
 * key, carrying the appraisal and the annotated evidence (claims as Trustee's
 * attestation service sets them). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kbs.h"

#define EAT_PROFILE "tag:github.com,2024:confidential-containers/Trustee"

char *kbs_token_issue(kbs_server *s, const char *tee, const json_t *tee_claims,
                      const kbs_ear *ear, const json_t *runtime_claims, const kbs_binding *b,
                      json_t **claims_out, cf_error *err) {
  time_t now = time(NULL);
  char rd[97], init[129];
  cf_kbs_hex(b->runtime, 48, rd);
  json_t *ev = json_pack("{s:O,s:s,s:O}", tee, tee_claims, "report_data", rd,
                         "runtime_data_claims", runtime_claims);
  if (ev && b->has_init) {
    cf_kbs_hex(b->init, b->init_len, init);
    json_object_set_new(ev, "init_data", json_string(init));
    if (b->init_claims)
      json_object_set(ev, "init_data_claims", b->init_claims);
  }
  json_t *tv = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "instance-identity",
                         ear->instance_identity, "configuration", ear->configuration,
                         "executables", ear->executables, "file-system", ear->file_system,
                         "hardware", ear->hardware, "runtime-opaque", ear->runtime_opaque,
                         "storage-opaque", ear->storage_opaque, "sourced-data", ear->sourced_data);
  json_t *claims = ev && tv ? json_pack(
      "{s:s,s:I,s:I,s:s,s:{s:s,s:s},s:{s:{s:s,s:o,s:s,s:o}}}", "eat_profile", EAT_PROFILE,
      "iat", (json_int_t)now, "exp", (json_int_t)(now + s->cfg.token_lifetime_s), "iss",
      "coffer-kbs", "ear.verifier-id", "developer", "coffer", "build", "coffer-kbs 0.1.0",
      "submods", "cpu0", "ear.status", ear->status, "ear.trustworthiness-vector", tv,
      "ear.appraisal-policy-id", "default", "ear.veraison.annotated-evidence", ev) : NULL;
  /* A token for a relying party's audience and nonces (coffer's
   * extension): the standard claims, one nonce as a string (EAT). */
  const json_t *aud = json_object_get(runtime_claims, "audience");
  const json_t *nonces = json_object_get(runtime_claims, "nonces");
  if (claims && aud)
    json_object_set(claims, "aud", (json_t *)aud);
  if (claims && nonces)
    json_object_set(claims, "eat_nonce", json_array_size(nonces) == 1
                                             ? json_array_get(nonces, 0) : (json_t *)nonces);
  if (!claims) {
    json_decref(ev);
    json_decref(tv);
    cf_err(err, ENOMEM, "building the token");
    return NULL;
  }
  char *jwt = cf_kbs_signer_jwt(s->token_signer, claims, err);
  if (jwt)
    *claims_out = claims;
  else
    json_decref(claims);
  return jwt;
}

json_t *kbs_token_verify(kbs_server *s, const char *jwt, cf_error *err) {
  return cf_kbs_jwt_verify(s->token_pub, jwt, time(NULL), err);
}

const json_t *kbs_token_tee_pubkey(const json_t *claims) {
  const json_t *cpu0 = json_object_get(json_object_get(claims, "submods"), "cpu0");
  const json_t *ev = json_object_get(cpu0, "ear.veraison.annotated-evidence");
  return json_object_get(json_object_get(ev, "runtime_data_claims"), "tee-pubkey");
}

json_t *kbs_token_claims(const char *jwt, cf_error *err) {
  const char *d1 = jwt ? strchr(jwt, '.') : NULL, *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d2) {
    cf_err_status(err, CF_INTERNAL, "not a compact JWS");
    return NULL;
  }
  char *payload = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
  uint8_t *text = NULL;
  size_t len = 0;
  json_t *claims = NULL;
  if (!payload || cf_kbs_b64url_decode(payload, &text, &len))
    cf_err_status(err, CF_INTERNAL, "its payload is not base64url");
  else
    claims = cf_kbs_json_parse((const char *)text, len, err);
  free(payload);
  free(text);
  return claims;
}
