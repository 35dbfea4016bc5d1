/* coffer-agent-ctl: drive a coffer-agent by hand (and from tests) without
 * containerd. Simple commands are one synchronous call; run/exec/attach
 * pump stdio concurrently with a wait, like a shim would. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.pb-c.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/loop.h"
#include "coffer/transport.h"
#include "coffer/ttrpc.h"

#define SVC "coffer.agent.v1.Agent"

typedef struct ctl {
  cf_loop *loop;
  ttrpc_client *cli;
  int timeout_ms;
} ctl;

static int die(const char *fmt, const char *a) {
  fprintf(stderr, "coffer-agent-ctl: ");
  fprintf(stderr, fmt, a);
  fputc('\n', stderr);
  return 1;
}

static int call(ctl *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp) {
  cf_error err = {0};
  if (ttrpc_client_call_sync(c->cli, SVC, method, req, desc, resp, c->timeout_ms, &err) < 0) {
    fprintf(stderr, "coffer-agent-ctl: %s: %s (%s)\n", method, err.msg,
            cf_status_name(cf_error_grpc_status(&err)));
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ attach */

typedef struct attach {
  ctl *c;
  const char *id, *exec_id;
  bool out_eof, err_eof, waited, stdin_busy, stdin_eof, failed;
  int exit_status;
  cf_watch *in_watch;
  bool done;
} attach;

static void ignore_reply(int status, const char *msg, const uint8_t *payload, size_t len,
                         void *data) {}

static void check_done(attach *at) {
  at->done = at->failed || (at->out_eof && at->err_eof && at->waited);
}

static void read_next(attach *at, bool is_err);

static void on_read(int status, const char *msg, const uint8_t *payload, size_t len, void *data,
                    bool is_err) {
  attach *at = data;
  if (status != CF_OK) {
    fprintf(stderr, "coffer-agent-ctl: read: %s\n", msg);
    at->failed = true;
    check_done(at);
    return;
  }
  _cleanup_pb_ Coffer__Agent__V1__ReadOutputResponse *r =
      coffer__agent__v1__read_output_response__unpack(NULL, len, payload);
  if (!r) {
    at->failed = true;
    check_done(at);
    return;
  }
  if (r->data.len) {
    ssize_t w = write(is_err ? 2 : 1, r->data.data, r->data.len);
    (void)w;
  }
  if (r->eof) {
    if (is_err)
      at->err_eof = true;
    else
      at->out_eof = true;
    check_done(at);
    return;
  }
  read_next(at, is_err);
}

static void on_read_out(int s, const char *m, const uint8_t *p, size_t l, void *d) {
  on_read(s, m, p, l, d, false);
}
static void on_read_err(int s, const char *m, const uint8_t *p, size_t l, void *d) {
  on_read(s, m, p, l, d, true);
}

static void read_next(attach *at, bool is_err) {
  Coffer__Agent__V1__ReadOutputRequest req = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  req.container_id = (char *)at->id;
  req.exec_id = (char *)at->exec_id;
  req.max_bytes = 65536;
  cf_error err = {0};
  if (ttrpc_client_call(at->c->cli, SVC, is_err ? "ReadStderr" : "ReadStdout", &req.base, 0,
                        is_err ? on_read_err : on_read_out, at, &err) < 0) {
    fprintf(stderr, "coffer-agent-ctl: %s\n", err.msg);
    at->failed = true;
  }
}

static void on_wait(int status, const char *msg, const uint8_t *payload, size_t len, void *data) {
  attach *at = data;
  if (status != CF_OK) {
    fprintf(stderr, "coffer-agent-ctl: wait: %s\n", msg);
    at->failed = true;
  } else {
    _cleanup_pb_ Coffer__Agent__V1__WaitProcessResponse *r =
        coffer__agent__v1__wait_process_response__unpack(NULL, len, payload);
    at->exit_status = r ? (int)r->exit_status : 255;
    at->waited = true;
  }
  check_done(at);
}

static void stdin_readable(cf_loop *loop, int fd, uint32_t events, void *data);

