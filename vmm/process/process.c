/* The `process` backend: the pod's agent runs as a host process (no VM, no
 * isolation; for tests and development, never confidential).
 *
 * state_dir/agent.sock    the agent's socket
 * state_dir/agent/        the agent's --state (bundles, runc root)
 * state_dir/agent.pid     "PID STARTTIME": cleanup() kills exactly that
 *                         process, never a later one that reused the pid
 * sock_dir/relay-guest.sock  the broker relay's guest socket (coffer/relay.h);
 *                         its channel is a socketpair, the agent's fd 3
 *
 * The agent's containers live in the cgroup /coffer/<pod_id>/<container>
 * (the agent's default parent; the shim sends none): stop() and cleanup()
 * remove what is left of it in every hierarchy.
 * cf_vm_config.agent_transport is ignored: the agent always listens on the
 * unix socket above. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/id.h"
#include "coffer/log.h"
#include "coffer/vmm.h"

#define SUN_PATH_MAX 107 /* sizeof(sun_path) - 1 */

#define AGENT_BINARY "coffer-agent"
#define CLEANUP_GRACE_MS 1500 /* containerd gives `delete` 5 s in all */

struct cf_vm {
  pid_t pid;
  int pidfd;
  int relay_fd;  /* our end of the relay channel until the shim takes it */
  char pod_id[256];
  char state_dir[PATH_MAX];
  char address[PATH_MAX + 8];
};

static unsigned long long start_time_of(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* comm may hold anything */
  if (!p)
    return 0;
  /* fields after comm: state(3) ... starttime(22) */
  int field = 2;
  for (p++; *p && field < 22; p++)
    if (*p == ' ')
      field++;
  return strtoull(p, NULL, 10);
}

static int find_agent(const char *configured, char *out, size_t cap, cf_error *err) {
  if (configured && *configured) {
    if (access(configured, X_OK) != 0)
      return cf_err(err, errno, "agent_path %s", configured);
    snprintf(out, cap, "%s", configured);
    return 0;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      snprintf(out, cap, "%s/%s", self, AGENT_BINARY);
      if (access(out, X_OK) == 0)
        return 0;
      /* the build tree: build/shim/<shim> next to build/agent/coffer-agent */
      snprintf(out, cap, "%s/../agent/%s", self, AGENT_BINARY);
      if (access(out, X_OK) == 0)
        return 0;
    }
  }
  const char *path = getenv("PATH");
  _cleanup_free_ char *dup = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL;
  for (char *d = dup ? strtok_r(dup, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, cap, "%s/%s", d, AGENT_BINARY);
    if (access(out, X_OK) == 0)
      return 0;
  }
  return cf_err_status(err, CF_FAILED_PRECONDITION,
                       "%s not found next to the shim, in ../agent/ nor on PATH "
                       "(set agent_path in the config)",
                       AGENT_BINARY);
}

static int record_pid(const char *state_dir, pid_t pid, cf_error *err) {
  char path[PATH_MAX], line[64];
  snprintf(path, sizeof(path), "%s/agent.pid", state_dir);
  /* The start time is read until the child has exec'd: stable after. */
  int n = snprintf(line, sizeof(line), "%d %llu\n", (int)pid, start_time_of(pid));
  return cf_write_file_atomic(path, line, (size_t)n, 0600, 0, err);
}

