/* A container's secrets and tokens (secrets.c): annotations
 * io.coffer.secret.<name> = kbs:///repo/type/tag and io.coffer.token = "true"
 * become read-only mounts at /run/coffer/secrets/<name> (a tmpfs of the
 * container's own, files mode 0400 owned by its user) and /run/coffer
 * (attestation-token, tee.sock). */
#ifndef COFFER_AGENT_SECRETS_H
#define COFFER_AGENT_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

#define AGENT_SECRET_ANNOTATION "io.coffer.secret."
#define AGENT_TOKEN_ANNOTATION "io.coffer.token"
#define AGENT_MAX_SECRETS 64

typedef struct agent_coffer_mounts {
  const char *dst[2];
  char *src[2];
  size_t n;
} agent_coffer_mounts;

/* Fetches the container's secrets (attesting first) and prepares its
 * mounts; nothing when it asks for none. A refused or missing secret fails
 * with the broker's reason. */
int agent_secrets_prepare(agent *a, container *c, const uint8_t *spec, size_t len,
                          agent_coffer_mounts *m, cf_error *err);
void agent_coffer_mounts_free(agent_coffer_mounts *m);

#endif
