/* Starts and supervises coffer-attester, and asks it for secrets.
 *
 * The attester runs as a child of the agent once verified init-data is in
 * place; it holds the TEE key and talks to the broker. CreateSandbox starts
 * it when the init-data names a broker, so its attestation overlaps the rest
 * of the pod's start; the first container that needs it waits for its ready
 * line. If it dies, the agent starts it again after a back-off (0.5 s,
 * doubling to 30 s; back to 0.5 s after it ran a minute), so the token keeps
 * being refreshed and tee.sock keeps serving without a container asking. The agent talks to it
 * over a socket in a 0700 directory of the agent's state (HTTP/1.0, one
 * request per connection), so no container can reach that socket. */
#include "attester_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/initdata.h"
#include "coffer/log.h"
#include "coffer/path.h"

#define READY_LINE "coffer-attester: ready"
#define START_TIMEOUT_MS (120 * 1000)
#define RESTART_MIN_MS 500
#define RESTART_MAX_MS (30 * 1000)
#define RESTART_STABLE_MS (60 * 1000)

int agent_initdata_path(const agent *a, char *out, size_t n) {
  const char *t = a->guest ? NULL : getenv("COFFER_AGENT_INITDATA");
  if (a->initdata)
    return snprintf(out, n, "%s/initdata/initdata.toml", a->state_dir) < (int)n ? 0 : -ENAMETOOLONG;
  if (t && *t)
    return snprintf(out, n, "%s", t) < (int)n ? 0 : -ENAMETOOLONG;
  return -ENOENT;
}

static const char *attester_bin(const agent *a) {
  const char *t = a->guest ? NULL : getenv("COFFER_AGENT_ATTESTER");
  return t && *t ? t : AGENT_ATTESTER_BIN;
}

int agent_pod_dir(const agent *a, char *out, size_t n) {
  return snprintf(out, n, "%s/pod", a->state_dir) < (int)n ? 0 : -ENAMETOOLONG;
}

static int sock_path(const agent *a, char *out, size_t n) {
  return snprintf(out, n, "%s/attester/agent.sock", a->state_dir) < (int)n ? 0 : -ENAMETOOLONG;
}

bool agent_in_tee(const agent *a) { return a->tee == CF_TEE_SNP || a->tee == CF_TEE_TDX; }

static void forget_ready_pipe(agent *a) {
  if (a->attester_ready_fd >= 0)
    close(a->attester_ready_fd);
  a->attester_ready_fd = -1;
}

static void restart_cb(cf_loop *loop, void *data) {
  (void)loop;
  agent *a = data;
  a->attester_restart = NULL;
  if (a->attester_pid > 0 || a->destroyed)
    return; /* a container needed it first and started it */
  cf_error err = {0};
  if (agent_attester_spawn(a, &err) < 0)
    cf_error_log("coffer-attester: restart failed: %s", err.msg);
}

void agent_attester_reaped(agent *a, pid_t pid, int status) {
  if (pid != a->attester_pid || pid <= 0)
    return;
  a->attester_pid = 0;
  forget_ready_pipe(a);
  if (cf_now_ms() - a->attester_started_ms >= RESTART_STABLE_MS)
    a->attester_backoff_ms = 0;
  a->attester_backoff_ms = a->attester_backoff_ms ? a->attester_backoff_ms * 2 : RESTART_MIN_MS;
  if (a->attester_backoff_ms > RESTART_MAX_MS)
    a->attester_backoff_ms = RESTART_MAX_MS;
  if (a->destroyed || a->attester_restart) {
    cf_warn("coffer-attester (pid %d) ended (status 0x%x)", (int)pid, status);
    return;
  }
  cf_error err = {0};
  a->attester_restart = cf_loop_timer(a->loop, a->attester_backoff_ms, restart_cb, a, &err);
  if (a->attester_restart)
    cf_warn("coffer-attester (pid %d) ended (status 0x%x); restarting it in %u ms", (int)pid,
            status, a->attester_backoff_ms);
  else
    cf_warn("coffer-attester (pid %d) ended (status 0x%x); restarted when next needed (%s)",
            (int)pid, status, err.msg);
}

