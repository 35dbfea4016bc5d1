/* coffer-agent: the one per-process context (agent) and the records it
 * holds (containers, their processes, their streams); each .c file declares
 * its functions in its own header. The agent is one epoll loop; the long
 * runtime steps (image mounts, the engines' create, start and exec) run on
 * a worker thread (job.h) with a bound each; long waits are parked ttrpc
 * calls. */
#ifndef COFFER_AGENT_H
#define COFFER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "coffer/error.h"
#include "coffer/initdata.h"
#include "coffer/loop.h"
#include "coffer/tee.h"
#include "coffer/ttrpc.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_MAX_SPEC (1u << 20)     /* OCI spec / process JSON */
#define AGENT_MAX_RESOURCES (64u << 10)
#define AGENT_OUTBUF_MAX (1u << 20)   /* per output stream, then back-pressure */
#define AGENT_STDIN_MAX (1u << 20)    /* queued stdin bytes per process */
#define AGENT_READ_DEFAULT (64u << 10)
#define AGENT_OOM_QUEUE 64
#define AGENT_DRAIN_TIMEOUT_MS 3000
#define AGENT_MAX_DONE_EXECS 128      /* finished execs kept without RemoveProcess */

struct agent;
struct container;

/* A bounded output buffer fed from one pipe / pty master. */
typedef struct outbuf {
  struct proc *proc;
  int fd;                /* -1 once EOF was seen (or no stream) */
  cf_watch *watch;       /* NULL while paused (buffer full) or closed */
  uint8_t *data;         /* [head, len) holds unread bytes; freed when empty */
  size_t head, len, cap;
  bool eof;
  ttrpc_call *reader;    /* the one parked Read* call */
  uint32_t reader_max;
} outbuf;

typedef struct stdin_req {
  struct stdin_req *next;
  ttrpc_call *call;      /* NULL once its caller went away */
  uint8_t *data;
  size_t len, off;
} stdin_req;

/* A container's init (exec_id "") or an exec process. */
typedef struct proc {
  struct proc *next;
  struct container *c;
  char *exec_id;
  pid_t pid;
  bool terminal;
  bool started;          /* init: started; execs: always */
  bool pending;          /* exec: its ExecProcess is still on the worker (pid 0 until done) */
  bool starting;         /* init: its StartContainer is on the worker */
  int stdin_fd;          /* pipe write end or dup of the pty master, -1 */
  cf_watch *stdin_watch;
  stdin_req *stdin_head, *stdin_tail;
  size_t stdin_queued;
  bool stdin_close_pending;
  int pty_fd;            /* pty master (owned by out.fd; this is a borrowed copy) */
  outbuf out, err;
  bool exited;           /* reaped */
  bool done;             /* reaped and output drained (or drain timed out) */
  int exit_status;
  struct timespec exited_at;
  cf_timer *drain_timer;
  ttrpc_call **waiters;
  size_t n_waiters;
} proc;

typedef struct container {
  struct container *next;
  struct agent *a;
  char *id;
  char *bundle;          /* <state>/bundles/<id> */
  char *cgroup_path;     /* linux.cgroupsPath we set */
  char **mounts;         /* what we mounted for it, unmounted in reverse */
  size_t n_mounts;
  char *verity_dm;       /* dm-verity device of its BLOCK rootfs, removed after the mounts */
  proc *procs;           /* init first */
  bool sandbox;          /* the pod's first (pause) container */
  const struct engine_ops *engine; /* what runs it (engine.h) */
  struct oci_container *oci; /* the built-in engine's state, else NULL */
  bool paused;
  int policy_rule;       /* the policy's container rule it was created under, -1 */
  bool own_pidns;        /* its init is PID 1 of a PID namespace of its own */
  int oom_fd;            /* eventfd (v1) / inotify (v2) watching OOM kills */
  cf_watch *oom_watch;
  uint64_t oom_kills;
  cf_timer *oom_timer;   /* re-reads the counter after a v1 notification */
  unsigned oom_rechecks;
  unsigned busy;         /* its start or execs on the worker (job.h): it stays until they end */
} container;

typedef struct agent {
  cf_loop *loop;
  ttrpc_server *srv;
  const char *runtime;   /* runc binary; NULL when builtin and runc is absent */
  bool builtin;          /* containers run by the built-in runtime (oci/) */
  char *state_dir;
  char *runc_root;
  char *runc_log;
  const char *shared_dir;/* VIRTIOFS rootfs root */
  const char *block_dir; /* where BLOCK serials are looked up (/sys/block) */
  const char *modules;   /* PID 1: the module list (groups loaded on demand) */
  bool pid1;
  bool guest;            /* guest mode: host paths are not trusted */
  int cgroup_version;
  int runc_timeout_ms;
  size_t max_done_execs; /* AGENT_MAX_DONE_EXECS, or COFFER_AGENT_MAX_DONE_EXECS (tests) */
  bool no_pivot;         /* / is the initramfs: no pivot_root away from it */
  bool tee_mode;         /* TEE rules (a TEE guest, --tee or coffer.tee=1): the host is the
                          * adversary; no host sharing, verified block rootfs only */
  struct cf_policy *policy; /* the start-up one, replaced once by init-data's (policy_gate.c) */
  struct agent_guard *guards; /* the policy gate in front of each handler (service.c) */

  /* the TEE (agent/tee; real probes, sample binding from the command line)
   * and the pod's init-data once verified (initdata.h) */
  cf_tee_env tee_env;
  char sample_hex[136];
  cf_tee_kind tee;
  cf_initdata *initdata;

  bool sandbox_created;
  char *sandbox_id;
  char *cgroup_parent;
  bool share_pid;
  bool exit_on_destroy;
  bool destroyed;

  container *containers;
  container *creating;   /* CreateContainer on the worker: ids taken, not yet usable */
  struct agent_jobs *jobs; /* job.h */

  int sigchld_fd;
  cf_watch *sigchld_watch;

  char *oom_queue[AGENT_OOM_QUEUE];
  size_t oom_head, oom_count;
  ttrpc_call **oom_waiters;
  size_t n_oom_waiters;
  char *runc_version;
  unsigned console_seq;  /* names console sockets */

  struct agent_prefetch *prefetch; /* pulls started at CreateSandbox (prefetch.h) */

  /* coffer-attester (attester_client.c): started with the sandbox or on first
   * need, restarted after a back-off when it died */
  pid_t attester_pid;
  bool attester_tried;   /* started once */
  int attester_ready_fd; /* its stdout until its ready line was read; -1 after */
  uint64_t attester_started_ms;
  unsigned attester_backoff_ms;
  cf_timer *attester_restart;
  struct cf_relay *relay;/* the broker relay's guest end (relay.c); NULL: none */
} agent;

#endif
