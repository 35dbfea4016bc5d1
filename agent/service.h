/* The ttrpc services (service.c). */
#ifndef COFFER_AGENT_SERVICE_H
#define COFFER_AGENT_SERVICE_H

#include "agent.h"

int agent_service_register(agent *a, cf_error *err);

#endif
