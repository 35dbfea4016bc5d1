/* Long runtime calls off the event loop (job.c): a mount of a container's
 * image, a verity open, the OCI runtime's create, start and exec (each waits
 * for a child that may be slow) run on one worker thread, one at a time in
 * the order submitted, while the loop keeps answering every other request.
 * The completion runs back on the loop.
 *
 * The rules that keep it race-free: a job's work touches only what the job
 * owns (a container or process not yet linked into the agent, fds it was
 * given) and the agent's fields that no longer change once the sandbox
 * exists; everything else (linking, watches, replies) is the completion's.
 * While any job is in flight the reaper waits only for the pids it knows,
 * so the children a job forks (and waits for) are not reaped under it. */
#ifndef COFFER_AGENT_JOB_H
#define COFFER_AGENT_JOB_H

#include "agent.h"

typedef void (*agent_job_work)(void *data);            /* worker thread */
typedef void (*agent_job_done)(agent *a, void *data);   /* event loop */

int agent_jobs_start(agent *a, cf_error *err);
/* Lets the worker finish what is queued, runs the completions, stops it. */
void agent_jobs_stop(agent *a);
/* Queue work; done runs on the loop after it. Fails only without memory
 * (then neither runs). */
int agent_job_submit(agent *a, agent_job_work work, agent_job_done done, void *data,
                     cf_error *err);
/* Around a fork or clone on the worker: waits until the loop's thread is
 * parked in epoll_wait (cf_loop_set_wait_lock), so the child inherits no
 * lock of the C library held by it. A no-op on the loop's thread. */
void agent_jobs_fork_enter(void);
void agent_jobs_fork_leave(void);
/* The same on a thread of its own, alongside the worker's queue (a pull
 * started early that the worker's jobs must not wait behind). It counts as
 * pending like any job; agent_jobs_stop waits for it. */
int agent_job_spawn(agent *a, agent_job_work work, agent_job_done done, void *data,
                    cf_error *err);
/* Jobs submitted whose completion has not run yet. */
unsigned agent_jobs_pending(const agent *a);

#endif