static void on_written(int status, const char *msg, const uint8_t *payload, size_t len,
                       void *data) {
  attach *at = data;
  at->stdin_busy = false;
  if (status != CF_OK)
    return; /* the process closed its stdin: stop forwarding */
  cf_error err = {0};
  if (!at->stdin_eof)
    at->in_watch = cf_loop_watch(at->c->loop, 0, EPOLLIN, stdin_readable, at, &err);
}

static void stdin_readable(cf_loop *loop, int fd, uint32_t events, void *data) {
  attach *at = data;
  uint8_t buf[65536];
  ssize_t n = read(fd, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  cf_loop_unwatch(at->in_watch);
  at->in_watch = NULL;
  cf_error err = {0};
  if (n <= 0) {
    at->stdin_eof = true;
    Coffer__Agent__V1__ProcessRequest req = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
    req.container_id = (char *)at->id;
    req.exec_id = (char *)at->exec_id;
    ttrpc_client_call(at->c->cli, SVC, "CloseStdin", &req.base, 0, ignore_reply, NULL, &err);
    return;
  }
  Coffer__Agent__V1__WriteStdinRequest req = COFFER__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
  req.container_id = (char *)at->id;
  req.exec_id = (char *)at->exec_id;
  req.data.data = buf;
  req.data.len = (size_t)n;
  at->stdin_busy = true; /* one write in flight: the agent's back-pressure reaches us */
  ttrpc_client_call(at->c->cli, SVC, "WriteStdin", &req.base, 0, on_written, at, &err);
}

static int do_attach(ctl *c, const char *id, const char *exec_id, bool in, bool tty) {
  attach at = {.c = c, .id = id, .exec_id = exec_id};
  cf_error err = {0};
  struct termios saved;
  bool raw = false;
  if (tty && isatty(0) && tcgetattr(0, &saved) == 0) {
    struct termios t = saved;
    cfmakeraw(&t);
    raw = tcsetattr(0, TCSANOW, &t) == 0;
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_col) {
      Coffer__Agent__V1__ResizeTtyRequest r = COFFER__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
      r.container_id = (char *)id;
      r.exec_id = (char *)exec_id;
      r.width = ws.ws_col;
      r.height = ws.ws_row;
      ttrpc_client_call(c->cli, SVC, "ResizeTty", &r.base, 0, ignore_reply, NULL, &err);
    }
  }
  read_next(&at, false);
  read_next(&at, true);
  Coffer__Agent__V1__ProcessRequest w = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  w.container_id = (char *)id;
  w.exec_id = (char *)exec_id;
  ttrpc_client_call(c->cli, SVC, "WaitProcess", &w.base, 0, on_wait, &at, &err);
  if (in) {
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    at.in_watch = cf_loop_watch(c->loop, 0, EPOLLIN, stdin_readable, &at, &err);
    if (!at.in_watch) { /* a regular file or /dev/null: not pollable, send it now */
      stdin_readable(c->loop, 0, EPOLLIN, &at);
    }
  }
  cf_loop_run_until(c->loop, &at.done, -1);
  if (at.in_watch)
    cf_loop_unwatch(at.in_watch);
  if (raw)
    tcsetattr(0, TCSANOW, &saved);
  return at.failed ? 255 : at.exit_status;
}

/* ---------------------------------------------------------------- commands */

