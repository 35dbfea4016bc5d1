/* Real VMs through libvirtd under TCG with the libvirt backend, as the shim
 * drives it. Usage: test_vmm_boot MODE (env COFFER_TEST_KERNEL/INITRD):
 *   virtiofs  boot → console marker → agent.0 channel → a container rootfs
 *             bind-mounted into the share shows up in the guest → stop →
 *             no domain, no QEMU/virtiofsd, no files
 *   block     same with the TEE path: erofs images in pre-attached slots
 *             (a slot is refilled after remove_rootfs)
 *   q35       the virtiofs case on machine q35 (virtio-pci)
 *   kill9     kill -9 of QEMU is noticed (pidfd, domain gone), cleanup
 *             leaves nothing and is idempotent
 *   agent     the guest image (guest/build.sh) with the real coffer-agent as
 *             /init answers Health over agent.0; its logs reach the console
 *   badkernel QEMU refusing to start is a clear error and leaves nothing
 *   poweroff  stop() with a grace period lets a guest that powers itself off
 *             (2 s after asked) end without destroy: stop returns after
 *             ~2 s, well before the grace period; the hung guests of the
 *             other modes are destroyed once their grace period is over
 * Prints timings. Exit 77 when a prerequisite is missing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/clock.h"
#include "coffer/transport.h"
#include "coffer/vmm.h"

#define CHECK(c, ...)                                                          \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);             \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      failed = 1;                                                              \
      goto out;                                                                \
    }                                                                          \
  } while (0)

static char *slurp(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f)
    return NULL;
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int wait_console(const char *path, const char *needle, int timeout_ms) {
  long long end = (long long)cf_now_ms() + timeout_ms;
  while ((long long)cf_now_ms() < end) {
    char *c = slurp(path);
    int hit = c && strstr(c, needle);
    free(c);
    if (hit)
      return 0;
    usleep(100000);
  }
  return -1;
}

static void dump_console(const char *path) {
  char *c = path ? slurp(path) : NULL;
  fprintf(stderr, "---- guest console ----\n%s\n-----------------------\n", c ? c : "(none)");
  free(c);
}

/* 1 if `coffer-vmm list --json` mentions name. */
static int domain_listed(const char *name) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "\"%s\" list --json 2>/dev/null", getenv("COFFER_VMM_HELPER"));
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  buf[n] = 0;
  int st = pclose(p);
  if (st != 0)
    return -1;
  char q[400];
  snprintf(q, sizeof(q), "\"%s\"", name);
  return strstr(buf, q) != NULL;
}

