/* coffer-agent: the pod VM's PID 1 (or a host process for the process
 * backend) serving the shim over ttrpc and running containers with its
 * built-in OCI runtime or runc. */

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/transport.h"
#include "coffer/path.h"
#include "container.h"
#include "guest.h"
#include "init.h"
#include "job.h"
#include "prefetch.h"
#include "initdata.h"
#include "policy_gate.h"
#include "relay.h"
#include "service.h"
#include "coffer/policy.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: coffer-agent [--listen ADDR] [--state DIR] [--runtime PATH]\n"
          "                    [--shared-dir DIR] [--modules FILE] [--log-level LEVEL] [--guest]\n"
          "  --listen ADDR   unix:PATH | vsock:PORT | serial:/dev/vportNpM\n"
          "                  (PID 1 default: vsock:1024, else the virtio port agent.0)\n"
          "  --state DIR     bundles and runc state (default /run/coffer)\n"
          "  --runtime RT    builtin, or the path of runc (default: builtin as PID 1, else\n"
          "                  runc on PATH; as PID 1 also coffer.runtime=RT on the kernel command line)\n"
          "  --shared-dir    where VIRTIOFS rootfs paths are found (default /run/coffer/shared)\n"
          "  --modules FILE  kernel modules to load as PID 1 (default /etc/coffer/modules)\n"
          "  --guest         treat the host as untrusted (implied as PID 1)\n"
          "  --tee           TEE rules: verified block rootfs only, no host sharing (implies --guest)\n"
          "  --no-pivot      move and chroot instead of pivot_root (automatic when / is the initramfs)\n"
          "  --block-dir DIR where BLOCK serials are looked up: DIR/<dev>/serial (default /sys/block)\n"
          "  --busy-poll-us N  poll up to N us before sleeping, adaptive (0..1000, default 50;\n"
          "                  as PID 1: coffer.busy_poll_us=N on the kernel command line)\n"
          "  --policy FILE   the agent policy (default: init-data's policy.json, else allow;\n"
          "                  deny in a TEE)\n"
          "  --tee           behave as in a TEE guest (found by itself as PID 1): deny-default\n"
          "                  policy, built-in runtime only, no runtime/listen from the command line\n"
          "  --relay-channel fd:N | serial:PATH  the broker relay's channel to the host\n"
          "                  (PID 1 default: the virtio port relay.0 when there is one)\n"
          "  --relay-socket PATH  where guest programs reach the broker relay\n"
          "                  (default /run/coffer/relay.sock)\n");
}

static char *find_in_path(const char *name) {
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  _cleanup_free_ char *dup = strdup(path);
  char *save = NULL;
  for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s/%s", d, name);
    if (access(full, X_OK) == 0)
      return strdup(full);
  }
  return NULL;
}

/* fds 0..2 must be open before anything else is: a PID 1 started without
 * /dev/console would otherwise log into whatever fd the loop opened first. */
static void ensure_stdio(const char *dev) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0)
      continue;
    int n = open(fd == 0 ? "/dev/null" : dev, fd == 0 ? O_RDONLY : O_WRONLY | O_NOCTTY);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
}

/* Parses a busy-poll window: 0..1000 microseconds. */
static bool parse_busy_poll(const char *v, unsigned *us) {
  char *end;
  unsigned long n = strtoul(v, &end, 10);
  if (!*v || *end || n > 1000)
    return false;
  *us = (unsigned)n;
  return true;
}

/* Guest PID 1: settings from the kernel command line (coffer.listen=ADDR,
 * coffer.log=LEVEL, coffer.busy_poll_us=N, coffer.runtime=RT,
 * coffer.tee=1), since the host passes nothing else. coffer.tee=1 can only
 * make the agent stricter (TEE rules in a plain VM, for tests). */
static void read_cmdline(char *listen, size_t cap, int *level, unsigned *busy_poll_us,
                         char *runtime, size_t rcap, bool *tee) {
  _cleanup_fclose_ FILE *f = fopen("/proc/cmdline", "re");
  char buf[4096];
  if (!f || !fgets(buf, sizeof(buf), f))
    return;
  char *save = NULL;
  for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
    if (!strncmp(t, "coffer.listen=", 14))
      snprintf(listen, cap, "%s", t + 14);
    else if (!strncmp(t, "coffer.runtime=", 15))
      snprintf(runtime, rcap, "%s", t + 15);
    else if (!strcmp(t, "coffer.tee=1"))
      *tee = true;
    else if (!strncmp(t, "coffer.log=", 11) && cf_log_level_parse(t + 11) >= 0)
      *level = cf_log_level_parse(t + 11);
    else if (!strncmp(t, "coffer.busy_poll_us=", 20) && !parse_busy_poll(t + 20, busy_poll_us))
      cf_warn("kernel command line: %s: not 0..1000, keeping %u", t, *busy_poll_us);
  }
}

