/* A container's processes (init and execs): their stdio set-up for the engine,
 * their exit (reaped by the agent, the subreaper of them all), and the
 * WaitProcess calls parked until the exit is reported.
 *
 * An exit is reported only once the process's output reached EOF and sits in
 * the agent's buffers, so a shim that waits and then reads sees everything;
 * a grandchild that keeps the pipe open delays it by at most
 * AGENT_DRAIN_TIMEOUT_MS. */

#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "container.h"
#include "oom.h"
#include "stream.h"

proc *agent_proc_new(container *c, const char *exec_id) {
  proc *p = calloc(1, sizeof(*p));
  if (!p || !(p->exec_id = strdup(exec_id))) {
    free(p);
    return NULL;
  }
  p->c = c;
  p->stdin_fd = -1;
  p->pty_fd = -1;
  agent_outbuf_init(&p->out, p, -1);
  agent_outbuf_init(&p->err, p, -1);
  return p;
}

proc *agent_proc_find(container *c, const char *exec_id) {
  for (proc *p = c->procs; p; p = p->next)
    if (!strcmp(p->exec_id, exec_id))
      return p;
  return NULL;
}

static void reply_wait(proc *p, ttrpc_call *call) {
  Coffer__Agent__V1__WaitProcessResponse resp = COFFER__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = p->exited_at.tv_sec;
  ts.nanos = (int32_t)p->exited_at.tv_nsec;
  resp.exit_status = (uint32_t)p->exit_status;
  resp.exited_at = &ts;
  resp.pid = (uint32_t)p->pid;
  ttrpc_call_reply(call, &resp.base);
}

static void proc_complete(proc *p) {
  p->done = true;
  if (p->drain_timer)
    cf_loop_timer_cancel(p->drain_timer);
  p->drain_timer = NULL;
  cf_debug("process %s/%s (pid %d) exited with status %d", p->c->id, p->exec_id,
           (int)p->pid, p->exit_status);
  ttrpc_call **w = p->waiters;
  size_t n = p->n_waiters;
  p->waiters = NULL;
  p->n_waiters = 0;
  for (size_t i = 0; i < n; i++)
    reply_wait(p, w[i]);
  free(w);
}

void agent_proc_check_done(agent *a, proc *p) {
  if (p->exited && !p->done && p->out.eof && p->err.eof)
    proc_complete(p);
}

static void drain_timeout(cf_loop *loop, void *data) {
  proc *p = data;
  p->drain_timer = NULL;
  if (!p->done) {
    cf_info("process %s/%s exited but its output is still open; reporting the exit",
            p->c->id, p->exec_id);
    proc_complete(p);
  }
}

void agent_proc_reaped(agent *a, proc *p, int wstatus) {
  p->exited = true;
  p->exit_status = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
                   : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
                                          : 255;
  clock_gettime(CLOCK_REALTIME, &p->exited_at);
  /* An OOM kill is counted before its SIGKILL is sent, so the counter is
   * final here: report it before this exit (init or exec), whether or not
   * the early v1 notification or its rechecks got to it yet. */
  oom_check(a, p->c);
  if (p == p->c->procs)
    container_init_exited(a, p->c);
  agent_proc_check_done(a, p);
  if (!p->done && !p->drain_timer) {
    cf_error err = {0};
    p->drain_timer = cf_loop_timer(a->loop, AGENT_DRAIN_TIMEOUT_MS, drain_timeout, p, &err);
  }
}

static void wait_cancel(ttrpc_call *call, void *data) {
  proc *p = data;
  for (size_t i = 0; i < p->n_waiters; i++)
    if (p->waiters[i] == call) {
      p->waiters[i] = p->waiters[--p->n_waiters];
      break;
    }
  ttrpc_call_reply_status(call, CF_CANCELLED, "connection closed");
}

