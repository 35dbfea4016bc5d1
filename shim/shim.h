/* The shim daemon's one context and the interfaces between its files.
 *
 *   main.c     flags, start | delete | daemon
 *   manager.c  start (spawn or find the pod's daemon) and delete (cleanup)
 *   daemon.c   the daemon: loop, signals, log fifo, Task service registration
 *   service.c  Task API handlers
 *   pod.c      the VM (vmm backend) and the agent connection
 *   process.c  task / exec state, exits, waiters
 *   stdio.c    containerd's stdio URIs <-> agent Read/Write calls
 *   events.c   ordered, retried Events.Forward to containerd
 *   rootfs.c   the Create request's mounts on the bundle's rootfs
 *   metrics.c  agent stats -> containerd cgroups Metrics */
#ifndef COFFER_SHIM_H
#define COFFER_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffer/error.h"
#include "coffer/loop.h"
#include "coffer/ttrpc.h"
#include "coffer/vmm.h"
#include "config.h"
#include "podsize.h"
#include "guest_log.h"
#include "coffer/vmm_console.h"

#define SHIM_VERSION "0.1.0"
#define TASK_SERVICE "containerd.task.v2.Task"
#define AGENT_SERVICE "coffer.agent.v1.Agent"
#define HEALTH_SERVICE "coffer.agent.v1.Health"
#define SHIM_LOST_EXIT_STATUS 255 /* the VM/agent died under a process */
/* How long an exited process's output may take to reach containerd before
 * the exit is reported anyway (a child that outlived it can hold the pipe
 * open forever). The agent has already waited its own drain bound. */
#define SHIM_DRAIN_TIMEOUT_MS 2000

typedef struct shim_opts {
  const char *ns;
  const char *address;        /* containerd's grpc address */
  const char *publish_binary;
  const char *id;
  const char *bundle;
  const char *action;         /* "start" | "delete" | NULL (daemon) */
  bool debug;
} shim_opts;

/* containerd.v1.types.Status */
enum { ST_UNKNOWN = 0, ST_CREATED = 1, ST_RUNNING = 2, ST_STOPPED = 3, ST_PAUSED = 4 };

typedef struct shim shim;
typedef struct shim_task shim_task;
typedef struct shim_proc shim_proc;

/* One output stream: agent ReadStdout/ReadStderr -> fd, one chunk at a time. */
typedef struct out_pump {
  int fd;             /* -1: no such stream */
  bool is_file;       /* regular file: plain blocking writes, no epoll */
  bool reading;       /* a Read call is in flight */
  bool done;          /* EOF seen and everything written (or dropped) */
  bool broken;        /* reader went away: drain and drop */
  uint8_t *buf;       /* unwritten rest of the last chunk */
  size_t len, off;
  cf_watch *w;
  void *ref;          /* the watch's callback data, freed with it */
} out_pump;

/* stdin: fd -> agent WriteStdin, one chunk in flight. */
typedef struct in_pump {
  int fd;
  cf_watch *w;
  bool writing;
  bool eof;           /* no more input: CloseStdin once writes are done */
  bool close_sent;
  bool close_requested; /* CloseIO: EOF once the fifo is empty */
  void *ref;
} in_pump;

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
  pid_t log_pid;      /* binary:// logger */
  shim_proc *next;
};

struct shim_task {
  char *id;
  char *bundle;
  char *rootfs;       /* bundle/rootfs */
  bool rootfs_mounted;
  bool rootfs_added;  /* vmm add_rootfs done */
  bool agent_created;
  shim_proc init;
  shim_proc *execs;
  shim_task *next;
};

/* A request that arrived before the agent was ready; replayed after. */
typedef struct deferred {
  ttrpc_handler handler;
  ttrpc_call *call;
  uint8_t *payload;
  size_t len;
  struct deferred *next;
} deferred;

enum pod_state { POD_STARTING, POD_READY, POD_FAILED, POD_DEAD, POD_STOPPED };

