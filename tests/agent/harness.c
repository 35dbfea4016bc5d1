#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/transport.h"

#define SVC "coffer.agent.v1.Agent"

static harness *current; /* for cleanup on failure */
const char *h_tmp_base = "/tmp";
const char *const *h_wrapper;
bool h_builtin;
/* exec'd in place, so the agent's pid stays the one the harness signals */
static const char *const builtin_wrapper[] = {
    "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
    "mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"$0\" \"$@\"", NULL};
bool h_no_sandbox;

void h_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

/* Remove the pod cgroup the agent made, in every hierarchy. */
static void remove_cgroups(const harness *h) {
  if (!h->cgroup_parent[0])
    return;
  DIR *d = opendir("/sys/fs/cgroup");
  struct dirent *e;
  char p[512];
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof(p), "/sys/fs/cgroup/%s%s", e->d_name, h->cgroup_parent);
    rmdir(p);
    char *slash = strrchr(p, '/'); /* and the shared /coffer-test parent when empty */
    if (slash) {
      *slash = '\0';
      rmdir(p);
    }
  }
  if (d)
    closedir(d);
  snprintf(p, sizeof(p), "/sys/fs/cgroup%s", h->cgroup_parent);
  rmdir(p);
}

void h_teardown(harness *h) {
  h_stop_agent(h);
  if (h->spec_template)
    json_object_put(h->spec_template);
  h->spec_template = NULL;
  if (h->loop)
    cf_loop_free(h->loop);
  h->loop = NULL;
  remove_cgroups(h);
  if (h->dir[0] && !getenv("KEEP_TEST_DIR"))
    nftw(h->dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  current = NULL;
}

void h_fail(void) {
  if (current) {
    fprintf(stderr, "--- agent log (%s):\n", current->log);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "tail -n 30 %s >&2", current->log);
    if (system(cmd) < 0)
      perror("tail");
    h_teardown(current);
  }
  exit(1);
}

static int run_quiet(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void h_build_rootfs(const char *dir) {
  char p[512];
  snprintf(p, sizeof(p), "%s/bin", dir);
  mkdir(dir, 0755);
  mkdir(p, 0755);
  const char *sub[] = {"proc", "sys", "dev", "tmp", "etc", "root"};
  for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
    mkdir(p, 0755);
  }
  snprintf(p, sizeof(p), "cp /bin/busybox %s/bin/busybox", dir);
  CHECK(run_quiet(p) == 0, "copy busybox");
  FILE *f = popen("/bin/busybox --list", "r");
  CHECK(f, "busybox --list");
  char name[128];
  while (fgets(name, sizeof(name), f)) {
    name[strcspn(name, "\n")] = '\0';
    if (!name[0] || !strcmp(name, "busybox"))
      continue;
    snprintf(p, sizeof(p), "%s/bin/%s", dir, name);
    if (symlink("busybox", p) < 0 && errno != EEXIST)
      CHECK(0, "symlink %s: %s", p, strerror(errno));
  }
  pclose(f);
}

void h_start_agent(harness *h, const char *const *extra) {
  char addr[220];
  snprintf(addr, sizeof(addr), "unix:%s", h->sock);
  h_start_agent_at(h, addr, -1, extra);
}

void h_start_agent_at(harness *h, const char *addr, int client_fd, const char *const *extra) {
  const char *argv[40];
  size_t n = 0;
  const char *const *wrap = h_wrapper ? h_wrapper : h_builtin ? builtin_wrapper : NULL;
  for (size_t i = 0; wrap && wrap[i] && n < 12; i++)
    argv[n++] = wrap[i];
  argv[n++] = h->agent_bin;
  argv[n++] = "--listen";
  argv[n++] = addr;
  argv[n++] = "--state";
  argv[n++] = h->state;
  argv[n++] = "--log-level";
  argv[n++] = "debug";
  if (h_builtin && !h_wrapper) {
    argv[n++] = "--runtime";
    argv[n++] = "builtin";
  }
  for (size_t i = 0; extra && extra[i] && n < 38; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 2);
    dup2(fd, 1);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  h->agent_pid = pid;
  cf_error err = {0};
  if (!h->loop)
    h->loop = cf_loop_new(&err);
  int cfd = client_fd >= 0 ? client_fd : cf_transport_connect(addr, 5000, &err);
  CHECK(cfd >= 0, "connect to the agent: %s", err.msg);
  h->cli = ttrpc_client_new(h->loop, cfd, &err);
  CHECK(h->cli, "client: %s", err.msg);
}

