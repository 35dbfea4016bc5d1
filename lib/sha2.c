#include "coffer/sha2.h"

#include <nettle/sha2.h>
#include <stdio.h>

/* nettle: small, kept, no global state to initialise, and a static archive
 * for the agent; OpenSSL would add its per-process set-up to every shim. */
void cf_sha256(const void *data, size_t len, uint8_t out[32]) {
  struct sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, len, data);
  sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

void cf_sha384(const void *data, size_t len, uint8_t out[48]) {
  struct sha384_ctx c;
  sha384_init(&c);
  sha384_update(&c, len, data);
  sha384_digest(&c, SHA384_DIGEST_SIZE, out);
}

void cf_sha512(const void *data, size_t len, uint8_t out[64]) {
  struct sha512_ctx c;
  sha512_init(&c);
  sha512_update(&c, len, data);
  sha512_digest(&c, SHA512_DIGEST_SIZE, out);
}

void cf_hex(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}
