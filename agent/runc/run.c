/* Running the OCI runtime (runc) as a short, bounded child process.
 *
 * Every invocation is synchronous with a deadline: create/start/exec/kill
 * take tens of milliseconds, and nothing the agent parks (waits, reads)
 * depends on them. Errors carry runc's own message, taken from its JSON log
 * (--log) or, failing that, its stderr. */

#include "runc.h"
#include "../job.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "stream.h"

#define RUNC_MAX_ARGS 48
#define RUNC_CAPTURE_MAX (4u << 20)

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* The last error-level "msg" of runc's JSON log, else NULL. */
static char *runc_log_error(const char *path) {
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f)
    return NULL;
  char *line = NULL, *found = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_object *o = json_tokener_parse(line);
    if (!o)
      continue;
    json_object *lvl, *msg;
    if (json_object_object_get_ex(o, "level", &lvl) &&
        json_object_object_get_ex(o, "msg", &msg)) {
      const char *l = json_object_get_string(lvl);
      if (l && (!strcmp(l, "error") || !strcmp(l, "fatal"))) {
        free(found);
        found = strdup(json_object_get_string(msg));
      }
    }
    json_object_put(o);
  }
  free(line);
  return found;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
    s[--n] = '\0';
}

/* Append what is readable on fd to *buf; returns 0 on EOF, 1 if more may come. */
static int drain_into(int fd, char **buf, size_t *len, size_t *cap, size_t max) {
  for (;;) {
    if (*len + 4097 > *cap) {
      size_t ncap = *cap ? *cap * 2 : 8192;
      char *n = realloc(*buf, ncap);
      if (!n)
        return 0;
      *buf = n, *cap = ncap;
    }
    ssize_t r = read(fd, *buf + *len, 4096);
    if (r > 0) {
      if (*len + (size_t)r <= max)
        *len += (size_t)r;
      (*buf)[*len] = '\0';
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      return 1;
    return 0;
  }
}

static void child_exec(agent *a, const char **argv, int in, int out, int errfd) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  int null = open("/dev/null", O_RDWR);
  int fds[3] = {in >= 0 ? in : null, out >= 0 ? out : null, errfd >= 0 ? errfd : null};
  /* dup above 2 first so dup2 onto 0..2 cannot clobber a source */
  for (int i = 0; i < 3; i++)
    fds[i] = fcntl(fds[i], F_DUPFD, 3);
  for (int i = 0; i < 3; i++)
    dup2(fds[i], i);
  execv(a->runtime, (char *const *)argv);
  dprintf(2, "exec %s: %s\n", a->runtime, strerror(errno));
  _exit(127);
}

