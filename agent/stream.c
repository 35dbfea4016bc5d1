/* Process stdio: bounded output buffers read by parked ReadStdout/ReadStderr
 * calls, a queue of stdin writes answered once written, and the pty.
 *
 * Back-pressure instead of loss: when a stream's buffer holds
 * AGENT_OUTBUF_MAX bytes the agent stops reading its pipe, so the writer in
 * the container blocks until the shim reads. */

#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "process.h"

static void outbuf_readable(cf_loop *loop, int fd, uint32_t events, void *data);

void agent_outbuf_init(outbuf *ob, proc *p, int fd) {
  memset(ob, 0, sizeof(*ob));
  ob->proc = p;
  ob->fd = fd;
  ob->eof = fd < 0;
}

static agent *ob_agent(outbuf *ob) { return ob->proc->c->a; }

int agent_outbuf_start(agent *a, outbuf *ob, cf_error *err) {
  if (ob->fd < 0 || ob->watch)
    return 0;
  fcntl(ob->fd, F_SETFL, fcntl(ob->fd, F_GETFL) | O_NONBLOCK);
  ob->watch = cf_loop_watch(a->loop, ob->fd, EPOLLIN, outbuf_readable, ob, err);
  return ob->watch ? 0 : -EIO;
}

static void outbuf_close(outbuf *ob) {
  if (ob->watch)
    cf_loop_unwatch(ob->watch);
  ob->watch = NULL;
  if (ob->fd >= 0)
    close(ob->fd);
  ob->fd = -1;
  ob->eof = true;
}

/* Answer the parked reader if there is data or the stream ended. */
static void outbuf_serve(outbuf *ob) {
  size_t avail = ob->len - ob->head;
  if (!ob->reader || (avail == 0 && !ob->eof))
    return;
  size_t n = avail < ob->reader_max ? avail : ob->reader_max;
  Coffer__Agent__V1__ReadOutputResponse resp = COFFER__AGENT__V1__READ_OUTPUT_RESPONSE__INIT;
  resp.data.data = n ? ob->data + ob->head : NULL;
  resp.data.len = n;
  resp.eof = ob->eof && n == avail;
  ttrpc_call *call = ob->reader;
  ob->reader = NULL;
  ttrpc_call_reply(call, &resp.base);
  ob->head += n;
  if (ob->data && ob->head == ob->len) { /* empty: give the memory back */
    free(ob->data);
    ob->data = NULL;
    ob->head = ob->len = ob->cap = 0;
  }
}