/* Reads the child's stdout until its ready line, EOF or the deadline. */
static int wait_ready(int fd, cf_error *err) {
  char buf[256];
  size_t len = 0;
  int64_t end = (int64_t)cf_now_ms() + START_TIMEOUT_MS;
  for (;;) {
    int64_t left = end - (int64_t)cf_now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, (int)left) == 0)
      return cf_err_status(err, CF_DEADLINE_EXCEEDED, "coffer-attester did not serve within %d s",
                           START_TIMEOUT_MS / 1000);
    ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return cf_err_status(err, CF_UNAVAILABLE,
                           "coffer-attester exited before it served (its log is on the console)");
    len += (size_t)n;
    buf[len] = '\0';
    if (strstr(buf, READY_LINE))
      return 0;
    if (len == sizeof(buf) - 1)
      len = 0;
  }
}

int agent_attester_spawn(agent *a, cf_error *err) {
  if (a->attester_pid > 0)
    return 0;
  char init[PATH_MAX];
  if (agent_initdata_path(a, init, sizeof(init)) || access(init, R_OK))
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "the pod has no init-data: it names no broker to attest to");
  char pod[PATH_MAX], sock[PATH_MAX], dir[PATH_MAX], token[PATH_MAX], tee[PATH_MAX], secrets[PATH_MAX];
  if (agent_pod_dir(a, pod, sizeof(pod)) || sock_path(a, sock, sizeof(sock)))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "state dir %s: path too long", a->state_dir);
  snprintf(dir, sizeof(dir), "%s/attester", a->state_dir);
  snprintf(token, sizeof(token), "%s/attestation-token", pod);
  snprintf(tee, sizeof(tee), "%s/tee.sock", pod);
  snprintf(secrets, sizeof(secrets), "%s/secrets", pod);
  if (cf_mkdir_p(dir, 0755, 0700) < 0 || chmod(dir, 0700) || cf_mkdir_p(secrets, 0755, 0755) < 0)
    return cf_err(err, errno, "attester directories under %s", a->state_dir);
  /* the TEE the agent detected from its own hardware; without one (plain
   * profile) the sample attester, whose binding the host gave */
  const char *kind = agent_in_tee(a) ? cf_tee_kind_name(a->tee) : "sample";
  const char *argv[16] = {attester_bin(a), "--tee", kind, "--init-data", init, "--token-file", token,
                          "--tee-sock", tee, "--agent-sock", sock};
  size_t n = 11;
  if (!agent_in_tee(a) && a->sample_hex[0]) {
    argv[n++] = "--sample-binding";
    argv[n++] = a->sample_hex;
  }
  /* plain profile: the pod's annotations name its secrets; in a TEE only
   * init-data's [secrets] */
  if (!agent_in_tee(a))
    argv[n++] = "--any-secret";
  /* The host set up a broker relay for this pod (no pod network to the
   * broker): TLS still ends in the attester. */
  if (a->relay) { /* its socket path reaches the attester as $COFFER_RELAY_SOCKET */
    argv[n++] = "--connect";
    argv[n++] = "relay";
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return cf_err(err, errno, "coffer-attester: pipe");
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return cf_err(err, errno, "coffer-attester: fork");
  }
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    /* it ends with the agent (outside a guest nothing else would stop it) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(p[1], 1) < 0)
      _exit(127);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "coffer-agent: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  a->attester_pid = pid;
  a->attester_ready_fd = p[0];
  a->attester_started_ms = cf_now_ms();
  a->attester_tried = true;
  cf_info("coffer-attester started (pid %d, tee %s)", (int)pid, kind);
  return 0;
}

int agent_attester_ensure(agent *a, cf_error *err) {
  if (a->attester_restart) { /* needed now: no need to wait for the back-off */
    cf_loop_timer_cancel(a->attester_restart);
    a->attester_restart = NULL;
  }
  if (agent_attester_spawn(a, err) < 0)
    return -EIO;
  if (a->attester_ready_fd < 0)
    return 0; /* served before */
  uint64_t t0 = cf_now_ms();
  int rc = wait_ready(a->attester_ready_fd, err);
  forget_ready_pipe(a);
  if (rc) {
    pid_t pid = a->attester_pid;
    a->attester_pid = 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return cf_error_prefix(err, "%s", attester_bin(a));
  }
  cf_info("coffer-attester ready (pid %d; %llu ms after it started, %llu ms waited)",
          (int)a->attester_pid, (unsigned long long)(cf_now_ms() - a->attester_started_ms),
          (unsigned long long)(cf_now_ms() - t0));
  return 0;
}