int h_stop_agent(harness *h) {
  int st = 0;
  if (h->cli)
    ttrpc_client_free(h->cli);
  h->cli = NULL;
  if (h->agent_pid > 0) {
    kill(h->agent_pid, h_wrapper ? SIGKILL : SIGTERM); /* unshare ignores SIGTERM */
    pid_t w = 0;
    for (int i = 0; i < 1000 && (w = waitpid(h->agent_pid, &st, WNOHANG)) == 0; i++)
      h_sleep_ms(10);
    if (w == 0) {
      kill(h->agent_pid, SIGKILL);
      waitpid(h->agent_pid, &st, 0);
    }
  }
  h->agent_pid = 0;
  /* whatever the agent left behind: containers of this test's runc root */
  char cmd[512];
  snprintf(cmd, sizeof(cmd),
           "for c in $(runc --root %s/runc list -q 2>/dev/null); do runc --root %s/runc delete -f $c; done",
           h->state, h->state);
  run_quiet(cmd);
  return st;
}

void h_setup(harness *h, const char *agent_bin, const char *const *extra) {
  memset(h, 0, sizeof(*h));
  signal(SIGPIPE, SIG_IGN);
  if (geteuid() != 0) {
    printf("SKIP: needs root (runc containers)\n");
    exit(SKIP);
  }
  if (access("/bin/busybox", X_OK) != 0 || run_quiet("runc --version >/dev/null 2>&1") != 0) {
    printf("SKIP: needs /bin/busybox (busybox-static) and runc\n");
    exit(SKIP);
  }
  h->agent_bin = agent_bin;
  snprintf(h->dir, sizeof(h->dir), "%s/coffer-agent-test-XXXXXX", h_tmp_base);
  CHECK(mkdtemp(h->dir), "mkdtemp");
  current = h;
  snprintf(h->sock, sizeof(h->sock), "%s/agent.sock", h->dir);
  snprintf(h->state, sizeof(h->state), "%s/state", h->dir);
  snprintf(h->rootfs, sizeof(h->rootfs), "%s/rootfs", h->dir);
  snprintf(h->log, sizeof(h->log), "%s/agent.log", h->dir);
  snprintf(h->sandbox, sizeof(h->sandbox), "pod-%d", (int)getpid());
  snprintf(h->cgroup_parent, sizeof(h->cgroup_parent), "/coffer-test/%s", h->sandbox);
  h_build_rootfs(h->rootfs);

  /* runc's own default spec is the template */
  char cmd[400], path[300];
  snprintf(cmd, sizeof(cmd), "cd %s && runc spec", h->dir);
  CHECK(run_quiet(cmd) == 0, "runc spec");
  snprintf(path, sizeof(path), "%s/config.json", h->dir);
  h->spec_template = json_object_from_file(path);
  CHECK(h->spec_template, "parse runc spec");

  h_start_agent(h, extra);
  if (h_no_sandbox)
    return;
  Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  r.sandbox_id = h->sandbox;
  r.cgroup_parent = h->cgroup_parent;
  char msg[512];
  int st = h_call(h, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                  sizeof(msg));
  CHECK(st == CF_OK, "CreateSandbox: %s", msg);
}

int h_call(harness *h, const char *method, const ProtobufCMessage *req,
           const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, char *msg,
           size_t cap) {
  cf_error err = {0};
  const char *svc = strcmp(method, "Check") ? SVC : "coffer.agent.v1.Health";
  int r = ttrpc_client_call_sync(h->cli, svc, method, req, desc, resp, 20000, &err);
  if (msg)
    snprintf(msg, cap, "%s", r < 0 ? err.msg : "");
  if (r < 0)
    return err.status ? err.status : CF_UNKNOWN;
  return CF_OK;
}

typedef struct bytes_reply {
  bool done;
  int status;
  char msg[512];
} bytes_reply;

static void on_bytes(int status, const char *message, const uint8_t *p, size_t len, void *data) {
  bytes_reply *b = data;
  b->status = status;
  snprintf(b->msg, sizeof(b->msg), "%s", message ? message : "");
  b->done = true;
}

