/* Stdio between containerd and the agent.
 *
 * containerd names each stream by a fifo path, `file:///path`, or
 * `binary:///path?args` (a logging binary that reads our output on its fds
 * 3 and 4 and closes fd 5 once ready). Output flows one chunk at a time:
 * the next ReadStdout goes to the agent only once the previous chunk is in
 * the fifo (back-pressure all the way to the container). stdin flows the
 * same way with WriteStdin. */
#include "stdio_pump.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/log.h"
#include "agent.pb-c.h"
#include "shim.h"
#include "pod.h"
#include "process.h"

#define OUT_CHUNK (32 * 1024)
#define IN_CHUNK (8 * 1024)
#define LOGGER_READY_MS 10000

static proc_ref *pref_new(shim *s, shim_proc *p, bool is_err) {
  proc_ref *r = shim_proc_ref_new(s, p);
  if (r)
    r->is_err = is_err;
  return r;
}

/* --------------------------------------------------------------- opening */

static int open_output_path(const char *path, bool *is_file, cf_error *err) {
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENXIO) /* no reader yet: keep the fifo ourselves */
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open stdio %s", path);
  struct stat st;
  *is_file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  return fd;
}

static int open_file_uri(const char *path, cf_error *err) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    mkdir(dir, 0755);
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    return cf_err(err, errno, "open log file %s", path);
  return fd;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void url_decode(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
      *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
      s += 2;
    } else {
      *o++ = *s == '+' ? ' ' : *s;
    }
  }
  *o = '\0';
}

/* binary:///path?k=v&k2 -> exec path k v k2, fds 3/4 = stdout/stderr, 5 = ready. */
static int spawn_logger(shim *s, shim_proc *p, const char *uri, cf_error *err) {
  char buf[PATH_MAX * 2];
  snprintf(buf, sizeof(buf), "%s", uri + strlen("binary://"));
  char *query = strchr(buf, '?');
  if (query)
    *query++ = '\0';
  url_decode(buf);
  if (buf[0] != '/')
    return cf_err_status(err, CF_INVALID_ARGUMENT, "binary log driver %s: path must be absolute", uri);
  char *argv[34] = {buf};
  int argc = 1;
  for (char *tok = query ? strtok(query, "&") : NULL; tok && argc < 31; tok = strtok(NULL, "&")) {
    char *eq = strchr(tok, '=');
    if (eq)
      *eq = '\0';
    url_decode(tok);
    argv[argc++] = tok;
    if (eq) {
      url_decode(eq + 1);
      argv[argc++] = eq + 1;
    }
  }
  argv[argc] = NULL;
  int out[2], errp[2], ready[2];
  if (pipe2(out, O_CLOEXEC) < 0)
    return cf_err(err, errno, "pipe");
  if (pipe2(errp, O_CLOEXEC) < 0) {
    close(out[0]);
    close(out[1]);
    return cf_err(err, errno, "pipe");
  }
  if (pipe2(ready, O_CLOEXEC) < 0) {
    close(out[0]); close(out[1]); close(errp[0]); close(errp[1]);
    return cf_err(err, errno, "pipe");
  }
  pid_t pid = fork();
  if (pid == 0) {
    int fds[3] = {out[0], errp[0], ready[1]};
    int tmp[3];
    for (int i = 0; i < 3; i++)
      tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
    for (int i = 0; i < 3; i++)
      dup2(tmp[i], 3 + i);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setenv("CONTAINER_ID", p->task->id, 1);
    setenv("CONTAINER_NAMESPACE", s->opts.ns, 1);
    execv(buf, argv);
    _exit(127);
  }
  int e = errno;
  close(out[0]);
  close(errp[0]);
  close(ready[1]);
  if (pid < 0) {
    close(out[1]); close(errp[1]); close(ready[0]);
    return cf_err(err, e, "fork log driver %s", buf);
  }
  /* The driver closes fd 5 (or exits) once it is ready to read. */
  struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
  int r = poll(&pfd, 1, LOGGER_READY_MS);
  char c;
  if (r > 0)
    (void)!read(ready[0], &c, 1);
  close(ready[0]);
  if (r <= 0)
    cf_warn("log driver %s not ready after %d ms", buf, LOGGER_READY_MS);
  fcntl(out[1], F_SETFL, O_NONBLOCK);
  fcntl(errp[1], F_SETFL, O_NONBLOCK);
  p->out.fd = out[1];
  p->err.fd = errp[1];
  return 0;
}

