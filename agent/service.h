/* The ttrpc services (service.c). */
#ifndef COFFER_AGENT_SERVICE_H
#define COFFER_AGENT_SERVICE_H

#include "agent.h"

int agent_service_register(agent *a, cf_error *err);
/* Registers a handler behind the policy gate (Health is never gated). */
int agent_service_add(agent *a, const char *service, const char *method, ttrpc_handler h,
                      cf_error *err);
void agent_service_free(agent *a);

#endif
