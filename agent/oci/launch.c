/* Container lifecycle of the built-in runtime.
 *
 * create: the caller (the agent) forks a helper that enters the container's cgroup,
 * joins the namespaces the spec names by path and unshares the new ones,
 * then forks the container's init (so it lands in a new PID namespace) and
 * exits; the init is reparented to the agent (PID 1 or subreaper). The init
 * builds its root, takes its identity and waits on a socketpair for start.
 * start: one byte down the socket; the init execs, which closes its end
 * (close-on-exec), and that EOF tells the caller the exec happened.
 * exec: the same helper joins the init's namespaces and root instead.
 *
 * Messages on the SOCK_SEQPACKET pair, child to agent: 'P'<pid> from the
 * helper, 'T' carrying the pty master, 'R' ready, 'E'<text> an error; agent
 * to child: 'S' start. */
#include "launch.h"
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdnoreturn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/sched.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/loop.h"

#define SYNC_FD 3   /* where a child keeps its end of the socket */
#define ROOT_FD 4   /* exec: the container's root */

/* ------------------------------------------------------------ messages */

static void send_text(int fd, char tag, const char *text) {
  char buf[CF_ERROR_MSG_MAX + 2];
  buf[0] = tag;
  size_t n = text ? strlen(text) : 0;
  if (n > sizeof(buf) - 1)
    n = sizeof(buf) - 1;
  memcpy(buf + 1, text, n);
  /* write(2), not send(2): a seccomp profile may already be in force */
  ssize_t r = write(fd, buf, n + 1);
  (void)r;
}

