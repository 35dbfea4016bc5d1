/* The broker relay end to end through the process backend: the real
 * coffer-agent runs the guest pump on the backend's relay channel (a
 * socketpair standing for the virtio port relay.0), the host relay (as the
 * shim runs it) serves the other end, and a guest program's cf_relay_dial
 * reaches an echo broker. Stopping the pod ends the channel and the host
 * relay notices.
 *
 * usage: test_relay_agent COFFER_AGENT */
#include "relay_rig.h"

#include <sys/stat.h>

#include "coffer/vmm.h"

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc < 2 || access(argv[1], X_OK) != 0) {
    printf("SKIP: coffer-agent is not built\n");
    return 77;
  }
  const cf_vmm_ops *ops = cf_vmm_lookup("process");
  CHECK(ops && ops->relay_channel);
  char dir[] = "/tmp/relay-agent-XXXXXX";
  CHECK(mkdtemp(dir));
  char state[128], log[160];
  snprintf(state, sizeof(state), "%s/pod", dir);
  snprintf(log, sizeof(log), "%s/host-relay.log", dir);
  CHECK(mkdir(state, 0700) == 0);
  char pod_id[64];
  snprintf(pod_id, sizeof(pod_id), "relay-test-%d", (int)getpid());
  cf_vm_config cfg = {.pod_id = pod_id, .state_dir = state, .sock_dir = dir,
                      .agent_path = argv[1], .log_level = "info", .agent_timeout_ms = 5000,
                      .relay = 1};
  cf_vm *vm = NULL;
  cf_error err = {0};
  if (ops->start(&cfg, &vm, &err) < 0) {
    fprintf(stderr, "start: %s\n", err.msg);
    return 1;
  }
  int chan = ops->relay_channel(vm, &err);
  CHECK(chan >= 0);
  CHECK(ops->relay_channel(vm, &err) < 0); /* one owner */

  /* the echo broker */
  unsigned port;
  int lfd = rig_tcp_listener(&port);
  pid_t broker = fork();
  CHECK(broker >= 0);
  if (broker == 0) {
    rig_die_with_parent();
    for (;;) {
      int c = accept(lfd, NULL, NULL);
      char b[4096];
      ssize_t n;
      while (c >= 0 && (n = read(c, b, sizeof(b))) > 0)
        if (write(c, b, (size_t)n) != n)
          break;
      if (c >= 0)
        close(c);
    }
  }
  close(lfd);

  /* the host relay, as the shim runs it */
  pid_t host = fork();
  CHECK(host >= 0);
  if (host == 0) {
    rig_die_with_parent();
    cf_log_init("host", CF_LOG_INFO, open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    cf_loop *loop = cf_loop_new(&err);
    char url[64];
    snprintf(url, sizeof(url), "127.0.0.1:%u", port);
    cf_relay_opts o = {.name = pod_id, .broker = url};
    if (!loop || !cf_relay_host_new(loop, chan, &o, &err))
      _exit(3);
    cf_loop_run(loop);
    _exit(0);
  }
  close(chan);

  char sock[160];
  snprintf(sock, sizeof(sock), "%s/relay-guest.sock", dir);
  int fd = -1;
  for (int i = 0; i < 300 && fd < 0; i++) { /* the agent needs a moment to listen */
    fd = cf_relay_dial_at(sock, 2000, &err);
    if (fd < 0)
      usleep(10000);
  }
  if (fd < 0)
    fprintf(stderr, "dial: %s\n", err.msg);
  CHECK(fd >= 0);
  CHECK(write(fd, "through the agent", 17) == 17);
  char buf[32] = "";
  size_t got = 0;
  while (got < 17) {
    ssize_t n = read(fd, buf + got, 17 - got);
    CHECK(n > 0);
    got += (size_t)n;
  }
  CHECK(!memcmp(buf, "through the agent", 17));
  close(fd);
  printf("ok   coffer-agent's pump (process backend channel) and the host relay reach the broker\n");

  /* the pod goes: the host relay sees the channel end */
  CHECK(ops->stop(vm, 2000, &err) == 0);
  bool noticed = false;
  for (int i = 0; i < 200 && !noticed; i++) {
    FILE *f = fopen(log, "r");
    char line[1024];
    while (f && fgets(line, sizeof(line), f))
      noticed |= strstr(line, "the relay channel closed (the VM is gone)") != NULL;
    if (f)
      fclose(f);
    if (!noticed)
      usleep(10000);
  }
  CHECK(noticed);
  printf("ok   stopping the pod ends the relay channel; the host relay logs it\n");
  kill(host, SIGKILL);
  kill(broker, SIGKILL);
  waitpid(host, NULL, 0);
  waitpid(broker, NULL, 0);
  char cmd[96];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
