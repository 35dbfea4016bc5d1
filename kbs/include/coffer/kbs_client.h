/* libcoffer_kbs_client: the guest side of Trustee's KBS protocol 0.4.0.
 *
 * RCAR handshake (auth, challenge, attest with evidence from a caller-supplied
 * function), resource fetch with JWE decryption by the TEE key generated here
 * (it never leaves the client), RCAR redone on 401 at most 3 times, the
 * server pinned by a configured CA/certificate PEM, bounded timeouts. */
#ifndef COFFER_KBS_CLIENT_H
#define COFFER_KBS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

/* Produces the TEE evidence (the JSON of `primary_evidence`) binding
 * `digest` (SHA-384 of the canonical runtime data, 48 bytes: SNP and TDX put
 * it zero-padded into report_data). *evidence_json is malloc()ed. */
typedef int (*cf_kbs_evidence_fn)(void *ud, const char *tee, const uint8_t digest[48],
                                  char **evidence_json, cf_error *err);

/* Returns a stream socket already connected to the broker (or to a relay
 * that forwards its bytes), or a negative errno with `err` filled. Used
 * instead of resolving and connecting the url's host; TLS still runs over it
 * end to end. */
typedef int (*cf_kbs_connect_fn)(void *ud, cf_error *err);

typedef struct cf_kbs_client_config {
  const char *url;          /* "https://host:port" (http:// only to a --dev broker) */
  const char *tee;          /* "snp", "tdx", "sample" */
  const char *ca_file;      /* PEM: the only trust anchor for the server (pinning) */
  const char *key_type;     /* "ec" (P-256, default) or "rsa" (RSA-OAEP-256) */
  const char *init_data;    /* TOML text sent as init-data, or NULL */
  long timeout_ms;          /* per request; default 10000 */
  cf_kbs_evidence_fn evidence;
  void *evidence_ud;
  cf_kbs_connect_fn connect; /* NULL: connect to the url's host */
  void *connect_ud;
} cf_kbs_client_config;

typedef struct cf_kbs_client cf_kbs_client;

cf_kbs_client *cf_kbs_client_new(const cf_kbs_client_config *cfg, cf_error *err);
void cf_kbs_client_free(cf_kbs_client *c);
/* RCAR: /auth then /attest; on success the token is held. */
int cf_kbs_client_attest(cf_kbs_client *c, cf_error *err);
const char *cf_kbs_client_token(const cf_kbs_client *c);
/* RCAR whose evidence also binds `audience` and `nonces` (coffer's
 * extension: they join the runtime data, so report_data is SHA-384 of
 * JCS({additional-evidence, audience, nonce, nonces, tee-pubkey})); the
 * broker's token then carries them as `aud` and `eat_nonce`. `nonces` may be
 * NULL when n_nonces is 0. *token is malloc()ed; the session becomes this one. */
int cf_kbs_client_attest_bound(cf_kbs_client *c, const char *audience, const char *const *nonces,
                               size_t n_nonces, char **token, cf_error *err);
/* The TEE public key (JWK JSON) the broker encrypts resources to. */
char *cf_kbs_client_public_jwk(const cf_kbs_client *c);
/* GET resource `path` ("repo/type/tag" or "kbs:///repo/type/tag"),
 * decrypted. Attests first if needed; redoes RCAR on 401 up to 3 times. */
int cf_kbs_client_get_resource(cf_kbs_client *c, const char *path, uint8_t **data, size_t *len,
                               cf_error *err);
/* Decrypts a KBS response JWE (JSON text) with this client's TEE key. */
int cf_kbs_client_decrypt(const cf_kbs_client *c, const char *jwe_json, uint8_t **data,
                          size_t *len, cf_error *err);

/* Sample evidence {"svn":"1","report_data": base64(digest)}: no hardware,
 * accepted only by a broker configured for it. */
int cf_kbs_sample_evidence(void *ud, const char *tee, const uint8_t digest[48],
                           char **evidence_json, cf_error *err);

/* The broker's token-signing keys as a JWK set (GET /kbs/v0/token-jwks):
 * what verifies its attestation tokens. */
int cf_kbs_export_jwks(const char *url, const char *ca_file, long timeout_ms, char **jwks,
                       cf_error *err);

/* Admin calls, authenticated by an ES256 JWT signed with `admin_jwk` (a
 * private EC P-256 JWK, JSON text). */
typedef struct cf_kbs_admin {
  const char *url, *ca_file, *admin_jwk;
  long timeout_ms;
} cf_kbs_admin;
int cf_kbs_admin_set_resource(const cf_kbs_admin *a, const char *path, const uint8_t *data,
                              size_t len, cf_error *err);
int cf_kbs_admin_delete_resource(const cf_kbs_admin *a, const char *path, cf_error *err);
int cf_kbs_admin_set_policy(const cf_kbs_admin *a, const char *policy_json, cf_error *err);

#endif