static int send_fd(int sock, char tag, int fd) {
  char c = tag;
  struct iovec iov = {.iov_base = &c, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                      .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* 'E', the status as two digits, the message. */
static noreturn void child_fail(int sock, cf_error *e) {
  char buf[CF_ERROR_MSG_MAX + 4];
  int st = e->status ? e->status : CF_FAILED_PRECONDITION;
  snprintf(buf, sizeof(buf), "%02d%s", st < 100 ? st : CF_INTERNAL, e->msg);
  send_text(sock, 'E', buf);
  _exit(1);
}

/* One message into buf (NUL-terminated); *fd gets a passed fd (else -1).
 * Returns its length, 0 at EOF, or a negative errno (timeout: -ETIMEDOUT). */
static ssize_t recv_msg(int sock, uint64_t deadline, char *buf, size_t cap, int *fd) {
  *fd = -1;
  for (;;) {
    uint64_t now = cf_now_ms();
    if (now >= deadline)
      return -ETIMEDOUT;
    struct pollfd pf = {.fd = sock, .events = POLLIN};
    int r = poll(&pf, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r == 0)
      return -ETIMEDOUT;
    union {
      char b[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                        .msg_controllen = sizeof(u.b)};
    ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == ECONNRESET ? 0 : -errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(cm), sizeof(int));
    buf[n] = '\0';
    return n;
  }
}

/* Reads what the child says until EOF or `until` arrives. 'P' fills *pid,
 * 'T' *pty; the timings 'P' and 'R' carry are appended to note (if any).
 * Returns 0 when the wanted tag (or EOF when until is 0) came. */
static int await(int sock, char until, uint64_t deadline, pid_t *pid, int *pty, const char *id,
                 const char *what, char *note, size_t ncap, cf_error *err) {
  char buf[CF_ERROR_MSG_MAX + 2];
  for (;;) {
    int fd;
    ssize_t n = recv_msg(sock, deadline, buf, sizeof(buf), &fd);
    if (n == -ETIMEDOUT)
      return cf_err_status(err, CF_DEADLINE_EXCEEDED, "%s %s: no answer from the container's process in time",
                           what, id);
    if (n < 0)
      return cf_err(err, (int)-n, "%s %s: reading from the container's process", what, id);
    if (n == 0)
      return until ? cf_err_status(err, CF_INTERNAL, "%s %s: the container's process exited without a word",
                                   what, id)
                   : 0;
    if (buf[0] == 'E') {
      if (fd >= 0)
        close(fd);
      int st = n >= 3 ? (buf[1] - '0') * 10 + (buf[2] - '0') : CF_INTERNAL;
      if (st <= CF_OK || st > CF_UNAUTHENTICATED)
        st = CF_INTERNAL;
      return cf_err_status(err, st, "%s", n >= 3 ? buf + 3 : "the container's process failed");
    }
    if (buf[0] == 'P' && pid)
      *pid = (pid_t)atoi(buf + 1);
    if (note && (buf[0] == 'P' || buf[0] == 'R')) {
      const char *t = buf + 1 + (buf[0] == 'P' ? strspn(buf + 1, "0123456789 ") : 0);
      size_t l = strlen(note);
      snprintf(note + l, ncap - l, "%s%s", l && *t ? ", " : "", t);
    }
    if (buf[0] == 'T' && pty && fd >= 0) {
      if (*pty >= 0)
        close(*pty);
      *pty = fd;
      fd = -1;
    }
    if (fd >= 0)
      close(fd);
    if (until && buf[0] == until)
      return 0;
  }
}

/* ----------------------------------------------------------- child side */

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      signal(s, SIG_DFL);
}

/* stdio onto 0..2, the socket onto SYNC_FD, `keep` onto ROOT_FD, and every
 * other descriptor of the agent closed: a process waiting for start must
 * not hold the agent's pipes (another container's stdin would never see
 * EOF). */
static int arrange_fds(int sock, const oci_stdio *io, int null_fd, int keep, cf_error *err) {
  int src[5] = {io->terminal ? null_fd : (io->in >= 0 ? io->in : null_fd),
                io->terminal ? null_fd : (io->out >= 0 ? io->out : null_fd),
                io->terminal ? null_fd : (io->err >= 0 ? io->err : null_fd), sock, keep};
  int n = keep >= 0 ? 5 : 4;
  for (int i = 0; i < n; i++)
    if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 16)) < 0)
      return cf_err(err, errno, "duplicate descriptors");
  for (int i = 0; i < n; i++)
    if (dup3(src[i], i, i >= 3 ? O_CLOEXEC : 0) < 0)
      return cf_err(err, errno, "arrange descriptors");
  if (syscall(SYS_close_range, (unsigned)n, ~0u, 0) < 0)
    for (int fd = n; fd < 1024; fd++)
      close(fd);
  return 0;
}

static int make_terminal(int sock, cf_error *err) {
  _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return cf_err(err, errno, "open /dev/ptmx in the container");
  char name[64];
  if (unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)))
    return cf_err(err, errno, "unlock the terminal");
  _cleanup_close_ int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    return cf_err(err, errno, "open %s", name);
  if (ioctl(slave, TIOCSCTTY, 0) < 0)
    return cf_err(err, errno, "make %s the controlling terminal", name);
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0)
      return cf_err(err, errno, "terminal onto fd %d", i);
  int r = send_fd(sock, 'T', master);
  return r < 0 ? cf_err(err, -r, "send the terminal to the agent") : 0;
}

/* The last steps every container process takes: identity, seccomp, exec.
 * With no_new_privs the filter goes last; without it loading needs
 * CAP_SYS_ADMIN, so it goes before the user changes (which clears the
 * effective set) and the capabilities are dropped. */
