/* The last steps of a container process before execve, in the order the
 * kernel needs them: what takes privilege (oom_score_adj, rlimits, the
 * bounding set) while the process is still root with every capability, then
 * the user and groups, then the capability sets, no_new_privs. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coffer/cleanup.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int last_cap(void) {
  _cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  int n = 40;
  if (f && fscanf(f, "%d", &n) != 1)
    n = 40;
  return n;
}

static const char *env_path(char *const *env) {
  for (size_t i = 0; env && env[i]; i++)
    if (!strncmp(env[i], "PATH=", 5))
      return env[i] + 5;
  return DEFAULT_PATH;
}

static bool executable(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int oci_find_executable(const oci_process *p, char *buf, size_t cap, cf_error *err) {
  const char *name = p->args[0];
  if (!name[0])
    return cf_err_status(err, CF_INVALID_ARGUMENT, "process.args[0] is empty");
  if (strchr(name, '/')) {
    if (snprintf(buf, cap, "%s", name) >= (int)cap)
      return cf_err(err, ENAMETOOLONG, "%.64s", name);
    if (!executable(buf))
      return cf_err_status(err, CF_NOT_FOUND, "exec \"%s\": %s", name,
                           errno ? strerror(errno) : "not an executable file");
    return 0;
  }
  const char *path = env_path(p->env);
  for (const char *s = path;; s++) {
    const char *e = strchrnul(s, ':');
    int dl = (int)(e - s);
    if (dl == 0)
      snprintf(buf, cap, "%s", name); /* empty entry: the working directory */
    else
      snprintf(buf, cap, "%.*s/%s", dl, s, name);
    if (executable(buf))
      return 0;
    if (!*e)
      break;
    s = e;
  }
  return cf_err_status(err, CF_NOT_FOUND, "exec \"%s\": executable file not found in $PATH", name);
}

int oci_process_prepare(const oci_process *p, cf_error *err) {
  if (p->has_oom_score_adj) {
    _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", p->oom_score_adj) < 0)
      return cf_err(err, errno, "set oom_score_adj to %d", p->oom_score_adj);
  }
  for (size_t i = 0; i < p->n_rlimits; i++) {
    struct rlimit r = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
    if (setrlimit(p->rlimits[i].resource, &r) < 0)
      return cf_err(err, errno, "setrlimit %d to %llu/%llu", p->rlimits[i].resource,
                    (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max);
  }
  /* the init's cwd was made with its root (oci_rootfs_setup) */
  if (chdir(p->cwd) < 0)
    return cf_err(err, errno, "chdir to the working directory %s", p->cwd);
  return 0;
}

int oci_process_identity(const oci_process *p, cf_error *err) {
  if (p->has_caps) {
    int last = last_cap();
    for (int c = 0; c <= last; c++)
      if (!(p->caps[OCI_CAP_BOUNDING] & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
          errno != EINVAL)
        return cf_err(err, errno, "drop capability %d from the bounding set", c);
  }
  /* keep the permitted set across the uid change; capset trims it below */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return cf_err(err, errno, "PR_SET_KEEPCAPS");
  if (setgroups(p->n_groups, p->groups) < 0)
    return cf_err(err, errno, "set the additional groups");
  if (setresgid(p->gid, p->gid, p->gid) < 0)
    return cf_err(err, errno, "set gid %u", (unsigned)p->gid);
  if (setresuid(p->uid, p->uid, p->uid) < 0)
    return cf_err(err, errno, "set uid %u", (unsigned)p->uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return cf_err(err, errno, "PR_SET_KEEPCAPS");
  if (p->has_umask)
    umask(p->umask);
  return 0;
}

int oci_process_caps(const oci_process *p, cf_error *err) {
  if (p->has_caps) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) {
      d[i].effective = (uint32_t)(p->caps[OCI_CAP_EFFECTIVE] >> (32 * i));
      d[i].permitted = (uint32_t)(p->caps[OCI_CAP_PERMITTED] >> (32 * i));
      d[i].inheritable = (uint32_t)(p->caps[OCI_CAP_INHERITABLE] >> (32 * i));
    }
    if (syscall(SYS_capset, &h, d) < 0)
      return cf_err(err, errno, "set the capabilities (effective %#llx permitted %#llx)",
                    (unsigned long long)p->caps[OCI_CAP_EFFECTIVE],
                    (unsigned long long)p->caps[OCI_CAP_PERMITTED]);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
      return cf_err(err, errno, "clear the ambient capabilities");
    /* the kernel raises only what is permitted and inheritable; specs
     * (runc's own template among them) list ambient capabilities without
     * inheritable ones and expect the rest to be ignored */
    uint64_t raisable = p->caps[OCI_CAP_AMBIENT] & p->caps[OCI_CAP_PERMITTED] &
                        p->caps[OCI_CAP_INHERITABLE];
    for (int c = 0; c < 64; c++)
      if ((raisable & (1ull << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
        return cf_err(err, errno, "raise ambient capability %d", c);
  }
  if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return cf_err(err, errno, "set no_new_privs");
  return 0;
}
