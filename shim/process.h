/* Tasks and exec processes: their state, their exit, and who waits for it. */
#ifndef COFFER_SHIM_PROCESS_H
#define COFFER_SHIM_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffer/error.h"
#include "coffer/loop.h"
#include "coffer/ttrpc.h"
#include "stdio_pump.h"

#define SHIM_LOST_EXIT_STATUS 255 /* the VM/agent died under a process */
/* How long an exited process's output may take to reach containerd before
 * the exit is reported anyway (a child that outlived it can hold the pipe
 * open forever). The agent has already waited its own drain bound. */
#define SHIM_DRAIN_TIMEOUT_MS 2000

/* containerd.v1.types.Status */
enum { ST_CREATED = 1, ST_RUNNING = 2, ST_STOPPED = 3, ST_PAUSED = 4 };

typedef struct shim shim;
typedef struct shim_task shim_task;
typedef struct shim_proc shim_proc;

struct shim_proc {
  shim_task *task;
  char *exec_id;      /* "" for the task's init process */
  char *stdin_path, *stdout_path, *stderr_path;
  bool terminal;
  char *spec;         /* exec: OCI Process JSON */
  size_t spec_len;
  int status;
  uint32_t pid;
  bool wait_issued;   /* WaitProcess sent to the agent */
  bool exited;        /* the agent's WaitProcess answered */
  bool reported;      /* exit published and waiters answered */
  uint32_t exit_status;
  int64_t exited_sec;
  int32_t exited_nsec;
  ttrpc_call **waiters;
  size_t nwaiters;
  out_pump out, err;
  in_pump in;
  cf_timer *drain_timer; /* exited, output still open: report anyway at expiry */
  void *drain_ref;       /* the timer's proc_ref, freed with it */
  shim_proc *next;
};

struct shim_task {
  char *id;
  char *bundle;
  char *rootfs;       /* bundle/rootfs */
  bool rootfs_mounted;
  bool rootfs_added;  /* vmm add_rootfs done */
  bool agent_created;
  struct shim_vwatch *vwatch; /* copied volumes kept current (volume_watch.h) */
  shim_proc init;
  shim_proc *execs;
  shim_task *next;
};

shim_task *shim_task_find(shim *s, const char *id);
shim_proc *shim_proc_find(shim *s, const char *id, const char *exec_id);

/* A process named by its ids, for callbacks that may outlive it: they look it
 * up again (shim_proc_find) instead of holding a pointer. */
typedef struct proc_ref {
  shim *s;
  char *id;
  char *exec_id;
  bool is_err; /* stdio pumps: the stderr stream */
} proc_ref;
proc_ref *shim_proc_ref_new(shim *s, const shim_proc *p);
void shim_proc_ref_free(proc_ref *r);
shim_task *shim_task_new(shim *s, const char *id, const char *bundle, cf_error *err);
void shim_task_free(shim *s, shim_task *t);
shim_proc *shim_exec_new(shim_task *t, const char *exec_id, cf_error *err);
void shim_exec_free(shim *s, shim_proc *p);
void shim_proc_set_stdio(shim_proc *p, const char *in, const char *out, const char *err_path,
                    bool terminal);
/* Start waiting for the process's exit at the agent. */
void shim_proc_watch_exit(shim *s, shim_proc *p);
/* The agent reported the exit (or the pod died): record it. */
void shim_proc_exited(shim *s, shim_proc *p, uint32_t status, int64_t sec, int32_t nsec);
/* Called whenever a condition for reporting changed (exit, output drained). */
void shim_proc_maybe_report(shim *s, shim_proc *p);
void shim_proc_add_waiter(shim *s, shim_proc *p, ttrpc_call *call);
/* Every process of the pod is lost (VM/agent died). */
void shim_procs_all_lost(shim *s, const char *why);
size_t shim_task_count(shim *s);

/* The current time as containerd timestamps it. */
void shim_now(int64_t *sec, int32_t *nsec);

#endif
