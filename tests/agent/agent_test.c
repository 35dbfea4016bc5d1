/* coffer-agent against real runc and a busybox rootfs, as a host process.
 * Usage: agent_test AGENT_BIN CASE   (one ctest per case). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <termios.h>
#include <time.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "coffer/transport.h"
#include "harness.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static harness H;
static char msg[1024];

/* ------------------------------------------------------- output and exits */

static void test_output(void) {
  CHECK(h_create(&H, "out", ARGS("sh", "-c", "echo hello; echo oops >&2"), NULL, NULL, msg,
                 sizeof(msg)) == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "out", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  int st = h_wait(&H, "out", "");
  char *out = h_read_all(&H, "out", "", false, NULL);
  char *err = h_read_all(&H, "out", "", true, NULL);
  CHECK(st == 0, "exit status %d", st);
  CHECK(!strcmp(out, "hello\n"), "stdout \"%s\"", out);
  CHECK(!strcmp(err, "oops\n"), "stderr \"%s\"", err);
  free(out);
  free(err);
  CHECK(h_remove(&H, "out", false) == CF_OK, "remove");

  /* 588895 bytes, more than a pipe holds: waiting first, then reading,
   * still gets every byte (the exit is reported after the output drained) */
  CHECK(h_create(&H, "big", ARGS("seq", "1", "100000"), NULL, NULL, msg, sizeof(msg)) == CF_OK,
        "%s", msg);
  CHECK(h_start(&H, "big", msg, sizeof(msg)) == CF_OK, "%s", msg);
  Coffer__Agent__V1__ProcessRequest pr = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  pr.container_id = "big";
  pr.exec_id = "";
  ProtobufCMessage *resp = NULL;
  CHECK(h_call(&H, "WaitProcess", &pr.base, &coffer__agent__v1__wait_process_response__descriptor,
               &resp, msg, sizeof(msg)) == CF_OK, "wait: %s", msg);
  Coffer__Agent__V1__WaitProcessResponse *w = (Coffer__Agent__V1__WaitProcessResponse *)resp;
  time_t now = time(NULL);
  CHECK(w->exit_status == 0 && w->exited_at && w->exited_at->seconds > now - 60 &&
        w->exited_at->seconds <= now && w->pid > 0, "wait reply: status %u, exited_at %ld, pid %u",
        w->exit_status, w->exited_at ? (long)w->exited_at->seconds : 0L, w->pid);
  protobuf_c_message_free_unpacked(resp, NULL);
  size_t n;
  out = h_read_all(&H, "big", "", false, &n);
  CHECK(n == 588895, "seq 1 100000 gave %zu bytes", n);
  CHECK(!strncmp(out, "1\n2\n", 4) && !strcmp(out + n - 7, "100000\n"), "content");
  free(out);
  CHECK(h_remove(&H, "big", false) == CF_OK, "remove");
}

static void test_exit_codes(void) {
  CHECK(h_create(&H, "seven", ARGS("sh", "-c", "exit 7"), NULL, NULL, msg, sizeof(msg)) == CF_OK,
        "%s", msg);
  CHECK(h_start(&H, "seven", msg, sizeof(msg)) == CF_OK, "%s", msg);
  int st = h_wait(&H, "seven", "");
  CHECK(st == 7, "sh -c 'exit 7' gave %d", st);
  /* a second wait on an exited process answers at once, same status */
  CHECK(h_wait(&H, "seven", "") == 7, "second wait");

  CHECK(h_create(&H, "killed", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "killed", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_signal(&H, "killed", "", SIGKILL) == CF_OK, "kill");
  st = h_wait(&H, "killed", "");
  CHECK(st == 137, "SIGKILL gave %d", st);
  /* signalling a finished process: NOT_FOUND */
  CHECK(h_signal(&H, "killed", "", SIGTERM) == CF_NOT_FOUND, "signal after exit");
  CHECK(h_remove(&H, "seven", false) == CF_OK && h_remove(&H, "killed", false) == CF_OK, "remove");
}

/* --------------------------------------------------------------- stdin */

typedef struct pump {
  harness *h;
  size_t received;
  unsigned long sum;        /* position-weighted checksum of what came back */
  bool eof, failed, waiting;
} pump;

static void pump_read(pump *p);

static void on_pump_read(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
  pump *p = d;
  p->waiting = false;
  if (status != CF_OK) {
    fprintf(stderr, "read failed: %s\n", m);
    p->failed = true;
    return;
  }
  Coffer__Agent__V1__ReadOutputResponse *r =
      coffer__agent__v1__read_output_response__unpack(NULL, len, payload);
  for (size_t i = 0; i < r->data.len; i++)
    p->sum += (unsigned long)r->data.data[i] * ((p->received + i) % 251 + 1);
  p->received += r->data.len;
  p->eof = r->eof;
  coffer__agent__v1__read_output_response__free_unpacked(r, NULL);
  if (!p->eof)
    pump_read(p);
}

static void pump_read(pump *p) {
  Coffer__Agent__V1__ReadOutputRequest r = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  r.container_id = "cat";
  r.exec_id = "";
  r.max_bytes = 100000;
  cf_error err = {0};
  p->waiting = true;
  ttrpc_client_call(p->h->cli, "coffer.agent.v1.Agent", "ReadStdout", &r.base, 0, on_pump_read, p,
                    &err);
}

/* Keeps up to 4 writes of 96 KiB in flight, like a shim forwarding a fifo. */
typedef struct feeder {
  harness *h;
  size_t sent, total, chunk;
  int in_flight, failed;
  uint8_t *buf;
} feeder;

static void feed(feeder *f);

static void on_written(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
  feeder *f = d;
  f->in_flight--;
  if (status != CF_OK) {
    fprintf(stderr, "write failed: %s\n", m);
    f->failed++;
    return;
  }
  feed(f);
}

static void feed(feeder *f) {
  while (f->in_flight < 4 && f->sent < f->total) {
    size_t n = f->total - f->sent < f->chunk ? f->total - f->sent : f->chunk;
    Coffer__Agent__V1__WriteStdinRequest r = COFFER__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
    r.container_id = "cat";
    r.exec_id = "";
    r.data.data = f->buf + f->sent;
    r.data.len = n;
    cf_error err = {0};
    CHECK(ttrpc_client_call(f->h->cli, "coffer.agent.v1.Agent", "WriteStdin", &r.base, 0,
                            on_written, f, &err) == 0, "%s", err.msg);
    f->sent += n;
    f->in_flight++;
  }
}

static void test_stdin_echo(void) {
  spec_opts o = {.in = true};
  CHECK(h_create(&H, "cat", ARGS("cat"), &o, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "cat", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_write(&H, "cat", "", "ping\n", 5) == CF_OK, "write");

  /* 4 MiB while nobody reads: the agent buffers 1 MiB of output, then stops
   * reading cat, cat stops reading stdin, and the writes park. Reading
   * everything back afterwards proves no byte was lost. */
  enum { TOTAL = 4 << 20 };
  feeder f = {.h = &H, .total = TOTAL + 5, .chunk = 96 << 10, .buf = malloc(TOTAL + 5)};
  memcpy(f.buf, "ping\n", 5);
  f.sent = 5;
  unsigned long want = 0;
  for (size_t i = 5; i < TOTAL + 5; i++)
    f.buf[i] = (uint8_t)(i * 7 + 3);
  for (size_t i = 0; i < TOTAL + 5; i++)
    want += (unsigned long)f.buf[i] * (i % 251 + 1);
  feed(&f);
  bool never = false;
  cf_loop_run_until(H.loop, &never, 500);
  size_t stalled_at = f.sent;
  CHECK(f.in_flight > 0 && f.sent < f.total, "all 4 MiB accepted although nothing was read");
  printf("writes stalled after %zu bytes with nothing read\n", stalled_at);
  /* other calls still go through while writes are parked */
  CHECK(h_call(&H, "Check", NULL, &coffer__agent__v1__check_response__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "health while writes are parked: %s", msg);

  pump p = {.h = &H};
  pump_read(&p);
  uint64_t deadline = cf_now_ms() + 20000;
  bool closed = false;
  while (!p.eof && !p.failed && !f.failed && cf_now_ms() < deadline) {
    cf_loop_run_until(H.loop, &never, 20);
    if (f.sent == f.total && f.in_flight == 0 && !closed) {
      closed = true;
      CHECK(h_close_stdin(&H, "cat", "") == CF_OK, "close stdin");
    }
  }
  CHECK(f.failed == 0, "%d writes failed", f.failed);
  CHECK(p.eof, "no EOF after CloseStdin (received %zu)", p.received);
  CHECK(p.received == TOTAL + 5, "received %zu of %d bytes", p.received, TOTAL + 5);
  CHECK(p.sum == want, "content differs");
  free(f.buf);
  CHECK(h_wait(&H, "cat", "") == 0, "cat exit status");
  /* stdin after close */
  CHECK(h_write(&H, "cat", "", "x", 1) == CF_FAILED_PRECONDITION, "write after close");
  CHECK(h_remove(&H, "cat", false) == CF_OK, "remove");
}

/* ------------------------------------------------------------------ tty */

static void test_tty_resize(void) {
  spec_opts o = {.terminal = true, .in = true};
  CHECK(h_create(&H, "tty", ARGS("sh", "-c", "read line; stty size; echo got:$line"), &o, NULL,
                 msg, sizeof(msg)) == CF_OK, "%s", msg);
  Coffer__Agent__V1__ResizeTtyRequest r = COFFER__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
  r.container_id = "tty";
  r.exec_id = "";
  r.width = 123;
  r.height = 45;
  CHECK(h_call(&H, "ResizeTty", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "resize: %s", msg);
  CHECK(h_start(&H, "tty", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_write(&H, "tty", "", "hi\n", 3) == CF_OK, "write");
  CHECK(h_wait(&H, "tty", "") == 0, "exit");
  char *out = h_read_all(&H, "tty", "", false, NULL);
  CHECK(strstr(out, "45 123"), "stty size did not see the resize: \"%s\"", out);
  CHECK(strstr(out, "got:hi"), "tty input not seen: \"%s\"", out);
  free(out);
  /* terminal mode has no separate stderr: EOF at once */
  size_t n;
  free(h_read_all(&H, "tty", "", true, &n));
  CHECK(n == 0, "stderr in tty mode");
  r.width = 0;
  CHECK(h_call(&H, "ResizeTty", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_INVALID_ARGUMENT, "0 columns accepted");
  CHECK(h_remove(&H, "tty", false) == CF_OK, "remove");
}

/* ----------------------------------------------------------------- exec */

typedef struct waiter {
  bool done;
  int status;
  uint32_t exit_status;
} waiter;

static void on_wait(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
  waiter *w = d;
  w->status = status;
  if (status == CF_OK) {
    Coffer__Agent__V1__WaitProcessResponse *r =
        coffer__agent__v1__wait_process_response__unpack(NULL, len, payload);
    w->exit_status = r->exit_status;
    coffer__agent__v1__wait_process_response__free_unpacked(r, NULL);
  }
  w->done = true;
}

static void wait_async(ttrpc_client *cli, const char *id, const char *eid, waiter *w) {
  Coffer__Agent__V1__ProcessRequest r = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  cf_error err = {0};
  CHECK(ttrpc_client_call(cli, "coffer.agent.v1.Agent", "WaitProcess", &r.base, 0, on_wait, w,
                          &err) == 0, "%s", err.msg);
}

static void test_exec(void) {
  CHECK(h_create(&H, "box", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_exec(&H, "box", "e0", ARGS("true"), false, false, msg, sizeof(msg)) ==
        CF_FAILED_PRECONDITION, "exec before start: %s", msg);
  CHECK(h_start(&H, "box", msg, sizeof(msg)) == CF_OK, "%s", msg);
  /* a parked wait on the init does not stall anything below */
  waiter init_wait = {0};
  wait_async(H.cli, "box", "", &init_wait);

  CHECK(h_exec(&H, "box", "e1", ARGS("sh", "-c", "echo from-exec $$; echo e >&2; exit 3"), false,
               false, msg, sizeof(msg)) == CF_OK, "exec: %s", msg);
  CHECK(h_wait(&H, "box", "e1") == 3, "exec exit status");
  char *out = h_read_all(&H, "box", "e1", false, NULL);
  char *err = h_read_all(&H, "box", "e1", true, NULL);
  CHECK(!strncmp(out, "from-exec ", 10), "exec stdout \"%s\"", out);
  CHECK(!strcmp(err, "e\n"), "exec stderr \"%s\"", err);
  free(out);
  free(err);
  /* containerd reuses an exec id after deleting the exec: a finished,
   * fully read exec makes way */
  CHECK(h_exec(&H, "box", "e1", ARGS("sh", "-c", "exit 4"), false, false, msg, sizeof(msg)) == CF_OK,
        "reusing the id of a finished exec: %s", msg);
  CHECK(h_wait(&H, "box", "e1") == 4, "reused exec id status");

  CHECK(h_exec(&H, "box", "e2", ARGS("sleep", "100"), false, false, msg, sizeof(msg)) == CF_OK,
        "%s", msg);
  CHECK(h_exec(&H, "box", "e2", ARGS("true"), false, false, msg, sizeof(msg)) == CF_ALREADY_EXISTS,
        "duplicate id of a running exec: %s", msg);
  Coffer__Agent__V1__ContainerRequest cr = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  cr.container_id = "box";
  ProtobufCMessage *resp = NULL;
  CHECK(h_call(&H, "ListProcesses", &cr.base, &coffer__agent__v1__list_processes_response__descriptor,
               &resp, msg, sizeof(msg)) == CF_OK, "ps: %s", msg);
  Coffer__Agent__V1__ListProcessesResponse *ps = (Coffer__Agent__V1__ListProcessesResponse *)resp;
  bool saw_e2 = false;
  for (size_t i = 0; i < ps->n_processes; i++)
    saw_e2 |= !strcmp(ps->processes[i]->exec_id, "e2");
  CHECK(ps->n_processes >= 2 && saw_e2, "ps lists %zu processes, e2 %s", ps->n_processes,
        saw_e2 ? "seen" : "missing");
  protobuf_c_message_free_unpacked(resp, NULL);

  Coffer__Agent__V1__ProcessRequest pr = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  pr.container_id = "box";
  pr.exec_id = "e2";
  CHECK(h_call(&H, "RemoveProcess", &pr.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_FAILED_PRECONDITION, "removing a running exec: %s", msg);
  CHECK(h_signal(&H, "box", "e2", SIGKILL) == CF_OK, "kill exec");
  CHECK(h_wait(&H, "box", "e2") == 137, "exec killed status");
  CHECK(h_call(&H, "RemoveProcess", &pr.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "remove exec: %s", msg);
  CHECK(h_wait(&H, "box", "e2") == -CF_NOT_FOUND, "removed exec still known");

  /* a terminal exec */
  CHECK(h_exec(&H, "box", "t1", ARGS("tty"), true, false, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_wait(&H, "box", "t1") == 0, "tty exec status");
  out = h_read_all(&H, "box", "t1", false, NULL);
  CHECK(strstr(out, "/dev/pts/"), "tty exec output \"%s\"", out);
  free(out);

  CHECK(!init_wait.done, "init wait answered while running");
  /* all=true reaches every process of the container */
  CHECK(h_exec(&H, "box", "e3", ARGS("sleep", "100"), false, false, msg, sizeof(msg)) == CF_OK,
        "%s", msg);
  Coffer__Agent__V1__SignalProcessRequest sa = COFFER__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
  sa.container_id = "box";
  sa.exec_id = "e3";
  sa.signal = SIGKILL;
  sa.all = true;
  CHECK(h_call(&H, "SignalProcess", &sa.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_INVALID_ARGUMENT, "all=true on an exec: %s", msg);
  sa.exec_id = "";
  CHECK(h_call(&H, "SignalProcess", &sa.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "kill --all: %s", msg);
  CHECK(h_wait(&H, "box", "e3") == 137, "the exec survived kill --all");
  cf_loop_run_until(H.loop, &init_wait.done, 10000);
  CHECK(init_wait.done && init_wait.status == CF_OK && init_wait.exit_status == 137,
        "init wait: done %d status %d exit %u", init_wait.done, init_wait.status,
        init_wait.exit_status);
  CHECK(h_remove(&H, "box", false) == CF_OK, "remove");
}

/* An exec whose background child keeps stdout open: the exit is still
 * reported (after the drain timeout), and the output so far is readable. */
static void test_exit_with_output_held_open(void) {
  CHECK(h_create(&H, "hold", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "hold", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_exec(&H, "hold", "bg", ARGS("sh", "-c", "sleep 60 & echo parent-done; exit 2"), false,
               false, msg, sizeof(msg)) == CF_OK, "%s", msg);
  uint64_t t0 = cf_now_ms();
  int st = h_wait(&H, "hold", "bg");
  uint64_t took = cf_now_ms() - t0;
  CHECK(st == 2, "exit status %d", st);
  CHECK(took >= 2000 && took < 6000, "exit reported after %lu ms (drain timeout 3 s)", (unsigned long)took);
  Coffer__Agent__V1__ReadOutputRequest r = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  r.container_id = "hold";
  r.exec_id = "bg";
  ProtobufCMessage *resp = NULL;
  CHECK(h_call(&H, "ReadStdout", &r.base, &coffer__agent__v1__read_output_response__descriptor,
               &resp, msg, sizeof(msg)) == CF_OK, "read: %s", msg);
  Coffer__Agent__V1__ReadOutputResponse *o = (Coffer__Agent__V1__ReadOutputResponse *)resp;
  CHECK(o->data.len == 12 && !memcmp(o->data.data, "parent-done\n", 12) && !o->eof,
        "output %zu bytes, eof %d", o->data.len, o->eof);
  protobuf_c_message_free_unpacked(resp, NULL);
  printf("exit reported %lu ms after the exec was waited for\n", (unsigned long)took);
  CHECK(h_remove(&H, "hold", true) == CF_OK, "remove");
}

/* A shim that never calls RemoveProcess: finished execs are bounded (128). */
static void test_finished_execs_are_bounded(void) {
  CHECK(h_create(&H, "probe", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "probe", msg, sizeof(msg)) == CF_OK, "%s", msg);
  int fds = h_fd_count(H.agent_pid);
  char id[32];
  for (int i = 0; i < 140; i++) {
    snprintf(id, sizeof(id), "x%d", i);
    CHECK(h_exec(&H, "probe", id, ARGS("true"), false, false, msg, sizeof(msg)) == CF_OK, "%s: %s", id, msg);
    CHECK(h_wait(&H, "probe", id) == 0, "%s", id);
  }
  CHECK(h_wait(&H, "probe", "x0") == -CF_NOT_FOUND, "the oldest finished exec is still kept");
  CHECK(h_wait(&H, "probe", "x139") == 0, "the newest exec was forgotten");
  CHECK(h_fd_count(H.agent_pid) == fds, "fds grew: %d -> %d", fds, h_fd_count(H.agent_pid));
  CHECK(h_remove(&H, "probe", true) == CF_OK, "remove");
}

/* --------------------------------------------------------- pause/resume */

typedef struct counter {
  harness *h;
  size_t bytes;
  bool failed;
} counter;

static void counter_read(counter *c);

static void on_counter(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
  counter *c = d;
  if (status != CF_OK) {
    c->failed = true;
    return;
  }
  Coffer__Agent__V1__ReadOutputResponse *r =
      coffer__agent__v1__read_output_response__unpack(NULL, len, payload);
  c->bytes += r->data.len;
  bool eof = r->eof;
  coffer__agent__v1__read_output_response__free_unpacked(r, NULL);
  if (!eof)
    counter_read(c);
}

static void counter_read(counter *c) {
  Coffer__Agent__V1__ReadOutputRequest r = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  r.container_id = "ticker";
  r.exec_id = "";
  cf_error err = {0};
  ttrpc_client_call(c->h->cli, "coffer.agent.v1.Agent", "ReadStdout", &r.base, 0, on_counter, c,
                    &err);
}

static void run_ms(int ms) {
  bool never = false;
  cf_loop_run_until(H.loop, &never, ms);
}

static void test_pause_resume(void) {
  CHECK(h_create(&H, "ticker", ARGS("sh", "-c", "while true; do echo tick; usleep 20000; done"),
                 NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "ticker", msg, sizeof(msg)) == CF_OK, "%s", msg);
  counter c = {.h = &H};
  counter_read(&c);
  run_ms(300);
  CHECK(c.bytes > 0, "no ticks before pause");
  Coffer__Agent__V1__ContainerRequest r = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  r.container_id = "ticker";
  CHECK(h_call(&H, "PauseContainer", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "pause: %s", msg);
  run_ms(100); /* what was in flight */
  size_t at_pause = c.bytes;
  run_ms(500);
  CHECK(c.bytes == at_pause, "a paused container advanced: %zu -> %zu bytes", at_pause, c.bytes);
  CHECK(h_exec(&H, "ticker", "ex", ARGS("true"), false, false, msg, sizeof(msg)) != CF_OK,
        "exec into a paused container succeeded");
  CHECK(h_call(&H, "ResumeContainer", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "resume: %s", msg);
  run_ms(400);
  CHECK(c.bytes > at_pause, "no ticks after resume");
  CHECK(h_call(&H, "ResumeContainer", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) != CF_OK, "resuming a running container succeeded");
  CHECK(strlen(msg) > 0, "runc's error text is missing");
  printf("resume of a running container: %s\n", msg);
  CHECK(h_remove(&H, "ticker", false) == CF_FAILED_PRECONDITION, "removing a running container");
  CHECK(h_remove(&H, "ticker", true) == CF_OK, "force remove");
  run_ms(100);
}

/* ---------------------------------------------------------- stats + OOM */

static void test_stats(void) {
  CHECK(h_create(&H, "st", ARGS("sh", "-c", "x=$(seq 1 20000); sleep 100"), NULL, NULL, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "st", msg, sizeof(msg)) == CF_OK, "%s", msg);
  h_sleep_ms(200);
  Coffer__Agent__V1__ContainerRequest r = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  r.container_id = "st";
  ProtobufCMessage *resp = NULL;
  CHECK(h_call(&H, "StatsContainer", &r.base, &coffer__agent__v1__stats_container_response__descriptor,
               &resp, msg, sizeof(msg)) == CF_OK, "stats: %s", msg);
  Coffer__Agent__V1__StatsContainerResponse *s = (Coffer__Agent__V1__StatsContainerResponse *)resp;
  CHECK(s->memory && s->memory->usage && s->memory->usage->usage > 0, "memory usage is 0");
  CHECK(s->cpu && s->cpu->usage_total_ns > 0, "cpu usage is 0");
  CHECK(s->pids && s->pids->current >= 1, "pids.current %lu",
        s->pids ? (unsigned long)s->pids->current : 0UL);
  CHECK(s->cgroup_version == 1 || s->cgroup_version == 2, "cgroup version %u", s->cgroup_version);
  CHECK(s->memory->n_stats > 0, "no memory.stat counters");
  printf("stats: memory %lu bytes, cpu %lu ns, pids %lu, cgroup v%u\n",
         (unsigned long)s->memory->usage->usage, (unsigned long)s->cpu->usage_total_ns,
         (unsigned long)s->pids->current, s->cgroup_version);
  protobuf_c_message_free_unpacked(resp, NULL);

  /* UpdateContainer: a memory limit shows up in the next stats */
  const char *res = "{\"memory\":{\"limit\":67108864,\"swap\":67108864}}";
  Coffer__Agent__V1__UpdateContainerRequest u = COFFER__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
  u.container_id = "st";
  u.resources.data = (uint8_t *)res;
  u.resources.len = strlen(res);
  CHECK(h_call(&H, "UpdateContainer", &u.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "update: %s", msg);
  CHECK(h_call(&H, "StatsContainer", &r.base, &coffer__agent__v1__stats_container_response__descriptor,
               &resp, msg, sizeof(msg)) == CF_OK, "stats: %s", msg);
  s = (Coffer__Agent__V1__StatsContainerResponse *)resp;
  CHECK(s->memory->usage->limit == 67108864, "limit after update: %lu",
        (unsigned long)s->memory->usage->limit);
  protobuf_c_message_free_unpacked(resp, NULL);
  u.resources.data = (uint8_t *)"[1,2]";
  u.resources.len = 5;
  CHECK(h_call(&H, "UpdateContainer", &u.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_INVALID_ARGUMENT, "update with a JSON array: %s", msg);
  CHECK(h_remove(&H, "st", true) == CF_OK, "remove");
}

/* Replies are numbered in arrival order, so a test can prove an OOM event
 * came before the exit of the process it killed. Static: a GetOOMEvent
 * still pending at teardown is answered (cancelled) after the test. */
static int reply_seq;

typedef struct oom_wait {
  bool done;
  int status, seq;
  char id[160];
} oom_wait;

static void on_oom(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
  oom_wait *o = d;
  o->status = status;
  o->seq = ++reply_seq;
  if (status == CF_OK) {
    Coffer__Agent__V1__OOMEvent *e = coffer__agent__v1__oomevent__unpack(NULL, len, payload);
    snprintf(o->id, sizeof(o->id), "%s", e ? e->container_id : "(undecodable)");
    if (e)
      coffer__agent__v1__oomevent__free_unpacked(e, NULL);
  }
  o->done = true;
}

typedef struct exit_wait {
  bool done;
  int status, seq, code;
} exit_wait;

static void on_exit_reply(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
  exit_wait *w = d;
  w->status = status;
  w->seq = ++reply_seq;
  if (status == CF_OK) {
    Coffer__Agent__V1__WaitProcessResponse *r =
        coffer__agent__v1__wait_process_response__unpack(NULL, len, payload);
    w->code = r ? (int)r->exit_status : -1;
    if (r)
      coffer__agent__v1__wait_process_response__free_unpacked(r, NULL);
  }
  w->done = true;
}

static void oom_call(oom_wait *o) {
  cf_error err = {0};
  memset(o, 0, sizeof(*o));
  CHECK(ttrpc_client_call(H.cli, "coffer.agent.v1.Agent", "GetOOMEvent", NULL, 0, on_oom, o,
                          &err) == 0, "%s", err.msg);
}

static void wait_call(const char *id, const char *eid, exit_wait *w) {
  cf_error err = {0};
  Coffer__Agent__V1__ProcessRequest r = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  memset(w, 0, sizeof(*w));
  CHECK(ttrpc_client_call(H.cli, "coffer.agent.v1.Agent", "WaitProcess", &r.base, 0,
                          on_exit_reply, w, &err) == 0, "%s", err.msg);
}

/* Exactly one OOM event per OOM kill, always before the killed process's
 * exit: for a container's init and for an exec (whose exit v1's early
 * notification used to beat). */
static void test_oom(void) {
  static oom_wait o, extra;
  static exit_wait w;
  oom_call(&o);
  spec_opts so = {.memory_limit = 16 << 20};
  /* doubling a shell string: ~16 MiB within a few doublings */
  CHECK(h_create(&H, "hog", ARGS("sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"),
                 &so, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  wait_call("hog", "", &w);
  CHECK(h_start(&H, "hog", msg, sizeof(msg)) == CF_OK, "%s", msg);
  cf_loop_run_until(H.loop, &w.done, 15000);
  CHECK(w.done && w.status == CF_OK && w.code == 137, "init: wait status %d, exit %d", w.status,
        w.code);
  CHECK(o.done && o.status == CF_OK, "init: no OOM event before its exit (status %d)", o.status);
  CHECK(!strcmp(o.id, "hog"), "OOM event for \"%s\"", o.id);
  CHECK(o.seq < w.seq, "init: OOM event (#%d) after the exit (#%d)", o.seq, w.seq);
  CHECK(h_remove(&H, "hog", false) == CF_OK, "remove");

  CHECK(h_create(&H, "hog2", ARGS("sleep", "100"), &so, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "hog2", msg, sizeof(msg)) == CF_OK, "%s", msg);
  for (int i = 0; i < 3; i++) {
    char eid[16];
    snprintf(eid, sizeof(eid), "e%d", i);
    oom_call(&o);
    CHECK(h_exec(&H, "hog2", eid,
                 ARGS("sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"), false,
                 false, msg, sizeof(msg)) == CF_OK, "%s", msg);
    wait_call("hog2", eid, &w);
    cf_loop_run_until(H.loop, &w.done, 15000);
    CHECK(w.done && w.status == CF_OK && w.code == 137, "exec %s: wait status %d, exit %d", eid,
          w.status, w.code);
    CHECK(o.done && o.status == CF_OK && !strcmp(o.id, "hog2"),
          "exec %s: no OOM event before its exit (status %d, id \"%s\")", eid, o.status, o.id);
    CHECK(o.seq < w.seq, "exec %s: OOM event (#%d) after the exit (#%d)", eid, o.seq, w.seq);
  }
  /* exactly one per kill: nothing more comes (v1 rechecks run ~1.2 s) */
  oom_call(&extra);
  run_ms(1500);
  CHECK(!extra.done, "a second OOM event for \"%s\" after a single kill", extra.id);
  CHECK(h_remove(&H, "hog2", true) == CF_OK, "remove");
}

/* ------------------------------------------------------- pod namespaces */

static void ns_link(uint32_t pid, const char *ns, char *buf, size_t cap) {
  char p[64];
  snprintf(p, sizeof(p), "/proc/%u/ns/%s", pid, ns);
  ssize_t n = readlink(p, buf, cap - 1);
  buf[n > 0 ? n : 0] = '\0';
}

static void test_pod_shares_ipc(void) {
  uint32_t p1, p2;
  spec_opts sb = {.annotation_type = "sandbox"};
  CHECK(h_create(&H, "pause", ARGS("sleep", "100"), &sb, &p1, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "pause", msg, sizeof(msg)) == CF_OK, "%s", msg);
  spec_opts app = {.annotation_type = "container"};
  CHECK(h_create(&H, "app", ARGS("sleep", "100"), &app, &p2, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "app", msg, sizeof(msg)) == CF_OK, "%s", msg);
  char a[64], b[64], self[64];
  ns_link(p1, "ipc", a, sizeof(a));
  ns_link(p2, "ipc", b, sizeof(b));
  ns_link((uint32_t)getpid(), "ipc", self, sizeof(self));
  CHECK(a[0] && !strcmp(a, b), "ipc namespaces differ: %s vs %s", a, b);
  CHECK(strcmp(a, self), "the pod shares the host's ipc namespace");
  ns_link(p1, "uts", a, sizeof(a));
  ns_link(p2, "uts", b, sizeof(b));
  CHECK(a[0] && !strcmp(a, b), "uts namespaces differ: %s vs %s", a, b);
  ns_link(p1, "pid", a, sizeof(a));
  ns_link(p2, "pid", b, sizeof(b));
  CHECK(strcmp(a, b), "pid namespace shared although not asked");
  /* the container cgroups sit under the pod's cgroup parent */
  char cg[256];
  struct stat st;
  snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory%s/app", H.cgroup_parent);
  if (h_builtin) /* the agent's own cgroup2 mount is this hierarchy */
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/unified%s/app", H.cgroup_parent);
  else if (stat("/sys/fs/cgroup/memory", &st) != 0)
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup%s/app", H.cgroup_parent);
  CHECK(stat(cg, &st) == 0, "no pod cgroup %s", cg);
  CHECK(h_remove(&H, "app", true) == CF_OK && h_remove(&H, "pause", true) == CF_OK, "remove");
}

/* ------------------------------------------------------------- cycles */

static void test_create_remove_cycles(void) {
  char id[32];
  long rss_before = 0;
  int fds_before = 0;
  for (int i = 0; i < 220; i++) {
    if (i == 20) { /* after warm-up: allocator pools, lazily opened files */
      fds_before = h_fd_count(H.agent_pid);
      rss_before = h_proc_status_kb(H.agent_pid, "RssAnon");
    }
    snprintf(id, sizeof(id), "cycle-%d", i);
    CHECK(h_create(&H, id, ARGS("echo", "x"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s: %s", id, msg);
    CHECK(h_start(&H, id, msg, sizeof(msg)) == CF_OK, "%s: %s", id, msg);
    CHECK(h_wait(&H, id, "") == 0, "%s exit", id);
    if (i % 2) { /* half of them read their output, half leave it buffered */
      char *out = h_read_all(&H, id, "", false, NULL);
      CHECK(!strcmp(out, "x\n"), "%s output \"%s\"", id, out);
      free(out);
    }
    CHECK(h_remove(&H, id, false) == CF_OK, "%s remove", id);
  }
  int fds_after = h_fd_count(H.agent_pid);
  /* no zombie children left behind either */
  char cmd[200], zombies[64] = "";
  snprintf(cmd, sizeof(cmd), "ps -o ppid=,stat= --ppid %d | grep -c Z", (int)H.agent_pid);
  FILE *zf = popen(cmd, "r");
  if (zf && fgets(zombies, sizeof(zombies), zf))
    CHECK(atoi(zombies) == 0, "%d zombie children of the agent", atoi(zombies));
  if (zf)
    pclose(zf);
  long rss_after = h_proc_status_kb(H.agent_pid, "RssAnon");
  printf("200 cycles: fds %d -> %d, RssAnon %ld -> %ld kB\n", fds_before, fds_after, rss_before,
         rss_after);
  CHECK(fds_after == fds_before, "fd count grew: %d -> %d", fds_before, fds_after);
#ifndef AGENT_UNDER_SANITIZER
  CHECK(rss_after - rss_before < 200, "RssAnon grew by %ld kB", rss_after - rss_before);
#else
  printf("sanitizer build: RssAnon not checked (ASan quarantines freed memory); LeakSanitizer checks the agent at exit\n");
#endif
  char path[300];
  snprintf(path, sizeof(path), "%s/bundles", H.state);
  int left = 0;
  DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d)))
    left += e->d_name[0] != '.';
  if (d)
    closedir(d);
  CHECK(left == 0, "%d bundles left behind", left);
}

/* ------------------------------------------------------------ bad input */

static void expect(int got, int want, const char *what) {
  CHECK(got == want, "%s: got %s, want %s (%s)", what, cf_status_name(got), cf_status_name(want), msg);
  printf("ok  %-48s %s: %s\n", what, cf_status_name(got), msg);
}

static int create_raw(const char *id, const char *spec, size_t len, int kind, const char *src) {
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  rf.kind = kind;
  rf.source = (char *)src;
  rf.fstype = kind == 2 ? "erofs" : "";
  req.container_id = (char *)id;
  req.spec.data = (uint8_t *)spec;
  req.spec.len = len;
  req.rootfs = &rf;
  return h_call(&H, "CreateContainer", &req.base,
                &coffer__agent__v1__create_container_response__descriptor, NULL, msg, sizeof(msg));
}

static void test_bad_input(void) {
  char *good = h_spec(&H, ARGS("sleep", "100"), NULL);
  size_t gl = strlen(good);
  Coffer__Agent__V1__ContainerRequest cr = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;

  /* ids */
  const char *bad_ids[] = {"", "../x", "a b", "-lead", "x/y", ".hidden", "a\nb"};
  for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
    char what[64];
    snprintf(what, sizeof(what), "create with id \"%s\"", bad_ids[i]);
    expect(create_raw(bad_ids[i], good, gl, 0, H.rootfs), CF_INVALID_ARGUMENT, what);
  }
  char longid[200];
  memset(longid, 'a', 129);
  longid[129] = '\0';
  expect(create_raw(longid, good, gl, 0, H.rootfs), CF_INVALID_ARGUMENT, "create with a 129-char id");

  /* specs */
  expect(create_raw("s1", "not json", 8, 0, H.rootfs), CF_INVALID_ARGUMENT, "spec not JSON");
  expect(create_raw("s1", "[1]", 3, 0, H.rootfs), CF_INVALID_ARGUMENT, "spec a JSON array");
  expect(create_raw("s1", "{\"process\":", 11, 0, H.rootfs), CF_INVALID_ARGUMENT, "spec truncated");
  expect(create_raw("s1", "{}", 2, 0, H.rootfs), CF_INVALID_ARGUMENT, "spec without process");
  const char *noargs = "{\"process\":{\"args\":[],\"cwd\":\"/\"},\"root\":{\"path\":\"x\"}}";
  expect(create_raw("s1", noargs, strlen(noargs), 0, H.rootfs), CF_INVALID_ARGUMENT, "spec with empty args");
  const char *relcwd = "{\"process\":{\"args\":[\"sh\"],\"cwd\":\"rel\"}}";
  expect(create_raw("s1", relcwd, strlen(relcwd), 0, H.rootfs), CF_INVALID_ARGUMENT, "spec with relative cwd");
  const char *badmnt = "{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"mounts\":[{\"destination\":\"/a/../../etc\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}]}";
  expect(create_raw("s1", badmnt, strlen(badmnt), 0, H.rootfs), CF_INVALID_ARGUMENT, "mount destination with ..");
  size_t big = (1u << 20) + 1;
  char *huge = malloc(big);
  memset(huge, ' ', big);
  huge[0] = '{';
  huge[big - 1] = '}';
  expect(create_raw("s1", huge, big, 0, H.rootfs), CF_INVALID_ARGUMENT, "spec over 1 MiB");
  free(huge);

  /* rootfs */
  expect(create_raw("r1", good, gl, 0, "relative/path"), CF_INVALID_ARGUMENT, "HOST_PATH relative");
  char esc[300];
  snprintf(esc, sizeof(esc), "%s/../../etc", H.rootfs);
  expect(create_raw("r1", good, gl, 0, esc), CF_INVALID_ARGUMENT, "HOST_PATH with ..");
  expect(create_raw("r1", good, gl, 0, "/nonexistent/rootfs"), CF_NOT_FOUND, "HOST_PATH missing");
  expect(create_raw("r1", good, gl, 1, "../etc"), CF_INVALID_ARGUMENT, "VIRTIOFS escaping");
  expect(create_raw("r1", good, gl, 1, "/etc"), CF_INVALID_ARGUMENT, "VIRTIOFS absolute");
  expect(create_raw("r1", good, gl, 2, "../sda"), CF_INVALID_ARGUMENT, "BLOCK bad serial");
  expect(create_raw("r1", good, gl, 2, "no-such-serial"), CF_NOT_FOUND, "BLOCK unknown serial");
  expect(create_raw("r1", good, gl, 7, H.rootfs), CF_INVALID_ARGUMENT, "unknown rootfs kind");
  /* nothing of the failed creates is left */
  char path[300];
  snprintf(path, sizeof(path), "%s/bundles/r1", H.state);
  struct stat st;
  CHECK(stat(path, &st) < 0, "bundle of a failed create left behind");

  /* unknown ids, duplicates */
  cr.container_id = "nope";
  expect(h_call(&H, "StartContainer", &cr.base, &coffer__agent__v1__start_container_response__descriptor,
                NULL, msg, sizeof(msg)), CF_NOT_FOUND, "start unknown container");
  expect(-h_wait(&H, "nope", ""), CF_NOT_FOUND, "wait unknown container");
  expect(h_call(&H, "StatsContainer", &cr.base, &coffer__agent__v1__stats_container_response__descriptor,
                NULL, msg, sizeof(msg)), CF_NOT_FOUND, "stats unknown container");
  cr.container_id = "../../etc";
  expect(h_call(&H, "PauseContainer", &cr.base, &google__protobuf__empty__descriptor, NULL, msg,
                sizeof(msg)), CF_INVALID_ARGUMENT, "pause with a bad id");
  CHECK(h_create(&H, "dup", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  expect(h_create(&H, "dup", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)), CF_ALREADY_EXISTS,
         "create duplicate id");
  expect(-h_wait(&H, "dup", "nope"), CF_NOT_FOUND, "wait unknown exec");
  expect(h_start(&H, "dup", msg, sizeof(msg)), CF_OK, "start");
  expect(h_start(&H, "dup", msg, sizeof(msg)), CF_FAILED_PRECONDITION, "start twice");

  /* signals */
  expect(h_signal(&H, "dup", "", 0), CF_INVALID_ARGUMENT, "signal 0");
  expect(h_signal(&H, "dup", "", 65), CF_INVALID_ARGUMENT, "signal 65");
  expect(h_signal(&H, "dup", "nope", SIGTERM), CF_NOT_FOUND, "signal unknown exec");

  /* a sandbox twice */
  Coffer__Agent__V1__CreateSandboxRequest sb = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  sb.sandbox_id = "again";
  expect(h_call(&H, "CreateSandbox", &sb.base, &google__protobuf__empty__descriptor, NULL, msg,
                sizeof(msg)), CF_ALREADY_EXISTS, "second CreateSandbox");

  /* malformed protobuf in every method */
  static const char *methods[] = {
      "CreateSandbox", "DestroySandbox", "CreateContainer", "StartContainer", "RemoveContainer",
      "ExecProcess", "RemoveProcess", "SignalProcess", "WaitProcess", "WriteStdin", "CloseStdin",
      "ReadStdout", "ReadStderr", "ResizeTty", "PauseContainer", "ResumeContainer",
      "UpdateContainer", "StatsContainer", "ListProcesses", "GetOOMEvent", "GetGuestDetails"};
  const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    char what[64];
    snprintf(what, sizeof(what), "%s with a malformed payload", methods[i]);
    expect(h_call_bytes(&H, methods[i], garbage, sizeof(garbage), msg, sizeof(msg)),
           CF_INVALID_ARGUMENT, what);
  }
  expect(h_call_bytes(&H, "NoSuchMethod", NULL, 0, msg, sizeof(msg)), CF_UNIMPLEMENTED, "unknown method");

  /* the runtime's own error text comes through (runc's is UNKNOWN to us;
   * the built-in runtime knows what it means) */
  int want = h_builtin ? CF_NOT_FOUND : CF_UNKNOWN;
  expect(h_create(&H, "nobin", ARGS("/no/such/binary"), NULL, NULL, msg, sizeof(msg)) == CF_OK
             ? h_start(&H, "nobin", msg, sizeof(msg)) : want,
         want, "runtime failure on a missing binary");
  CHECK(strcasestr(msg, "no such file") || strstr(msg, "not found"), "the runtime's message is missing: %s", msg);
  h_remove(&H, "nobin", true);

  /* a client that goes away with parked calls does not disturb the agent */
  {
    cf_error err = {0};
    char addr[220];
    snprintf(addr, sizeof(addr), "unix:%s", H.sock);
    int fd = cf_transport_connect(addr, 2000, &err);
    ttrpc_client *c2 = ttrpc_client_new(H.loop, fd, &err);
    static waiter w, w2; /* replies may come after this block */
    wait_async(c2, "dup", "", &w);
    Coffer__Agent__V1__ReadOutputRequest rr = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
    rr.container_id = "dup";
    rr.exec_id = "";
    ttrpc_client_call(c2, "coffer.agent.v1.Agent", "ReadStdout", &rr.base, 0, on_wait, &w, &err);
    run_ms(100);
    ttrpc_client_free(c2);
    run_ms(100);
    /* the read parked by the dead client is gone: a new one is accepted */
    ttrpc_client_call(H.cli, "coffer.agent.v1.Agent", "ReadStdout", &rr.base, 0, on_wait, &w2, &err);
    run_ms(100);
    CHECK(!w2.done || w2.status == CF_OK, "read after a dead reader: status %d", w2.status);
  }
  expect(h_call(&H, "Check", NULL, &coffer__agent__v1__check_response__descriptor, NULL, msg,
                sizeof(msg)), CF_OK, "agent still healthy");
  CHECK(kill(H.agent_pid, 0) == 0, "the agent died");
  CHECK(h_remove(&H, "dup", true) == CF_OK, "remove");
  free(good);
}

/* A guest-mode agent never takes host paths: HOST_PATH rootfs refused, a
 * bind of a host path that the shim did not share refused naming the mount
 * (never silently dropped), hooks dropped, shared mounts from the share. */
static void test_guest_rejects_host_paths(void) {
  char *good = h_spec(&H, ARGS("true"), NULL);
  expect(create_raw("g1", good, strlen(good), 0, H.rootfs), CF_INVALID_ARGUMENT,
         "HOST_PATH in guest mode");
  free(good);
  char path[400];
  snprintf(path, sizeof(path), "cp -a %s %s/share/c1 && mkdir -p %s/share/vol && echo shared-data > %s/share/vol/f",
           H.rootfs, H.dir, H.dir, H.dir);
  CHECK(system(path) == 0, "prepare share");
  char *spec_txt = h_spec(&H, ARGS("sh", "-c", "cat /data/f; ls /hostbind 2>&1 | head -1; cat /etc/resolv.conf /etc/hosts"), NULL);
  json_object *s = json_tokener_parse(spec_txt);
  free(spec_txt);
  json_object *mounts, *m = json_object_new_object(), *opts = json_object_new_array(),
              *hooks = json_object_new_object(), *pre = json_object_new_array(),
              *hook = json_object_new_object();
  json_object_object_get_ex(s, "mounts", &mounts);
  size_t hostbind_idx = json_object_array_length(mounts);
  json_object_object_add(m, "destination", json_object_new_string("/hostbind"));
  json_object_object_add(m, "type", json_object_new_string("bind"));
  json_object_object_add(m, "source", json_object_new_string("/nonexistent/host/dir"));
  json_object_array_add(opts, json_object_new_string("rbind"));
  json_object_object_add(m, "options", opts);
  json_object_array_add(mounts, m);
  /* CRI's resolv.conf bind from a host path: the guest's file replaces it */
  json_object *rm = json_object_new_object(), *ropts = json_object_new_array();
  json_object_object_add(rm, "destination", json_object_new_string("/etc/resolv.conf"));
  json_object_object_add(rm, "type", json_object_new_string("bind"));
  json_object_object_add(rm, "source", json_object_new_string("/var/lib/containerd/nope/resolv.conf"));
  json_object_array_add(ropts, json_object_new_string("rbind"));
  json_object_object_add(rm, "options", ropts);
  json_object_array_add(mounts, rm);
  json_object *hm = json_object_new_object();
  json_object_object_add(hm, "destination", json_object_new_string("/etc/hosts"));
  json_object_object_add(hm, "type", json_object_new_string("bind"));
  json_object_object_add(hm, "source", json_object_new_string("/var/lib/containerd/nope/hosts"));
  json_object_array_add(mounts, hm);
  json_object_object_add(hook, "path", json_object_new_string("/nonexistent/hook"));
  json_object_array_add(pre, hook);
  json_object_object_add(hooks, "prestart", pre);
  json_object_object_add(s, "hooks", hooks);
  const char *txt = json_object_to_json_string(s);
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT, vol = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__SharedMount sm = COFFER__AGENT__V1__SHARED_MOUNT__INIT, *smp = &sm;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  rf.kind = vol.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  rf.source = "c1";
  vol.source = "vol";
  sm.destination = "/data";
  sm.source = &vol;
  st.stdout = st.stderr = true;
  req.container_id = "g2";
  req.spec.data = (uint8_t *)txt;
  req.spec.len = strlen(txt);
  req.rootfs = &rf;
  req.stdio = &st;
  req.mounts = &smp;
  req.n_mounts = 1;
  CHECK(h_call(&H, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
               NULL, msg, sizeof(msg)) == CF_INVALID_ARGUMENT && strstr(msg, "/hostbind") &&
            strstr(msg, "/nonexistent/host/dir"),
        "an unshared host bind must fail the create naming it: %s", msg);
  json_object_array_del_idx(mounts, hostbind_idx, 1);
  txt = json_object_to_json_string(s);
  req.spec.data = (uint8_t *)txt;
  req.spec.len = strlen(txt);
  CHECK(h_call(&H, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
               NULL, msg, sizeof(msg)) == CF_OK, "create in guest mode: %s", msg);
  json_object_put(s);
  CHECK(h_start(&H, "g2", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_wait(&H, "g2", "") == 0, "exit");
  char *out = h_read_all(&H, "g2", "", false, NULL);
  CHECK(!strncmp(out, "shared-data\n", 12), "shared mount content \"%s\"", out);
  CHECK(strstr(out, "No such file"), "/hostbind exists in the container: \"%s\"", out);
  CHECK(strstr(out, "nameserver 10.9.8.7\n"), "pod resolv.conf not in the container: \"%s\"", out);
  CHECK(strstr(out, "10.1.2.3\tdb.pod\tdb\n"), "pod hosts not in the container: \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "g2", false) == CF_OK, "remove");

  /* a namespace path not belonging to a container of this pod */
  char *sp = h_spec(&H, ARGS("true"), NULL);
  json_object *o = json_tokener_parse(sp), *lx, *nss, *ne = json_object_new_object();
  free(sp);
  json_object_object_get_ex(o, "linux", &lx);
  json_object_object_get_ex(lx, "namespaces", &nss);
  json_object_object_add(ne, "type", json_object_new_string("cgroup"));
  json_object_object_add(ne, "path", json_object_new_string("/proc/1/ns/cgroup"));
  json_object_array_add(nss, ne);
  const char *t2 = json_object_to_json_string(o);
  expect(create_raw("g3", t2, strlen(t2), 1, "c1"), CF_INVALID_ARGUMENT,
         "namespace path of a process outside the pod");
  json_object_put(o);
}

/* VIRTIOFS rootfs: a path inside the share (a plain directory here). */
static void test_rootfs_virtiofs(void) {
  char share[256], pod[300], link[300];
  snprintf(share, sizeof(share), "%s/share", H.dir);
  snprintf(pod, sizeof(pod), "%s/pod", share);
  mkdir(share, 0755);
  mkdir(pod, 0755);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "cp -a %s %s/c1", H.rootfs, pod);
  CHECK(system(cmd) == 0, "copy rootfs");
  snprintf(link, sizeof(link), "%s/evil", pod);
  CHECK(symlink("/", link) == 0, "symlink");
  char *spec = h_spec(&H, ARGS("sh", "-c", "echo via-share"), NULL);
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.stdout = true;
  rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  rf.source = "pod/c1";
  req.container_id = "vfs";
  req.spec.data = (uint8_t *)spec;
  req.spec.len = strlen(spec);
  req.rootfs = &rf;
  req.stdio = &st;
  CHECK(h_call(&H, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
               NULL, msg, sizeof(msg)) == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "vfs", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_wait(&H, "vfs", "") == 0, "exit");
  char *out = h_read_all(&H, "vfs", "", false, NULL);
  CHECK(!strcmp(out, "via-share\n"), "output \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "vfs", false) == CF_OK, "remove");
  expect(create_raw("v2", spec, strlen(spec), 1, "pod/evil"), CF_INVALID_ARGUMENT,
         "VIRTIOFS symlink leading out of the share");
  free(spec);
}

/* BLOCK rootfs, found by its serial: a read-only erofs image gets a
 * writable overlay (tmpfs upper), an ext4 image is mounted as is. Loop
 * devices stand in for virtio-blk disks; --block-dir maps their serials. */
static char loops[2][64];

static void block_cleanup(void) {
  char cmd[128];
  for (int i = 0; i < 2; i++)
    if (loops[i][0]) {
      snprintf(cmd, sizeof(cmd), "losetup -d %s 2>/dev/null", loops[i]);
      if (system(cmd) != 0)
        fprintf(stderr, "losetup -d %s failed\n", loops[i]);
    }
}

static void test_rootfs_block(void) {
  char *spec0 = h_spec(&H, ARGS("sh", "-c", "echo written > /new && cat /new && test -x /bin/busybox && echo ok"), NULL);
  json_object *so = json_tokener_parse(spec0), *root;
  free(spec0);
  json_object_object_get_ex(so, "root", &root);
  json_object_object_add(root, "readonly", json_object_new_boolean(0)); /* runc spec says true */
  char *spec = strdup(json_object_to_json_string(so));
  json_object_put(so);
  const char *kinds[2] = {"erofs", "ext4"};
  for (int i = 0; i < 2; i++) {
    char id[16], serial[32];
    snprintf(id, sizeof(id), "blk-%s", kinds[i]);
    snprintf(serial, sizeof(serial), "serial-%s", kinds[i]);
    Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
    Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
    Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
    st.stdout = st.stderr = true;
    rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__BLOCK;
    rf.source = serial;
    rf.fstype = (char *)kinds[i];
    rf.readonly = i == 0;
    req.container_id = id;
    req.spec.data = (uint8_t *)spec;
    req.spec.len = strlen(spec);
    req.rootfs = &rf;
    req.stdio = &st;
    CHECK(h_call(&H, "CreateContainer", &req.base,
                 &coffer__agent__v1__create_container_response__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "create on %s: %s", kinds[i], msg);
    CHECK(h_start(&H, id, msg, sizeof(msg)) == CF_OK, "%s", msg);
    CHECK(h_wait(&H, id, "") == 0, "%s exit", id);
    char *out = h_read_all(&H, id, "", false, NULL);
    CHECK(!strcmp(out, "written\nok\n"), "%s output \"%s\"", id, out);
    free(out);
    CHECK(h_remove(&H, id, false) == CF_OK, "remove");
  }
  free(spec);
  /* nothing stays mounted under the test dir */
  char line[512];
  FILE *f = fopen("/proc/self/mounts", "re");
  int left = 0;
  while (f && fgets(line, sizeof(line), f))
    left += strstr(line, H.dir) != NULL;
  if (f)
    fclose(f);
  CHECK(left == 0, "%d mounts left under %s", left, H.dir);
  char *good = h_spec(&H, ARGS("true"), NULL);
  expect(create_raw("blk-x", good, strlen(good), 2, "serial-missing"), CF_NOT_FOUND, "BLOCK serial not present");
  free(good);
}

/* DestroySandbox removes every container (and the agent exits when asked). */
static void test_destroy_sandbox(void) {
  CHECK(h_create(&H, "d1", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "d1", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_create(&H, "d2", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  waiter w = {0};
  wait_async(H.cli, "d1", "", &w);
  Coffer__Agent__V1__DestroySandboxRequest r = COFFER__AGENT__V1__DESTROY_SANDBOX_REQUEST__INIT;
  r.grace_ms = 300;
  uint64_t t0 = cf_now_ms();
  CHECK(h_call(&H, "DestroySandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "destroy: %s", msg);
  printf("destroy with grace took %lu ms\n", (unsigned long)(cf_now_ms() - t0));
  cf_loop_run_until(H.loop, &w.done, 5000);
  CHECK(w.done, "the wait on d1 was not answered");
  CHECK(w.status == CF_NOT_FOUND || (w.status == CF_OK && w.exit_status == 143),
        "wait on d1: status %d exit %u", w.status, w.exit_status);
  expect(-h_wait(&H, "d2", ""), CF_NOT_FOUND, "container after destroy");
  expect(h_create(&H, "d3", ARGS("true"), NULL, NULL, msg, sizeof(msg)), CF_FAILED_PRECONDITION,
         "create after destroy");
  char cg[256];
  struct stat cst;
  snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory%s", H.cgroup_parent);
  if (stat("/sys/fs/cgroup/memory", &cst) != 0)
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup%s", H.cgroup_parent);
  CHECK(stat(cg, &cst) != 0, "the pod cgroup %s is left after destroy", cg);
  char out[4096] = "";
  snprintf(msg, sizeof(msg), "runc --root %s/runc list -q", H.state);
  FILE *f = popen(msg, "r");
  size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
  out[n] = '\0';
  if (f)
    pclose(f);
  CHECK(n == 0, "runc still lists: %s", out);
}

/* coffer-agent-ctl against the agent: output, exit code, exec, stats. */
static void test_ctl(const char *ctl_bin) {
  char bundle[256], cmd[1200], out[4096];
  snprintf(bundle, sizeof(bundle), "%s/bundle", H.dir);
  mkdir(bundle, 0755);
  char *spec = h_spec(&H, ARGS("sh", "-c", "echo ctl-hello; exit 5"), NULL);
  snprintf(cmd, sizeof(cmd), "%s/config.json", bundle);
  FILE *f = fopen(cmd, "w");
  fputs(spec, f);
  fclose(f);
  free(spec);
  snprintf(cmd, sizeof(cmd), "ln -s %s %s/rootfs", H.rootfs, bundle);
  CHECK(system(cmd) == 0, "link rootfs");
  snprintf(cmd, sizeof(cmd), "%s --addr unix:%s run c1 --bundle %s; echo rc=$?", ctl_bin, H.sock, bundle);
  f = popen(cmd, "r");
  size_t n = fread(out, 1, sizeof(out) - 1, f);
  out[n] = '\0';
  pclose(f);
  CHECK(!strcmp(out, "ctl-hello\nrc=5\n"), "ctl run printed \"%s\"", out);
  CHECK(h_create(&H, "c2", ARGS("sleep", "100"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "c2", msg, sizeof(msg)) == CF_OK, "%s", msg);
  snprintf(cmd, sizeof(cmd),
           "A='--addr unix:%s'; %s $A exec c2 e1 -- sh -c 'echo in-exec'; echo rc=$?; "
           "%s $A stats c2 | grep -c '^memory.usage [1-9]'; %s $A kill c2 KILL; %s $A wait c2; "
           "%s $A rm c2; echo rm=$?",
           H.sock, ctl_bin, ctl_bin, ctl_bin, ctl_bin, ctl_bin);
  f = popen(cmd, "r");
  n = fread(out, 1, sizeof(out) - 1, f);
  out[n] = '\0';
  pclose(f);
  CHECK(!strcmp(out, "in-exec\nrc=0\n1\n137\nrm=0\n"), "ctl printed \"%s\"", out);
}

/* A virtio-serial port, simulated by a pty: the agent serves the slave
 * (a character device it opens by path), the test talks on the master. */
static void test_serial_transport(void) {
  CHECK(h_call(&H, "Check", NULL, &coffer__agent__v1__check_response__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "health over serial: %s", msg);
  CHECK(h_create(&H, "ser", ARGS("sh", "-c", "seq 1 20000"), NULL, NULL, msg, sizeof(msg)) == CF_OK,
        "%s", msg);
  CHECK(h_start(&H, "ser", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_wait(&H, "ser", "") == 0, "exit");
  size_t n;
  free(h_read_all(&H, "ser", "", false, &n));
  CHECK(n == 108894, "output over serial: %zu bytes", n);
  CHECK(h_remove(&H, "ser", false) == CF_OK, "remove");
}

/* PID 1 mode, in a new pid/mount/uts namespace (unshare): the agent mounts
 * the guest file systems (privately), sets the hostname, and "powers off"
 * on DestroySandbox (reboot() in a pid namespace ends its init). */
static void test_pid1_mode(void) {
  ProtobufCMessage *resp = NULL;
  CHECK(h_call(&H, "GetGuestDetails", NULL, &coffer__agent__v1__guest_details__descriptor, &resp,
               msg, sizeof(msg)) == CF_OK, "details: %s", msg);
  CHECK(((Coffer__Agent__V1__GuestDetails *)resp)->pid1, "the agent does not run as PID 1");
  protobuf_c_message_free_unpacked(resp, NULL);
  Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  r.sandbox_id = H.sandbox;
  r.cgroup_parent = H.cgroup_parent;
  r.hostname = "coffer-pid1-test";
  char *evil[] = {"1.1.1.1\nnameserver 6.6.6.6"};
  r.dns_servers = evil;
  r.n_dns_servers = 1;
  expect(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                sizeof(msg)), CF_INVALID_ARGUMENT, "DNS server with a line break");
  r.hostname = "bad host";
  r.n_dns_servers = 0;
  expect(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                sizeof(msg)), CF_INVALID_ARGUMENT, "hostname with a space");
  r.hostname = "coffer-pid1-test";
  CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "%s", msg);
  char cmd[400], out[1024] = "";
  /* mounts the agent made: lines of its mount table that ours lacks */
  snprintf(cmd, sizeof(cmd),
           "P=$(cut -d' ' -f1 /proc/%d/task/%d/children); nsenter -t $P -u hostname; "
           "grep -vxFf /proc/self/mounts /proc/$P/mounts | awk '{print $2\":\"$3}' | tr '\\n' ' '",
           (int)H.agent_pid, (int)H.agent_pid);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
  out[n] = '\0';
  if (f)
    pclose(f);
  printf("in the agent's namespaces: %s\n", out);
  CHECK(!strncmp(out, "coffer-pid1-test\n", 17), "hostname not set: \"%s\"", out);
  const char *want[] = {"/proc:proc", "/dev/pts:devpts", "/dev/shm:tmpfs", "/run:tmpfs",
                        "/tmp:tmpfs", "/sys/fs/cgroup:cgroup2"};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    CHECK(strstr(out, want[i]), "PID 1 agent did not mount %s", want[i]);
  char host[256];
  gethostname(host, sizeof(host));
  CHECK(strcmp(host, "coffer-pid1-test"), "the host's hostname changed");
  Coffer__Agent__V1__DestroySandboxRequest d = COFFER__AGENT__V1__DESTROY_SANDBOX_REQUEST__INIT;
  CHECK(h_call(&H, "DestroySandbox", &d.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "destroy: %s", msg);
  int st = 0;
  pid_t w = 0;
  for (int i = 0; i < 300 && (w = waitpid(H.agent_pid, &st, WNOHANG)) == 0; i++)
    h_sleep_ms(10);
  CHECK(w == H.agent_pid, "the PID 1 agent did not power off after DestroySandbox");
  printf("PID 1 agent ended after DestroySandbox (unshare wait status 0x%x)\n", st);
  H.agent_pid = 0;
  h_teardown(&H);
  printf("PASS pid1_mode\n");
  exit(0);
}

/* ------------------------------------------- what a spec asks, enforced
 * Each case builds its spec from runc's template, changes the fields under
 * test and checks what the container sees, exactly; runc is the reference
 * (the same case runs with COFFER_TEST_RUNTIME=builtin). */

/* The object at a dot-separated path of o, made where missing. */
static json_object *jobj(json_object *o, const char *path) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
    json_object *c;
    if (!json_object_object_get_ex(o, tok, &c) || !json_object_is_type(c, json_type_object)) {
      c = json_object_new_object();
      json_object_object_add(o, tok, c);
    }
    o = c;
  }
  return o;
}

static json_object *jparse(const char *txt) {
  json_object *v = json_tokener_parse(txt);
  CHECK(v, "test bug: not JSON: %s", txt);
  return v;
}

/* Sets the field `key` of the object at `path` ("" = the spec) to JSON text. */
static void jset(json_object *s, const char *path, const char *key, const char *value) {
  json_object_object_add(path[0] ? jobj(s, path) : s, key, jparse(value));
}

/* Appends JSON text to the array `key` of the object at `path`. */
static void jappend(json_object *s, const char *path, const char *key, const char *value) {
  json_object *o = path[0] ? jobj(s, path) : s, *arr;
  if (!json_object_object_get_ex(o, key, &arr) || !json_object_is_type(arr, json_type_array)) {
    arr = json_object_new_array();
    json_object_object_add(o, key, arr);
  }
  json_object_array_add(arr, jparse(value));
}

/* Creates the container of spec (consumed), starts it, waits for its exit,
 * reads both streams and removes it. Returns the exit status. */
static int run_spec(const char *id, json_object *spec, char **out, char **err) {
  int rc = h_create_json(&H, id, spec, NULL, NULL, msg, sizeof(msg));
  json_object_put(spec);
  CHECK(rc == CF_OK, "create %s: %s", id, msg);
  CHECK(h_start(&H, id, msg, sizeof(msg)) == CF_OK, "start %s: %s", id, msg);
  int st = h_wait(&H, id, "");
  *out = h_read_all(&H, id, "", false, NULL);
  *err = h_read_all(&H, id, "", true, NULL);
  printf("--- %s exited %d; stdout:\n%s--- stderr:\n%s", id, st, *out, *err);
  CHECK(h_remove(&H, id, false) == CF_OK, "remove %s", id);
  return st;
}

static const char *const tmpfs_tmp =
    "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"nodev\",\"mode=1777\"]}";

/* process.user (uid, gid, additionalGids), capabilities, noNewPrivileges,
 * rlimits, a cwd the image lacks (made, though root.readonly), hostname. An
 * exec whose process names no capabilities gets the container's, as with
 * runc (its finalizeNamespace falls back to the container's config). */
static void test_spec_security(void) {
  spec_opts o = {.in = true};
  json_object *s = h_spec_json(&H, ARGS("sh", "-c",
      "id; ulimit -n; ulimit -Hn; pwd; "
      "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; hostname; "
      "cat /proc/sys/kernel/shm_rmid_forced; read x || true"), &o);
  json_object *ro;
  CHECK(json_object_object_get_ex(jobj(s, "root"), "readonly", &ro) && json_object_get_boolean(ro),
        "runc's template no longer has a read-only root");
  jset(s, "process", "user", "{\"uid\":1000,\"gid\":1000,\"additionalGids\":[2000]}");
  jset(s, "process", "capabilities",
       "{\"bounding\":[\"CAP_CHOWN\"],\"effective\":[\"CAP_CHOWN\"],\"permitted\":[\"CAP_CHOWN\"]}");
  jset(s, "process", "noNewPrivileges", "true");
  jset(s, "process", "rlimits", "[{\"type\":\"RLIMIT_NOFILE\",\"soft\":123,\"hard\":456}]");
  jset(s, "process", "cwd", "\"/work/dir\"");
  jset(s, "", "hostname", "\"coffer-sec\"");
  /* a sysctl of the container's IPC namespace is applied; one of the whole
   * kernel is refused */
  jset(s, "linux", "sysctl", "{\"kernel.core_pattern\":\"|/bin/false\"}");
  int rc = h_create_json(&H, "sec", s, &o, NULL, msg, sizeof(msg));
  CHECK(rc != CF_OK, "a spec setting kernel.core_pattern was accepted");
  printf("kernel.core_pattern refused: %s\n", msg);
  jset(s, "linux", "sysctl", "{\"kernel.shm_rmid_forced\":\"1\"}");
  rc = h_create_json(&H, "sec", s, &o, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "sec", msg, sizeof(msg)) == CF_OK, "start: %s", msg);

  /* uid 0, no capabilities, rlimits or noNewPrivileges in the process */
  CHECK(h_exec(&H, "sec", "e1", ARGS("sh", "-c",
                "id; ulimit -n; ulimit -Hn; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status"),
               false, false, msg, sizeof(msg)) == CF_OK, "exec: %s", msg);
  int est = h_wait(&H, "sec", "e1");
  char *eout = h_read_all(&H, "sec", "e1", false, NULL);
  char *eerr = h_read_all(&H, "sec", "e1", true, NULL);
  printf("--- exec e1 exited %d; stdout:\n%s--- stderr:\n%s", est, eout, eerr);

  CHECK(h_close_stdin(&H, "sec", "") == CF_OK, "close stdin");
  int st = h_wait(&H, "sec", "");
  char *out = h_read_all(&H, "sec", "", false, NULL);
  char *err = h_read_all(&H, "sec", "", true, NULL);
  printf("--- sec exited %d; stdout:\n%s--- stderr:\n%s", st, out, err);
  CHECK(st == 0, "exit status %d (stderr \"%s\")", st, err);
  /* uid 1000 without ambient capabilities: execve clears the permitted and
   * effective sets; the bounding set stays CAP_CHOWN (bit 0) */
  const char *want =
      "uid=1000 gid=1000 groups=2000\n"
      "123\n"
      "456\n"
      "/work/dir\n"
      "CapEff:\t0000000000000000\n"
      "CapBnd:\t0000000000000001\n"
      "NoNewPrivs:\t1\n"
      "coffer-sec\n"
      "1\n";
  CHECK(!strcmp(out, want), "init saw\n%s\nwant\n%s", out, want);
  CHECK(!strcmp(err, ""), "init stderr \"%s\"", err);
  /* runc 1.1: an exec's process without capabilities gets the
   * container's (root keeps CAP_CHOWN, all its bounding set allows); its
   * noNewPrivileges and rlimits are the process's own (false; none, so the
   * limits the agent has, which are this test's) */
  struct rlimit nofile;
  getrlimit(RLIMIT_NOFILE, &nofile);
  char ewant[256];
  snprintf(ewant, sizeof(ewant),
           "uid=0 gid=0\n"
           "%llu\n"
           "%llu\n"
           "CapEff:\t0000000000000001\n"
           "CapBnd:\t0000000000000001\n"
           "NoNewPrivs:\t0\n",
           (unsigned long long)nofile.rlim_cur, (unsigned long long)nofile.rlim_max);
  CHECK(est == 0 && !strcmp(eout, ewant),
        "exec without capabilities, rlimits, noNewPrivileges (exit %d) saw\n%s\nwant (runc)\n%s",
        est, eout, ewant);
  free(out);
  free(err);
  free(eout);
  free(eerr);
  CHECK(h_remove(&H, "sec", false) == CF_OK, "remove");
}

/* linux.maskedPaths (files masked by /dev/null, directories by an empty
 * tmpfs, missing paths skipped), linux.readonlyPaths, root.readonly, and a
 * tmpfs mount of the spec writable under the read-only root. */
static void test_masked_and_readonly_paths(void) {
  struct stat hs;
  if (stat("/proc/keys", &hs) != 0 || stat("/proc/timer_list", &hs) != 0 ||
      stat("/sys/firmware", &hs) != 0) {
    printf("SKIP: the host kernel has no /proc/keys, /proc/timer_list or /sys/firmware to mask\n");
    h_teardown(&H);
    exit(SKIP);
  }
  json_object *s = h_spec_json(&H, ARGS("sh", "-c",
      "stat -c '%n %F %t:%T' /proc/keys /proc/timer_list; "
      "wc -c < /proc/timer_list; "
      "test -e /proc/kcore || echo no-kcore; "
      "echo firmware=$(ls -A /sys/firmware | wc -l); "
      "echo 1 > /proc/sys/vm/drop_caches || echo sysctl-write-failed; "
      "cat /proc/sys/kernel/ostype; "
      "touch /newfile || echo touch-failed; "
      "echo data > /scratch/f && cat /scratch/f; "
      "awk '$2==\"/scratch\"{print $3}' /proc/mounts"), NULL);
  /* /proc/kcore does not exist on every kernel (not on this host's) */
  jset(s, "linux", "maskedPaths",
       "[\"/proc/kcore\",\"/proc/keys\",\"/proc/timer_list\",\"/sys/firmware\",\"/proc/no-such-entry\"]");
  jset(s, "linux", "readonlyPaths", "[\"/proc/sys\"]");
  jset(s, "root", "readonly", "true");
  jappend(s, "", "mounts",
          "{\"destination\":\"/scratch\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
          "\"options\":[\"nosuid\",\"nodev\",\"size=1m\"]}");
  char *out, *err;
  int st = run_spec("masked", s, &out, &err);
  CHECK(st == 0, "exit status %d", st);
  const char *want =
      "/proc/keys character special file 1:3\n"
      "/proc/timer_list character special file 1:3\n"
      "0\n"
      "no-kcore\n"
      "firmware=0\n"
      "sysctl-write-failed\n"
      "Linux\n"
      "touch-failed\n"
      "data\n"
      "tmpfs\n";
  CHECK(!strcmp(out, want), "saw\n%s\nwant\n%s", out, want);
  const char *ewant =
      "sh: can't create /proc/sys/vm/drop_caches: Read-only file system\n"
      "touch: /newfile: Read-only file system\n";
  CHECK(!strcmp(err, ewant), "stderr\n%s\nwant\n%s", err, ewant);
  free(out);
  free(err);
  char path[300];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/newfile", H.rootfs);
  CHECK(stat(path, &sb) != 0, "/newfile was created in the rootfs");

  /* the same without masks: what the masks hid is there */
  s = h_spec_json(&H, ARGS("sh", "-c",
      "stat -c '%n %F' /proc/timer_list; cat /proc/sys/kernel/ostype; "
      "ls -A /sys/firmware | grep -c ."), NULL);
  jset(s, "linux", "maskedPaths", "[]");
  jset(s, "linux", "readonlyPaths", "[]");
  st = run_spec("unmasked", s, &out, &err);
  CHECK(st == 0, "unmasked exit status %d", st);
  int n = 0;
  CHECK(sscanf(out, "/proc/timer_list regular empty file\nLinux\n%d", &n) == 1 && n > 0,
        "unmasked saw \"%s\"", out);
  free(out);
  free(err);
}

/* linux.seccomp: mkdir/mkdirat fail with EPERM (errnoRet 1), the rest is
 * allowed; an exec runs under the container's filter too. */
static void test_seccomp_filter(void) {
  spec_opts o = {.in = true};
  json_object *s = h_spec_json(&H, ARGS("sh", "-c",
      "mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touched; read x || true"), &o);
  jset(s, "linux", "seccomp",
       "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
       "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}");
  jappend(s, "", "mounts", tmpfs_tmp);
  int rc = h_create_json(&H, "sc", s, &o, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "sc", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_exec(&H, "sc", "e1", ARGS("sh", "-c",
                "mkdir /tmp/z; echo mkdir=$?; touch /tmp/w && echo touched; ls /tmp"),
               false, false, msg, sizeof(msg)) == CF_OK, "exec: %s", msg);
  int est = h_wait(&H, "sc", "e1");
  char *eout = h_read_all(&H, "sc", "e1", false, NULL);
  char *eerr = h_read_all(&H, "sc", "e1", true, NULL);
  printf("--- exec e1 exited %d; stdout:\n%s--- stderr:\n%s", est, eout, eerr);
  CHECK(h_close_stdin(&H, "sc", "") == CF_OK, "close stdin");
  int st = h_wait(&H, "sc", "");
  char *out = h_read_all(&H, "sc", "", false, NULL);
  char *err = h_read_all(&H, "sc", "", true, NULL);
  printf("--- sc exited %d; stdout:\n%s--- stderr:\n%s", st, out, err);
  CHECK(st == 0 && !strcmp(out, "mkdir=1\ntouched\n"), "init (exit %d) saw \"%s\"", st, out);
  CHECK(!strcmp(err, "mkdir: can't create directory '/tmp/x': Operation not permitted\n"),
        "init stderr \"%s\"", err);
  /* the exec sees the init's /tmp: y from the init, w of its own, no x or z */
  CHECK(est == 0 && !strcmp(eout, "mkdir=1\ntouched\nw\ny\n"), "exec (exit %d) saw \"%s\"", est,
        eout);
  CHECK(!strcmp(eerr, "mkdir: can't create directory '/tmp/z': Operation not permitted\n"),
        "exec stderr \"%s\"", eerr);
  free(out);
  free(err);
  free(eout);
  free(eerr);
  CHECK(h_remove(&H, "sc", false) == CF_OK, "remove");

  /* without noNewPrivileges, for a user other than root: the filter must
   * be loaded while the process still has CAP_SYS_ADMIN (before its user
   * changes; runc loads it before finalizeNamespace) */
  s = h_spec_json(&H, ARGS("sh", "-c",
      "id -u; mkdir /tmp/x; echo mkdir=$?; grep NoNewPrivs /proc/self/status"), NULL);
  jset(s, "linux", "seccomp",
       "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
       "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}");
  jappend(s, "", "mounts", tmpfs_tmp);
  jset(s, "process", "noNewPrivileges", "false");
  jset(s, "process", "user", "{\"uid\":1000,\"gid\":1000}");
  st = run_spec("sc-user", s, &out, &err);
  CHECK(st == 0 && !strcmp(out, "1000\nmkdir=1\nNoNewPrivs:\t0\n"),
        "uid 1000 without no_new_privs (exit %d) saw \"%s\" (stderr \"%s\")", st, out, err);
  CHECK(!strcmp(err, "mkdir: can't create directory '/tmp/x': Operation not permitted\n"),
        "uid 1000 without no_new_privs: stderr \"%s\"", err);
  free(out);
  free(err);
}

/* linux.devices makes the node; linux.resources.devices decides whether it
 * opens: denied by the template's deny-all rule, then readable (not
 * writable) with an allow rule for reading it. The standard devices stay
 * usable either way. */
static void test_device_cgroup(void) {
  const char *script =
      "stat -c '%F %t:%T %a' /dev/testkmsg; "
      "dd if=/dev/testkmsg of=/dev/null bs=1 count=0 2>/dev/null; echo read=$?; "
      "dd if=/dev/zero of=/dev/testkmsg bs=1 count=0 2>/dev/null; echo write=$?; "
      "exec 3</dev/testkmsg && echo opened";
  const char *node =
      "{\"path\":\"/dev/testkmsg\",\"type\":\"c\",\"major\":1,\"minor\":11,\"fileMode\":438}";
  for (int allow = 0; allow < 2; allow++) {
    json_object *s = h_spec_json(&H, ARGS("sh", "-c", script), NULL);
    jappend(s, "linux", "devices", node);
    /* with kernel.dmesg_restrict, reading /dev/kmsg takes CAP_SYSLOG too:
     * both containers have it, so the device rules alone decide */
    static const char *const sets[] = {"bounding", "effective", "permitted"};
    for (size_t i = 0; i < 3; i++)
      jappend(s, "process.capabilities", sets[i], "\"CAP_SYSLOG\"");
    jset(s, "linux.resources", "devices", "[{\"allow\":false,\"access\":\"rwm\"}]");
    if (allow)
      jappend(s, "linux.resources", "devices",
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"r\"}");
    char *out, *err;
    int st = run_spec(allow ? "dev-allowed" : "dev-denied", s, &out, &err);
    if (!allow) {
      /* a failed redirection of exec ends the shell */
      CHECK(st == 1, "denied: exit status %d", st);
      CHECK(!strcmp(out, "character special file 1:b 666\nread=1\nwrite=1\n"),
            "denied: saw \"%s\"", out);
      CHECK(!strcmp(err, "sh: can't open /dev/testkmsg: Operation not permitted\n"),
            "denied: stderr \"%s\"", err);
    } else {
      CHECK(st == 0, "allowed: exit status %d", st);
      CHECK(!strcmp(out, "character special file 1:b 666\nread=0\nwrite=1\nopened\n"),
            "allowed: saw \"%s\"", out);
      CHECK(!strcmp(err, ""), "allowed: stderr \"%s\"", err);
    }
    free(out);
    free(err);
  }
}

/* CreateSandbox with share_pid_namespace: a later container joins the pause
 * container's PID namespace (the built-in runtime forks its init from a
 * helper that joined it) and sees the pause process as PID 1. */
static void test_shared_pid_namespace(void) {
  uint32_t p1, p2;
  spec_opts sb = {.annotation_type = "sandbox"};
  CHECK(h_create(&H, "pause", ARGS("sleep", "1000"), &sb, &p1, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "pause", msg, sizeof(msg)) == CF_OK, "%s", msg);
  spec_opts app = {.annotation_type = "container", .in = true};
  CHECK(h_create(&H, "app", ARGS("sh", "-c", "echo self=$$; ps -o pid,comm; read x || true"), &app, &p2,
                 msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "app", msg, sizeof(msg)) == CF_OK, "%s", msg);
  char a[64], b[64], self[64];
  ns_link(p1, "pid", a, sizeof(a));
  ns_link(p2, "pid", b, sizeof(b));
  ns_link((uint32_t)getpid(), "pid", self, sizeof(self));
  printf("pid namespaces: pause %u %s, app %u %s, host %s\n", p1, a, p2, b, self);
  CHECK(a[0] && !strcmp(a, b), "pid namespaces differ: %s vs %s", a, b);
  CHECK(strcmp(a, self), "the pod runs in the host's pid namespace");
  CHECK(h_close_stdin(&H, "app", "") == CF_OK, "close stdin");
  int st = h_wait(&H, "app", "");
  char *out = h_read_all(&H, "app", "", false, NULL);
  printf("--- app exited %d:\n%s", st, out);
  CHECK(st == 0, "app exit status %d", st);
  int me = 0;
  CHECK(sscanf(out, "self=%d", &me) == 1 && me > 1, "app's own pid: \"%s\"", out);
  /* ps lists the pause container's sleep as PID 1, and the app's shell */
  bool pause_seen = false, self_seen = false;
  for (char *line = strchr(out, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    int pid = 0;
    char comm[32] = "";
    if (sscanf(line + 1, "%d %31s", &pid, comm) != 2)
      continue;
    pause_seen |= pid == 1 && !strcmp(comm, "sleep");
    self_seen |= pid == me && !strcmp(comm, "sh");
  }
  CHECK(pause_seen && self_seen, "ps in the app: pause's sleep as 1 %s, its own sh %s:\n%s",
        pause_seen ? "seen" : "missing", self_seen ? "seen" : "missing", out);
  free(out);
  CHECK(h_remove(&H, "app", false) == CF_OK, "remove app");
  CHECK(h_remove(&H, "pause", true) == CF_OK, "remove pause");
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "re");
  CHECK(f, "open %s", path);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
    n += r;
    if (n + 1 == cap)
      buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static char *runc_list(void) {
  char cmd[300], *out = calloc(1, 4096);
  snprintf(cmd, sizeof(cmd), "runc --root %s/runc list -q 2>/dev/null", H.state);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(out, 1, 4095, f) : 0;
  out[n] = '\0';
  if (f)
    pclose(f);
  return out;
}

/* Built-in runtime only: a spec asking what it does not implement
 * (linux.personality) is run by runc instead, and says so in the log; a
 * malformed spec gets the built-in runtime's error naming the field (no
 * runc fallback for mistakes). */
static void test_falls_back_to_runc(void) {
  json_object *s = h_spec_json(&H, ARGS("sh", "-c", "echo via-runc"), NULL);
  jset(s, "linux", "personality", "{\"domain\":\"LINUX\"}");
  int rc = h_create_json(&H, "fb", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  char *listed = runc_list();
  CHECK(!strcmp(listed, "fb\n"), "runc lists \"%s\", not fb", listed);
  free(listed);
  CHECK(h_start(&H, "fb", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_wait(&H, "fb", "") == 0, "exit status");
  char *out = h_read_all(&H, "fb", "", false, NULL);
  CHECK(!strcmp(out, "via-runc\n"), "output \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "fb", false) == CF_OK, "remove");

  /* the same spec without it: the built-in runtime, runc knows nothing */
  CHECK(h_create(&H, "bi", ARGS("sh", "-c", "echo built-in"), NULL, NULL, msg, sizeof(msg)) == CF_OK,
        "create: %s", msg);
  listed = runc_list();
  CHECK(!strcmp(listed, ""), "runc lists \"%s\" for a built-in container", listed);
  free(listed);
  CHECK(h_start(&H, "bi", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_wait(&H, "bi", "") == 0, "exit status");
  out = h_read_all(&H, "bi", "", false, NULL);
  CHECK(!strcmp(out, "built-in\n"), "output \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "bi", false) == CF_OK, "remove");

  char *log = read_text(H.log);
  CHECK(strstr(log, "container fb: runc runs it (linux.personality is not implemented by the "
                    "built-in runtime)"),
        "the log does not say runc runs fb");
  CHECK(!strstr(log, "container bi: runc runs it"), "the log says runc runs bi");
  free(log);

  /* malformed: errors naming the field, nothing left behind */
  s = h_spec_json(&H, ARGS("true"), NULL);
  json_object *mounts, *m0;
  CHECK(json_object_object_get_ex(s, "mounts", &mounts) &&
        (m0 = json_object_array_get_idx(mounts, 0)), "template has no mounts");
  json_object_object_add(m0, "destination", json_object_new_string("proc"));
  rc = h_create_json(&H, "bad1", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  printf("relative mount destination: %s: %s\n", cf_status_name(rc), msg);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "mounts[0]"), "relative mount destination: %s: %s",
        cf_status_name(rc), msg);
  s = h_spec_json(&H, ARGS("true"), NULL);
  jset(s, "process", "rlimits", "[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":5}]");
  rc = h_create_json(&H, "bad2", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  printf("soft rlimit above hard: %s: %s\n", cf_status_name(rc), msg);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "process.rlimits[0]"),
        "soft rlimit above hard: %s: %s", cf_status_name(rc), msg);
  s = h_spec_json(&H, ARGS("true"), NULL);
  jset(s, "linux", "devices", "[{\"path\":\"/dev/x\",\"type\":\"q\",\"major\":1,\"minor\":3}]");
  rc = h_create_json(&H, "bad3", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  printf("device of type q: %s: %s\n", cf_status_name(rc), msg);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "linux.devices[0]"), "device of type q: %s: %s",
        cf_status_name(rc), msg);
  listed = runc_list();
  CHECK(!strcmp(listed, ""), "runc lists \"%s\" after the failed creates", listed);
  free(listed);
  log = read_text(H.log);
  const char *first = strstr(log, "runc runs it");
  CHECK(first && !strstr(first + 1, "runc runs it"), "a malformed spec went to runc");
  free(log);
  char path[300];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/bundles/bad2", H.state);
  CHECK(stat(path, &sb) != 0, "bundle of a failed create left behind");
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s AGENT_BIN CASE [CTL_BIN]\n", argv[0]);
    return 2;
  }
  const char *c = argv[2];
  char share[256];
  const char *rt = getenv("COFFER_TEST_RUNTIME");
  h_builtin = rt && !strcmp(rt, "builtin");
  if (!strcmp(c, "guest_rejects_host_paths")) {
    h_setup(&H, argv[1], NULL);
    h_stop_agent(&H);
    snprintf(share, sizeof(share), "%s/share", H.dir);
    mkdir(share, 0755);
    const char *extra[] = {"--guest", "--shared-dir", share, NULL};
    h_start_agent(&H, extra);
    Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
    r.sandbox_id = H.sandbox;
    r.cgroup_parent = H.cgroup_parent;
    char *dns[] = {"10.9.8.7"}, *names[] = {"db.pod", "db"};
    Coffer__Agent__V1__HostEntry he = COFFER__AGENT__V1__HOST_ENTRY__INIT, *hep = &he;
    he.ip = "10.1.2.3";
    he.names = names;
    he.n_names = 2;
    r.dns_servers = dns;
    r.n_dns_servers = 1;
    r.hosts = &hep;
    r.n_hosts = 1;
    CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  } else if (!strcmp(c, "rootfs_virtiofs")) {
    /* the share dir must exist before the agent resolves paths in it */
    h_setup(&H, argv[1], NULL);
    h_stop_agent(&H);
    snprintf(share, sizeof(share), "%s/share", H.dir);
    mkdir(share, 0755);
    /* and runc create --no-pivot, as from an initramfs root */
    const char *extra[] = {"--shared-dir", share, "--no-pivot", NULL};
    h_start_agent(&H, extra);
    Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
    r.sandbox_id = H.sandbox;
    r.cgroup_parent = H.cgroup_parent;
    CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  } else if (!strcmp(c, "pid1_mode")) {
    if (system("unshare --help >/dev/null 2>&1 && nsenter --help >/dev/null 2>&1") != 0) {
      printf("SKIP: needs unshare and nsenter (util-linux)\n");
      return SKIP;
    }
    /* the PID 1 agent mounts tmpfs on /tmp and /run: keep its state elsewhere */
    h_tmp_base = "/var/tmp";
    h_no_sandbox = true;
    static const char *const wrap[] = {"unshare", "--pid", "--fork", "--kill-child", "--mount",
                                       "--uts", "--propagation", "private", NULL};
    h_wrapper = wrap;
    h_setup(&H, argv[1], NULL);
  } else if (!strcmp(c, "rootfs_block")) {
    h_setup(&H, argv[1], NULL);
    h_stop_agent(&H);
    char cmd[1024], blockdir[256];
    snprintf(blockdir, sizeof(blockdir), "%s/block", H.dir);
    mkdir(blockdir, 0755);
    atexit(block_cleanup);
    const char *mk[2] = {"mkfs.erofs --quiet %s/img.erofs %s",
                         "truncate -s 32M %s/img.ext4 && mkfs.ext4 -q -d %s %s/img.ext4"};
    for (int i = 0; i < 2; i++) {
      if (i == 0)
        snprintf(cmd, sizeof(cmd), mk[0], H.dir, H.rootfs);
      else
        snprintf(cmd, sizeof(cmd), mk[1], H.dir, H.rootfs, H.dir);
      if (system(cmd) != 0) {
        printf("SKIP: cannot build the %s image (erofs-utils, e2fsprogs)\n", i ? "ext4" : "erofs");
        h_teardown(&H);
        return SKIP;
      }
      snprintf(cmd, sizeof(cmd), "losetup -f --show %s %s/img.%s", i ? "" : "-r", H.dir,
               i ? "ext4" : "erofs");
      FILE *f = popen(cmd, "r");
      if (!f || !fgets(loops[i], sizeof(loops[i]), f) || strncmp(loops[i], "/dev/loop", 9)) {
        if (f)
          pclose(f);
        loops[i][0] = '\0';
        printf("SKIP: no loop device to stand in for a virtio-blk disk\n");
        h_teardown(&H);
        return SKIP;
      }
      pclose(f);
      loops[i][strcspn(loops[i], "\n")] = '\0';
      snprintf(cmd, sizeof(cmd), "mkdir -p %s/%s && echo serial-%s > %s/%s/serial", blockdir,
               loops[i] + 5, i ? "ext4" : "erofs", blockdir, loops[i] + 5);
      CHECK(system(cmd) == 0, "fake block dir");
    }
    const char *extra[] = {"--block-dir", blockdir, NULL};
    h_start_agent(&H, extra);
    Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
    r.sandbox_id = H.sandbox;
    r.cgroup_parent = H.cgroup_parent;
    CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  } else if (!strcmp(c, "serial_transport")) {
    h_setup(&H, argv[1], NULL);
    h_stop_agent(&H);
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "pty");
    struct termios t;
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    CHECK(slave >= 0 && tcgetattr(slave, &t) == 0, "pty slave");
    cfmakeraw(&t);
    CHECK(tcsetattr(slave, TCSANOW, &t) == 0, "raw");
    char addr[128];
    snprintf(addr, sizeof(addr), "serial:%s", ptsname(master));
    fcntl(master, F_SETFL, O_NONBLOCK);
    h_start_agent_at(&H, addr, master, NULL);
    close(slave);
    Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
    r.sandbox_id = H.sandbox;
    r.cgroup_parent = H.cgroup_parent;
    CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  } else if (!strcmp(c, "shared_pid_namespace")) {
    h_no_sandbox = true;
    h_setup(&H, argv[1], NULL);
    Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
    r.sandbox_id = H.sandbox;
    r.cgroup_parent = H.cgroup_parent;
    r.share_pid_namespace = true;
    CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  } else if (!strcmp(c, "falls_back_to_runc") && !h_builtin) {
    printf("SKIP: what the built-in runtime hands to runc (COFFER_TEST_RUNTIME=builtin only)\n");
    return SKIP;
  } else {
    h_setup(&H, argv[1], NULL);
  }
  if (!strcmp(c, "output")) test_output();
  else if (!strcmp(c, "exit_codes")) test_exit_codes();
  else if (!strcmp(c, "stdin_echo_with_backpressure")) test_stdin_echo();
  else if (!strcmp(c, "tty_resize")) test_tty_resize();
  else if (!strcmp(c, "exec")) test_exec();
  else if (!strcmp(c, "pause_resume")) test_pause_resume();
  else if (!strcmp(c, "stats_and_update")) test_stats();
  else if (!strcmp(c, "oom_event")) test_oom();
  else if (!strcmp(c, "pod_shares_ipc")) test_pod_shares_ipc();
  else if (!strcmp(c, "create_remove_cycles")) test_create_remove_cycles();
  else if (!strcmp(c, "bad_input")) test_bad_input();
  else if (!strcmp(c, "guest_rejects_host_paths")) test_guest_rejects_host_paths();
  else if (!strcmp(c, "rootfs_virtiofs")) test_rootfs_virtiofs();
  else if (!strcmp(c, "destroy_sandbox")) test_destroy_sandbox();
  else if (!strcmp(c, "ctl") && argc > 3) test_ctl(argv[3]);
  else if (!strcmp(c, "serial_transport")) test_serial_transport();
  else if (!strcmp(c, "pid1_mode")) test_pid1_mode();
  else if (!strcmp(c, "finished_execs_are_bounded")) test_finished_execs_are_bounded();
  else if (!strcmp(c, "exit_reported_while_a_child_holds_stdout")) test_exit_with_output_held_open();
  else if (!strcmp(c, "rootfs_block")) test_rootfs_block();
  else if (!strcmp(c, "spec_security")) test_spec_security();
  else if (!strcmp(c, "masked_and_readonly_paths")) test_masked_and_readonly_paths();
  else if (!strcmp(c, "seccomp_filter")) test_seccomp_filter();
  else if (!strcmp(c, "device_cgroup")) test_device_cgroup();
  else if (!strcmp(c, "shared_pid_namespace")) test_shared_pid_namespace();
  else if (!strcmp(c, "falls_back_to_runc")) test_falls_back_to_runc();
  else {
    fprintf(stderr, "unknown case %s\n", c);
    h_teardown(&H);
    return 2;
  }
  CHECK(kill(H.agent_pid, 0) == 0, "the agent died during the test");
  int st = h_stop_agent(&H);
  CHECK(st == 0, "the agent did not exit cleanly on SIGTERM (wait status 0x%x; see its log for sanitizer reports)", st);
  h_teardown(&H);
  printf("PASS %s\n", c);
  return 0;
}
