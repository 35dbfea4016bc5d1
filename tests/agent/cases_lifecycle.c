/* agent_test cases: A container's life: pause/resume, stats and update, OOM events,
 * create/remove cycles, bad input, DestroySandbox. */
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

void run_ms(int ms) {
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

void expect(int got, int want, const char *what) {
  CHECK(got == want, "%s: got %s, want %s (%s)", what, cf_status_name(got), cf_status_name(want), msg);
  printf("ok  %-48s %s: %s\n", what, cf_status_name(got), msg);
}

int create_raw(const char *id, const char *spec, size_t len, int kind, const char *src) {
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

/* A guest-mode agent never takes host paths: HOST_PATH rootfs refused, bind
 * mounts of host paths dropped, hooks dropped, shared mounts from the share. */
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

/* The long runtime steps run off the agent's loop (agent/job.h): while a
 * CreateContainer is slow (a createRuntime hook sleeping 3 s, which runc
 * runs inside its create), a health check, a ListProcesses and a
 * ReadStdout of another container are each answered within a second; its
 * id is taken meanwhile. */
typedef struct slow_call {
  bool done;
  int status;
  char msg[512];
} slow_call;

static void on_slow(int status, const char *m, const uint8_t *p, size_t len, void *d) {
  (void)p, (void)len;
  slow_call *c = d;
  c->status = status;
  snprintf(c->msg, sizeof(c->msg), "%s", m ? m : "");
  c->done = true;
}

static void probes_answer_promptly(const slow_call *slow, const char *during) {
  struct {
    const char *method;
    ProtobufCMessage *req;
  } probes[3];
  Coffer__Agent__V1__ContainerRequest lp = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__ReadOutputRequest rd = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  lp.container_id = "quick";
  rd.container_id = "quick";
  rd.exec_id = "";
  rd.max_bytes = 4096;
  probes[0].method = "Check", probes[0].req = NULL;
  probes[1].method = "ListProcesses", probes[1].req = &lp.base;
  probes[2].method = "ReadStdout", probes[2].req = &rd.base;
  for (size_t i = 0; i < 3; i++) {
    uint64_t t0 = cf_now_ms();
    int rc = h_call(&H, probes[i].method, probes[i].req, NULL, NULL, msg, sizeof(msg));
    uint64_t took = cf_now_ms() - t0;
    CHECK(rc == CF_OK, "%s during the slow %s: %s", probes[i].method, during, msg);
    CHECK(took < 1000, "%s took %llu ms during the slow %s", probes[i].method,
          (unsigned long long)took, during);
    fprintf(stderr, "%s answered in %llu ms during the slow %s\n", probes[i].method,
            (unsigned long long)took, during);
  }
  CHECK(!slow->done, "the slow %s ended before the probes (%s): nothing was proven", during,
        slow->msg);
}

static void test_slow_calls_do_not_stall_the_agent(void) {
  if (access("/bin/sleep", X_OK) != 0) {
    fprintf(stderr, "SKIP: no /bin/sleep for the hooks\n");
    exit(SKIP);
  }
  CHECK(h_create(&H, "quick", ARGS("sh", "-c", "echo ready; exec sleep 60"), NULL, NULL, msg,
                 sizeof(msg)) == CF_OK, "create quick: %s", msg);
  CHECK(h_start(&H, "quick", msg, sizeof(msg)) == CF_OK, "start quick: %s", msg);
  run_ms(200); /* its "ready" is in the agent's buffer */

  json_object *s = h_spec_json(&H, ARGS("true"), NULL);
  json_object_object_add(s, "hooks", json_tokener_parse(
      "{\"createRuntime\":[{\"path\":\"/bin/sleep\",\"args\":[\"sleep\",\"3\"]}]}"));
  const char *spec = json_object_to_json_string(s);
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  rf.source = H.rootfs;
  st.stdout = st.stderr = true;
  req.container_id = "slow";
  req.spec.data = (uint8_t *)spec;
  req.spec.len = strlen(spec);
  req.rootfs = &rf;
  req.stdio = &st;
  slow_call create = {0};
  cf_error err = {0};
  uint64_t t0 = cf_now_ms();
  CHECK(ttrpc_client_call(H.cli, "coffer.agent.v1.Agent", "CreateContainer", &req.base, 0,
                          on_slow, &create, &err) == 0, "%s", err.msg);
  json_object_put(s);
  run_ms(300); /* the create is on the agent's worker, in runc's hook */
  /* its id is taken meanwhile, and it is not there to remove yet */
  expect(h_create(&H, "slow", ARGS("true"), NULL, NULL, msg, sizeof(msg)), CF_ALREADY_EXISTS,
         "the same id during the create");
  expect(h_remove(&H, "slow", true), CF_NOT_FOUND, "remove during the create");
  probes_answer_promptly(&create, "create");
  cf_loop_run_until(H.loop, &create.done, 20000);
  CHECK(create.done && create.status == CF_OK, "slow create: %s", create.msg);
  CHECK(cf_now_ms() - t0 >= 2500, "the create was not slow (%llu ms): nothing was proven",
        (unsigned long long)(cf_now_ms() - t0));

  CHECK(h_start(&H, "slow", msg, sizeof(msg)) == CF_OK, "start slow: %s", msg);
  CHECK(h_wait(&H, "slow", "") == 0, "slow's exit status");
  CHECK(h_remove(&H, "slow", false) == CF_OK, "remove slow");
  CHECK(h_signal(&H, "quick", "", SIGKILL) == CF_OK, "kill quick");
  h_wait(&H, "quick", "");
  CHECK(h_remove(&H, "quick", false) == CF_OK, "remove quick");
}

/* coffer-agent-ctl against the agent: output, exit code, exec, stats. */

const agent_case agent_cases_lifecycle[] = {
    {"pause_resume", test_pause_resume},
    {"stats_and_update", test_stats},
    {"oom_event", test_oom},
    {"create_remove_cycles", test_create_remove_cycles},
    {"bad_input", test_bad_input},
    {"destroy_sandbox", test_destroy_sandbox},
    {"slow_calls_do_not_stall_the_agent", test_slow_calls_do_not_stall_the_agent},
    {NULL, NULL},
};