static int open_output(shim *s, shim_proc *p, const char *uri, out_pump *o, cf_error *err) {
  if (!uri) {
    o->done = true;
    return 0;
  }
  if (strncmp(uri, "file://", 7) == 0) {
    int fd = open_file_uri(uri + 7, err);
    if (fd < 0)
      return fd;
    o->fd = fd;
    o->is_file = true;
    return 0;
  }
  if (strncmp(uri, "fifo://", 7) == 0)
    uri += 7;
  int fd = open_output_path(uri, &o->is_file, err);
  if (fd < 0)
    return fd;
  o->fd = fd;
  return 0;
}

int shim_stdio_open(shim *s, shim_proc *p, cf_error *err) {
  if (p->stdin_path) {
    p->in.fd = open(p->stdin_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (p->in.fd < 0)
      return cf_err(err, errno, "open stdin %s", p->stdin_path);
  }
  if (p->stdout_path && strncmp(p->stdout_path, "binary://", 9) == 0) {
    if (spawn_logger(s, p, p->stdout_path, err) < 0)
      return -EIO;
    if (p->terminal) {
      close(p->err.fd);
      p->err.fd = -1;
      p->err.done = true;
    }
    return 0;
  }
  if (open_output(s, p, p->stdout_path, &p->out, err) < 0)
    return -EIO;
  if (p->terminal || !p->stderr_path) {
    p->err.done = true;
    return 0;
  }
  /* One file for both streams (e.g. file:// logs) is fine: O_APPEND. */
  return open_output(s, p, p->stderr_path, &p->err, err);
}

/* --------------------------------------------------------------- output */

static void read_more(shim *s, shim_proc *p, bool is_err);

static void close_output(out_pump *o);

static void finish_output(shim *s, shim_proc *p, out_pump *o) {
  close_output(o);
  o->done = true;
  shim_proc_maybe_report(s, p);
}

/* Write what is buffered; true when all of it is out (or dropped). */
static bool flush_output(out_pump *o) {
  while (o->off < o->len) {
    ssize_t n = write(o->fd, o->buf + o->off, o->len - o->off);
    if (n > 0) {
      o->off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return false;
    /* EPIPE: nobody reads right now (containerd restarting, ctr gone):
     * drop this chunk rather than hold the container's output forever. */
    o->off = o->len;
  }
  free(o->buf);
  o->buf = NULL;
  o->len = o->off = 0;
  return true;
}

static void on_writable(cf_loop *loop, int fd, uint32_t events, void *data) {
  proc_ref *r = data;
  shim_proc *p = shim_proc_find(r->s, r->id, r->exec_id);
  if (!p)
    return;
  out_pump *o = r->is_err ? &p->err : &p->out;
  if (!flush_output(o))
    return;
  shim *s = r->s;
  bool is_err = r->is_err;
  cf_loop_unwatch(o->w);
  o->w = NULL;
  o->ref = NULL;
  shim_proc_ref_free(r);
  if (o->done)
    return;
  read_more(s, p, is_err);
}

static void on_output(int status, const char *message, const uint8_t *payload, size_t len,
                      void *data) {
  proc_ref *r = data;
  shim *s = r->s;
  shim_proc *p = shim_proc_find(s, r->id, r->exec_id);
  if (!p) {
    shim_proc_ref_free(r);
    return;
  }
  out_pump *o = r->is_err ? &p->err : &p->out;
  o->reading = false;
  if (o->done) {
    shim_proc_ref_free(r);
    return;
  }
  if (status != CF_OK) {
    if (status != CF_UNAVAILABLE && status != CF_NOT_FOUND)
      cf_warn("reading %s of %s/%s: %s", r->is_err ? "stderr" : "stdout", r->id,
              *r->exec_id ? r->exec_id : "init", message);
    shim_proc_ref_free(r);
    if (status != CF_UNAVAILABLE) /* pod death abandons every pump itself */
      finish_output(s, p, o);
    return;
  }
  Coffer__Agent__V1__ReadOutputResponse *resp =
      coffer__agent__v1__read_output_response__unpack(NULL, len, payload);
  if (!resp) {
    shim_proc_ref_free(r);
    finish_output(s, p, o);
    return;
  }
  bool eof = resp->eof;
  if (resp->data.len > 0 && o->fd >= 0) {
    o->buf = resp->data.data; /* borrow: flushed or copied below */
    o->len = resp->data.len;
    o->off = 0;
    while (o->off < o->len) {
      ssize_t n = write(o->fd, o->buf + o->off, o->len - o->off);
      if (n > 0) {
        o->off += (size_t)n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        break;
      } else {
        o->off = o->len; /* EPIPE / error: drop the chunk */
      }
    }
    if (o->off < o->len) {
      size_t rest = o->len - o->off;
      uint8_t *copy = malloc(rest);
      if (copy)
        memcpy(copy, o->buf + o->off, rest);
      o->buf = copy;
      o->len = copy ? rest : 0;
      o->off = 0;
    } else {
      o->buf = NULL;
      o->len = o->off = 0;
    }
  }
  coffer__agent__v1__read_output_response__free_unpacked(resp, NULL);
  if (eof) {
    /* Finish writing what is buffered, then close. Regular files and the
     * rare remainder are written synchronously: the stream has ended. */
    if (o->len) {
      fcntl(o->fd, F_SETFL, 0);
      flush_output(o);
    }
    shim_proc_ref_free(r);
    finish_output(s, p, o);
    return;
  }
  bool is_err = r->is_err;
  if (o->len) {
    cf_error err = {0};
    o->w = cf_loop_watch(s->loop, o->fd, EPOLLOUT, on_writable, r, &err);
    if (o->w) {
      o->ref = r; /* owned by the watch now */
      return;
    }
    flush_output(o);
  }
  shim_proc_ref_free(r);
  read_more(s, p, is_err);
}

static void read_more(shim *s, shim_proc *p, bool is_err) {
  out_pump *o = is_err ? &p->err : &p->out;
  if (o->done || o->reading || o->len)
    return;
  proc_ref *r = pref_new(s, p, is_err);
  if (!r)
    return;
  Coffer__Agent__V1__ReadOutputRequest req = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  req.container_id = p->task->id;
  req.exec_id = p->exec_id;
  req.max_bytes = OUT_CHUNK;
  o->reading = true;
  shim_pod_agent_call(s, is_err ? "ReadStderr" : "ReadStdout", &req.base, 0, on_output, r);
}

void shim_stdio_start_output(shim *s, shim_proc *p) {
  if (p->out.fd < 0)
    p->out.done = true;
  if (p->err.fd < 0)
    p->err.done = true;
  read_more(s, p, false);
  read_more(s, p, true);
}

/* ---------------------------------------------------------------- input */

static void drive_input(shim *s, shim_proc *p);

static void on_stdin_written(int status, const char *message, const uint8_t *payload,
                             size_t len, void *data) {
  proc_ref *r = data;
  shim *s = r->s;
  shim_proc *p = shim_proc_find(s, r->id, r->exec_id);
  shim_proc_ref_free(r);
  if (!p)
    return;
  p->in.writing = false;
  if (status != CF_OK) {
    if (status != CF_UNAVAILABLE)
      cf_debug("stdin of %s/%s: %s", p->task->id, *p->exec_id ? p->exec_id : "init", message);
    p->in.eof = true;
  }
  drive_input(s, p);
}

static void on_stdin_closed(int status, const char *message, const uint8_t *payload,
                            size_t len, void *data) {
  proc_ref *r = data;
  shim_proc_ref_free(r);
}

static void send_close_stdin(shim *s, shim_proc *p) {
  if (p->in.close_sent)
    return;
  p->in.close_sent = true;
  proc_ref *r = pref_new(s, p, false);
  if (!r)
    return;
  Coffer__Agent__V1__ProcessRequest req = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  req.container_id = p->task->id;
  req.exec_id = p->exec_id;
  shim_pod_agent_call(s, "CloseStdin", &req.base, 10000, on_stdin_closed, r);
}

static void on_stdin_readable(cf_loop *loop, int fd, uint32_t events, void *data) {
  proc_ref *r = data;
  shim_proc *p = shim_proc_find(r->s, r->id, r->exec_id);
  if (p)
    drive_input(r->s, p);
}

static void stop_input_watch(shim_proc *p) {
  if (p->in.w) {
    cf_loop_unwatch(p->in.w);
    p->in.w = NULL;
  }
  if (p->in.ref) {
    shim_proc_ref_free(p->in.ref);
    p->in.ref = NULL;
  }
}

static void drive_input(shim *s, shim_proc *p) {
  in_pump *in = &p->in;
  if (in->writing)
    return;
  if (!in->eof && in->fd >= 0 && shim_pod_alive(s)) {
    uint8_t buf[IN_CHUNK];
    ssize_t n = read(in->fd, buf, sizeof(buf));
    if (n > 0) {
      proc_ref *r = pref_new(s, p, false);
      if (!r)
        return;
      Coffer__Agent__V1__WriteStdinRequest req = COFFER__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
      req.container_id = p->task->id;
      req.exec_id = p->exec_id;
      req.data.data = buf;
      req.data.len = (size_t)n;
      in->writing = true;
      if (in->w)
        cf_loop_watch_modify(in->w, 0, NULL);
      shim_pod_agent_call(s, "WriteStdin", &req.base, 0, on_stdin_written, r);
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && !in->close_requested) {
      if (in->w)
        cf_loop_watch_modify(in->w, EPOLLIN, NULL);
      return;
    }
    in->eof = true; /* 0: the writer closed; empty after CloseIO; error */
  }
  if (in->eof || in->close_requested) {
    in->eof = true;
    stop_input_watch(p);
    if (in->fd >= 0) {
      close(in->fd);
      in->fd = -1;
    }
    if (shim_pod_alive(s))
      send_close_stdin(s, p);
  }
}

void shim_stdio_start_input(shim *s, shim_proc *p) {
  if (p->in.fd < 0 || p->in.w)
    return;
  proc_ref *r = pref_new(s, p, false);
  if (!r)
    return;
  cf_error err = {0};
  p->in.w = cf_loop_watch(s->loop, p->in.fd, EPOLLIN, on_stdin_readable, r, &err);
  if (!p->in.w) {
    cf_warn("stdin of %s: %s", p->task->id, err.msg);
    shim_proc_ref_free(r);
    return;
  }
  p->in.ref = r;
}

void shim_stdio_close_stdin(shim *s, shim_proc *p) {
  /* Deliver what is already in the fifo, then EOF (drive_input sees the
   * request at the first empty read, also after an in-flight write). */
  p->in.close_requested = true;
  drive_input(s, p);
}

/* ---------------------------------------------------------------- teardown */

static void close_output(out_pump *o) {
  if (o->w) {
    cf_loop_unwatch(o->w);
    o->w = NULL;
  }
  if (o->ref) {
    shim_proc_ref_free(o->ref);
    o->ref = NULL;
  }
  free(o->buf);
  o->buf = NULL;
  o->len = o->off = 0;
  if (o->fd >= 0) {
    close(o->fd);
    o->fd = -1;
  }
}

void shim_stdio_close(shim *s, shim_proc *p) {
  close_output(&p->out);
  close_output(&p->err);
  stop_input_watch(p);
  if (p->in.fd >= 0) {
    close(p->in.fd);
    p->in.fd = -1;
  }
}

void shim_stdio_abandon(shim *s, shim_proc *p) {
  close_output(&p->out);
  close_output(&p->err);
  p->out.done = p->err.done = true;
}

bool shim_stdio_drained(const shim_proc *p) { return p->out.done && p->err.done; }
