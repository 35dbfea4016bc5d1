/* Pieces of Trustee's KBS protocol 0.4.0 (RCAR) shared by coffer-kbs and its
 * client: canonical JSON (RFC 8785), the runtime-data binding, the init-data
 * digest, base64 and the JOSE objects (JWE resources, ES256 tokens).
 * JSON values are jansson's, as libjose takes them. */
#ifndef COFFER_KBS_COMMON_H
#define COFFER_KBS_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

/* json-c (attest/) exports json_object_get and json_object_iter_next too,
 * with other meanings: kbs/CMakeLists.txt puts jansson first on every link
 * line so these references bind to jansson's. */

#define CF_KBS_PROTOCOL_VERSION "0.4.0"
#define CF_KBS_NONCE_BYTES 32

/* ---- canonical JSON, digests ---- */

/* RFC 8785 (JCS) serialisation of `v`: keys sorted by UTF-16 code units, no
 * whitespace, ECMAScript number form. NULL with `err` on failure. */
char *cf_kbs_jcs(const json_t *v, cf_error *err);

/* SHA-384 over JCS({"additional-evidence", "nonce", "tee-pubkey"}): what the
 * guest puts in report_data (zero-padded to 64 bytes for SNP and TDX). */
int cf_kbs_runtime_digest(const json_t *tee_pubkey, const char *nonce,
                          const char *additional_evidence, uint8_t out[48], cf_error *err);

/* The same with coffer's optional `audience` (string) and `nonces` (array
 * of strings) joining the canonical object when not NULL: how a token for a
 * relying party's own nonces is bound to fresh evidence. */
int cf_kbs_runtime_digest_bound(const json_t *tee_pubkey, const char *nonce,
                                const char *additional_evidence, const json_t *audience,
                                const json_t *nonces, uint8_t out[48], cf_error *err);

/* Init-data: the digest, with the TOML's `algorithm` (sha256/sha384/sha512),
 * over the exact bytes of the document. `out` gets the full digest. */
int cf_kbs_initdata_digest(const char *toml, size_t len, uint8_t out[64], size_t *out_len,
                           cf_error *err);
/* Fits a digest to a hardware field: truncated or zero-padded at the end
 * (SNP HOST_DATA 32 bytes, TDX MRCONFIGID 48). */
void cf_kbs_fit(const uint8_t *d, size_t dlen, uint8_t *out, size_t outlen);

/* ---- encodings ---- */

/* Standard base64 with padding; NUL-terminated, free(). */
char *cf_kbs_b64std_encode(const uint8_t *b, size_t n);
/* Decodes standard base64 (padding required when the length needs it);
 * -EINVAL on anything else. *out is malloc()ed. */
int cf_kbs_b64std_decode(const char *s, uint8_t **out, size_t *len);
/* base64url without padding, as JOSE uses; NUL-terminated, free(). */
char *cf_kbs_b64url_encode(const uint8_t *b, size_t n);
int cf_kbs_b64url_decode(const char *s, uint8_t **out, size_t *len);
void cf_kbs_hex(const uint8_t *b, size_t n, char *out);

/* ---- keys and JOSE ---- */

/* A TEE public key as the protocol allows it: EC P-256/P-521 with alg
 * ECDH-ES+A256KW, or RSA with RSA-OAEP-256; no private members. */
int cf_kbs_tee_pubkey_check(const json_t *jwk, cf_error *err);
/* New key pair: "ec" (P-256, ECDH-ES+A256KW) or "rsa" (3072, RSA-OAEP-256);
 * `alg` is set. The caller owns it. */
json_t *cf_kbs_key_generate(const char *kind, cf_error *err);
/* Public part of a JWK (a new reference). */
json_t *cf_kbs_key_public(const json_t *jwk, cf_error *err);

/* Encrypts `pt` to the TEE public key as the KBS response JWE
 * {protected, encrypted_key, iv, ciphertext, tag}, A256GCM content. */
json_t *cf_kbs_jwe_encrypt(const json_t *tee_pubkey, const uint8_t *pt, size_t len,
                           cf_error *err);
/* Decrypts such a JWE with the private key (its `protected` string used
 * verbatim as the AAD). *out is malloc()ed. */
int cf_kbs_jwe_decrypt(const json_t *priv, const json_t *jwe, uint8_t **out, size_t *len,
                       cf_error *err);

/* Compact JWS signed ES256 with `priv` (EC P-256); the header carries typ JWT
 * and, when `embed_jwk`, the public key. */
char *cf_kbs_jwt_sign(const json_t *priv, const json_t *claims, bool embed_jwk, cf_error *err);
/* The same with the key and header prepared once (the broker signs every
 * token with one key); cf_kbs_signer_jwt is safe from several threads. */
typedef struct cf_kbs_signer cf_kbs_signer;
cf_kbs_signer *cf_kbs_signer_new(const json_t *priv, bool embed_jwk, cf_error *err);
char *cf_kbs_signer_jwt(const cf_kbs_signer *g, const json_t *claims, cf_error *err);
void cf_kbs_signer_free(cf_kbs_signer *g);
/* Verifies a compact ES256 JWT with `pub` and its exp/nbf against `now`;
 * returns the claims. */
json_t *cf_kbs_jwt_verify(const json_t *pub, const char *jwt, long long now, cf_error *err);

/* Parses JSON text strictly (no duplicate keys, one value). */
json_t *cf_kbs_json_parse(const char *text, size_t len, cf_error *err);

#endif