static int process_start(const cf_vm_config *cfg, cf_vm **out, cf_error *err) {
  char agent[PATH_MAX];
  if (find_agent(cfg->agent_path, agent, sizeof(agent), err) < 0)
    return -ENOENT;
  cf_vm *vm = calloc(1, sizeof(*vm));
  if (!vm)
    return cf_err(err, ENOMEM, "process backend");
  vm->pidfd = -1;
  vm->relay_fd = -1;
  snprintf(vm->state_dir, sizeof(vm->state_dir), "%s", cfg->state_dir);
  snprintf(vm->pod_id, sizeof(vm->pod_id), "%s", cfg->pod_id ? cfg->pod_id : "");
  const char *sock_dir = cfg->sock_dir && *cfg->sock_dir ? cfg->sock_dir : cfg->state_dir;
  if ((size_t)snprintf(vm->address, sizeof(vm->address), "unix:%s/agent.sock", sock_dir) >=
      sizeof(vm->address) || strlen(sock_dir) + sizeof("/agent.sock") > SUN_PATH_MAX) {
    free(vm);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "agent socket %s/agent.sock is too long for "
                         "a unix socket path", sock_dir);
  }
  char agent_state[PATH_MAX + 8];
  snprintf(agent_state, sizeof(agent_state), "%s/agent", cfg->state_dir);
  if (mkdir(agent_state, 0700) < 0 && errno != EEXIST) {
    int e = errno;
    free(vm);
    return cf_err(err, e, "mkdir %s", agent_state);
  }
  const char *level = cfg->log_level && *cfg->log_level ? cfg->log_level : "info";
  /* The broker relay's channel: a socketpair stands for the virtio port. */
  char relay_sock[PATH_MAX + 32] = "";
  int relay[2] = {-1, -1};
  if (cfg->relay && strlen(sock_dir) + sizeof("/relay-guest.sock") <= SUN_PATH_MAX &&
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, relay) == 0)
    snprintf(relay_sock, sizeof(relay_sock), "%s/relay-guest.sock", sock_dir);
  /* The agent runs only once its pid is recorded: a shim killed between the
   * fork and the record would leave an agent its cleanup cannot find. */
  int go[2];
  if (pipe2(go, O_CLOEXEC) < 0) {
    int e = errno;
    free(vm);
    if (relay[0] >= 0)
      close(relay[0]), close(relay[1]);
    return cf_err(err, e, "pipe for %s", agent);
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    free(vm);
    close(go[0]);
    close(go[1]);
    if (relay[0] >= 0)
      close(relay[0]), close(relay[1]);
    return cf_err(err, e, "fork %s", agent);
  }
  if (pid == 0) {
    close(go[1]);
    char b;
    ssize_t n;
    while ((n = read(go[0], &b, 1)) < 0 && errno == EINTR)
      ;
    if (n != 1)
      _exit(127); /* the shim died before recording us */
    /* Own session: signals to the shim's group do not reach it. Its
     * stderr stays the shim's (the bundle's log fifo). */
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
    }
    /* a host process has no kernel command line of its own: the agent reads
     * the pod's (e.g. coffer.sample_init_data=) from here */
    if (cfg->kernel_params && *cfg->kernel_params)
      setenv("COFFER_AGENT_CMDLINE", cfg->kernel_params, 1);
    else
      unsetenv("COFFER_AGENT_CMDLINE");
    if (relay[1] >= 0) {
      if (relay[1] == 3)
        fcntl(3, F_SETFD, 0);
      else if (dup2(relay[1], 3) < 0)
        _exit(127);
      execl(agent, agent, "--listen", vm->address, "--state", agent_state, "--log-level", level,
            "--relay-channel", "fd:3", "--relay-socket", relay_sock, (char *)NULL);
    } else {
      execl(agent, agent, "--listen", vm->address, "--state", agent_state, "--log-level", level,
            (char *)NULL);
    }
    _exit(127);
  }
  close(go[0]);
  if (relay[1] >= 0) {
    close(relay[1]);
    vm->relay_fd = relay[0];
  }
  vm->pid = pid;
  vm->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int rec = record_pid(cfg->state_dir, pid, err);
  if (rec == 0 && write(go[1], "g", 1) != 1)
    rec = cf_err(err, errno, "start %s", agent);
  close(go[1]);
  if (rec < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (vm->pidfd >= 0)
      close(vm->pidfd);
    if (vm->relay_fd >= 0)
      close(vm->relay_fd);
    free(vm);
    return -EIO;
  }
  char real[PATH_MAX];
  if (!realpath(agent, real))
    snprintf(real, sizeof(real), "%s", agent);
  /* wait (briefly) for the exec: the agent, not our fork, is what runs on */
  for (int i = 0; i < 200; i++) {
    char exe[64], target[PATH_MAX];
    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe, target, sizeof(target) - 1);
    if (n > 0) {
      target[n] = '\0';
      if (strcmp(target, real) == 0)
        break;
    }
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  *out = vm;
  return 0;
}

static const char *process_agent_address(cf_vm *vm) { return vm->address; }
static pid_t process_pid(cf_vm *vm) { return vm->pid; }
static const char *process_console_log(cf_vm *vm) { return NULL; }

static int process_relay_channel(cf_vm *vm, cf_error *err) {
  if (vm->relay_fd < 0)
    return cf_err(err, ENOTSUP, "no broker relay channel for this agent (taken already, or the "
                  "socket directory is too long)");
  int fd = vm->relay_fd;
  vm->relay_fd = -1;
  return fd;
}

static int process_add_rootfs(cf_vm *vm, const char *container_id, const char *host_rootfs,
                              cf_rootfs *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  out->kind = CF_ROOTFS_HOST_PATH;
  if ((size_t)snprintf(out->source, sizeof(out->source), "%s", host_rootfs) >= sizeof(out->source))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "rootfs path of %s too long", container_id);
  return 0;
}

static int process_remove_rootfs(cf_vm *vm, const char *container_id, cf_error *err) {
  return 0;
}

/* Wait for pid's end: by pidfd when we have one, else by polling /proc. */
static bool wait_gone(pid_t pid, int pidfd, unsigned long long start, int ms) {
  if (pidfd >= 0) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0) {
      waitpid(pid, NULL, WNOHANG); /* ours: reap (ECHILD if reaped already) */
      return true;
    }
    return false;
  }
  for (int waited = 0; waited <= ms; waited += 10) {
    waitpid(pid, NULL, WNOHANG);
    if (start_time_of(pid) != start)
      return true;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  return false;
}

