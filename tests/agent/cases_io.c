/* agent_test cases: the stdio a shim relies on: output, exit codes, stdin with back-pressure,
 * the terminal, execs, the drain of an exit whose output is held open. */
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
#include "cases.h"

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


void on_wait(int status, const char *m, const uint8_t *payload, size_t len, void *d) {
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

void wait_async(ttrpc_client *cli, const char *id, const char *eid, waiter *w) {
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

const agent_case agent_cases_io[] = {
    {"output", test_output},
    {"exit_codes", test_exit_codes},
    {"stdin_echo_with_backpressure", test_stdin_echo},
    {"tty_resize", test_tty_resize},
    {"exec", test_exec},
    {"exit_reported_while_a_child_holds_stdout", test_exit_with_output_held_open},
    {"finished_execs_are_bounded", test_finished_execs_are_bounded},
    {NULL, NULL},
};