/* The guest's boot time so far, at debug level: where a pod's start goes. */
static void log_uptime(const char *what, int level) {
  if (level < CF_LOG_DEBUG)
    return;
  _cleanup_fclose_ FILE *f = fopen("/proc/uptime", "re");
  double up = 0;
  if (f && fscanf(f, "%lf", &up) == 1)
    cf_debug("%s %.3f s after the kernel started", what, up);
}

static void on_signal(cf_loop *loop, int fd, uint32_t events, void *data) {
  agent *a = data;
  struct signalfd_siginfo si;
  bool chld = false, quit = false;
  while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
    if (si.ssi_signo == SIGCHLD)
      chld = true;
    else
      quit = true;
  }
  if (chld)
    agent_reap(a);
  if (quit && !a->pid1) {
    cf_info("terminating: removing containers");
    cf_loop_quit(loop);
  }
}

static int start_listening(agent *a, const char *addr, cf_error *err) {
  char found[300];
  bool serial = false;
  if (!addr) {
    /* PID 1: the host channel appears once the virtio modules are loaded */
    uint64_t deadline = cf_now_ms() + 10000;
    while (init_find_listen_addr(found, sizeof(found), &serial, err) < 0) {
      if (cf_now_ms() > deadline)
        return -EIO;
      /* a device that probed late: its driver is loaded now regardless */
      if (a->modules) {
        init_load_modules(a->modules, "serial");
        init_load_modules(a->modules, "vsock");
      }
      usleep(50000);
    }
    addr = found;
  } else {
    serial = !strncmp(addr, "serial:", 7);
  }
  if (serial) {
    int fd = cf_transport_open_serial(addr + 7, err);
    if (fd < 0 || ttrpc_server_add_serial(a->srv, fd, 100, err) < 0)
      return -EIO;
  } else {
    int fd = cf_transport_listen(addr, err);
    if (fd < 0)
      return -EIO;
    if (ttrpc_server_listen_fd(a->srv, fd, err) < 0) {
      close(fd);
      return -EIO;
    }
  }
  cf_info("listening on %s", addr);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"listen", required_argument, NULL, 'l'},  {"state", required_argument, NULL, 's'},
      {"runtime", required_argument, NULL, 'r'}, {"shared-dir", required_argument, NULL, 'd'},
      {"modules", required_argument, NULL, 'm'}, {"log-level", required_argument, NULL, 'v'},
      {"guest", no_argument, NULL, 'g'},         {"help", no_argument, NULL, 'h'},
      {"no-pivot", no_argument, NULL, 'p'},      {"block-dir", required_argument, NULL, 'b'},
      {"busy-poll-us", required_argument, NULL, 'B'}, {"policy", required_argument, NULL, 'P'},
      {"tee", no_argument, NULL, 'T'},           {"relay-channel", required_argument, NULL, 'R'},
      {"relay-socket", required_argument, NULL, 'S'}, {NULL, 0, NULL, 0}};
  const char *relay_channel = NULL, *relay_socket = NULL;
  const char *listen_addr = NULL, *state = "/run/coffer", *runtime = NULL;
  const char *shared = "/run/coffer/shared", *modules = "/etc/coffer/modules";
  const char *block_dir = "/sys/block", *policy = NULL;
  int level = CF_LOG_INFO, c;
  bool guest = false, no_pivot = false, tee = false;
  /* adaptive (see cf_loop_set_busy_poll): the vCPU is the containers' as
   * soon as calls stop coming back to back */
  unsigned busy_poll_us = 50;
  while ((c = getopt_long(argc, argv, "l:s:r:d:m:v:ghpb:B:P:TR:S:", opts, NULL)) != -1) {
    switch (c) {
    case 'l': listen_addr = optarg; break;
    case 's': state = optarg; break;
    case 'r': runtime = optarg; break;
    case 'd': shared = optarg; break;
    case 'm': modules = optarg; break;
    case 'g': guest = true; break;
    case 'p': no_pivot = true; break;
    case 'b': block_dir = optarg; break;
    case 'P': policy = optarg; break;
    case 'T': tee = true; break;
    case 'R': relay_channel = optarg; break;
    case 'S': relay_socket = optarg; break;
    case 'B':
      if (!parse_busy_poll(optarg, &busy_poll_us)) {
        fprintf(stderr, "coffer-agent: --busy-poll-us %s: give 0..1000 microseconds\n", optarg);
        return 2;
      }
      break;
    case 'v':
      if ((level = cf_log_level_parse(optarg)) < 0) {
        fprintf(stderr, "coffer-agent: unknown log level %s\n", optarg);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  agent a = {.sigchld_fd = -1, .attester_ready_fd = -1, .runc_timeout_ms = 30000,
             .max_done_execs = AGENT_MAX_DONE_EXECS};
  /* tests lower the cap to prove a shim frees its execs (RemoveProcess) */
  const char *cap = getenv("COFFER_AGENT_MAX_DONE_EXECS");
  if (cap && atoi(cap) > 0)
    a.max_done_execs = (size_t)atoi(cap);
  a.pid1 = getpid() == 1;
  ensure_stdio("/dev/null");
  a.guest = guest || a.pid1;
  a.shared_dir = shared;
  a.block_dir = block_dir;
  cf_log_init("agent", (enum cf_log_level)level, STDERR_FILENO);
  cf_error err = {0};

  char cmdline_listen[256] = "", cmdline_runtime[256] = "";
  bool cmdline_tee = false; /* coffer.tee=1: stricter only (TEE rules in a plain VM, tests) */
  if (a.pid1) {
    if (init_mounts(&err) < 0)
      cf_error_log("%s", err.msg); /* carry on: the host learns more from a live agent */
    ensure_stdio("/dev/console");
    read_cmdline(cmdline_listen, sizeof(cmdline_listen), &level, &busy_poll_us, cmdline_runtime,
                 sizeof(cmdline_runtime), &cmdline_tee);
    cf_log_init("agent", (enum cf_log_level)level, STDERR_FILENO);
    tee = tee || cmdline_tee || init_in_tee();
    /* in a TEE the command line is the host's (measured only in RTMR2 on
     * TDX): nothing security-relevant is taken from it */
    if (tee && (cmdline_runtime[0] || cmdline_listen[0]))
      cf_warn("TEE: ignoring coffer.runtime=/coffer.listen= from the kernel command line");
    if (!tee && !runtime && cmdline_runtime[0])
      runtime = cmdline_runtime;
    log_uptime("mounts done", level);
    if (!tee && !listen_addr && cmdline_listen[0])
      listen_addr = cmdline_listen;
    init_load_boot_modules(modules);
    a.modules = modules;
  }
  agent_initdata_sample_hex(a.pid1, a.sample_hex, sizeof(a.sample_hex));
  a.tee_env.sample_binding_hex = a.sample_hex[0] ? a.sample_hex : NULL;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    cf_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  signal(SIGPIPE, SIG_IGN);

  /* builtin: the agent runs containers itself (as PID 1 by default); runc
   * stays the runtime for specs the built-in one does not implement */
  a.tee_mode = tee;
  if (tee && runtime && strcmp(runtime, "builtin"))
    cf_warn("TEE: --runtime %s ignored: the built-in runtime is the only engine", runtime);
  a.builtin = tee || (runtime ? !strcmp(runtime, "builtin") : a.pid1);
  /* a name without a slash (coffer.runtime=runc) is looked up on PATH */
  char *rt = tee ? NULL /* one OCI engine in a TEE: no runc fallback */
             : runtime && !a.builtin && strchr(runtime, '/') ? strdup(runtime)
             : find_in_path(runtime && !a.builtin ? runtime : "runc");
  if (!rt && !a.builtin) {
    cf_error_log("no OCI runtime: runc is not on PATH and --runtime was not given");
    rt = strdup("/usr/sbin/runc"); /* answer calls anyway; runc failures say why */
  }
  a.runtime = rt;
  if (cf_mkdir_p(state, 0755, 0700) < 0) {
    cf_error_log("state dir %s: %s", state, strerror(errno));
    return 1;
  }
  a.state_dir = realpath(state, NULL);
  if (!a.state_dir || asprintf(&a.runc_root, "%s/runc", a.state_dir) < 0 ||
      asprintf(&a.runc_log, "%s/runc.log", a.state_dir) < 0) {
    cf_error_log("state dir %s: %s", state, strerror(errno));
    return 1;
  }
  char bundles[PATH_MAX];
  snprintf(bundles, sizeof(bundles), "%s/bundles", a.state_dir);
  cf_mkdir_p(bundles, 0755, 0700);
  cf_mkdir_p(a.runc_root, 0755, 0700);
  a.cgroup_version = agent_cgroup_version();
  a.no_pivot = no_pivot || (a.pid1 && agent_root_is_initramfs());
  if (a.builtin && a.cgroup_version != 2 && !tee) {
    cf_warn("the built-in runtime needs cgroup v2, this system has v1: using %s",
            a.runtime ? a.runtime : "runc (not found)");
    a.builtin = false;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (!a.pid1) {
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
  }
  sigprocmask(SIG_BLOCK, &mask, NULL);
  a.sigchld_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  if (agent_policy_init(&a, policy, &err) < 0) {
    /* fail closed: a policy that does not parse allows nothing */
    cf_error_log("%s", err.msg);
    if (!tee && !a.pid1)
      return 2;
    cf_error_clear(&err);
    a.policy = cf_policy_default(true);
    if (!a.policy)
      return 1;
  }
  if ((a.loop = cf_loop_new(&err)))
    cf_loop_set_busy_poll(a.loop, busy_poll_us);
  if (a.loop && (a.srv = ttrpc_server_new(a.loop, &err))) {
    /* all host connections together: an eighth of the guest's memory, at
     * most 64 MiB (a 256 MiB guest: 32 MiB) */
    struct sysinfo si;
    size_t limit = 64u << 20;
    if (sysinfo(&si) == 0 && (uint64_t)si.totalram * si.mem_unit / 8 < limit)
      limit = (size_t)((uint64_t)si.totalram * si.mem_unit / 8);
    ttrpc_server_set_memory_limit(a.srv, limit);
  }
  if (!a.loop || !a.srv ||
      agent_jobs_start(&a, &err) < 0 || agent_service_register(&a, &err) < 0 ||
      !(a.sigchld_watch = cf_loop_watch(a.loop, a.sigchld_fd, EPOLLIN, on_signal, &a, &err)) ||
      start_listening(&a, listen_addr, &err) < 0) {
    cf_error_log("%s", err.msg);
    if (a.pid1)
      init_power_off();
    return 1;
  }
  /* The relay is an extra: the agent serves the pod without it. */
  if (agent_relay_start(&a, relay_channel, relay_socket, &err) < 0) {
    cf_error_log("%s", err.msg);
    cf_error_clear(&err);
  }
  cf_info("coffer-agent %s ready (%s%s, runtime %s%s%s, state %s, cgroup v%d%s)", AGENT_VERSION,
          a.pid1 ? "guest PID 1" : (a.guest ? "guest mode" : "host process"), tee ? ", TEE" : "",
          a.builtin ? "builtin" : "", a.builtin && a.runtime ? ", fallback " : "",
          a.runtime ? a.runtime : "",
          a.state_dir, a.cgroup_version, a.no_pivot ? ", root is the initramfs" : "");
  if (a.pid1)
    log_uptime("ready", level);
  int rc = cf_loop_run(a.loop);

  agent_prefetch_cancel(&a);
  agent_jobs_stop(&a); /* what is on the worker ends first (job.h) */
  agent_prefetch_free(&a);

  while (a.containers)
    container_remove(&a, a.containers, true, &err);
  agent_cgroup_remove_pod(&a);
  for (size_t i = 0; i < a.n_oom_waiters; i++)
    ttrpc_call_reply_status(a.oom_waiters[i], CF_UNAVAILABLE, "agent exiting");
  for (size_t i = 0; i < AGENT_OOM_QUEUE; i++)
    free(a.oom_queue[i]);
  free(a.oom_waiters);
  ttrpc_server_free(a.srv);
  agent_service_free(&a);
  cf_policy_free(a.policy);
  cf_loop_unwatch(a.sigchld_watch);
  cf_loop_timer_cancel(a.attester_restart);
  if (a.attester_ready_fd >= 0)
    close(a.attester_ready_fd);
  cf_loop_free(a.loop);
  close(a.sigchld_fd);
  free(a.runc_version);
  free(a.sandbox_id);
  free(a.cgroup_parent);
  cf_initdata_free(a.initdata);
  free(a.state_dir);
  free(a.runc_root);
  free(a.runc_log);
  free(rt);
  if (a.pid1)
    init_power_off();
  return rc < 0 ? 1 : 0;
}
