/* The agent's side of the policy (policy_gate.c): which policy holds, and
 * the gate every request passes before it has any effect. */
#ifndef COFFER_AGENT_POLICY_GATE_H
#define COFFER_AGENT_POLICY_GATE_H

#include <stdbool.h>

#include "agent.h"
#include "agent.pb-c.h"
#include "coffer/ttrpc.h"

/* The init-data entry that carries the pod owner's policy. */
#define AGENT_POLICY_ENTRY "policy.json"

/* The start-up policy: `path` if given, else the default (deny in a TEE,
 * allowing only what brings the pod's policy: CreateSandbox, networking,
 * GetGuestDetails, DestroySandbox; allow otherwise). A policy that does not
 * parse is an error (the caller fails closed). */
int agent_policy_init(agent *a, const char *path, cf_error *err);
/* CreateSandbox, once its init-data is verified and written to dir: the
 * entry policy.json, if there is one, becomes the policy for the VM's life
 * (CreateSandbox happens once). One that does not parse fails the sandbox. */
int agent_policy_from_initdata(agent *a, const char *dir, cf_error *err);

/* The RPC-level verdict; false: answered PERMISSION_DENIED (and logged). */
bool agent_policy_allow_rpc(agent *a, ttrpc_call *call, const char *method);
/* CreateContainer's conditional check; *rule: the container rule matched. */
bool agent_policy_allow_create(agent *a, ttrpc_call *call,
                               const Coffer__Agent__V1__CreateContainerRequest *req, int *rule);
/* Rootfs set-up, before a BLOCK rootfs's dm-verity device is opened: 0 when
 * some container rule lists root_hash, or the policy is allow-default (its
 * owner pinned nothing); else PERMISSION_DENIED naming the hash and the
 * rule. */
int agent_policy_root_hash(agent *a, const char *container_id, const char *root_hash,
                           cf_error *err);
bool agent_policy_allow_exec(agent *a, ttrpc_call *call, const container *c,
                             const Coffer__Agent__V1__ExecProcessRequest *req);

#endif