static noreturn void finish_and_exec(const oci_process *p, oci_seccomp *sc, bool wait_start,
                                     const char *timing) {
  cf_error e = {0};
  char exe[4096];
  uint64_t t0 = cf_now_us();
  if (oci_process_prepare(p, &e) < 0 || oci_find_executable(p, exe, sizeof(exe), &e) < 0 ||
      (!p->no_new_privs && oci_seccomp_load(sc, &e) < 0) || oci_process_identity(p, &e) < 0 ||
      oci_process_caps(p, &e) < 0)
    child_fail(SYNC_FD, &e);
  if (wait_start) {
    char msg[160];
    snprintf(msg, sizeof(msg), "%s, process %llu us", timing ? timing : "",
             (unsigned long long)(cf_now_us() - t0));
    send_text(SYNC_FD, 'R', msg);
    char c = 0;
    ssize_t n;
    while ((n = read(SYNC_FD, &c, 1)) < 0 && errno == EINTR)
      ;
    if (n != 1 || c != 'S')
      _exit(0); /* the agent went away or removed the container */
  }
  if (p->no_new_privs && oci_seccomp_load(sc, &e) < 0)
    child_fail(SYNC_FD, &e);
  static char *const no_env[] = {NULL};
  execve(exe, p->args, p->env ? p->env : no_env);
  cf_err(&e, errno, "exec %s", exe);
  child_fail(SYNC_FD, &e);
}

/* when the agent forked (the child sees its copy): for the timings */
static uint64_t forked_at;

static noreturn void init_main(const oci_spec *s, oci_container *ct, const oci_options *o) {
  cf_error e = {0};
  uint64_t t0 = cf_now_us();
  if (setsid() < 0)
    cf_err(&e, errno, "setsid");
  else if (s->hostname && s->hostname[0] && !s->ns_path[OCI_NS_UTS] &&
           sethostname(s->hostname, strlen(s->hostname)) < 0)
    cf_err(&e, errno, "set the hostname %s", s->hostname);
  if (e.msg[0] || oci_rootfs_setup(s, o, &e) < 0)
    child_fail(SYNC_FD, &e);
  if (s->process.terminal && make_terminal(SYNC_FD, &e) < 0)
    child_fail(SYNC_FD, &e);
  char timing[96];
  snprintf(timing, sizeof(timing), "entered at +%llu us, root %llu us",
           (unsigned long long)(t0 - forked_at), (unsigned long long)(cf_now_us() - t0));
  finish_and_exec(&s->process, ct->seccomp, true, timing);
}

static int open_null(cf_error *err) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  return fd >= 0 ? fd : cf_err(err, errno, "open /dev/null");
}

/* The container's first process, before anything else: its cgroup (so
 * everything after is accounted there), the namespaces the spec names by
 * path, then the new ones clone did not make already. */
static void enter_container(const oci_spec *s, oci_container *ct, const oci_stdio *io, int sock,
                            int made, bool in_cgroup) {
  cf_error e = {0};
  reset_signals();
  /* the cgroup first: arrange_fds closes its directory fd */
  if (!in_cgroup && oci_cgroup_enter(&ct->cg, getpid(), &e) < 0)
    child_fail(sock, &e);
  int null_fd = open_null(&e);
  if (null_fd < 0 || arrange_fds(sock, io, null_fd, -1, &e) < 0)
    child_fail(sock, &e);
  int flags = 0;
  for (int k = 0; k < OCI_NS_N; k++) {
    if (!s->ns[k])
      continue;
    if (!s->ns_path[k]) {
      flags |= oci_ns_flags[k] & ~made;
      continue;
    }
    _cleanup_close_ int fd = open(s->ns_path[k], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, oci_ns_flags[k]) < 0) {
      cf_err(&e, errno, "join the %s namespace %s", oci_ns_names[k], s->ns_path[k]);
      child_fail(SYNC_FD, &e);
    }
  }
  if (flags && unshare(flags) < 0) {
    cf_err(&e, errno, "create the container's namespaces (flags %#x)", flags);
    child_fail(SYNC_FD, &e);
  }
}

/* Joining a PID namespace takes effect for children only: a helper joins,
 * forks the init into it, tells its pid and exits. */
static noreturn void create_helper(const oci_spec *s, oci_container *ct, const oci_options *o,
                                   const oci_stdio *io, int sock, bool in_cgroup) {
  enter_container(s, ct, io, sock, 0, in_cgroup);
  pid_t pid = fork();
  if (pid < 0) {
    cf_error e = {0};
    cf_err(&e, errno, "fork the container's init");
    child_fail(SYNC_FD, &e);
  }
  if (pid == 0)
    init_main(s, ct, o);
  char msg[24];
  snprintf(msg, sizeof(msg), "%d", (int)pid);
  send_text(SYNC_FD, 'P', msg);
  _exit(0);
}

