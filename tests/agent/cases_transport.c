/* agent_test cases: the agent reached other ways: coffer-agent-ctl, the serial transport,
 * PID 1 mode. */
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

static void test_ctl(void) {
  const char *ctl_bin = h_ctl_bin;
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

const agent_case agent_cases_transport[] = {
    {"ctl", test_ctl},
    {"serial_transport", test_serial_transport},
    {"pid1_mode", test_pid1_mode},
    {NULL, NULL},
};
