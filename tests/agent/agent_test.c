/* agent_test: one case of the agent suite per run (AGENT_BIN CASE [CTL_BIN]):
 * the set-up a case needs, then the case from its area file (cases_*.c).
 * coffer-agent runs as a host process against real runc (or its built-in
 * runtime) and a busybox rootfs. */
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

harness H;
char msg[1024];
const char *h_ctl_bin;

static void (*find_case(const char *name))(void) {
  const agent_case *const areas[] = {agent_cases_io, agent_cases_lifecycle, agent_cases_pod,
                                     agent_cases_transport, agent_cases_spec, agent_cases_policy,
                                     agent_cases_secrets, agent_cases_volumes};
  for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++)
    for (const agent_case *k = areas[i]; k->name; k++)
      if (!strcmp(k->name, name))
        return k->run;
  return NULL;
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
  if (!strcmp(c, "guest_rejects_host_paths") || !strcmp(c, "guest_volumes") ||
      !strcmp(c, "tee_refuses_host_sharing")) {
    h_setup(&H, argv[1], NULL);
    h_stop_agent(&H);
    snprintf(share, sizeof(share), "%s/share", H.dir);
    mkdir(share, 0755);
    /* the TEE rules under an allow-default policy: what is refused here is
     * refused by the TEE rules themselves, whatever the policy allows */
    char policy[300];
    snprintf(policy, sizeof(policy), "%s/policy.json", H.dir);
    FILE *pf = fopen(policy, "we");
    CHECK(pf && fputs("{\"version\":1,\"default\":\"allow\"}", pf) >= 0 && fclose(pf) == 0,
          "write %s", policy);
    bool tee = !strcmp(c, "tee_refuses_host_sharing");
    const char *extra_guest[] = {"--guest", "--shared-dir", share, NULL};
    const char *extra_tee[] = {"--guest", "--tee", "--policy", policy, "--shared-dir", share, NULL};
    h_start_agent(&H, tee ? extra_tee : extra_guest);
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
  } else if (!strcmp(c, "secrets_and_token") || !strcmp(c, "attester_restart")) {
    int r = agent_secrets_setup();
    if (r)
      return r;
    h_setup(&H, argv[1], NULL);
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
  } else if (!strcmp(c, "shared_pid_namespace") ||
             !strcmp(c, "init_exit_ends_shared_pid_namespace_container")) {
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
  void (*run)(void) = find_case(c);
  if (!run) {
    fprintf(stderr, "unknown case %s\n", c);
    h_teardown(&H);
    return 2;
  }
  h_ctl_bin = argc > 3 ? argv[3] : NULL;
  run();
  CHECK(kill(H.agent_pid, 0) == 0, "the agent died during the test");
  int st = h_stop_agent(&H);
  CHECK(st == 0, "the agent did not exit cleanly on SIGTERM (wait status 0x%x; see its log for sanitizer reports)", st);
  h_teardown(&H);
  printf("PASS %s\n", c);
  return 0;
}

