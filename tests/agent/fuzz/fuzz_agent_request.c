/* fuzz_agent_request: arbitrary bytes as the payload of every agent RPC,
 * through the real ttrpc server and handlers, with no runc (its path does
 * not exist) and no block devices. The first byte picks the method.
 *
 * Built as a libFuzzer target with COFFER_FUZZ; otherwise (FUZZ_REPLAY_MAIN)
 * a test that replays the seed corpus plus deterministic mutations of
 * valid requests. `--write-seeds DIR` writes the valid requests as seeds. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "job.h"
#include "service.h"
#include "agent.pb-c.h"
#include "coffer/log.h"
#include "coffer/policy.h"

static const char *const methods[] = {
    "CreateSandbox", "CreateContainer", "StartContainer", "RemoveContainer", "ExecProcess",
    "RemoveProcess", "SignalProcess", "WaitProcess", "WriteStdin", "CloseStdin", "ReadStdout",
    "ReadStderr", "ResizeTty", "PauseContainer", "ResumeContainer", "UpdateContainer",
    "StatsContainer", "ListProcesses", "GetGuestDetails"};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

static struct fuzz_ctx {
  bool ready;
  agent a;
  ttrpc_client *cli;
  char dir[64], share[96], block[96], state[96];
} F;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void cleanup(void) {
  if (F.dir[0])
    nftw(F.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void) {
  cf_error err = {0};
  cf_log_init("agent", CF_LOG_ERROR, -1);
  snprintf(F.dir, sizeof(F.dir), "/tmp/coffer-fuzz-XXXXXX");
  if (!mkdtemp(F.dir))
    abort();
  atexit(cleanup);
  snprintf(F.share, sizeof(F.share), "%s/share", F.dir);
  snprintf(F.block, sizeof(F.block), "%s/block", F.dir);
  snprintf(F.state, sizeof(F.state), "%s/state", F.dir);
  mkdir(F.share, 0755);
  mkdir(F.block, 0755);
  mkdir(F.state, 0755);
  char p[128];
  snprintf(p, sizeof(p), "%s/bundles", F.state);
  mkdir(p, 0755);
  agent *a = &F.a;
  a->runtime = "/nonexistent/runc";
  a->state_dir = F.state;
  if (asprintf(&a->runc_root, "%s/runc", F.state) < 0 ||
      asprintf(&a->runc_log, "%s/runc.log", F.state) < 0)
    abort();
  a->shared_dir = F.share;
  a->block_dir = F.block;
  a->cgroup_version = 1;
  a->runc_timeout_ms = 2000;
  a->sigchld_fd = -1;
  a->policy = cf_policy_default(false); /* allow: every handler's decoding is reached */
  int sv[2];
  if (!(a->loop = cf_loop_new(&err)) || !(a->srv = ttrpc_server_new(a->loop, &err)) ||
      agent_jobs_start(a, &err) < 0 || agent_service_register(a, &err) < 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      ttrpc_server_add_conn(a->srv, sv[0], &err) < 0 ||
      !(F.cli = ttrpc_client_new(a->loop, sv[1], &err))) {
    fprintf(stderr, "fuzz setup: %s\n", err.msg);
    abort();
  }
  F.ready = true;
}

typedef struct reply {
  bool done;
} reply;

static void on_reply(int status, const char *m, const uint8_t *p, size_t len, void *d) {
  ((reply *)d)->done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!F.ready)
    setup();
  if (size < 1)
    return 0;
  reply r = {0};
  cf_error err = {0};
  if (ttrpc_client_call_bytes(F.cli, "coffer.agent.v1.Agent", methods[data[0] % N_METHODS],
                              data + 1, size - 1, 5000, on_reply, &r, &err) < 0)
    abort();
  cf_loop_run_until(F.a.loop, &r.done, 6000);
  if (!r.done) { /* every call here must be answered: nothing can exist to wait on */
    fprintf(stderr, "no reply to %s\n", methods[data[0] % N_METHODS]);
    abort();
  }
  return 0;
}

