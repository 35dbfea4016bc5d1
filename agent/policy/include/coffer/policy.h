/* The agent policy: what the host may ask of the agent, fixed for the VM's
 * life (measured init-data, or a file the agent is started with; no call can
 * change it). A policy document is JSON (agent/README.md, "Policy"); this
 * library parses it and judges requests with pure functions: request +
 * policy -> verdict, with the field and the rule that decided. No I/O but
 * cf_policy_load's read of the file. */
#ifndef COFFER_POLICY_H
#define COFFER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "coffer/error.h"

#define CF_POLICY_VERSION 1
#define CF_POLICY_MAX_BYTES (1u << 20)

typedef struct cf_policy cf_policy;

/* A verdict: allowed, or a denial naming the request, the field and the
 * rule. msg is what the caller answers with (PERMISSION_DENIED). */
typedef struct cf_verdict {
  bool allowed;
  char rule[128];  /* the rule that decided: "rpcs.ReadStdout", "containers[0].process.args" */
  char msg[768];
} cf_verdict;

/* Parses a policy document; errors are INVALID_ARGUMENT naming the field. */
cf_policy *cf_policy_parse(const char *text, size_t len, cf_error *err);
cf_policy *cf_policy_load(const char *path, cf_error *err);
/* The policy when none was given: default `allow` (plain), or `deny` (TEE)
 * with only CreateSandbox (which brings the pod's policy in its init-data),
 * DestroySandbox, GetGuestDetails and the network RPCs allowed. */
cf_policy *cf_policy_default(bool deny);
void cf_policy_free(cf_policy *p);
bool cf_policy_default_deny(const cf_policy *p);
/* The document's digest-free identity for logs: version and rule counts. */
void cf_policy_describe(const cf_policy *p, char *buf, size_t cap);

/* RPC-level verdict (method name as in agent.proto: "ReadStdout"). A
 * conditional RPC ("cond") is allowed here; its own check below decides. */
void cf_policy_check_rpc(const cf_policy *p, const char *rpc, cf_verdict *v);
/* true when the RPC is conditional (its check must run) */
bool cf_policy_rpc_conditional(const cf_policy *p, const char *rpc);

/* What CreateContainer asks, as the policy sees it. */
typedef struct cf_policy_create {
  const char *container_id;
  json_object *spec;               /* the OCI spec as the host sent it */
  const char *const *shared_dsts;  /* destinations the shim shared (SharedMount), n_shared */
  size_t n_shared;
  bool terminal;                   /* stdio.terminal (overrides process.terminal) */
  const char *root_hash;           /* dm-verity root hash of a BLOCK rootfs, or NULL */
  bool pulled;                     /* the rootfs is pulled in the guest (its digest is
                                    * checked against image.digests at the pull) */
} cf_policy_create;

/* The container rule a CreateContainer matched (*rule, for its execs), or a
 * denial. Guest paths, kernel-interface filesystems and TEE devices are
 * refused unless a rule names them exactly. */
void cf_policy_check_create(const cf_policy *p, const cf_policy_create *req, int *rule,
                            cf_verdict *v);

/* ExecProcess in a container created under `rule` (-1: the container was
 * created while CreateContainer was allowed outright). */
void cf_policy_check_exec(const cf_policy *p, int rule, const char *container_id,
                          const char *exec_id, json_object *process, bool terminal,
                          cf_verdict *v);

/* For dm-verity (rootfs set-up): is root_hash one the container rule (or,
 * rule -1, any rule) allows? */
bool cf_policy_root_hash_allowed(const cf_policy *p, int rule, const char *root_hash);

/* For a guest-pulled rootfs: the image digests (index or platform manifest)
 * the container rules list, at most cap into out, NULL-terminated (out has
 * cap + 1 slots); returns how many. *pinned: whether a pull must be one of
 * them (some rule lists digests, or the policy denies by default). */
size_t cf_policy_image_digests(const cf_policy *p, const char **out, size_t cap, bool *pinned);

/* The capabilities a TEE container gets when its spec names none. */
extern const char *const cf_policy_default_caps[];

#endif