int h_call_bytes(harness *h, const char *method, const uint8_t *buf, size_t len, char *msg,
                 size_t cap) {
  bytes_reply b = {0};
  cf_error err = {0};
  if (ttrpc_client_call_bytes(h->cli, SVC, method, buf, len, 10000, on_bytes, &b, &err) < 0)
    return CF_UNKNOWN;
  cf_loop_run_until(h->loop, &b.done, 15000);
  if (msg)
    snprintf(msg, cap, "%s", b.msg);
  return b.done ? b.status : CF_DEADLINE_EXCEEDED;
}

char *h_spec(harness *h, const char *const *args, const spec_opts *o) {
  spec_opts none = {0};
  if (!o)
    o = &none;
  json_object *s = NULL;
  json_object_deep_copy(h->spec_template, &s, NULL);
  json_object *proc, *jargs = json_object_new_array();
  json_object_object_get_ex(s, "process", &proc);
  for (size_t i = 0; args[i]; i++)
    json_object_array_add(jargs, json_object_new_string(args[i]));
  json_object_object_add(proc, "args", jargs);
  json_object_object_add(proc, "terminal", json_object_new_boolean(o->terminal));
  json_object *linux_;
  json_object_object_get_ex(s, "linux", &linux_);
  if (o->memory_limit) {
    json_object *res = json_object_new_object(), *mem = json_object_new_object();
    json_object_object_add(mem, "limit", json_object_new_int64(o->memory_limit));
    json_object_object_add(mem, "swap", json_object_new_int64(o->memory_limit));
    json_object_object_add(res, "memory", mem);
    json_object_object_add(linux_, "resources", res);
  }
  if (o->annotation_type) {
    json_object *ann = json_object_new_object();
    json_object_object_add(ann, "io.kubernetes.cri.container-type",
                           json_object_new_string(o->annotation_type));
    json_object_object_add(s, "annotations", ann);
  }
  char *txt = strdup(json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
  json_object_put(s);
  return txt;
}

json_object *h_spec_json(harness *h, const char *const *args, const spec_opts *o) {
  char *txt = h_spec(h, args, o);
  json_object *s = json_tokener_parse(txt);
  free(txt);
  CHECK(s, "parse the spec");
  return s;
}

int h_create(harness *h, const char *id, const char *const *args, const spec_opts *o,
             uint32_t *pid, char *msg, size_t cap) {
  char *spec = h_spec(h, args, o);
  int r = h_create_text(h, id, spec, o, pid, msg, cap);
  free(spec);
  return r;
}

int h_create_json(harness *h, const char *id, json_object *spec, const spec_opts *o,
                  uint32_t *pid, char *msg, size_t cap) {
  return h_create_text(h, id, json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN), o,
                       pid, msg, cap);
}

int h_create_text(harness *h, const char *id, const char *spec, const spec_opts *o,
                  uint32_t *pid, char *msg, size_t cap) {
  spec_opts none = {0};
  if (!o)
    o = &none;
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  rf.source = h->rootfs;
  st.terminal = o->terminal;
  st.stdin = o->in;
  st.stdout = true;
  st.stderr = !o->terminal && !o->no_stderr;
  req.container_id = (char *)id;
  req.spec.data = (uint8_t *)spec;
  req.spec.len = strlen(spec);
  req.rootfs = &rf;
  req.stdio = &st;
  ProtobufCMessage *resp = NULL;
  int r = h_call(h, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
                 &resp, msg, cap);
  if (r == CF_OK && pid)
    *pid = ((Coffer__Agent__V1__CreateContainerResponse *)resp)->pid;
  if (resp)
    protobuf_c_message_free_unpacked(resp, NULL);
  return r;
}

int h_start(harness *h, const char *id, char *msg, size_t cap) {
  Coffer__Agent__V1__ContainerRequest r = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  r.container_id = (char *)id;
  return h_call(h, "StartContainer", &r.base, &coffer__agent__v1__start_container_response__descriptor,
                NULL, msg, cap);
}

int h_remove(harness *h, const char *id, bool force) {
  Coffer__Agent__V1__RemoveContainerRequest r = COFFER__AGENT__V1__REMOVE_CONTAINER_REQUEST__INIT;
  r.container_id = (char *)id;
  r.force = force;
  return h_call(h, "RemoveContainer", &r.base, &google__protobuf__empty__descriptor, NULL, NULL, 0);
}