#ifdef FUZZ_REPLAY_MAIN
/* Valid requests for each method: the seeds. */
static size_t seed(unsigned i, uint8_t *buf, size_t cap) {
  static const char spec[] =
      "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":"
      "\"rootfs\"},\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
      "\"linux\":{\"namespaces\":[{\"type\":\"ipc\"},{\"type\":\"network\",\"path\":\"/var/run/netns/x\"}]}}";
  ProtobufCMessage *m = NULL;
  Coffer__Agent__V1__CreateSandboxRequest sb = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  Coffer__Agent__V1__CreateContainerRequest cc = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  Coffer__Agent__V1__ContainerRequest cr = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__ExecProcessRequest ex = COFFER__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
  Coffer__Agent__V1__SignalProcessRequest sg = COFFER__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
  Coffer__Agent__V1__ProcessRequest pr = COFFER__AGENT__V1__PROCESS_REQUEST__INIT;
  Coffer__Agent__V1__WriteStdinRequest ws = COFFER__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
  Coffer__Agent__V1__ResizeTtyRequest rt = COFFER__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
  Coffer__Agent__V1__UpdateContainerRequest up = COFFER__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__ReadOutputRequest ro = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  const char *name = methods[i % N_METHODS];
  sb.sandbox_id = "pod1";
  sb.hostname = "h";
  cc.container_id = "c1";
  cc.spec.data = (uint8_t *)spec;
  cc.spec.len = sizeof(spec) - 1;
  rf.kind = (Coffer__Agent__V1__Rootfs__Kind)(i / N_METHODS % 3);
  rf.source = rf.kind == 0 ? "/tmp" : "pod/c1";
  rf.fstype = "erofs";
  cc.rootfs = &rf;
  st.stdout = st.stderr = true;
  cc.stdio = &st;
  cr.container_id = "c1";
  ex.container_id = "c1";
  ex.exec_id = "e1";
  ex.process.data = (uint8_t *)"{\"args\":[\"true\"],\"cwd\":\"/\"}";
  ex.process.len = strlen((char *)ex.process.data);
  sg.container_id = "c1";
  sg.signal = 9;
  pr.container_id = "c1";
  pr.exec_id = "e1";
  ws.container_id = "c1";
  ws.data.data = (uint8_t *)"hello";
  ws.data.len = 5;
  rt.container_id = "c1";
  rt.width = 80;
  rt.height = 24;
  up.container_id = "c1";
  up.resources.data = (uint8_t *)"{\"memory\":{\"limit\":1000000}}";
  up.resources.len = strlen((char *)up.resources.data);
  ro.container_id = "c1";
  ro.max_bytes = 10;
  if (!strcmp(name, "CreateSandbox")) m = &sb.base;
  else if (!strcmp(name, "CreateContainer")) m = &cc.base;
  else if (!strcmp(name, "ExecProcess")) m = &ex.base;
  else if (!strcmp(name, "SignalProcess")) m = &sg.base;
  else if (!strcmp(name, "WriteStdin")) m = &ws.base;
  else if (!strcmp(name, "ResizeTty")) m = &rt.base;
  else if (!strcmp(name, "UpdateContainer")) m = &up.base;
  else if (!strncmp(name, "Read", 4)) m = &ro.base;
  else if (strstr(name, "Process") || !strcmp(name, "CloseStdin")) m = &pr.base;
  else if (strcmp(name, "GetGuestDetails")) m = &cr.base;
  buf[0] = (uint8_t)(i % N_METHODS);
  size_t n = m ? protobuf_c_message_get_packed_size(m) : 0;
  if (n + 1 > cap)
    return 0;
  if (m)
    protobuf_c_message_pack(m, buf + 1);
  return n + 1;
}

static int replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    FILE *f = fopen(p, "rb");
    if (!f)
      continue;
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    n++;
  }
  if (d)
    closedir(d);
  return n;
}

int main(int argc, char **argv) {
  static uint8_t buf[8192], mut[8192];
  if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
    for (unsigned i = 0; i < N_METHODS * 3; i++) {
      size_t n = seed(i, buf, sizeof(buf));
      char p[1024];
      snprintf(p, sizeof(p), "%s/seed-%02u-%s", argv[2], i, methods[i % N_METHODS]);
      FILE *f = fopen(p, "wb");
      if (!f || fwrite(buf, 1, n, f) != n)
        return 1;
      fclose(f);
    }
    return 0;
  }
  int files = argc > 1 ? replay_dir(argv[1]) : 0;
  /* deterministic mutations of every seed: flips, truncations, splices */
  uint32_t rng = 12345;
  unsigned runs = 0;
  for (unsigned i = 0; i < N_METHODS * 3; i++) {
    size_t n = seed(i, buf, sizeof(buf));
    LLVMFuzzerTestOneInput(buf, n);
    for (int k = 0; k < 40; k++, runs++) {
      memcpy(mut, buf, n);
      size_t len = n;
      for (int f = 0; f < 1 + k % 4; f++) {
        rng = rng * 1103515245u + 12345u;
        size_t pos = 1 + (rng >> 8) % (len > 1 ? len - 1 : 1);
        if (pos < len)
          mut[pos] ^= (uint8_t)(1u << ((rng >> 4) % 8));
      }
      if (k % 5 == 0)
        len = 1 + (rng >> 3) % len;
      LLVMFuzzerTestOneInput(mut, len);
    }
  }
  printf("replayed %d corpus files and %u mutated requests; the agent answered every one\n",
         files, runs + (unsigned)(N_METHODS * 3));
  return 0;
}
#endif