static void terminate(pid_t pid, int pidfd, unsigned long long start, int grace_ms) {
  if (pidfd >= 0)
    syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
  else
    kill(pid, SIGTERM);
  if (wait_gone(pid, pidfd, start, grace_ms))
    return;
  if (pidfd >= 0)
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  else
    kill(pid, SIGKILL);
  wait_gone(pid, pidfd, start, 2000);
}

/* Containers the agent left behind (it was killed): `runc delete --force`. */
static void kill_leftover_containers(const char *state_dir) {
  char root[PATH_MAX];
  snprintf(root, sizeof(root), "%s/agent/runc", state_dir);
  _cleanup_closedir_ DIR *d = opendir(root);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
      }
      execlp("runc", "runc", "--root", root, "delete", "--force", e->d_name, (char *)NULL);
      _exit(127);
    }
    if (pid > 0)
      waitpid(pid, NULL, 0);
  }
}

/* Unmount whatever is still mounted under dir, deepest first. */
static void unmount_under(const char *dir) {
  size_t dl = strlen(dir);
  for (int pass = 0; pass < 8; pass++) {
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
      return;
    char line[8192], best[PATH_MAX] = "";
    while (fgets(line, sizeof(line), f)) {
      char mp[PATH_MAX];
      if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
        continue;
      if (strncmp(mp, dir, dl) == 0 && (mp[dl] == '/' || mp[dl] == '\0') &&
          strlen(mp) > strlen(best))
        snprintf(best, sizeof(best), "%s", mp);
    }
    if (!*best)
      return;
    if (umount2(best, MNT_DETACH) < 0)
      return;
  }
}

static int remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        char child[PATH_MAX];
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        remove_tree(child);
      }
      closedir(d);
    }
    return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
  }
  return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* rmdir dir's cgroup subtree, deepest first. A cgroup directory holds only
 * kernel files: rmdir removes it once it has no child and no task. */
static void remove_cgroup_tree(const char *dir) {
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (!d)
    return; /* ENOENT: never created in this hierarchy, or removed already */
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char child[PATH_MAX];
    if ((size_t)snprintf(child, sizeof(child), "%s/%s", dir, e->d_name) < sizeof(child))
      remove_cgroup_tree(child);
  }
  if (rmdir(dir) < 0 && errno != ENOENT)
    cf_warn("cgroup %s not removed: %s%s", dir, strerror(errno),
            errno == EBUSY ? " (a process still runs in it)" : "");
}

/* The pod's cgroup in every mounted hierarchy (each v1 controller, named
 * ones like name=systemd, and v2), found through mountinfo. */
static void remove_pod_cgroups(const char *pod_id) {
  if (!pod_id || !cf_id_valid(pod_id))
    return;
  _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f)
    return;
  char line[8192];
  while (fgets(line, sizeof(line), f)) {
    char mp[PATH_MAX], fstype[32];
    const char *sep = strstr(line, " - ");
    if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
        sscanf(sep + 3, "%31s", fstype) != 1)
      continue;
    if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
      continue;
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/coffer/%s", mp, pod_id) < sizeof(dir))
      remove_cgroup_tree(dir);
  }
}

static int remove_state(const char *state_dir, cf_error *err) {
  kill_leftover_containers(state_dir);
  unmount_under(state_dir);
  int r = remove_tree(state_dir);
  if (r < 0)
    return cf_err(err, -r, "remove %s", state_dir);
  return 0;
}

static int process_stop(cf_vm *vm, int grace_ms, cf_error *err) {
  terminate(vm->pid, vm->pidfd, start_time_of(vm->pid), grace_ms);
  if (vm->pidfd >= 0)
    close(vm->pidfd);
  if (vm->relay_fd >= 0)
    close(vm->relay_fd);
  int r = remove_state(vm->state_dir, err);
  remove_pod_cgroups(vm->pod_id);
  free(vm);
  return r;
}

static int process_cleanup(const char *pod_id, const char *state_dir, cf_error *err) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/agent.pid", state_dir);
  FILE *f = fopen(path, "re");
  if (f) {
    int pid = 0;
    unsigned long long start = 0;
    if (fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 1 && start_time_of(pid) == start &&
        start != 0) {
      int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
      /* re-check after taking the pidfd: it now pins this very process */
      if (pidfd < 0 || start_time_of(pid) == start)
        terminate(pid, pidfd, start, CLEANUP_GRACE_MS);
      if (pidfd >= 0)
        close(pidfd);
    }
    fclose(f);
  }
  int r = remove_state(state_dir, err); /* runc delete: the containers' cgroups go */
  remove_pod_cgroups(pod_id);
  return r;
}

const cf_vmm_ops cf_vmm_process_ops = {
    .name = "process",
    .start = process_start,
    .agent_address = process_agent_address,
    .pid = process_pid,
    .add_rootfs = process_add_rootfs,
    .remove_rootfs = process_remove_rootfs,
    .console_log = process_console_log,
    .relay_channel = process_relay_channel,
    .stop = process_stop,
    .cleanup = process_cleanup,
};