/* The namespaces clone(2) can make with the init itself: all the new ones
 * but the cgroup namespace, which must come after the cgroup is entered. */
static int clone_flags(const oci_spec *s) {
  int flags = 0;
  for (int k = 0; k < OCI_NS_N; k++)
    if (s->ns[k] && !s->ns_path[k] && k != OCI_NS_CGROUP)
      flags |= oci_ns_flags[k];
  return flags;
}

/* The helper of exec: the init's cgroup, namespaces and root. */
static noreturn void exec_helper(oci_container *ct, const oci_process *p, const oci_stdio *io,
                                 int sock, bool in_cgroup) {
  cf_error e = {0};
  reset_signals();
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/root", (int)ct->pid);
  int null_fd = open_null(&e);
  int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    cf_err(&e, errno, "open %s", path);
  if (null_fd < 0 || root < 0 || (!in_cgroup && oci_cgroup_enter(&ct->cg, getpid(), &e) < 0) ||
      arrange_fds(sock, io, null_fd, root, &e) < 0)
    child_fail(sock, &e);
  /* the mount namespace last: the /proc paths must still resolve */
  static const int order[] = {OCI_NS_IPC, OCI_NS_UTS, OCI_NS_NET, OCI_NS_CGROUP, OCI_NS_PID, OCI_NS_MNT};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    int k = order[i];
    char mine[64];
    struct stat a, b;
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)ct->pid, oci_ns_proc[k]);
    snprintf(mine, sizeof(mine), "/proc/self/ns/%s", oci_ns_proc[k]);
    if (stat(path, &a) < 0) {
      cf_err(&e, errno, "the container's %s namespace (%s)", oci_ns_names[k], path);
      child_fail(SYNC_FD, &e);
    }
    if (stat(mine, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
      continue;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, oci_ns_flags[k]) < 0) {
      cf_err(&e, errno, "join the container's %s namespace", oci_ns_names[k]);
      child_fail(SYNC_FD, &e);
    }
  }
  pid_t pid = fork();
  if (pid < 0) {
    cf_err(&e, errno, "fork the exec process");
    child_fail(SYNC_FD, &e);
  }
  if (pid == 0) {
    if (setsid() < 0 || fchdir(ROOT_FD) < 0 || chroot(".") < 0 || chdir("/") < 0) {
      cf_err(&e, errno, "enter the container's root");
      child_fail(SYNC_FD, &e);
    }
    close(ROOT_FD);
    if (p->terminal && make_terminal(SYNC_FD, &e) < 0)
      child_fail(SYNC_FD, &e);
    finish_and_exec(p, ct->seccomp, false, NULL);
  }
  char msg[24];
  snprintf(msg, sizeof(msg), "%d", (int)pid);
  send_text(SYNC_FD, 'P', msg);
  _exit(0);
}

/* ----------------------------------------------------------- agent side */

/* fork() with namespace flags, the child born in the container's cgroup
 * (clone3 CLONE_INTO_CGROUP: moving a task later costs an RCU grace period
 * under the cgroup locks, ~15 ms under TCG). The child runs on a copy of
 * this stack, as after fork. *in_cgroup tells whether it was born there. */
static void (*guard_enter)(void), (*guard_leave)(void);

void oci_set_fork_guard(void (*enter)(void), void (*leave)(void)) {
  guard_enter = enter;
  guard_leave = leave;
}

