/* Containers: create, start, exec, signal, remove, and the reaping of children (container.c). */
#ifndef COFFER_AGENT_CONTAINER_H
#define COFFER_AGENT_CONTAINER_H

#include "agent.h"
#include "agent.pb-c.h"

container *container_find(agent *a, const char *id);
int agent_sandbox_ensure(agent *a, const char *fallback_id, cf_error *err);
/* The long steps run on the job worker (job.h): a 0 return means cb runs
 * later on the loop, with the container (or process) or with the error;
 * a negative one that it never runs. req stays the caller's until then. */
typedef void (*container_created_cb)(agent *a, container *c, const cf_error *err, void *data);
typedef void (*container_step_cb)(agent *a, container *c, proc *p, const cf_error *err,
                                  void *data);
int container_create(agent *a, const Coffer__Agent__V1__CreateContainerRequest *req,
                     container_created_cb cb, void *cb_data, cf_error *err);
int container_start(agent *a, container *c, container_step_cb cb, void *cb_data, cf_error *err);
bool container_running(const container *c);
int container_remove(agent *a, container *c, bool force, cf_error *err);
int container_exec(agent *a, container *c, const Coffer__Agent__V1__ExecProcessRequest *req,
                   container_step_cb cb, void *cb_data, cf_error *err);
int agent_exec_remove(agent *a, container *c, proc *p, cf_error *err);
bool agent_proc_reusable(const proc *p);
void agent_exec_prune(agent *a, container *c);
int container_signal(agent *a, container *c, proc *p, int sig, bool all, cf_error *err);
void container_free(agent *a, container *c);
/* Its init was reaped: without a PID namespace of its own, what is left in
 * its cgroup is killed (nothing else would end it). */
void container_init_exited(agent *a, container *c);
/* Collects exited children (not reading the signalfd: main.c does). */
void agent_reap(agent *a);

#endif
