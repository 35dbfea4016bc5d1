/* SHA-256 (FIPS 180-4), small and dependency-free: the shim only hashes its
 * socket name, and must not link openssl (per-pod memory). */
#ifndef COFFER_SHIM_SHA256_H
#define COFFER_SHIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

void shim_sha256(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex of the digest into out (65 bytes with the NUL). */
void shim_sha256_hex(const void *data, size_t len, char out[65]);

#endif
