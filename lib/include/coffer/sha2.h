/* SHA-256, SHA-384 and SHA-512, one-shot, through nettle: init-data digests
 * and the shim's socket name, in the shim (which does not map libcrypto) and
 * in the statically linked agent. */
#ifndef COFFER_SHA2_H
#define COFFER_SHA2_H

#include <stddef.h>
#include <stdint.h>

void cf_sha256(const void *data, size_t len, uint8_t out[32]);
void cf_sha384(const void *data, size_t len, uint8_t out[48]);
void cf_sha512(const void *data, size_t len, uint8_t out[64]);

/* Lower-case hex of n bytes into out (2n+1 bytes with the NUL). */
void cf_hex(const uint8_t *in, size_t n, char *out);

#endif