static int cmd_create(ctl *c, int argc, char **argv, bool run) {
  const char *bundle = NULL, *rootfs = NULL;
  bool tty = false, in = false;
  static const struct option o[] = {{"bundle", 1, 0, 'b'}, {"rootfs", 1, 0, 'r'},
                                    {"tty", 0, 0, 't'},    {"stdin", 0, 0, 'i'},
                                    {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "b:r:ti", o, NULL)) != -1) {
    if (ch == 'b') bundle = optarg;
    else if (ch == 'r') rootfs = optarg;
    else if (ch == 't') tty = true;
    else if (ch == 'i') in = true;
    else return 2;
  }
  if (optind >= argc || !bundle)
    return die("%s ID --bundle DIR [--rootfs PATH] [-t] [-i]", run ? "run" : "create");
  const char *id = argv[optind];
  char path[PATH_MAX], rootabs[PATH_MAX];
  snprintf(path, sizeof(path), "%s/config.json", bundle);
  size_t len;
  _cleanup_free_ char *spec = NULL;
  cf_error ferr = {0};
  if (cf_read_file(path, 1u << 20 /* the agent takes no larger spec */, &spec, &len, &ferr) < 0)
    return die("%s", ferr.msg);
  snprintf(path, sizeof(path), "%s/rootfs", bundle);
  if (!realpath(rootfs ? rootfs : path, rootabs))
    return die("rootfs %s not found", rootfs ? rootfs : path);
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__HOST_PATH;
  rf.source = rootabs;
  st.terminal = tty;
  st.stdin = in;
  st.stdout = true;
  st.stderr = !tty;
  req.container_id = (char *)id;
  req.spec.data = (uint8_t *)spec;
  req.spec.len = len;
  req.rootfs = &rf;
  req.stdio = &st;
  _cleanup_pb_ ProtobufCMessage *resp = NULL;
  if (call(c, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor, &resp))
    return 1;
  uint32_t pid = ((Coffer__Agent__V1__CreateContainerResponse *)resp)->pid;
  if (!run) {
    printf("%u\n", pid);
    return 0;
  }
  Coffer__Agent__V1__ContainerRequest s = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  s.container_id = (char *)id;
  if (call(c, "StartContainer", &s.base, &coffer__agent__v1__start_container_response__descriptor, NULL))
    return 1;
  int status = do_attach(c, id, "", in, tty);
  Coffer__Agent__V1__RemoveContainerRequest rm = COFFER__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
  rm.container_id = (char *)id;
  rm.force = true;
  call(c, "RemoveContainer", &rm.base, &google__protobuf__empty__descriptor, NULL);
  return status;
}

static int cmd_exec(ctl *c, int argc, char **argv) {
  bool tty = false, in = false, detach = false;
  const char *cwd = "/";
  static const struct option o[] = {{"tty", 0, 0, 't'}, {"stdin", 0, 0, 'i'},
                                    {"detach", 0, 0, 'd'}, {"cwd", 1, 0, 'w'}, {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "tidw:", o, NULL)) != -1) {
    if (ch == 't') tty = true;
    else if (ch == 'i') in = true;
    else if (ch == 'd') detach = true;
    else if (ch == 'w') cwd = optarg;
    else return 2;
  }
  if (argc - optind < 3)
    return die("%s", "exec ID EXEC_ID [-t] [-i] [-d] [--cwd DIR] [--] ARGS...");
  const char *id = argv[optind], *eid = argv[optind + 1];
  json_object *p = json_object_new_object(), *args = json_object_new_array(),
              *env = json_object_new_array(), *user = json_object_new_object();
  for (int i = optind + 2; i < argc; i++)
    json_object_array_add(args, json_object_new_string(argv[i]));
  json_object_array_add(env, json_object_new_string(
                                 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  if (tty)
    json_object_array_add(env, json_object_new_string("TERM=xterm"));
  json_object_object_add(user, "uid", json_object_new_int(0));
  json_object_object_add(user, "gid", json_object_new_int(0));
  json_object_object_add(p, "args", args);
  json_object_object_add(p, "env", env);
  json_object_object_add(p, "cwd", json_object_new_string(cwd));
  json_object_object_add(p, "user", user);
  const char *txt = json_object_to_json_string(p);
  Coffer__Agent__V1__ExecProcessRequest req = COFFER__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.terminal = tty;
  st.stdin = in;
  st.stdout = !detach;
  st.stderr = !detach && !tty;
  req.container_id = (char *)id;
  req.exec_id = (char *)eid;
  req.process.data = (uint8_t *)txt;
  req.process.len = strlen(txt);
  req.stdio = &st;
  int rc = call(c, "ExecProcess", &req.base, &coffer__agent__v1__exec_process_response__descriptor, NULL);
  json_object_put(p);
  if (rc || detach)
    return rc;
  int status = do_attach(c, id, eid, in, tty);
  Coffer__Agent__V1__ProcessRequest rm = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  rm.container_id = (char *)id;
  rm.exec_id = (char *)eid;
  call(c, "RemoveProcess", &rm.base, &google__protobuf__empty__descriptor, NULL);
  return status;
}

static int parse_signal(const char *s) {
  static const struct { const char *n; int v; } names[] = {
      {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};
  if (!strncmp(s, "SIG", 3))
    s += 3;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (!strcmp(s, names[i].n))
      return names[i].v;
  char *end;
  long v = strtol(s, &end, 10);
  return *s && !*end ? (int)v : -1;
}

/* ID [--exec E] style options shared by several commands. */
static int id_exec(int argc, char **argv, const char **id, const char **eid, bool *flag,
                   const char *flagname) {
  static struct option o[] = {{"exec", 1, 0, 'e'}, {"flag", 0, 0, 'f'}, {0, 0, 0, 0}};
  o[1].name = flagname ? flagname : "flag";
  *eid = "";
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "e:", o, NULL)) != -1) {
    if (ch == 'e') *eid = optarg;
    else if (ch == 'f' && flag) *flag = true;
    else return -1;
  }
  if (optind >= argc)
    return -1;
  *id = argv[optind++];
  return optind;
}

