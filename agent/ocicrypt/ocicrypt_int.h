/* Internal pieces of libcoffer_ocicrypt, shared with its tests and fuzz target. */
#ifndef COFFER_OCICRYPT_INT_H
#define COFFER_OCICRYPT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/ocicrypt.h"

#define OC_SYMKEY_LEN 32 /* AES-256 */
#define OC_NONCE_LEN 16  /* the full CTR counter block */
#define OC_HMAC_LEN 32   /* HMAC-SHA256 */
#define OC_DIGEST_MAX 80 /* "sha256:" + 64 hex + NUL, with room */
#define OC_OPTS_MAX 4096 /* the wrapped options JSON */
#define OC_WRAPPED_MAX 16 /* comma-separated wrapped keys per annotation */
#define OC_RECIPIENTS_MAX 32

#define OC_ANN_JWE "org.opencontainers.image.enc.keys.jwe"
#define OC_ANN_PROVIDER "org.opencontainers.image.enc.keys.provider."
#define OC_ANN_AA OC_ANN_PROVIDER "attestation-agent"
#define OC_ANN_PUBOPTS "org.opencontainers.image.enc.pubopts"
#define OC_CIPHER "AES_256_CTR_HMAC_SHA256"

/* Layer decryption: bytes decrypted per staging write, and the ring of
 * ciphertext slots (OC_CHUNK each) the HMAC thread hashes. */
#define OC_CHUNK (256 * 1024)
#define OC_NSLOTS 4
/* Tests only: the HMAC thread sleeps this long before each slot, so that the
 * caller's thread runs into a full ring (it is normally the faster one only
 * when writing the staging file is cheap). */
extern unsigned oc_test_hmac_slot_delay_us;

struct oc_pubopts {
  uint8_t hmac[OC_HMAC_LEN];
};

struct oc_privopts {
  uint8_t symkey[OC_SYMKEY_LEN];
  uint8_t nonce[OC_NONCE_LEN];
  char digest[OC_DIGEST_MAX];
};

/* Strict standard base64 (padding required, no whitespace), at most max
 * decoded bytes. *out is malloc'd. */
int oc_b64_decode(const char *s, size_t slen, size_t max, uint8_t **out, size_t *len,
                  cf_error *err);

/* The pubopts annotation (base64 JSON). */
int oc_parse_pubopts(const char *b64, struct oc_pubopts *p, cf_error *err);
/* The unwrapped private options JSON. */
int oc_parse_privopts(const uint8_t *json, size_t len, struct oc_privopts *p, cf_error *err);

/* The JWE scheme: the annotation value (comma-separated base64 JWEs in JSON
 * serialization) opened with one of keys->privkeys. *opts is malloc'd. */
int oc_unwrap_jwe(const char *value, const struct cf_ocicrypt_keys *keys, uint8_t **opts,
                  size_t *len, cf_error *err);
/* The attestation-agent keyprovider scheme (comma-separated base64
 * annotation packets). */
int oc_unwrap_keyprovider(const char *value, const struct cf_ocicrypt_keys *keys, uint8_t **opts,
                          size_t *len, cf_error *err);

/* Splits value at commas: calls fn for each part; stops at the first 0. */
int oc_for_each_part(const char *value, int (*fn)(void *ctx, const char *part, size_t len,
                                                  cf_error *err),
                     void *ctx, cf_error *err);

#endif
