/* Running the coffer-vmm helper from the shim: bounded in time, stdout
 * captured, stderr shared (it lands in the shim's log). */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"

extern char **environ;

static bool executable(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int backend_find_helper(char *out, size_t cap, cf_error *err) {
  const char *env = getenv("COFFER_VMM_HELPER");
  if (env && *env) {
    if (!executable(env))
      return cf_err_status(err, CF_FAILED_PRECONDITION,
                           "COFFER_VMM_HELPER=%s is not an executable file", env);
    snprintf(out, cap, "%s", env);
    return 0;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = 0;
      const char *rel[] = {"coffer-vmm", "../vmm/libvirt/coffer-vmm", "../../vmm/libvirt/coffer-vmm"};
      for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof(p), "%s/%s", self, rel[i]);
        if (executable(p)) {
          char *r = realpath(p, NULL);
          snprintf(out, cap, "%s", r ? r : p);
          free(r);
          return 0;
        }
      }
    }
  }
  const char *path = getenv("PATH");
  _cleanup_free_ char *dup = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (char *save = NULL, *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/coffer-vmm", d);
    if (executable(p)) {
      snprintf(out, cap, "%s", p);
      return 0;
    }
  }
  return cf_err_status(err, CF_FAILED_PRECONDITION,
                       "coffer-vmm helper not found (next to the shim, in PATH, or $COFFER_VMM_HELPER)");
}

/* The helper's log lines carry msg="…": quote the last one in our error. */
static void last_msg(const char *log, char *out, size_t cap) {
  const char *m = NULL, *p = log;
  while ((p = strstr(p, "msg=\""))) {
    m = p + 5;
    p = m;
  }
  if (!m) {
    snprintf(out, cap, "%s", log);
  } else {
    size_t n = 0;
    for (const char *q = m; *q && *q != '\n' && n + 1 < cap; q++) {
      if (*q == '"' && q[-1] != '\\')
        break;
      out[n++] = *q;
    }
    out[n] = 0;
  }
  out[strcspn(out, "\n")] = 0;
}

int backend_run_helper(const char *helper, char *const argv[], char *out, size_t cap,
                       int timeout_ms, cf_error *err) {
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) < 0)
    return cf_err(err, errno, "pipe for coffer-vmm");
  if (pipe2(pe, O_CLOEXEC) < 0) {
    close(po[0]);
    close(po[1]);
    return cf_err(err, errno, "pipe for coffer-vmm");
  }
  _cleanup_close_ int rd = po[0];
  _cleanup_close_ int rde = pe[0];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  pid_t pid;
  char *args[16];
  size_t n = 0;
  args[n++] = (char *)helper;
  for (size_t i = 1; argv[i] && n < 15; i++)
    args[n++] = argv[i];
  args[n] = NULL;
  int r = posix_spawn(&pid, helper, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(po[1]);
  close(pe[1]);
  if (r != 0)
    return cf_err(err, r, "run %s", helper);

  char elog[4096];
  size_t len = 0, elen = 0;
  long long deadline = (long long)cf_now_ms() + timeout_ms;
  bool timed_out = false;
  int open_fds = 2;
  while (open_fds > 0) {
    long long left = deadline - (long long)cf_now_ms();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd pfd[2] = {{.fd = rd, .events = POLLIN}, {.fd = rde, .events = POLLIN}};
    int pr = poll(pfd, 2, (int)left);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0) {
      timed_out = pr == 0;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char buf[1024];
      ssize_t got = read(pfd[i].fd, buf, sizeof(buf));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        if (i == 0) { close(rd); rd = -1; } else { close(rde); rde = -1; }
        open_fds--;
        continue;
      }
      if (i == 0) {
        size_t take = (size_t)got < cap - 1 - len ? (size_t)got : cap - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
      } else {
        /* the helper's log lines belong in ours */
        (void)!write(2, buf, (size_t)got);
        if (elen + (size_t)got >= sizeof(elog))
          elen = 0; /* keep the tail */
        size_t take = (size_t)got < sizeof(elog) - 1 ? (size_t)got : sizeof(elog) - 1;
        memcpy(elog + elen, buf, take);
        elen += take;
      }
    }
  }
  out[len] = 0;
  elog[elen] = 0;
  if (timed_out)
    kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (timed_out)
    return cf_err_status(err, CF_DEADLINE_EXCEEDED, "%s %s did not finish within %d ms", helper,
                         argv[1], timeout_ms);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char m[1024];
    last_msg(elog, m, sizeof(m));
    return cf_err_status(err, CF_INTERNAL, "coffer-vmm %s: %s", argv[1],
                         m[0] ? m : (WIFEXITED(status) ? "failed" : "killed by a signal"));
  }
  return 0;
}
