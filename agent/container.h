/* Containers: create, start, exec, signal, remove, and the reaping of children (container.c). */
#ifndef COFFER_AGENT_CONTAINER_H
#define COFFER_AGENT_CONTAINER_H

#include "agent.h"
#include "agent.pb-c.h"

container *container_find(agent *a, const char *id);
int agent_sandbox_ensure(agent *a, const char *fallback_id, cf_error *err);
int container_create(agent *a, const Coffer__Agent__V1__CreateContainerRequest *req,
                     container **out, cf_error *err);
int container_start(agent *a, container *c, cf_error *err);
bool container_running(const container *c);
int container_remove(agent *a, container *c, bool force, cf_error *err);
int container_exec(agent *a, container *c, const Coffer__Agent__V1__ExecProcessRequest *req,
                   proc **out, cf_error *err);
int agent_exec_remove(agent *a, container *c, proc *p, cf_error *err);
bool agent_proc_reusable(const proc *p);
void agent_exec_prune(agent *a, container *c);
int container_signal(agent *a, container *c, proc *p, int sig, bool all, cf_error *err);
void container_free(agent *a, container *c);
/* Its init was reaped: without a PID namespace of its own, what is left in
 * its cgroup is killed (nothing else would end it). */
void container_init_exited(agent *a, container *c);
void agent_reap(agent *a);

#endif