static void print_stats(const Coffer__Agent__V1__StatsContainerResponse *s) {
  printf("cgroup_version %u\n", s->cgroup_version);
  if (s->cpu)
    printf("cpu.usage_total_ns %lu\ncpu.usage_user_ns %lu\ncpu.usage_kernel_ns %lu\n"
           "cpu.throttled_time_ns %lu\n",
           (unsigned long)s->cpu->usage_total_ns, (unsigned long)s->cpu->usage_user_ns,
           (unsigned long)s->cpu->usage_kernel_ns, (unsigned long)s->cpu->throttled_time_ns);
  if (s->memory && s->memory->usage)
    printf("memory.usage %lu\nmemory.max %lu\nmemory.limit %lu\nmemory.cache %lu\n",
           (unsigned long)s->memory->usage->usage, (unsigned long)s->memory->usage->max,
           (unsigned long)s->memory->usage->limit, (unsigned long)s->memory->cache);
  if (s->memory)
    for (size_t i = 0; i < s->memory->n_stats; i++)
      if (!strcmp(s->memory->stats[i]->key, "rss") || !strcmp(s->memory->stats[i]->key, "anon"))
        printf("memory.%s %lu\n", s->memory->stats[i]->key, (unsigned long)s->memory->stats[i]->value);
  if (s->pids)
    printf("pids.current %lu\npids.limit %lu\n", (unsigned long)s->pids->current,
           (unsigned long)s->pids->limit);
  uint64_t rd = 0, wr = 0;
  for (size_t i = 0; s->blkio && i < s->blkio->n_io_service_bytes_recursive; i++) {
    const Coffer__Agent__V1__BlkioEntry *e = s->blkio->io_service_bytes_recursive[i];
    if (!strcasecmp(e->op, "read")) rd += e->value;
    if (!strcasecmp(e->op, "write")) wr += e->value;
  }
  printf("io.read_bytes %lu\nio.write_bytes %lu\noom_kills %lu\n", (unsigned long)rd,
         (unsigned long)wr, (unsigned long)s->oom_kills);
}