/* 1 if a process other than us has needle in its command line. */
static int process_with_arg(const char *needle) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int found = 0;
  while (d && !found && (e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == getpid())
      continue;
    char p[64], buf[8192];
    snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
    FILE *f = fopen(p, "re");
    if (!f)
      continue;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
      if (!buf[i])
        buf[i] = ' ';
    buf[n] = 0;
    if (strstr(buf, needle)) {
      fprintf(stderr, "process %ld: %s\n", pid, buf);
      found = 1;
    }
  }
  if (d)
    closedir(d);
  return found;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  if (!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "virtiofs";
  const char *kernel = getenv("COFFER_TEST_KERNEL"), *initrd = getenv("COFFER_TEST_INITRD");
  if (!kernel || !initrd || access(kernel, R_OK) || access(initrd, R_OK)) {
    printf("SKIP: no test guest kernel/initrd (COFFER_TEST_KERNEL/INITRD)\n");
    return 77;
  }
  if (!strcmp(mode, "agent") && !getenv("COFFER_TEST_AGENT_CTL")) {
    printf("SKIP: COFFER_TEST_AGENT_CTL not set\n");
    return 77;
  }
  if (!getenv("COFFER_VMM_HELPER")) {
    printf("SKIP: COFFER_VMM_HELPER not set\n");
    return 77;
  }
  int block = !strcmp(mode, "block");
  int q35 = !strcmp(mode, "q35"); /* the virtiofs case on q35 (virtio-pci) */
  int poweroff = !strcmp(mode, "poweroff");
  setenv("COFFER_VMM_ROOTFS", block ? "block" : "virtiofs", 1);
  setenv("COFFER_VMM_BLOCK_SLOTS", "2", 1);
  setenv("COFFER_VMM_BLOCK_SLOT_MIB", "64", 1);
  setenv("COFFER_AGENT_TRANSPORT", "serial", 1);

  const cf_vmm_ops *ops = cf_vmm_lookup("libvirt");
  if (!ops) {
    fprintf(stderr, "FAIL: libvirt backend not registered\n");
    return 1;
  }
  char tmpl[] = "/tmp/coffer-vmmtest.XXXXXX";
  char *top = mkdtemp(tmpl);
  if (!top) {
    perror("mkdtemp");
    return 1;
  }
  /* kill9 also proves the short socket path used when <state>/vm/agent.sock
   * would not fit in a unix socket address (108 bytes) */
  char state[400];
  int longpath = !strcmp(mode, "kill9");
  snprintf(state, sizeof(state), "%s%s", top,
           longpath ? "/a-state-directory-path-long-enough-that-vm-agent-sock-exceeds-sun-path" : "");
  if (longpath && mkdir(state, 0700) < 0) {
    perror("mkdir");
    return 1;
  }
  char pod[128], name[160], src[512], src2[512], vmdir[600];
  snprintf(pod, sizeof(pod), "vmmtest-%s-%d", mode, (int)getpid());
  snprintf(name, sizeof(name), "coffer-%s", pod);
  snprintf(vmdir, sizeof(vmdir), "%s/vm", state);
  char srcroot[] = "/tmp/coffer-vmmsrc.XXXXXX";
  if (!mkdtemp(srcroot))
    return 1;
  snprintf(src, sizeof(src), "%s/c1", srcroot);
  snprintf(src2, sizeof(src2), "%s/c2", srcroot);
  mkdir(src, 0755);
  mkdir(src2, 0755);
  char marker1[64], marker2[64], path[700];
  snprintf(marker1, sizeof(marker1), "m1-%d-%lld", (int)getpid(), (long long)cf_now_ms());
  snprintf(marker2, sizeof(marker2), "m2-%d-%lld", (int)getpid(), (long long)cf_now_ms());
  snprintf(path, sizeof(path), "%s/coffer-test-marker", src);
  write_file(path, marker1);
  snprintf(path, sizeof(path), "%s/coffer-test-marker", src2);
  write_file(path, marker2);

  cf_vm_config cfg = {.pod_id = pod, .state_dir = state, .profile = "plain", .kernel = kernel,
                      .initrd = initrd, .vcpus = 1, .memory_mib = 256,
                      .agent_timeout_ms = 30000, .machine = q35 ? "q35" : NULL};
  cf_error err = {0};
  cf_vm *vm = NULL;
  int failed = 0, pidfd = -1, agent = -1;
  const char *console = NULL;
  pid_t pid = 0;
  char qemu_log[400];
  snprintf(qemu_log, sizeof(qemu_log), "/var/log/libvirt/qemu/%s.log", name);
  if (!strcmp(mode, "badkernel") && access("/dev/vhost-vsock", F_OK) != 0) {
    /* a transport the host cannot give is a clear error, not a hang */
    cfg.agent_transport = "vsock";
    CHECK(ops->start(&cfg, &vm, &err) < 0 && strstr(err.msg, "vhost-vsock"),
          "vsock without /dev/vhost-vsock: %s", err.msg);
    printf("vsock refused as expected: %s\n", err.msg);
    cfg.agent_transport = "carrier-pigeon";
    CHECK(ops->start(&cfg, &vm, &err) < 0 && strstr(err.msg, "carrier-pigeon"),
          "unknown transport: %s", err.msg);
    CHECK(access(vmdir, F_OK) != 0, "%s left after a refused start", vmdir);
    cfg.agent_transport = NULL;
  }
  if (!strcmp(mode, "badkernel")) {
    /* QEMU refuses the kernel: start fails with QEMU's reason, and leaves nothing */
    cfg.kernel = initrd; /* not a kernel */
    int r = ops->start(&cfg, &vm, &err);
    CHECK(r < 0, "start with a bogus kernel succeeded");
    printf("start failed as expected: %s\n", err.msg);
    CHECK(strstr(err.msg, pod) && strstr(err.msg, "QEMU log"), "error lacks the pod or QEMU's reason");
    CHECK(domain_listed(name) == 0, "domain %s exists after a failed start", name);
    CHECK(access(vmdir, F_OK) != 0, "%s left after a failed start", vmdir);
    CHECK(!process_with_arg(vmdir), "a process still refers to %s", vmdir);
    printf("PASS badkernel\n");
    goto out;
  }
  long long t0 = (long long)cf_now_ms();
  int r = ops->start(&cfg, &vm, &err);
  long long t_start = (long long)cf_now_ms() - t0;
  CHECK(r == 0, "start: %s", err.msg);
  pid = ops->pid(vm);
  console = ops->console_log(vm);
  const char *addr = ops->agent_address(vm);
  printf("started %s in %lld ms: qemu pid %d, agent %s, console %s\n", name, t_start, (int)pid,
         addr, console);
  CHECK(pid > 0 && kill(pid, 0) == 0, "QEMU pid %d not alive", (int)pid);
  pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  CHECK(pidfd >= 0, "pidfd_open: %s", strerror(errno));
  CHECK(strncmp(addr, "unix:", 5) == 0, "agent address %s", addr);
  char short_sock[300] = "";
  if (longpath) {
    CHECK(strncmp(addr, "unix:/run/coffer/vmm-sock/", 26) == 0 && strlen(addr) - 5 < 108,
          "long state dir: agent socket %s is not the short fallback", addr);
    snprintf(short_sock, sizeof(short_sock), "%s", addr + 5);
  }
  if (!strcmp(mode, "agent")) {
    /* the real coffer-agent as the guest's /init answers Health.Check */
    const char *ctl = getenv("COFFER_TEST_AGENT_CTL");
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "\"%s\" --addr '%s' --timeout 1000 health 2>/dev/null | grep -q SERVING",
             ctl, addr);
    long long end = (long long)cf_now_ms() + 45000;
    int serving = 0;
    while (!serving && (long long)cf_now_ms() < end)
      serving = system(cmd) == 0;
    CHECK(serving, "coffer-agent did not answer Health on %s", addr);
    printf("coffer-agent answered Health after %lld ms (from start)\n", (long long)cf_now_ms() - t0);
    CHECK(wait_console(console, "coffer-agent", 5000) == 0, "the agent's log lines are not on the console");
    r = ops->stop(vm, 1000, &err);
    vm = NULL;
    CHECK(r == 0, "stop: %s", err.msg);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1, "QEMU still alive after stop");
    goto check_nothing_left;
  }
  agent = cf_transport_connect(addr, 10000, &err);
  CHECK(agent >= 0, "connect agent channel: %s", err.msg);

  CHECK(wait_console(console, "COFFER-TEST-GUEST-BOOTED", 40000) == 0, "no boot marker on the console");
  long long t_boot = (long long)cf_now_ms() - t0;
  printf("guest console marker after %lld ms\n", t_boot);
  {
    struct pollfd p = {.fd = agent, .events = POLLIN};
    char buf[256] = "";
    size_t got = 0;
    long long end = (long long)cf_now_ms() + 20000;
    while ((long long)cf_now_ms() < end && !strstr(buf, "COFFER-TEST-HELLO-FROM-GUEST")) {
      if (poll(&p, 1, 200) > 0) {
        ssize_t n = read(agent, buf + got, sizeof(buf) - 1 - got);
        if (n > 0)
          got += (size_t)n;
        buf[got] = 0;
      }
    }
    CHECK(strstr(buf, "COFFER-TEST-HELLO-FROM-GUEST"), "nothing from the guest on agent.0 (got \"%s\")", buf);
    printf("agent.0 channel answered after %lld ms\n", (long long)cf_now_ms() - t0);
  }
  CHECK(wait_console(console, "COFFER-TEST-GUEST-READY", 30000) == 0, "guest did not get ready");

  if (!strcmp(mode, "kill9")) {
    CHECK(kill(pid, SIGKILL) == 0, "kill -9 %d", (int)pid);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1, "pidfd of QEMU not readable 5 s after kill -9");
    long long end = (long long)cf_now_ms() + 10000;
    while (domain_listed(name) != 0 && (long long)cf_now_ms() < end)
      usleep(100000);
    CHECK(domain_listed(name) == 0, "domain %s still listed after QEMU died", name);
    printf("kill -9 noticed: pidfd readable, domain gone\n");
    free(vm); /* the shim would forget its handle and run cleanup (delete) */
    vm = NULL;
    CHECK(ops->cleanup(pod, state, &err) == 0, "cleanup: %s", err.msg);
    CHECK(ops->cleanup(pod, state, &err) == 0, "second cleanup: %s", err.msg);
  } else if (poweroff) {
    snprintf(path, sizeof(path), "%s/share/poweroff", vmdir);
    write_file(path, "now");
    CHECK(wait_console(console, "COFFER-TEST-POWEROFF-IN-2S", 10000) == 0, "guest did not see the request");
    long long ts = (long long)cf_now_ms();
    r = ops->stop(vm, 30000, &err);
    vm = NULL;
    long long took = (long long)cf_now_ms() - ts;
    CHECK(r == 0, "stop: %s", err.msg);
    printf("stop (grace 30000 ms) of a guest powering off in ~2 s took %lld ms\n", took);
    /* < 1 s would mean destroyed at once; ~30 s the exit went unnoticed */
    CHECK(took >= 1000 && took < 20000, "stop took %lld ms: no clean power-off", took);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1, "QEMU still alive after stop");
  } else {
    cf_rootfs rf;
    CHECK(ops->add_rootfs(vm, "ctr1", src, &rf, &err) == 0, "add_rootfs: %s", err.msg);
    char want[200];
    if (block) {
      CHECK(rf.kind == CF_ROOTFS_BLOCK && !strcmp(rf.fstype, "erofs") && rf.readonly,
            "rootfs kind %d fstype %s", rf.kind, rf.fstype);
      snprintf(want, sizeof(want), "COFFER-TEST-ROOTFS-BLOCK %s %s", rf.source, marker1);
    } else {
      CHECK(rf.kind == CF_ROOTFS_VIRTIOFS && !strcmp(rf.source, "ctr1/rootfs"), "rootfs %d %s",
            rf.kind, rf.source);
      snprintf(want, sizeof(want), "COFFER-TEST-ROOTFS-VIRTIOFS %s", marker1);
    }
    CHECK(wait_console(console, want, 20000) == 0, "guest did not see the rootfs (%s)", want);
    printf("rootfs (%s, %s) seen by the guest\n", block ? "block" : "virtiofs", rf.source);
    CHECK(ops->add_rootfs(vm, "ctr1", src, &rf, &err) < 0, "a second add_rootfs for ctr1 succeeded");
    CHECK(ops->add_rootfs(vm, "../evil", src, &rf, &err) < 0, "a hostile container id was accepted");
    CHECK(ops->remove_rootfs(vm, "ctr1", &err) == 0, "remove_rootfs: %s", err.msg);
    CHECK(ops->remove_rootfs(vm, "ctr1", &err) == 0, "second remove_rootfs: %s", err.msg);
    if (block) {
      /* the freed slot is refilled for the next container */
      CHECK(ops->add_rootfs(vm, "ctr2", src2, &rf, &err) == 0, "add_rootfs ctr2: %s", err.msg);
      snprintf(want, sizeof(want), "COFFER-TEST-ROOTFS-BLOCK %s %s", rf.source, marker2);
      CHECK(wait_console(console, want, 20000) == 0, "guest did not see the refilled slot (%s)", want);
      printf("refilled slot %s seen by the guest\n", rf.source);
    } else {
      snprintf(path, sizeof(path), "%s/coffer-test-marker", src);
      CHECK(access(path, F_OK) == 0, "remove_rootfs damaged the host rootfs");
    }
    long long ts = (long long)cf_now_ms();
    r = ops->stop(vm, 1000, &err);
    vm = NULL;
    CHECK(r == 0, "stop: %s", err.msg);
    long long took = (long long)cf_now_ms() - ts;
    printf("stop (grace 1000 ms) of a guest that does not power off took %lld ms\n", took);
    CHECK(took >= 1000 && took < 15000, "stop took %lld ms, not grace then destroy", took);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1, "QEMU still alive after stop");
  }
check_nothing_left:
  /* Nothing left behind. */
  CHECK(domain_listed(name) == 0, "domain %s still exists", name);
  CHECK(!process_with_arg(vmdir), "a process still refers to %s", vmdir);
  CHECK(access(vmdir, F_OK) != 0, "%s still exists", vmdir);
  CHECK(access(qemu_log, F_OK) != 0, "libvirt's %s still exists", qemu_log);
  CHECK(!short_sock[0] || access(short_sock, F_OK) != 0, "socket %s still exists", short_sock);
  snprintf(path, sizeof(path), "%s/coffer-test-marker", src);
  CHECK(access(path, F_OK) == 0, "the host rootfs %s was damaged", src);
  printf("PASS %s: nothing left (domain, processes, %s)\n", mode, vmdir);
out:
  if (failed)
    dump_console(console);
  if (agent >= 0)
    close(agent);
  if (vm)
    ops->stop(vm, 0, &err);
  ops->cleanup(pod, state, &err);
  rmdir(state);
  rmdir(top);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srcroot);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", srcroot);
  return failed;
}
