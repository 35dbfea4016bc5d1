/* Guest PID 1 duties (init.c). */
#ifndef COFFER_AGENT_INIT_H
#define COFFER_AGENT_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include "agent.pb-c.h"
#include "coffer/error.h"

int init_mounts(cf_error *err);
void init_load_modules(const char *list_file, const char *group);
void init_load_boot_modules(const char *list_file);
void init_power_off(void);
/* A TEE guest (SEV-SNP or TDX): the agent then trusts nothing from the host. */
bool init_in_tee(void);
int agent_sandbox_write_files(const char *dir, const Coffer__Agent__V1__CreateSandboxRequest *req,
                        cf_error *err);
int init_find_listen_addr(char *buf, size_t cap, bool *serial, cf_error *err);

#endif