typedef struct pod {
  enum pod_state state;
  const cf_vmm_ops *ops;
  cf_vm *vm;
  ttrpc_client *agent;
  int pidfd;
  cf_watch *pid_watch;
  cf_timer *timer;     /* the next connect attempt */
  cf_timer *resend;    /* the next Health on the current connection */
  uint64_t deadline_ms;
  unsigned attempts;   /* connects so far: the back-off between them */
  uint64_t conn_ms;    /* when the current connection was made */
  bool answered;       /* a Health was answered: CreateSandbox is under way */
  char last_why[256];  /* why the last attempt failed */
  cf_console_tail *console; /* the guest console -> our log */
  cf_watch *console_watch;
  guest_log glog;
  cf_error failure;   /* why the pod is FAILED / DEAD */
  deferred *waiting, **waiting_tail;
  cf_timer *oom_timer;
} pod;

typedef struct event_item {
  char *topic;
  char *type_url;
  uint8_t *data;
  size_t len;
  int64_t sec;
  int32_t nsec;
  int attempts;
  struct event_item *next;
} event_item;

typedef struct events {
  char *address;      /* TTRPC_ADDRESS */
  ttrpc_client *client;
  event_item *head, **tail;
  size_t count;
  bool in_flight;
  cf_timer *retry;
} events;

struct shim {
  cf_loop *loop;
  shim_opts opts;
  shim_config cfg;
  char group_id[160];
  char hostname[256];     /* the pod's (the first task's spec), for the guest */
  char bundle[4096];
  char socket_path[256];
  char state_dir[4096];   /* per pod: cfg.state_dir/<ns>/<group_id> */
  cf_pod_size size;       /* the VM's, from the first task's annotations */
  cf_error size_err;      /* set (status != 0) when they were malformed */
  ttrpc_server *srv;
  pod pod;
  events ev;
  shim_task *tasks;
  int signal_fd;
  cf_watch *signal_watch;
  bool exiting;
};

/* daemon.c */
int shim_daemon_main(shim_opts *o);

/* service.c */
int shim_service_register(shim *s, cf_error *err);

/* pod.c */
void shim_pod_start(shim *s);
/* Run handler now if the pod is ready, fail the call if it cannot become
 * ready, else keep it until it is. Returns true when the caller should go on
 * handling the call right now. */
bool shim_pod_ready_or_defer(shim *s, ttrpc_handler h, ttrpc_call *call,
                        const uint8_t *payload, size_t len);
/* Async agent call; on failure to send, cb runs at once with the status. */
void shim_pod_agent_call(shim *s, const char *method, const ProtobufCMessage *req,
                    int timeout_ms, ttrpc_reply_cb cb, void *data);
void shim_pod_stop(shim *s);
bool shim_pod_alive(shim *s);

/* process.c */
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

/* stdio.c */
int shim_stdio_open(shim *s, shim_proc *p, cf_error *err);
void shim_stdio_start_output(shim *s, shim_proc *p);
void shim_stdio_start_input(shim *s, shim_proc *p);
void shim_stdio_close_stdin(shim *s, shim_proc *p);
/* Stop pumping, free buffers, close fds (output left undelivered is lost). */
void shim_stdio_close(shim *s, shim_proc *p);
/* Mark both output pumps done (the agent is gone). */
void shim_stdio_abandon(shim *s, shim_proc *p);
bool shim_stdio_drained(const shim_proc *p);

/* events.c */
void shim_events_init(shim *s);
void shim_events_publish(shim *s, const char *topic, const char *type_url,
                    const ProtobufCMessage *msg);
void shim_events_free(shim *s);
/* Try to deliver what is queued before exiting (bounded). */
void shim_events_flush(shim *s, int timeout_ms);

/* rootfs.c */
struct Containerd__Types__Mount;
int shim_rootfs_mount(const char *target, struct Containerd__Types__Mount **mounts,
                 size_t n, cf_error *err);
int shim_rootfs_unmount(const char *target, cf_error *err);

/* metrics.c */
struct Coffer__Agent__V1__StatsContainerResponse;
/* Packs a containerd cgroups Metrics message; returns its type URL. */
const char *shim_metrics_pack(const struct Coffer__Agent__V1__StatsContainerResponse *st,
                         uint8_t **out, size_t *len, cf_error *err);

/* small helpers (process.c) */
void shim_now(int64_t *sec, int32_t *nsec);

#endif