static int run_helper(int sv[2], int flags, int cgroup_fd, pid_t *helper, bool *in_cgroup,
                      cf_error *err) {
  if (guard_enter)
    guard_enter();
  forked_at = cf_now_us();
  struct clone_args ca = {.flags = (uint64_t)flags | CLONE_INTO_CGROUP,
                          .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup_fd};
  *in_cgroup = cgroup_fd >= 0;
  *helper = *in_cgroup ? (pid_t)syscall(SYS_clone3, &ca, sizeof(ca)) : -1;
  if (*helper < 0 && (!*in_cgroup || errno == ENOSYS || errno == E2BIG || errno == EINVAL)) {
    /* kernels before 5.7: the child enters the cgroup itself */
    *in_cgroup = false;
    *helper = flags ? (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL)
                    : fork();
  }
  if (*helper != 0 && guard_leave) /* the child keeps its copy as it is */
    guard_leave();
  if (*helper < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    return flags ? cf_err(err, e, "clone the container's init with namespace flags %#x", flags)
                 : cf_err(err, e, "fork");
  }
  if (*helper > 0)
    close(sv[1]);
  return 0;
}

static void reap_helper(pid_t helper) {
  while (waitpid(helper, NULL, 0) < 0 && errno == EINTR)
    ;
}

int oci_create(const char *id, oci_spec *s, const oci_options *o, const oci_stdio *io,
               oci_container **out, cf_error *err) {
  *out = NULL;
  oci_container *ct = malloc(sizeof(*ct));
  if (!ct)
    return cf_err(err, ENOMEM, "container %s", id);
  *ct = (oci_container){.cg = {.dirfd = -1}, .sync_fd = -1};
  int rc = oci_spec_check_sysctls(s, o->pod_netns, err);
  if (rc < 0) {
    free(ct);
    return rc;
  }
  s->process.terminal = io->terminal;
  ct->has_caps = s->process.has_caps;
  memcpy(ct->caps, s->process.caps, sizeof(ct->caps));
  json_object *devices = NULL;
  if (s->resources)
    json_object_object_get_ex(s->resources, "devices", &devices);
  uint64_t t0 = cf_now_us();
  rc = oci_seccomp_build(s->seccomp, &ct->seccomp, err);
  if (rc == 0)
    rc = oci_cgroup_create(&ct->cg, o->cgroup_root, o->cgroup_path, s->resources, err);
  uint64_t t_cg = cf_now_us();
  if (rc == 0)
    rc = oci_devices_attach(devices, ct->cg.dirfd, err);
  uint64_t t_dev = cf_now_us();
  if (rc < 0) {
    cf_error e2 = {0};
    oci_delete(ct, id, &e2);
    return rc;
  }
  int sv[2];
  pid_t helper;
  char note[256] = "";
  /* one clone makes the init in its namespaces, unless it must join a
   * PID namespace: then a helper forks it */
  bool direct = !s->ns_path[OCI_NS_PID], in_cgroup;
  int made = direct ? clone_flags(s) : 0;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    rc = cf_err(err, errno, "socketpair");
  else
    rc = run_helper(sv, made, ct->cg.dirfd, &helper, &in_cgroup, err);
  if (rc == 0 && helper == 0) {
    close(sv[0]);
    if (!direct)
      create_helper(s, ct, o, io, sv[1], in_cgroup);
    enter_container(s, ct, io, sv[1], made, in_cgroup);
    init_main(s, ct, o);
  }
  if (rc == 0) {
    uint64_t deadline = cf_now_ms() + (uint64_t)(o->timeout_ms > 0 ? o->timeout_ms : 30000);
    if (direct) {
      ct->pid = helper;
    } else {
      rc = await(sv[0], 'P', deadline, &ct->pid, NULL, id, "create", NULL, 0, err);
      reap_helper(helper);
    }
    if (rc == 0 && io->terminal)
      rc = await(sv[0], 'T', deadline, NULL, io->pty_master, id, "create", NULL, 0, err);
    if (rc == 0)
      rc = await(sv[0], 'R', deadline, NULL, NULL, id, "create", note, sizeof(note), err);
    if (rc == 0)
      ct->sync_fd = sv[0];
    else
      close(sv[0]);
  }
  if (rc == 0)
    cf_debug("container %s: init ready in %llu us (seccomp and cgroup %llu us, device program "
             "%llu us, then %llu us: %s)", id, (unsigned long long)(cf_now_us() - t0),
             (unsigned long long)(t_cg - t0), (unsigned long long)(t_dev - t_cg),
             (unsigned long long)(cf_now_us() - t_dev), note);
  if (rc < 0) {
    cf_error e2 = {0};
    oci_delete(ct, id, &e2);
    return rc;
  }
  *out = ct;
  return 0;
}