void agent_proc_wait(agent *a, proc *p, ttrpc_call *call) {
  if (p->done) {
    reply_wait(p, call);
    return;
  }
  ttrpc_call **n = realloc(p->waiters, (p->n_waiters + 1) * sizeof(*n));
  if (!n) {
    ttrpc_call_reply_status(call, CF_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  p->waiters = n;
  p->waiters[p->n_waiters++] = call;
  ttrpc_call_on_cancel(call, wait_cancel, p);
}

void agent_proc_free(agent *a, proc *p, const char *why) {
  for (size_t i = 0; i < p->n_waiters; i++)
    ttrpc_call_reply_status(p->waiters[i], CF_NOT_FOUND, "process %s/%s %s", p->c->id,
                            p->exec_id, why);
  free(p->waiters);
  if (p->drain_timer)
    cf_loop_timer_cancel(p->drain_timer);
  agent_outbuf_free(&p->out);
  agent_outbuf_free(&p->err);
  agent_stdin_free(p);
  if (p->pty_fd >= 0)
    close(p->pty_fd);
  free(p->exec_id);
  free(p);
}

/* ------------------------------------------------------------ stdio set-up */

static int console_listener(agent *a, proc_stdio *ps, cf_error *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/con-%u.sock", a->state_dir,
                   /* the job worker (job.h) and the loop both name sockets */
                   __atomic_add_fetch(&a->console_seq, 1, __ATOMIC_RELAXED));
  if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
    return cf_err_status(err, CF_INTERNAL, "state dir %s is too long for a console socket",
                         a->state_dir);
  ps->console_path = strdup(sa.sun_path);
  unlink(sa.sun_path);
  ps->console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ps->console_listen < 0)
    return cf_err(err, errno, "console socket");
  if (bind(ps->console_listen, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      listen(ps->console_listen, 1) < 0)
    return cf_err(err, errno, "console socket %s", sa.sun_path);
  return 0;
}

int agent_proc_stdio_prepare(agent *a, proc *p, bool terminal, bool in, bool out, bool err_,
                       bool console_socket, proc_stdio *ps, cf_error *err) {
  *ps = (proc_stdio){.child_in = -1, .child_out = -1, .child_err = -1,
                     .console_listen = -1, .console_fd = -1, .want_stdin = in};
  p->terminal = terminal;
  if (terminal) /* the built-in runtime hands the pty master over directly */
    return console_socket ? console_listener(a, ps, err) : 0;
  int fds[2];
  if (in) {
    if (pipe2(fds, O_CLOEXEC) < 0)
      return cf_err(err, errno, "stdin pipe");
    ps->child_in = fds[0];
    p->stdin_fd = fds[1];
    fcntl(p->stdin_fd, F_SETFL, O_NONBLOCK);
  }
  if (out) {
    if (pipe2(fds, O_CLOEXEC) < 0)
      return cf_err(err, errno, "stdout pipe");
    ps->child_out = fds[1];
    agent_outbuf_init(&p->out, p, fds[0]);
  }
  if (err_) {
    if (pipe2(fds, O_CLOEXEC) < 0)
      return cf_err(err, errno, "stderr pipe");
    ps->child_err = fds[1];
    agent_outbuf_init(&p->err, p, fds[0]);
  }
  return 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

void agent_proc_stdio_cleanup(proc_stdio *ps) {
  close_fd(&ps->child_in);
  close_fd(&ps->child_out);
  close_fd(&ps->child_err);
  close_fd(&ps->console_listen);
  close_fd(&ps->console_fd);
  if (ps->console_path)
    unlink(ps->console_path);
  free(ps->console_path);
  ps->console_path = NULL;
}

/* After the engine created the process: our copies of its ends go, reading starts. */
int agent_proc_stdio_finish(agent *a, proc *p, proc_stdio *ps, cf_error *err) {
  close_fd(&ps->child_in);
  close_fd(&ps->child_out);
  close_fd(&ps->child_err);
  if (p->terminal) {
    if (ps->console_fd < 0)
      return cf_err_status(err, CF_INTERNAL, "the runtime sent no terminal for %s/%s", p->c->id,
                           p->exec_id);
    p->pty_fd = fcntl(ps->console_fd, F_DUPFD_CLOEXEC, 3);
    if (ps->want_stdin) /* terminal stdin is the pty itself */
      p->stdin_fd = fcntl(ps->console_fd, F_DUPFD_CLOEXEC, 3);
    if (p->stdin_fd >= 0)
      fcntl(p->stdin_fd, F_SETFL, O_NONBLOCK);
    agent_outbuf_init(&p->out, p, ps->console_fd);
    ps->console_fd = -1;
  }
  if (agent_outbuf_start(a, &p->out, err) < 0 || agent_outbuf_start(a, &p->err, err) < 0)
    return -EIO;
  return 0;
}

int agent_read_pid_file(const char *path, pid_t *pid, cf_error *err) {
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  long v = 0;
  if (!f)
    return cf_err(err, errno, "pid file %s", path);
  if (fscanf(f, "%ld", &v) != 1 || v <= 0 || v > 0x3fffffff)
    return cf_err_status(err, CF_INTERNAL, "pid file %s holds no pid", path);
  *pid = (pid_t)v;
  return 0;
}
