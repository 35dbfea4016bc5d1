/* The pod's init-data in the guest. CreateSandbox carries the TOML (host
 * input); before anything uses it the agent decides which TEE it runs in
 * from its own hardware (agent/tee), recomputes the digest with the
 * document's algorithm, fits it to the field the hardware bound at launch
 * (SNP HOST_DATA 32 B, TDX MRCONFIGID 48 B, the sample attester's binding)
 * and compares. A mismatch, or no init-data in a TEE, refuses the pod (fail
 * closed). Only then is it written to <state_dir>/initdata/ (in the guest
 * /run/coffer/initdata/): initdata.toml and one file per [data] entry,
 * mode 0400, for the guest attester and the policy. */
#ifndef COFFER_AGENT_INITDATA_H
#define COFFER_AGENT_INITDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/initdata.h"
#include "coffer/tee.h"

/* guest: the agent runs in a VM (TEE detection applies). A host-process
 * agent has no TEE: only the sample binding (env->sample_binding_hex) can
 * be checked there. On success *out is the verified document (NULL when
 * the pod has none, plain profile only) and *kind the TEE it was checked
 * against (CF_TEE_NONE: not verified, none to verify against). */
int agent_initdata_accept(const cf_tee_env *env, bool guest, const uint8_t *toml, size_t len,
                          const char *dir, cf_initdata **out, cf_tee_kind *kind, cf_error *err);

/* The sample binding the host put on the kernel command line
 * (coffer.sample_init_data=HEX; plain profile): from /proc/cmdline as PID 1,
 * else from $COFFER_AGENT_CMDLINE, the host-process agent's stand-in for a
 * command line (the process backend sets it). "" when absent. */
void agent_initdata_sample_hex(bool pid1, char *out, size_t cap);

#endif