int oci_start(oci_container *ct, const char *id, int timeout_ms, cf_error *err) {
  if (ct->sync_fd < 0)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "container %s was started already", id);
  _cleanup_close_ int fd = cf_steal_fd(ct->sync_fd);
  if (write(fd, "S", 1) != 1)
    return cf_err(err, errno, "start %s: the container's init is gone", id);
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 30000);
  return await(fd, 0, deadline, NULL, NULL, id, "start", NULL, 0, err);
}

int oci_exec(oci_container *ct, const char *id, const char *process, size_t len,
             const oci_stdio *io, int timeout_ms, pid_t *pid, cf_error *err) {
  json_object *o;
  oci_process p = {0};
  int rc = oci_json_parse(process, len, "process", &o, err);
  if (rc == 0)
    rc = oci_process_parse(o, "process", &p, err);
  if (rc == 0) {
    p.terminal = io->terminal;
    /* an exec that names no capabilities gets the container's */
    if (!p.has_caps && ct->has_caps) {
      p.has_caps = true;
      memcpy(p.caps, ct->caps, sizeof(p.caps));
    }
    int sv[2];
    pid_t helper;
    bool in_cgroup;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
      rc = cf_err(err, errno, "socketpair");
    else
      rc = run_helper(sv, 0, ct->cg.dirfd, &helper, &in_cgroup, err);
    if (rc == 0 && helper == 0) {
      close(sv[0]);
      exec_helper(ct, &p, io, sv[1], in_cgroup);
    }
    if (rc == 0) {
      uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 30000);
      *pid = 0;
      rc = await(sv[0], 'P', deadline, pid, NULL, id, "exec in", NULL, 0, err);
      reap_helper(helper);
      if (rc == 0 && io->terminal)
        rc = await(sv[0], 'T', deadline, NULL, io->pty_master, id, "exec in", NULL, 0, err);
      if (rc == 0)
        rc = await(sv[0], 0, deadline, NULL, NULL, id, "exec in", NULL, 0, err);
      close(sv[0]);
    }
  }
  oci_process_free(&p);
  if (o)
    json_object_put(o);
  return rc;
}

int oci_delete(oci_container *ct, const char *id, cf_error *err) {
  if (!ct)
    return 0;
  if (ct->sync_fd >= 0)
    close(ct->sync_fd); /* an init still waiting for start exits on EOF */
  ct->sync_fd = -1;
  int rc = 0;
  if (ct->cg.path && oci_cgroup_destroy(&ct->cg, err) < 0)
    rc = cf_error_prefix(err, "remove container %s", id);
  oci_cgroup_close(&ct->cg);
  oci_seccomp_free(ct->seccomp);
  free(ct);
  return rc;
}

pid_t oci_container_pid(const oci_container *ct) {
  return ct->pid;
}

int oci_pause(oci_container *ct, bool frozen, cf_error *err) {
  return oci_cgroup_freeze(&ct->cg, frozen, err);
}

int oci_kill_all(oci_container *ct, int sig, cf_error *err) {
  return oci_cgroup_signal_all(&ct->cg, sig, err);
}

int oci_pids(oci_container *ct, pid_t **pids, size_t *n, cf_error *err) {
  return oci_cgroup_pids(&ct->cg, pids, n, err);
}

int oci_update(oci_container *ct, json_object *resources, cf_error *err) {
  return oci_cgroup_apply(&ct->cg, resources, err);
}

int oci_stats_read(oci_container *ct, oci_stats *out, cf_error *err) {
  return oci_cgroup_stats(&ct->cg, out, err);
}
