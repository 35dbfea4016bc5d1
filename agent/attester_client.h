/* The agent's side of coffer-attester (attester_client.c): started once init-data
 * is there, asked for the pod's secrets over its private socket. */
#ifndef COFFER_AGENT_ATTESTER_CLIENT_H
#define COFFER_AGENT_ATTESTER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

/* Where the verified init-data is (written by the agent after the digest
 * check) and what the attester is. */
#define AGENT_INITDATA_TOML "/run/coffer/initdata/initdata.toml"
#define AGENT_ATTESTER_BIN "/usr/bin/coffer-attester"
/* Bound on one secret fetch (the attester bounds its broker exchanges). */
#define AGENT_SECRET_TIMEOUT_S 60
#define AGENT_SECRET_MAX (1u << 20)

/* The init-data path (COFFER_AGENT_INITDATA overrides it outside a guest, for tests). */
const char *agent_initdata_path(const agent *a);
/* <state>/pod: the directory mounted at /run/coffer in containers that opt in
 * (attestation-token, tee.sock, an empty secrets/ mount point). */
int agent_pod_dir(const agent *a, char *out, size_t n);
/* Starts coffer-attester if it is not running; waits (bounded) until it
 * serves. Fails naming why (no init-data, no broker, it exited). */
int agent_attester_ensure(agent *a, cf_error *err);
/* GET one secret. The attester's refusal (the broker's reason) becomes err. */
int agent_attester_secret(agent *a, const char *name, const char *uri, uint8_t **data,
                          size_t *len, cf_error *err);
/* A child agent_reap() collected: the attester's death is noted. */
void agent_attester_reaped(agent *a, pid_t pid, int status);
/* "sample", "snp" or "tdx": from the guest's own devices, never from the host. */
const char *agent_tee_kind(void);

#endif
