/* The process VM backend: start runs the configured agent with its socket
 * and state under the pod dir and records "PID STARTTIME"; stop ends it and
 * removes the state; cleanup() after a dead shim kills the recorded agent
 * but never a process that merely reuses its pid (start time differs). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/vmm.h"

#include "expect.h"

#define CHECK(c) EXPECT(c, "%s", "")

static bool alive(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  char buf[512];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  return p && p[2] != 'Z';
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

int main(void) {
  const cf_vmm_ops *ops = cf_vmm_lookup("process");
  if (!ops) {
    fprintf(stderr, "process backend not linked\n");
    return 1;
  }
  char dir[] = "/tmp/coffer-pb.XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char agent[256], state[256], pidfile[300];
  snprintf(agent, sizeof(agent), "%s/fake-agent", dir);
  snprintf(state, sizeof(state), "%s/pod", dir);
  snprintf(pidfile, sizeof(pidfile), "%s/agent.pid", state);
  /* a stand-in agent: records its arguments, then idles */
  char script[600];
  snprintf(script, sizeof(script), "#!/bin/sh\necho \"$@\" > %s/args\nexec sleep 1000\n", dir);
  write_file(agent, script);
  chmod(agent, 0755);
  mkdir(state, 0700);

  cf_vm_config cfg = {.pod_id = "p1", .state_dir = state, .agent_path = agent,
                      .log_level = "info", .agent_timeout_ms = 1000};
  cf_vm *vm = NULL;
  cf_error err = {0};
  CHECK(ops->start(&cfg, &vm, &err) == 0);
  if (!vm) {
    fprintf(stderr, "start: %s\n", err.msg);
    return 1;
  }
  pid_t pid = ops->pid(vm);
  CHECK(pid > 0 && alive(pid));
  char want[300];
  snprintf(want, sizeof(want), "unix:%s/agent.sock", state);
  CHECK(strcmp(ops->agent_address(vm), want) == 0);
  cf_rootfs rf;
  CHECK(ops->add_rootfs(vm, "c1", "/some/bundle/rootfs", &rf, &err) == 0);
  CHECK(rf.kind == CF_ROOTFS_HOST_PATH && strcmp(rf.source, "/some/bundle/rootfs") == 0);
  CHECK(access(pidfile, F_OK) == 0);

  /* a recorded pid whose start time does not match is left alone */
  FILE *f = fopen(pidfile, "r");
  int rpid = 0;
  unsigned long long start = 0;
  CHECK(f && fscanf(f, "%d %llu", &rpid, &start) == 2);
  if (f)
    fclose(f);
  CHECK(rpid == pid && start > 0);
  char wrong[64];
  snprintf(wrong, sizeof(wrong), "%d %llu\n", (int)pid, start + 12345);
  write_file(pidfile, wrong);
  CHECK(ops->cleanup("p1", state, &err) == 0);
  CHECK(alive(pid));                  /* not killed: not provably ours */
  CHECK(access(state, F_OK) != 0);    /* state removed all the same */

  /* the right start time: killed (cleanup after a dead shim), idempotent */
  mkdir(state, 0700);
  snprintf(wrong, sizeof(wrong), "%d %llu\n", (int)pid, start);
  write_file(pidfile, wrong);
  CHECK(ops->cleanup("p1", state, &err) == 0);
  waitpid(pid, NULL, 0);
  CHECK(!alive(pid));
  CHECK(ops->cleanup("p1", state, &err) == 0);
  /* the shim that started it would still stop (and free) its handle */
  CHECK(ops->stop(vm, 100, &err) == 0);

  /* stop: a fresh agent ends, its state goes */
  mkdir(state, 0700);
  vm = NULL;
  CHECK(ops->start(&cfg, &vm, &err) == 0);
  if (vm) {
    pid = ops->pid(vm);
    CHECK(ops->stop(vm, 500, &err) == 0);
    CHECK(!alive(pid));
    CHECK(access(state, F_OK) != 0);
  }
  /* a missing agent binary is a clear error */
  cf_vm_config bad = cfg;
  bad.agent_path = "/nonexistent/coffer-agent";
  vm = NULL;
  mkdir(state, 0700);
  CHECK(ops->start(&bad, &vm, &err) < 0 && strstr(err.msg, "/nonexistent/coffer-agent"));

  char cmd[400];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0)
    failed++;
  if (failed)
    fprintf(stderr, "failed\n");
  return failed ? 1 : 0;
}