/* Read what the pipe holds, up to the bound; pause when full. */
static void outbuf_fill(outbuf *ob) {
  while (ob->fd >= 0) {
    size_t used = ob->len - ob->head;
    if (used >= AGENT_OUTBUF_MAX) {
      if (ob->watch)
        cf_loop_unwatch(ob->watch);
      ob->watch = NULL; /* back-pressure: resumed by the next read */
      break;
    }
    if (ob->head && ob->len == ob->cap) {
      memmove(ob->data, ob->data + ob->head, used);
      ob->len = used;
      ob->head = 0;
    }
    if (ob->len == ob->cap) {
      size_t ncap = ob->cap ? ob->cap * 2 : 16384;
      if (ncap > AGENT_OUTBUF_MAX)
        ncap = AGENT_OUTBUF_MAX;
      uint8_t *n = realloc(ob->data, ncap);
      if (!n)
        break;
      ob->data = n;
      ob->cap = ncap;
    }
    size_t room = ob->cap - ob->len;
    if (room > AGENT_OUTBUF_MAX - used)
      room = AGENT_OUTBUF_MAX - used;
    ssize_t r = read(ob->fd, ob->data + ob->len, room);
    if (r > 0) {
      ob->len += (size_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      break;
    outbuf_close(ob); /* EOF, or EIO: the pty's last slave closed */
  }
  if (ob->len == ob->head && ob->data && !ob->reader) {
    free(ob->data);
    ob->data = NULL;
    ob->head = ob->len = ob->cap = 0;
  }
}

static void outbuf_readable(cf_loop *loop, int fd, uint32_t events, void *data) {
  outbuf *ob = data;
  outbuf_fill(ob);
  outbuf_serve(ob);
  if (ob->eof)
    agent_proc_check_done(ob_agent(ob), ob->proc);
}

static void outbuf_reader_cancel(ttrpc_call *call, void *data) {
  outbuf *ob = data;
  if (ob->reader == call)
    ob->reader = NULL;
  ttrpc_call_reply_status(call, CF_CANCELLED, "connection closed");
}

void agent_outbuf_read(agent *a, outbuf *ob, ttrpc_call *call, uint32_t max) {
  if (ob->reader) {
    ttrpc_call_reply_status(call, CF_FAILED_PRECONDITION,
                            "process %s/%s: a read of this stream is already pending",
                            ob->proc->c->id, ob->proc->exec_id);
    return;
  }
  ob->reader = call;
  ob->reader_max = max ? (max > AGENT_OUTBUF_MAX ? AGENT_OUTBUF_MAX : max) : AGENT_READ_DEFAULT;
  outbuf_serve(ob);
  if (!ob->reader)
    goto resume;
  ttrpc_call_on_cancel(call, outbuf_reader_cancel, ob);
resume:
  /* room again: resume reading a paused stream */
  if (ob->fd >= 0 && !ob->watch && ob->len - ob->head < AGENT_OUTBUF_MAX) {
    cf_error err = {0};
    outbuf_fill(ob);
    if (ob->fd >= 0 && ob->len - ob->head < AGENT_OUTBUF_MAX)
      if (agent_outbuf_start(a, ob, &err) < 0)
        cf_warn("process %s: %s", ob->proc->c->id, err.msg);
    outbuf_serve(ob);
    if (ob->eof)
      agent_proc_check_done(a, ob->proc);
  }
}

void agent_outbuf_free(outbuf *ob) {
  if (ob->reader) {
    ttrpc_call *call = ob->reader;
    ob->reader = NULL;
    ttrpc_call_reply_status(call, CF_NOT_FOUND, "process %s/%s was removed",
                            ob->proc->c->id, ob->proc->exec_id);
  }
  outbuf_close(ob);
  free(ob->data);
  ob->data = NULL;
  ob->head = ob->len = ob->cap = 0;
}

/* ------------------------------------------------------------------ stdin */

static void stdin_writable(cf_loop *loop, int fd, uint32_t events, void *data);

static void stdin_req_done(stdin_req *r, int status, const char *msg) {
  if (r->call) {
    if (status == CF_OK) {
      Coffer__Agent__V1__WriteStdinResponse resp = COFFER__AGENT__V1__WRITE_STDIN_RESPONSE__INIT;
      resp.written = (uint32_t)r->len;
      ttrpc_call_reply(r->call, &resp.base);
    } else {
      ttrpc_call_reply_status(r->call, status, "%s", msg);
    }
  }
  free(r->data);
  free(r);
}

static void stdin_do_close(proc *p) {
  if (p->stdin_watch)
    cf_loop_unwatch(p->stdin_watch);
  p->stdin_watch = NULL;
  if (p->stdin_fd >= 0) {
    if (p->terminal) {
      char eot = 4; /* ^D: EOF for a reader on a canonical-mode tty */
      ssize_t w = write(p->stdin_fd, &eot, 1);
      (void)w;
    }
    close(p->stdin_fd);
  }
  p->stdin_fd = -1;
  p->stdin_close_pending = false;
}

static void stdin_fail_all(proc *p, int status, const char *msg) {
  while (p->stdin_head) {
    stdin_req *r = p->stdin_head;
    p->stdin_head = r->next;
    stdin_req_done(r, status, msg);
  }
  p->stdin_tail = NULL;
  p->stdin_queued = 0;
}

static void stdin_flush(agent *a, proc *p) {
  while (p->stdin_head) {
    stdin_req *r = p->stdin_head;
    while (r->off < r->len) {
      ssize_t w = write(p->stdin_fd, r->data + r->off, r->len - r->off);
      if (w > 0) {
        r->off += (size_t)w;
        continue;
      }
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EAGAIN) {
        if (!p->stdin_watch) {
          cf_error err = {0};
          p->stdin_watch = cf_loop_watch(a->loop, p->stdin_fd, EPOLLOUT, stdin_writable, p, &err);
        }
        return;
      }
      char msg[256];
      snprintf(msg, sizeof(msg), "process %s/%s: stdin: %s", p->c->id, p->exec_id,
               strerror(w < 0 ? errno : EPIPE));
      stdin_fail_all(p, CF_FAILED_PRECONDITION, msg);
      stdin_do_close(p);
      return;
    }
    p->stdin_head = r->next;
    if (!p->stdin_head)
      p->stdin_tail = NULL;
    p->stdin_queued -= r->len;
    stdin_req_done(r, CF_OK, NULL);
  }
  if (p->stdin_watch)
    cf_loop_unwatch(p->stdin_watch);
  p->stdin_watch = NULL;
  if (p->stdin_close_pending)
    stdin_do_close(p);
}

static void stdin_writable(cf_loop *loop, int fd, uint32_t events, void *data) {
  proc *p = data;
  stdin_flush(p->c->a, p);
}

static void stdin_cancel(ttrpc_call *call, void *data) {
  stdin_req *r = data;
  r->call = NULL; /* the bytes were accepted: they are still written */
  ttrpc_call_reply_status(call, CF_CANCELLED, "connection closed");
}

int agent_stdin_write(agent *a, proc *p, ttrpc_call *call, const uint8_t *data, size_t len,
                cf_error *err) {
  if (p->stdin_fd < 0 || p->stdin_close_pending)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "process %s/%s has no open stdin", p->c->id, p->exec_id);
  if (len > AGENT_STDIN_MAX || p->stdin_queued + len > AGENT_STDIN_MAX)
    return cf_err_status(err, CF_RESOURCE_EXHAUSTED,
                         "process %s/%s: more than %u stdin bytes pending", p->c->id,
                         p->exec_id, AGENT_STDIN_MAX);
  stdin_req *r = calloc(1, sizeof(*r));
  if (!r || (len && !(r->data = malloc(len)))) {
    free(r);
    return cf_err(err, ENOMEM, "stdin of %s", p->c->id);
  }
  if (len)
    memcpy(r->data, data, len);
  r->len = len;
  r->call = call;
  if (p->stdin_tail)
    p->stdin_tail->next = r;
  else
    p->stdin_head = r;
  p->stdin_tail = r;
  p->stdin_queued += len;
  ttrpc_call_on_cancel(call, stdin_cancel, r);
  stdin_flush(a, p);
  return 0;
}

