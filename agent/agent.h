/* coffer-agent internals: the one per-process context and the pieces that
 * share it. The agent is one epoll loop; runc runs as short child processes
 * (synchronously, bounded); long waits are parked ttrpc calls. */
#ifndef COFFER_AGENT_H
#define COFFER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "coffer/error.h"
#include "coffer/loop.h"
#include "coffer/ttrpc.h"
#include "agent.pb-c.h"

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
  bool started;          /* init: runc start done; execs: always */
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

enum container_state { CT_CREATED, CT_RUNNING, CT_PAUSED, CT_STOPPED };

typedef struct container {
  struct container *next;
  struct agent *a;
  char *id;
  char *bundle;          /* <state>/bundles/<id> */
  char *cgroup_path;     /* linux.cgroupsPath we set */
  char **mounts;         /* what we mounted for it, unmounted in reverse */
  size_t n_mounts;
  proc *procs;           /* init first */
  bool sandbox;          /* the pod's first (pause) container */
  struct oci_container *oci; /* run by the built-in runtime; NULL: by runc */
  bool paused;
  int oom_fd;            /* eventfd (v1) / inotify (v2) watching OOM kills */
  cf_watch *oom_watch;
  uint64_t oom_kills;
  cf_timer *oom_timer;   /* re-reads the counter after a v1 notification */
  unsigned oom_rechecks;
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
  bool no_pivot;         /* / is the initramfs: runc cannot pivot_root away from it */

  bool sandbox_created;
  char *sandbox_id;
  char *cgroup_parent;
  bool share_pid;
  bool exit_on_destroy;
  bool destroyed;

  container *containers;
  size_t n_containers;

  int sigchld_fd;
  cf_watch *sigchld_watch;

  char *oom_queue[AGENT_OOM_QUEUE];
  size_t oom_head, oom_count;
  ttrpc_call **oom_waiters;
  size_t n_oom_waiters;
  char *runc_version;
  unsigned console_seq;  /* names console sockets */
} agent;

/* Relative path without "..", "." or empty components. */
bool agent_valid_relpath(const char *p);

/* runc.c: run `runc --root … --log … args…` with stdio fds (-1 = /dev/null)
 * and an optional console socket listener; io NULL: no stdio, stderr
 * captured for the error message (only for commands that start no process). Fills err with runc's error text
 * on failure. *console_out receives the pty master when console_listen >= 0. */
typedef struct runc_io {
  int in, out, err;
  int console_listen;
  int *console_out;
  bool capture_stdout;   /* stdout captured into capture (malloc'd) */
  char *capture;
  size_t capture_len;
} runc_io;
int runc_run(agent *a, const char *const *args, runc_io *io, int timeout_ms,
             cf_error *err);
/* Convenience: no stdio, no capture. */
int runc_simple(agent *a, cf_error *err, const char *arg0, ...);

/* bundle.c: turn the spec from the shim into the bundle's config.json. */
typedef struct bundle_opts {
  const char *id;
  const char *root_path;
  bool terminal;
  const char *cgroup_path;
  pid_t sandbox_pid;     /* 0: this is the sandbox container */
  bool share_pid;
  bool guest;
  const char *const *mount_dst;  /* SharedMount replacements */
  const char *const *mount_src;
  size_t n_mounts;
  const pid_t *known_pids;       /* guest: the only pids a namespace path may name */
  size_t n_known_pids;
  const char *guest_files_dir;   /* guest: resolv.conf / hosts / hostname for containers */
} bundle_opts;
/* Returns malloc'd JSON text; *is_sandbox set from the CRI annotation. */
char *bundle_make_config(const uint8_t *spec, size_t len, const bundle_opts *o,
                         bool *is_sandbox, cf_error *err);
char *bundle_make_process(const uint8_t *json, size_t len, bool terminal,
                          cf_error *err);
int write_file_atomic(const char *path, const char *data, size_t len, cf_error *err);

/* rootfs.c: resolve/mount a Rootfs for a container; returns malloc'd path. */
char *rootfs_prepare(agent *a, container *c,
                     const Coffer__Agent__V1__Rootfs *r,
                     const char *dest_name, cf_error *err);
