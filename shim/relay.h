/* The host end of the pod's broker relay (coffer/relay.h): streams from the
 * guest reach the one broker address of the pod, nothing else. */
#ifndef COFFER_SHIM_RELAY_H
#define COFFER_SHIM_RELAY_H

#include <stdbool.h>

typedef struct shim shim;

/* Whether the pod has a broker: its init-data's aa.toml [token_configs.kbs]
 * url, else the config's relay_broker. Its guest then runs coffer-attester;
 * the VM gets the relay port when it also has no pod network (pod.c). */
bool shim_pod_has_broker(shim *s);

/* After the VM started: serve the guest's relay port when the VM got one
 * and the backend has a relay channel. A failure is logged; the pod
 * runs without a relay (its guest's dials then fail with a reason). */
void shim_relay_start(shim *s);
/* With the pod: close every stream. */
void shim_relay_stop(shim *s);

#endif