int agent_stdin_close(agent *a, proc *p, cf_error *err) {
  if (p->stdin_fd < 0)
    return 0;
  if (p->stdin_head)
    p->stdin_close_pending = true;
  else
    stdin_do_close(p);
  return 0;
}

void agent_stdin_free(proc *p) {
  char msg[300];
  snprintf(msg, sizeof(msg), "process %s/%s was removed", p->c->id, p->exec_id);
  stdin_fail_all(p, CF_NOT_FOUND, msg);
  p->stdin_close_pending = false;
  if (p->stdin_watch)
    cf_loop_unwatch(p->stdin_watch);
  p->stdin_watch = NULL;
  if (p->stdin_fd >= 0)
    close(p->stdin_fd);
  p->stdin_fd = -1;
}

/* -------------------------------------------------------------------- pty */

int agent_pty_resize(proc *p, unsigned w, unsigned h, cf_error *err) {
  if (!p->terminal || p->pty_fd < 0)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "process %s/%s has no terminal",
                         p->c->id, p->exec_id);
  if (w == 0 || h == 0 || w > 65535 || h > 65535)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "window size %ux%u is not valid", w, h);
  struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
  if (ioctl(p->pty_fd, TIOCSWINSZ, &ws) < 0)
    return cf_err(err, errno, "resize terminal of %s/%s", p->c->id, p->exec_id);
  return 0;
}

int agent_console_recv_fd(int conn, cf_error *err) {
  char name[4096];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof(u.buf)};
  ssize_t r;
  do
    r = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return cf_err(err, errno, "receive the console fd");
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int)))
    return cf_err_status(err, CF_INTERNAL, "console socket: no fd received");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}