void rootfs_release(container *c);

/* stdio.c */
void outbuf_init(outbuf *ob, proc *p, int fd);
int outbuf_start(agent *a, outbuf *ob, cf_error *err);
void outbuf_free(outbuf *ob);
/* Park or answer a read. */
void outbuf_read(agent *a, outbuf *ob, ttrpc_call *call, uint32_t max);
int stdin_write(agent *a, proc *p, ttrpc_call *call, const uint8_t *data,
                size_t len, cf_error *err);
int stdin_close(agent *a, proc *p, cf_error *err);
void stdin_free(proc *p);
int pty_resize(proc *p, unsigned w, unsigned h, cf_error *err);
/* Receives a pty master over SCM_RIGHTS from an accepted console connection. */
int console_recv_fd(int conn, cf_error *err);

/* process.c */
proc *proc_new(container *c, const char *exec_id);
proc *proc_find(container *c, const char *exec_id);
void proc_free(agent *a, proc *p, const char *why);
void proc_check_done(agent *a, proc *p);
void proc_reaped(agent *a, proc *p, int wstatus);
void proc_wait(agent *a, proc *p, ttrpc_call *call);
/* Set up stdio for a process about to be created: fills io fds for runc. */
typedef struct proc_stdio {
  int child_in, child_out, child_err; /* runc's ends (closed after runc) */
  int console_listen;
  int console_fd;
  bool want_stdin;
  char *console_path;
} proc_stdio;
int proc_stdio_prepare(agent *a, proc *p, bool terminal, bool in, bool out,
                       bool err_, bool console_socket, proc_stdio *ps, cf_error *err);
int proc_stdio_finish(agent *a, proc *p, proc_stdio *ps, cf_error *err);
void proc_stdio_cleanup(proc_stdio *ps);
int read_pid_file(const char *path, pid_t *pid, cf_error *err);

/* container.c */
container *container_find(agent *a, const char *id);
int sandbox_ensure(agent *a, const char *fallback_id, cf_error *err);
int container_create(agent *a, const Coffer__Agent__V1__CreateContainerRequest *req,
                     container **out, cf_error *err);
int container_start(agent *a, container *c, cf_error *err);
bool container_running(const container *c);
int container_remove(agent *a, container *c, bool force, cf_error *err);
int container_exec(agent *a, container *c, const Coffer__Agent__V1__ExecProcessRequest *req,
                   proc **out, cf_error *err);
int process_remove(agent *a, container *c, proc *p, cf_error *err);
bool proc_reusable(const proc *p);
void exec_prune(agent *a, container *c);
int container_signal(agent *a, container *c, proc *p, int sig, bool all, cf_error *err);
void container_free(agent *a, container *c);
void agent_reap(agent *a);

/* oom.c */
int oom_watch_container(agent *a, container *c);
void oom_unwatch_container(container *c);
bool oom_check(agent *a, container *c);
void oom_push(agent *a, const char *id);
void oom_get(agent *a, ttrpc_call *call);

/* stats.c */
int stats_parse(const char *json, size_t len,
                Coffer__Agent__V1__StatsContainerResponse **out,
                cf_error *err);
void stats_free(Coffer__Agent__V1__StatsContainerResponse *r);

/* service.c */
int service_register(agent *a, cf_error *err);

/* init.c: guest PID 1 duties. */
int init_mounts(cf_error *err);
void init_load_modules(const char *list_file, const char *group);
void init_load_boot_modules(const char *list_file);
void init_power_off(void);
int sandbox_write_files(const char *dir, const Coffer__Agent__V1__CreateSandboxRequest *req,
                        cf_error *err);
int init_find_listen_addr(char *buf, size_t cap, bool *serial, cf_error *err);

/* guest.c */
void guest_details(agent *a, Coffer__Agent__V1__GuestDetails *d,
                   char *kernel, size_t kcap);
int cgroup_detect_version(void);
/* True when / is the initial ramfs ("rootfs"), where pivot_root fails. */
bool root_is_initramfs(void);
void cgroup_remove_pod(const agent *a);

#endif
