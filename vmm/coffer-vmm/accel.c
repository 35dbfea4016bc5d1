#include "accel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/file.h"

extern char **environ;

#define PROBE_ALIVE_MS 1000

/* 1 = KVM usable, 0 = not (why says so). */
static int probe_kvm(const char *emulator, char *why, size_t whycap) {
  _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, whycap, "/dev/kvm: %s", strerror(errno));
    return 0;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *argv[] = {(char *)emulator, "-accel", "kvm", "-M", "microvm", "-cpu", "host",
                  "-m", "16", "-nodefaults", "-display", "none", "-no-reboot", "-S", NULL};
  pid_t pid;
  int r = posix_spawn(&pid, emulator, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0) {
    snprintf(why, whycap, "cannot run %s: %s", emulator, strerror(r));
    return 0;
  }
  long long deadline = (long long)cf_now_ms() + PROBE_ALIVE_MS;
  int status;
  while ((long long)cf_now_ms() < deadline) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      snprintf(why, whycap, "QEMU with KVM %s %d at start", WIFSIGNALED(status) ? "died of signal" : "exited",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      return 0;
    }
    usleep(20000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  snprintf(why, whycap, "QEMU with KVM starts");
  return 1;
}

static int read_cache(const char *path, char *out, size_t cap, char *why, size_t whycap) {
  _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
  char line[512];
  if (!f || !fgets(line, sizeof(line), f))
    return -1;
  line[strcspn(line, "\n")] = 0;
  char *sp = strchr(line, ' ');
  if (sp)
    *sp = 0;
  if (strcmp(line, "kvm") && strcmp(line, "tcg"))
    return -1;
  snprintf(out, cap, "%s", line);
  snprintf(why, whycap, "cached in %s: %s", path, sp ? sp + 1 : "");
  return 0;
}

static void write_cache(const char *path, const char *accel, const char *why) {
  if (!path)
    return;
  char dir[4096], line[640];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    mkdir(dir, 0755);
  }
  int n = snprintf(line, sizeof(line), "%s %s\n", accel, why);
  cf_error ignored = {0};
  if (n > 0 && (size_t)n < sizeof(line))
    cf_write_file_atomic(path, line, (size_t)n, 0644, 0, &ignored); /* a cache: best effort */
}

int accel_resolve(const char *requested, const char *emulator, const char *cache_path,
                  char *out, size_t cap, char *why, size_t whycap, cf_error *err) {
  if (!strcmp(requested, "kvm") || !strcmp(requested, "tcg")) {
    snprintf(out, cap, "%s", requested);
    snprintf(why, whycap, "configured");
    return 0;
  }
  if (strcmp(requested, "auto") != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "accelerator \"%s\" unknown (auto, kvm, tcg)",
                         requested);
  if (read_cache(cache_path, out, cap, why, whycap) == 0)
    return 0;
  char reason[400];
  int kvm = probe_kvm(emulator, reason, sizeof(reason));
  snprintf(out, cap, "%s", kvm ? "kvm" : "tcg");
  snprintf(why, whycap, "probed: %s", reason);
  write_cache(cache_path, out, reason);
  return 0;
}