static int usage(void) {
  fprintf(stderr,
          "usage: coffer-agent-ctl --addr ADDR [--timeout MS] COMMAND ...\n"
          "  health | details\n"
          "  sandbox ID [--hostname H] [--cgroup-parent P] | destroy\n"
          "  create ID --bundle DIR [--rootfs PATH] [-t] [-i]\n"
          "  run ID --bundle DIR [--rootfs PATH] [-t] [-i]   create, start, attach, remove\n"
          "  start ID | pause ID | resume ID | stats ID | ps ID | oom\n"
          "  exec ID EXEC_ID [-t] [-i] [-d] [--cwd DIR] [--] ARGS...\n"
          "  kill ID [--exec E] [--all] [SIGNAL]\n"
          "  wait ID [--exec E]       prints the exit status, exits with it\n"
          "  logs ID [--exec E]       prints buffered output until EOF\n"
          "  attach ID [--exec E] [-i]\n"
          "  rm ID [--force]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *addr = NULL;
  int timeout = 30000, i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--addr") && i + 1 < argc)
      addr = argv[++i];
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      timeout = atoi(argv[++i]);
    else
      return usage();
  }
  if (!addr || i >= argc)
    return usage();
  const char *cmd = argv[i];
  int cargc = argc - i;
  char **cargv = argv + i;
  signal(SIGPIPE, SIG_IGN);

  cf_error err = {0};
  ctl c = {.timeout_ms = timeout};
  if (!(c.loop = cf_loop_new(&err)))
    return die("%s", err.msg);
  int fd = cf_transport_connect(addr, timeout, &err);
  if (fd < 0 || !(c.cli = ttrpc_client_new(c.loop, fd, &err))) {
    cf_loop_free(c.loop);
    return die("%s", err.msg);
  }

  int rc = 0;
  const char *id, *eid;
  if (!strcmp(cmd, "health")) {
    _cleanup_pb_ ProtobufCMessage *r = NULL;
    if (ttrpc_client_call_sync(c.cli, "coffer.agent.v1.Health", "Check", NULL,
                               &coffer__agent__v1__check_response__descriptor, &r, timeout, &err) < 0)
      return die("%s", err.msg);
    printf("%s\n", ((Coffer__Agent__V1__CheckResponse *)r)->status == 1 ? "SERVING" : "NOT_SERVING");
  } else if (!strcmp(cmd, "details")) {
    _cleanup_pb_ ProtobufCMessage *r = NULL;
    if (!(rc = call(&c, "GetGuestDetails", NULL, &coffer__agent__v1__guest_details__descriptor, &r))) {
      Coffer__Agent__V1__GuestDetails *d = (Coffer__Agent__V1__GuestDetails *)r;
      static const char *tees[] = {"none", "snp", "tdx"};
      printf("agent %s\nkernel %s\ntee %s\nmemory %lu\ncpus %u\npid1 %d\nruntime %s\n",
             d->agent_version, d->kernel_release, d->tee < 3 ? tees[d->tee] : "?",
             (unsigned long)d->memory_total_bytes, d->cpus, d->pid1, d->runtime_version);
    }
  } else if (!strcmp(cmd, "sandbox") && cargc >= 2) {
    Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
    r.sandbox_id = cargv[1];
    for (int k = 2; k + 1 < cargc; k += 2) {
      if (!strcmp(cargv[k], "--hostname")) r.hostname = cargv[k + 1];
      else if (!strcmp(cargv[k], "--cgroup-parent")) r.cgroup_parent = cargv[k + 1];
    }
    rc = call(&c, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL);
  } else if (!strcmp(cmd, "destroy")) {
    Coffer__Agent__V1__DestroySandboxRequest r = COFFER__AGENT__V1__DESTROY_SANDBOX_REQUEST__INIT;
    rc = call(&c, "DestroySandbox", &r.base, &google__protobuf__empty__descriptor, NULL);
  } else if (!strcmp(cmd, "create") || !strcmp(cmd, "run")) {
    rc = cmd_create(&c, cargc, cargv, !strcmp(cmd, "run"));
  } else if (!strcmp(cmd, "exec")) {
    rc = cmd_exec(&c, cargc, cargv);
  } else if ((!strcmp(cmd, "start") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume") ||
              !strcmp(cmd, "stats") || !strcmp(cmd, "ps")) && cargc == 2) {
    Coffer__Agent__V1__ContainerRequest r = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
    r.container_id = cargv[1];
    _cleanup_pb_ ProtobufCMessage *resp = NULL;
    if (!strcmp(cmd, "start")) {
      rc = call(&c, "StartContainer", &r.base, &coffer__agent__v1__start_container_response__descriptor, NULL);
    } else if (!strcmp(cmd, "pause")) {
      rc = call(&c, "PauseContainer", &r.base, &google__protobuf__empty__descriptor, NULL);
    } else if (!strcmp(cmd, "resume")) {
      rc = call(&c, "ResumeContainer", &r.base, &google__protobuf__empty__descriptor, NULL);
    } else if (!strcmp(cmd, "stats")) {
      if (!(rc = call(&c, "StatsContainer", &r.base, &coffer__agent__v1__stats_container_response__descriptor, &resp)))
        print_stats((Coffer__Agent__V1__StatsContainerResponse *)resp);
    } else if (!(rc = call(&c, "ListProcesses", &r.base, &coffer__agent__v1__list_processes_response__descriptor, &resp))) {
      Coffer__Agent__V1__ListProcessesResponse *l = (Coffer__Agent__V1__ListProcessesResponse *)resp;
      for (size_t k = 0; k < l->n_processes; k++)
        printf("%u %s\n", l->processes[k]->pid, l->processes[k]->exec_id[0] ? l->processes[k]->exec_id : "-");
    }
  } else if (!strcmp(cmd, "oom")) {
    _cleanup_pb_ ProtobufCMessage *resp = NULL;
    c.timeout_ms = 0;
    if (!(rc = call(&c, "GetOOMEvent", NULL, &coffer__agent__v1__oomevent__descriptor, &resp))) {
      printf("%s\n", ((Coffer__Agent__V1__OOMEvent *)resp)->container_id);
    }
  } else if (!strcmp(cmd, "kill")) {
    bool all = false;
    int k = id_exec(cargc, cargv, &id, &eid, &all, "all");
    if (k < 0)
      return usage();
    Coffer__Agent__V1__SignalProcessRequest r = COFFER__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
    r.container_id = (char *)id;
    r.exec_id = (char *)eid;
    r.all = all;
    int sig = k < cargc ? parse_signal(cargv[k]) : SIGTERM;
    if (sig < 0)
      return die("unknown signal %s", cargv[k]);
    r.signal = (uint32_t)sig;
    rc = call(&c, "SignalProcess", &r.base, &google__protobuf__empty__descriptor, NULL);
  } else if (!strcmp(cmd, "wait")) {
    if (id_exec(cargc, cargv, &id, &eid, NULL, NULL) < 0)
      return usage();
    Coffer__Agent__V1__ProcessRequest r = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
    r.container_id = (char *)id;
    r.exec_id = (char *)eid;
    _cleanup_pb_ ProtobufCMessage *resp = NULL;
    c.timeout_ms = 0;
    if (!(rc = call(&c, "WaitProcess", &r.base, &coffer__agent__v1__wait_process_response__descriptor, &resp))) {
      rc = (int)((Coffer__Agent__V1__WaitProcessResponse *)resp)->exit_status;
      printf("%d\n", rc);
    }
  } else if (!strcmp(cmd, "logs") || !strcmp(cmd, "attach")) {
    bool in = false;
    if (id_exec(cargc, cargv, &id, &eid, &in, "stdin") < 0)
      return usage();
    /* logs: output only; the status printed is the process's */
    rc = do_attach(&c, id, eid, in && !strcmp(cmd, "attach"), false);
  } else if (!strcmp(cmd, "rm")) {
    bool force = false;
    if (id_exec(cargc, cargv, &id, &eid, &force, "force") < 0)
      return usage();
    Coffer__Agent__V1__RemoveContainerRequest r = COFFER__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
    r.container_id = (char *)id;
    r.force = force;
    rc = call(&c, "RemoveContainer", &r.base, &google__protobuf__empty__descriptor, NULL);
  } else {
    rc = usage();
  }
  ttrpc_client_free(c.cli);
  cf_loop_free(c.loop);
  return rc;
}
