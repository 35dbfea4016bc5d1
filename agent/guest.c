/* What the guest is: GetGuestDetails and the cgroup layout. */

#include "guest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "runc/runc.h"

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

int agent_cgroup_version(void) {
  if (exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
    return 1;
  return 2;
}

/* Remove the pod's (now empty) cgroup in every hierarchy: v1 has one per
 * controller under /sys/fs/cgroup, v2 one tree. Only empty ones go. */
void agent_cgroup_remove_pod(const agent *a) {
  if (!a->cgroup_parent || !a->cgroup_parent[0] || !strcmp(a->cgroup_parent, "/"))
    return;
  char p[4200];
  snprintf(p, sizeof(p), "/sys/fs/cgroup%s", a->cgroup_parent);
  rmdir(p);
  DIR *d = opendir("/sys/fs/cgroup");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof(p), "/sys/fs/cgroup/%s%s", e->d_name, a->cgroup_parent);
    rmdir(p);
  }
  if (d)
    closedir(d);
}

bool agent_root_is_initramfs(void) {
  FILE *f = fopen("/proc/self/mounts", "re");
  char line[512];
  bool r = false;
  while (f && fgets(line, sizeof(line), f)) {
    char src[128], dst[256], type[64];
    if (sscanf(line, "%127s %255s %63s", src, dst, type) == 3 && !strcmp(dst, "/")) {
      r = !strcmp(type, "rootfs"); /* the last mount on / wins */
    }
  }
  if (f)
    fclose(f);
  return r;
}

/* The TEE this guest runs in, from the devices its kernel exposes. */
static Coffer__Agent__V1__TeeType detect_tee(void) {
  if (exists("/dev/sev-guest"))
    return COFFER__AGENT__V1__TEE_TYPE__TEE_SNP;
  if (exists("/dev/tdx_guest") || exists("/dev/tdx-guest"))
    return COFFER__AGENT__V1__TEE_TYPE__TEE_TDX;
  return COFFER__AGENT__V1__TEE_TYPE__TEE_NONE;
}

void agent_guest_details(agent *a, Coffer__Agent__V1__GuestDetails *d, char *kernel, size_t kcap) {
  struct utsname u;
  kernel[0] = '\0';
  if (uname(&u) == 0)
    snprintf(kernel, kcap, "%s", u.release);
  d->agent_version = (char *)AGENT_VERSION;
  d->kernel_release = kernel;
  d->tee = detect_tee();
  struct sysinfo si;
  if (sysinfo(&si) == 0)
    d->memory_total_bytes = (uint64_t)si.totalram * si.mem_unit;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  d->cpus = n > 0 ? (uint32_t)n : 0;
  d->pid1 = a->pid1;
  if (!a->runc_version && a->builtin) {
    a->runc_version = strdup("coffer-agent built-in runtime " AGENT_VERSION);
  } else if (!a->runc_version) {
    const char *args[] = {"--version", NULL};
    runc_io io = {.in = -1, .out = -1, .err = -1, .console_listen = -1, .capture_stdout = true};
    cf_error err = {0};
    if (runc_run(a, args, &io, a->runc_timeout_ms, &err) == 0 && io.capture) {
      io.capture[strcspn(io.capture, "\n")] = '\0';
      a->runc_version = io.capture;
    } else {
      free(io.capture);
      a->runc_version = strdup("");
    }
  }
  d->runtime_version = a->runc_version ? a->runc_version : (char *)"";
}