int runc_run(agent *a, const char *const *args, runc_io *io, int timeout_ms,
             cf_error *err) {
  const char *argv[RUNC_MAX_ARGS];
  size_t n = 0;
  if (!a->runtime)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "runc %s: this needs runc, and runc is not on PATH", args[0]);
  argv[n++] = a->runtime;
  argv[n++] = "--root";
  argv[n++] = a->runc_root;
  argv[n++] = "--log";
  argv[n++] = a->runc_log;
  argv[n++] = "--log-format";
  argv[n++] = "json";
  for (size_t i = 0; args[i]; i++) {
    if (n + 1 >= RUNC_MAX_ARGS)
      return cf_err_status(err, CF_INTERNAL, "runc: too many arguments");
    argv[n++] = args[i];
  }
  argv[n] = NULL;

  int lf = open(a->runc_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (lf >= 0)
    close(lf);

  runc_io none = {.in = -1, .out = -1, .err = -1, .console_listen = -1};
  if (!io)
    io = &none;
  int cap_p[2] = {-1, -1}, err_p[2] = {-1, -1};
  bool want_stdout = io->capture_stdout;
  if (want_stdout && pipe2(cap_p, O_CLOEXEC) < 0)
    return cf_err(err, errno, "runc %s: pipe", args[0]);
  /* stderr is captured only when nobody else gets it: a container started
   * by runc would otherwise hold our pipe open */
  if (io == &none && pipe2(err_p, O_CLOEXEC) < 0) {
    if (cap_p[0] >= 0)
      close(cap_p[0]), close(cap_p[1]);
    return cf_err(err, errno, "runc %s: pipe", args[0]);
  }

  agent_jobs_fork_enter();
  pid_t pid = fork();
  if (pid != 0)
    agent_jobs_fork_leave();
  if (pid < 0) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      if (cap_p[i] >= 0) close(cap_p[i]);
      if (err_p[i] >= 0) close(err_p[i]);
    }
    return cf_err(err, e, "runc %s: fork", args[0]);
  }
  if (pid == 0)
    child_exec(a, argv, io->in, cap_p[1] >= 0 ? cap_p[1] : io->out,
               err_p[1] >= 0 ? err_p[1] : io->err);
  if (cap_p[1] >= 0)
    close(cap_p[1]);
  if (err_p[1] >= 0)
    close(err_p[1]);
  if (cap_p[0] >= 0)
    fcntl(cap_p[0], F_SETFL, O_NONBLOCK);
  if (err_p[0] >= 0)
    fcntl(err_p[0], F_SETFL, O_NONBLOCK);

  _cleanup_close_ int pidfd = pidfd_open_(pid);
  char *out = NULL, *errtext = NULL;
  size_t out_len = 0, out_cap = 0, err_len = 0, err_cap = 0;
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 30000);
  bool exited = false, timed_out = false;
  int wstatus = 0;
  while (!exited || cap_p[0] >= 0 || err_p[0] >= 0) {
    struct pollfd pf[4];
    int np = 0, i_pid = -1, i_cap = -1, i_err = -1, i_con = -1;
    if (!exited && pidfd >= 0)
      i_pid = np, pf[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    if (cap_p[0] >= 0)
      i_cap = np, pf[np++] = (struct pollfd){.fd = cap_p[0], .events = POLLIN};
    if (err_p[0] >= 0)
      i_err = np, pf[np++] = (struct pollfd){.fd = err_p[0], .events = POLLIN};
    if (io->console_listen >= 0 && io->console_out && *io->console_out < 0)
      i_con = np, pf[np++] = (struct pollfd){.fd = io->console_listen, .events = POLLIN};
    uint64_t now = cf_now_ms();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    int wait_ms = (int)(deadline - now);
    if (pidfd < 0 && !exited && wait_ms > 10)
      wait_ms = 10; /* no pidfd: poll waitpid */
    int r = poll(pf, (nfds_t)np, wait_ms);
    if (r < 0 && errno != EINTR)
      break;
    if (i_cap >= 0 && pf[i_cap].revents &&
        !drain_into(cap_p[0], &out, &out_len, &out_cap, RUNC_CAPTURE_MAX))
      close(cap_p[0]), cap_p[0] = -1;
    if (i_err >= 0 && pf[i_err].revents &&
        !drain_into(err_p[0], &errtext, &err_len, &err_cap, 64 << 10))
      close(err_p[0]), err_p[0] = -1;
    if (i_con >= 0 && pf[i_con].revents) {
      int conn = accept4(io->console_listen, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) {
        cf_error cerr = {0};
        int fd = agent_console_recv_fd(conn, &cerr);
        close(conn);
        if (fd >= 0)
          *io->console_out = fd;
        else
          cf_warn("console socket: %s", cerr.msg);
      }
    }
    if (!exited && (i_pid < 0 || pf[i_pid].revents)) {
      pid_t w = waitpid(pid, &wstatus, WNOHANG);
      if (w == pid)
        exited = true;
    }
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
  }
  if (cap_p[0] >= 0)
    close(cap_p[0]);
  if (err_p[0] >= 0)
    close(err_p[0]);

  if (timed_out) {
    free(out);
    free(errtext);
    return cf_err_status(err, CF_DEADLINE_EXCEEDED, "runc %s: timed out after %d ms",
                         args[0], timeout_ms);
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    _cleanup_free_ char *msg = runc_log_error(a->runc_log);
    if (!msg && errtext && err_len) {
      trim(errtext);
      msg = strdup(errtext);
    }
    if (!msg && out && out_len) {
      trim(out);
      msg = strdup(out);
    }
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    int status = CF_UNKNOWN;
    if (msg && strstr(msg, "does not exist"))
      status = CF_NOT_FOUND;
    else if (msg && (strstr(msg, "not running") || strstr(msg, "is paused") ||
                     strstr(msg, "not paused") || strstr(msg, "cannot start") ||
                     strstr(msg, "not stopped")))
      status = CF_FAILED_PRECONDITION;
    cf_err_status(err, status, "runc %s: %s", args[0],
                  msg ? msg : (code == 127 ? "cannot execute runtime" : "failed"));
    if (!msg)
      snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
               " (exit status %d)", code);
    free(out);
    free(errtext);
    return -EIO;
  }
  free(errtext);
  if (want_stdout) {
    io->capture = out ? out : strdup("");
    io->capture_len = out_len;
  } else {
    free(out);
  }
  return 0;
}

int runc_simple(agent *a, cf_error *err, const char *arg0, ...) {
  const char *args[RUNC_MAX_ARGS];
  size_t n = 0;
  va_list ap;
  va_start(ap, arg0);
  for (const char *s = arg0; s && n + 1 < RUNC_MAX_ARGS; s = va_arg(ap, const char *))
    args[n++] = s;
  va_end(ap);
  args[n] = NULL;
  return runc_run(a, args, NULL, a->runc_timeout_ms, err);
}