int h_signal(harness *h, const char *id, const char *eid, int sig) {
  Coffer__Agent__V1__SignalProcessRequest r = COFFER__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  r.signal = (uint32_t)sig;
  return h_call(h, "SignalProcess", &r.base, &google__protobuf__empty__descriptor, NULL, NULL, 0);
}

int h_wait(harness *h, const char *id, const char *eid) {
  Coffer__Agent__V1__ProcessRequest r = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  ProtobufCMessage *resp = NULL;
  int st = h_call(h, "WaitProcess", &r.base, &coffer__agent__v1__wait_process_response__descriptor,
                  &resp, NULL, 0);
  if (st != CF_OK)
    return -st;
  int code = (int)((Coffer__Agent__V1__WaitProcessResponse *)resp)->exit_status;
  protobuf_c_message_free_unpacked(resp, NULL);
  return code;
}

char *h_read_all(harness *h, const char *id, const char *eid, bool err_stream, size_t *lenp) {
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  for (;;) {
    Coffer__Agent__V1__ReadOutputRequest r = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
    r.container_id = (char *)id;
    r.exec_id = (char *)eid;
    ProtobufCMessage *resp = NULL;
    char msg[256];
    int st = h_call(h, err_stream ? "ReadStderr" : "ReadStdout", &r.base,
                    &coffer__agent__v1__read_output_response__descriptor, &resp, msg, sizeof(msg));
    CHECK(st == CF_OK, "read %s: %s", id, msg);
    Coffer__Agent__V1__ReadOutputResponse *o = (Coffer__Agent__V1__ReadOutputResponse *)resp;
    if (len + o->data.len + 1 > cap) {
      cap = (len + o->data.len + 1) * 2;
      buf = realloc(buf, cap);
    }
    if (o->data.len)
      memcpy(buf + len, o->data.data, o->data.len);
    len += o->data.len;
    bool eof = o->eof;
    protobuf_c_message_free_unpacked(resp, NULL);
    if (eof)
      break;
  }
  buf[len] = '\0';
  if (lenp)
    *lenp = len;
  return buf;
}

int h_write(harness *h, const char *id, const char *eid, const void *data, size_t len) {
  Coffer__Agent__V1__WriteStdinRequest r = COFFER__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  r.data.data = (uint8_t *)data;
  r.data.len = len;
  return h_call(h, "WriteStdin", &r.base, &coffer__agent__v1__write_stdin_response__descriptor,
                NULL, NULL, 0);
}

int h_close_stdin(harness *h, const char *id, const char *eid) {
  Coffer__Agent__V1__ProcessRequest r = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  return h_call(h, "CloseStdin", &r.base, &google__protobuf__empty__descriptor, NULL, NULL, 0);
}

int h_exec(harness *h, const char *id, const char *eid, const char *const *args, bool terminal,
           bool in, char *msg, size_t cap) {
  json_object *p = json_object_new_object(), *a = json_object_new_array(),
              *env = json_object_new_array(), *user = json_object_new_object();
  for (size_t i = 0; args[i]; i++)
    json_object_array_add(a, json_object_new_string(args[i]));
  json_object_array_add(env, json_object_new_string("PATH=/bin"));
  json_object_object_add(user, "uid", json_object_new_int(0));
  json_object_object_add(user, "gid", json_object_new_int(0));
  json_object_object_add(p, "args", a);
  json_object_object_add(p, "env", env);
  json_object_object_add(p, "cwd", json_object_new_string("/"));
  json_object_object_add(p, "user", user);
  const char *txt = json_object_to_json_string(p);
  Coffer__Agent__V1__ExecProcessRequest r = COFFER__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.terminal = terminal;
  st.stdin = in;
  st.stdout = true;
  st.stderr = !terminal;
  r.container_id = (char *)id;
  r.exec_id = (char *)eid;
  r.process.data = (uint8_t *)txt;
  r.process.len = strlen(txt);
  r.stdio = &st;
  int rc = h_call(h, "ExecProcess", &r.base, &coffer__agent__v1__exec_process_response__descriptor,
                  NULL, msg, cap);
  json_object_put(p);
  return rc;
}

long h_proc_status_kb(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  long v = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof(line), f))
    if (!strncmp(line, field, n) && line[n] == ':')
      v = strtol(line + n + 1, NULL, 10);
  if (f)
    fclose(f);
  return v;
}

int h_fd_count(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  if (d)
    closedir(d);
  return n;
}