void agent_attester_early_start(agent *a) {
  if (!a->initdata || !a->initdata->broker_url || !*a->initdata->broker_url)
    return;
  cf_error err = {0};
  if (agent_attester_spawn(a, &err) < 0)
    cf_warn("coffer-attester: not started with the sandbox (%s); a container that needs it "
            "tries again", err.msg);
}

static int connect_sock(const char *path, cf_error *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: path too long", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return cf_err(err, errno, "%s: socket", path);
  struct timeval tv = {.tv_sec = AGENT_SECRET_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    return cf_err(err, e, "%s: connect", path);
  }
  return fd;
}

/* Reads the whole HTTP/1.0 answer (the server closes after it). */
static int read_reply(int fd, char **out, size_t *len, cf_error *err) {
  size_t cap = 4096, n = 0, max = AGENT_SECRET_MAX + 4096;
  char *b = malloc(cap + 1);
  if (!b)
    return cf_err(err, ENOMEM, "attester reply");
  for (;;) {
    if (n == cap) {
      char *nb = cap < max ? realloc(b, (cap *= 2) + 1) : NULL;
      if (!nb) {
        explicit_bzero(b, n);
        free(b);
        return cf_err_status(err, CF_RESOURCE_EXHAUSTED, "attester reply larger than %zu bytes", max);
      }
      b = nb;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      explicit_bzero(b, n);
      free(b);
      return cf_err(err, e, "reading the attester's reply");
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  b[n] = '\0';
  *out = b;
  *len = n;
  return 0;
}

static int secret_locked(agent *a, const char *name, const char *uri, uint8_t **data,
                         size_t *len, cf_error *err);

/* The worker's jobs and an early pull's thread (prefetch.h) may both ask:
 * one at a time, as the attester's start and ready pipe are shared. */
int agent_attester_secret(agent *a, const char *name, const char *uri, uint8_t **data,
                          size_t *len, cf_error *err) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&lock);
  int r = secret_locked(a, name, uri, data, len, err);
  pthread_mutex_unlock(&lock);
  return r;
}

static int secret_locked(agent *a, const char *name, const char *uri, uint8_t **data,
                         size_t *len, cf_error *err) {
  if (agent_attester_ensure(a, err))
    return -EIO;
  char sock[PATH_MAX], req[512];
  sock_path(a, sock, sizeof(sock));
  int n = snprintf(req, sizeof(req), "GET /v1/secret/%s?name=%s HTTP/1.0\r\nHost: attester\r\n\r\n",
                   uri + strlen("kbs:///"), name);
  if (n >= (int)sizeof(req))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "secret %s: request too long", name);
  _cleanup_close_ int fd = connect_sock(sock, err);
  if (fd < 0)
    return -EIO;
  if (write(fd, req, (size_t)n) != n)
    return cf_err(err, errno ? errno : EIO, "secret %s: sending to the attester", name);
  char *reply = NULL;
  size_t rlen = 0;
  if (read_reply(fd, &reply, &rlen, err))
    return cf_error_prefix(err, "secret %s", name);
  int code = 0;
  char *body = strstr(reply, "\r\n\r\n");
  if (sscanf(reply, "HTTP/1.%*d %d", &code) != 1 || !body) {
    free(reply);
    return cf_err_status(err, CF_INTERNAL, "secret %s: the attester's reply is not HTTP", name);
  }
  body += 4;
  size_t blen = rlen - (size_t)(body - reply);
  int rc = 0;
  if (code != 200) {
    while (blen && (body[blen - 1] == '\n' || body[blen - 1] == '\r'))
      blen--;
    /* The attester's text carries the broker's reason verbatim. */
    rc = cf_err_status(err, code == 403 ? CF_PERMISSION_DENIED
                            : code == 400 ? CF_INVALID_ARGUMENT : CF_UNAVAILABLE,
                       "secret %s (%s): %.*s", name, uri, (int)blen, body);
  } else if (!(*data = malloc(blen ? blen : 1))) {
    rc = cf_err(err, ENOMEM, "secret %s", name);
  } else {
    memcpy(*data, body, blen);
    *len = blen;
  }
  explicit_bzero(reply, rlen);
  free(reply);
  return rc;
}
