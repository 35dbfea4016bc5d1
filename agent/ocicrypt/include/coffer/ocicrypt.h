/* Encrypted image layers as ocicrypt (skopeo, containerd's imgcrypt) and
 * Confidential Containers produce them, decrypted inside the guest.
 *
 * One layer at a time: cf_ocicrypt_open() reads the layer descriptor's
 * annotations and unwraps the layer key (a JWE recipient opened with one of
 * the caller's private keys, or the attestation-agent keyprovider packet whose
 * key-encryption key the caller fetches from the broker). Then the blob is fed
 * through cf_ocicrypt_update(); plaintext goes to a staging file the library
 * owns and is handed out only by cf_ocicrypt_final() once the HMAC-SHA256 over
 * the whole ciphertext has verified. A layer whose HMAC fails never yields a
 * byte: its staging file is truncated and closed.
 *
 * Every error names the layer digest and the reason. */
#ifndef COFFER_OCICRYPT_H
#define COFFER_OCICRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

#define CF_OCICRYPT_ANNOTATION_MAX (64 * 1024) /* bytes of one annotation value */
#define CF_OCICRYPT_KEY_MAX (16 * 1024)        /* bytes of one private key / KEK */
#define CF_OCICRYPT_KEYS_MAX 16                /* private keys tried per layer */

struct cf_ocicrypt_annotation {
  const char *key;
  const char *value;
};

struct cf_ocicrypt_blob {
  const uint8_t *data;
  size_t len;
};

/* Where layer keys come from. */
struct cf_ocicrypt_keys {
  /* Private keys tried against the JWE recipients: PEM (PKCS#8, PKCS#1 or
   * SEC1, unencrypted) or a private JWK (JSON). RSA (RSA-OAEP, RSA-OAEP-256)
   * and EC P-256/384/521 (ECDH-ES+A128KW/A192KW/A256KW). */
  const struct cf_ocicrypt_blob *privkeys;
  size_t n_privkeys;
  /* The attestation-agent keyprovider: returns in *out (malloc'd, the caller
   * of the callback frees it) the raw 32-byte key-encryption key named by
   * kid (a kbs:/// resource URI). NULL: the keyprovider scheme is not tried.
   * Returns 0 or a negative errno with err filled (e.g. the broker's refusal). */
  int (*get_resource)(void *ctx, const char *kid, uint8_t **out, size_t *len, cf_error *err);
  void *ctx;
};

typedef struct cf_ocicrypt_layer cf_ocicrypt_layer;

/* Whether media_type is an encrypted layer type; *plain (if not NULL) gets
 * the media type the decrypted layer has (a static string). */
bool cf_ocicrypt_is_encrypted(const char *media_type, const char **plain);

/* Unwraps the key of the layer `digest` (for messages) with media type
 * `media_type` and its descriptor annotations. staging_dir: NULL keeps the
 * plaintext in an anonymous memory file; else an unnamed O_TMPFILE file in
 * that directory (e.g. on the guest's encrypted scratch disk). */
int cf_ocicrypt_open(const char *digest, const char *media_type,
                     const struct cf_ocicrypt_annotation *annotations, size_t n_annotations,
                     const struct cf_ocicrypt_keys *keys, const char *staging_dir,
                     cf_ocicrypt_layer **out, cf_error *err);

/* Feeds the next len bytes of the encrypted blob. */
int cf_ocicrypt_update(cf_ocicrypt_layer *l, const void *in, size_t len, cf_error *err);

/* Checks the HMAC over everything fed. On success *plain_fd is a descriptor
 * of the plaintext at offset 0 (the caller closes it; a memory file is sealed
 * against writes and resizing) and *plain_size its length. On failure no plaintext is handed out and the layer
 * cannot be used again. */
int cf_ocicrypt_final(cf_ocicrypt_layer *l, int *plain_fd, uint64_t *plain_size, cf_error *err);

/* The plaintext layer's digest as the wrapped (authenticated) options carry
 * it ("sha256:..."), or "" when the image did not record one. */
const char *cf_ocicrypt_plain_digest(const cf_ocicrypt_layer *l);
/* "jwe" or "provider.attestation-agent": which scheme opened the key. */
const char *cf_ocicrypt_scheme(const cf_ocicrypt_layer *l);

/* Wipes the key and the staging file (if final() did not hand it out). */
void cf_ocicrypt_free(cf_ocicrypt_layer *l);

static inline void cf_ocicrypt_freep(cf_ocicrypt_layer **l) {
  if (*l)
    cf_ocicrypt_free(*l);
}
#define _cleanup_ocicrypt_ __attribute__((cleanup(cf_ocicrypt_freep)))

#endif
