/* The agent's side of coffer-attester (attester_client.c): started once init-data
 * is there, asked for the pod's secrets over its private socket. */
#ifndef COFFER_AGENT_ATTESTER_CLIENT_H
#define COFFER_AGENT_ATTESTER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"

/* What the attester is. */
#define AGENT_ATTESTER_BIN "/usr/bin/coffer-attester"
/* Bound on one secret fetch (the attester bounds its broker exchanges). */
#define AGENT_SECRET_TIMEOUT_S 60
#define AGENT_SECRET_MAX (1u << 20)

/* The verified init-data: <state>/initdata/initdata.toml, written by
 * CreateSandbox after the digest check (outside a guest, for tests,
 * COFFER_AGENT_INITDATA names a file when the sandbox carried none). */
int agent_initdata_path(const agent *a, char *out, size_t n);
/* <state>/pod: the directory mounted at /run/coffer in containers that opt in
 * (attestation-token, tee.sock, an empty secrets/ mount point). */
int agent_pod_dir(const agent *a, char *out, size_t n);
/* Starts coffer-attester if it is not running, without waiting for it. */
int agent_attester_spawn(agent *a, cf_error *err);
/* Starts coffer-attester if it is not running; waits (bounded) until it
 * serves. Fails naming why (no init-data, no broker, it exited). */
int agent_attester_ensure(agent *a, cf_error *err);
/* CreateSandbox: when the verified init-data names a broker, the attester
 * starts attesting now, alongside the rest of the pod's start. */
void agent_attester_early_start(agent *a);
/* GET one secret. The attester's refusal (the broker's reason) becomes err. */
int agent_attester_secret(agent *a, const char *name, const char *uri, uint8_t **data,
                          size_t *len, cf_error *err);
/* A child agent_reap() collected: a dead attester is started again after a
 * bounded back-off (logged). */
void agent_attester_reaped(agent *a, pid_t pid, int status);
/* SNP or TDX, as the agent detected from its own hardware (never from the host). */
bool agent_in_tee(const agent *a);

#endif
