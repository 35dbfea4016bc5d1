/* The guest end of the broker relay (coffer/relay.h): the pump that turns
 * connections to the guest's relay socket into streams over the relay
 * port, for guest programs without a pod network (the attester). */
#ifndef COFFER_AGENT_RELAY_H
#define COFFER_AGENT_RELAY_H

#include "agent.h"

/* channel: "fd:N" (an inherited byte stream: the process backend),
 * "serial:/dev/vportNpM", or NULL: PID 1 looks for the virtio-serial port
 * relay.0 and runs no relay without one. socket_path: where guest programs
 * connect (NULL: CF_RELAY_GUEST_SOCKET). */
int agent_relay_start(agent *a, const char *channel, const char *socket_path, cf_error *err);

#endif
