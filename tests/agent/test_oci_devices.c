/* oci_devices_attach against the real kernel: device programs compiled from
 * rule lists are attached to fresh cgroup v2 directories, a child moves
 * itself in and tries device opens and mknods, and the results must be what
 * the rules (and the defaults every container gets) say. Needs root and a
 * cgroup2 mount at /sys/fs/cgroup/unified (or /sys/fs/cgroup); exits 77 with
 * the reason otherwise. */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "../shim/check.h"

static char cg_root[64];
static char tmpdir[64] = "/tmp/coffer-devtest-XXXXXX";

enum probe {
  P_NULL_RW, P_ZERO_READ, P_FULL_READ, P_URANDOM_READ, P_RANDOM_READ, P_PTMX_RW,
  P_KMSG_R, P_KMSG_W, P_LOOPCTL_RW, P_MKNOD_C, P_MKNOD_B, N_PROBES
};
static const char *probe_names[N_PROBES] = {
    "open /dev/null rw", "read /dev/zero", "read /dev/full", "read /dev/urandom",
    "read /dev/random", "open /dev/ptmx rw", "open /dev/kmsg r", "open /dev/kmsg w",
    "open /dev/loop-control rw", "mknod c 1:1", "mknod b 7:0"};

/* expectations are errnos: 0 = works, D = the device program denies */
#define D EPERM

static int open_probe(const char *path, int flags, bool do_read) {
  int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return errno;
  int e = 0;
  char c;
  if (do_read && read(fd, &c, 1) != 1)
    e = errno ? errno : EIO;
  close(fd);
  return e;
}

static int mknod_probe(mode_t type, unsigned maj, unsigned min) {
  char path[128];
  snprintf(path, sizeof(path), "%s/node-%d", tmpdir, (int)getpid());
  if (mknod(path, type | 0600, makedev(maj, min)) < 0)
    return errno;
  unlink(path);
  return 0;
}

static void run_probes(int res[N_PROBES]) {
  res[P_NULL_RW] = open_probe("/dev/null", O_RDWR, false);
  res[P_ZERO_READ] = open_probe("/dev/zero", O_RDONLY, true);
  res[P_FULL_READ] = open_probe("/dev/full", O_RDONLY, true);
  res[P_URANDOM_READ] = open_probe("/dev/urandom", O_RDONLY, true);
  res[P_RANDOM_READ] = open_probe("/dev/random", O_RDONLY, true);
  res[P_PTMX_RW] = open_probe("/dev/ptmx", O_RDWR, false);
  res[P_KMSG_R] = open_probe("/dev/kmsg", O_RDONLY, false);
  res[P_KMSG_W] = open_probe("/dev/kmsg", O_WRONLY, false);
  res[P_LOOPCTL_RW] = open_probe("/dev/loop-control", O_RDWR, false);
  res[P_MKNOD_C] = mknod_probe(S_IFCHR, 1, 1);
  res[P_MKNOD_B] = mknod_probe(S_IFBLK, 7, 0);
}

/* Runs the probes in a child that first moves itself into cgdir (NULL: stays
 * where it is). Returns false when the child could not report. */
static bool probe_in(const char *cgdir, int res[N_PROBES]) {
  struct { int move_errno; int res[N_PROBES]; } out = {0};
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return false;
  pid_t pid = fork();
  if (pid < 0)
    return false;
  if (pid == 0) {
    close(p[0]);
    if (cgdir) {
      char path[256];
      snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1)
        out.move_errno = errno ? errno : EIO;
      if (fd >= 0)
        close(fd);
    }
    if (!out.move_errno)
      run_probes(out.res);
    _exit(write(p[1], &out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
  }
  close(p[1]);
  ssize_t n = read(p[0], &out, sizeof(out));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != (ssize_t)sizeof(out) || !WIFEXITED(status) || WEXITSTATUS(status)) {
    fprintf(stderr, "probe child for %s did not report\n", cgdir ? cgdir : "(no cgroup)");
    return false;
  }
  if (out.move_errno) {
    fprintf(stderr, "probe child: join %s: %s\n", cgdir, strerror(out.move_errno));
    return false;
  }
  memcpy(res, out.res, sizeof(out.res));
  return true;
}

static int baseline[N_PROBES];

static void check_probes(const char *name, const int got[N_PROBES], const int want[N_PROBES]) {
  for (int i = 0; i < N_PROBES; i++) {
    /* a probe that fails even without a device program says nothing */
    if (baseline[i] != 0)
      continue;
    if (got[i] != want[i]) {
      fprintf(stderr, "%s: %s: got %s, want %s\n", name, probe_names[i],
              got[i] ? strerror(got[i]) : "success",
              want[i] ? strerror(want[i]) : "success");
      failures++;
    }
  }
}

static int n_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

/* Programs attached to the cgroup (BPF_PROG_QUERY), -1 on error. */
static int attached_programs(int dirfd) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.query.target_fd = (uint32_t)dirfd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  if (syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof(attr)) < 0)
    return -1;
  return (int)attr.query.prog_cnt;
}

static void remove_cgroup(const char *dir) {
  /* the child may take a moment to leave the cgroup after it exits */
  for (int i = 0; i < 200; i++) {
    if (rmdir(dir) == 0 || errno == ENOENT)
      return;
    if (errno != EBUSY)
      break;
    usleep(10000);
  }
  fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
  failures++;
}

/* Attach the program of rules (JSON text; NULL = no spec rules) to a new
 * cgroup and compare what a child in it can do with want. */
static void run_case(const char *name, const char *rules_json, bool o_path, const int want[N_PROBES]) {
  static int seq;
  int failures_before = failures;
  char dir[256];
  snprintf(dir, sizeof(dir), "%s/coffer-devtest-%d-%d", cg_root, (int)getpid(), seq++);
  if (mkdir(dir, 0755) < 0) {
    fprintf(stderr, "%s: mkdir %s: %s\n", name, dir, strerror(errno));
    failures++;
    return;
  }
  json_object *rules = NULL;
  if (rules_json) {
    rules = json_tokener_parse(rules_json);
    CHECK(rules != NULL);
  }
  int dirfd = open(dir, (o_path ? O_PATH : O_RDONLY) | O_DIRECTORY | O_CLOEXEC);
  CHECK(dirfd >= 0);
  cf_error err = {0};
  int fds_before = n_open_fds();
  int rc = oci_devices_attach(rules, dirfd, &err);
  if (rc < 0) {
    fprintf(stderr, "%s: oci_devices_attach: %s\n", name, err.msg);
    failures++;
  } else {
    CHECK(n_open_fds() == fds_before); /* the program fd is not kept */
    int q = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(attached_programs(q) == 1);
    close(q);
    int got[N_PROBES];
    if (probe_in(dir, got))
      check_probes(name, got, want);
    else
      failures++;
  }
  if (dirfd >= 0)
    close(dirfd);
  json_object_put(rules);
  remove_cgroup(dir);
  printf("%s: %s\n", name, failures == failures_before ? "ok" : "FAILED");
}

/* The rules must be refused before anything reaches the kernel, with a
 * message naming where. */
static void check_invalid(const char *rules_json, const char *must_name) {
  json_object *rules = json_tokener_parse(rules_json);
  CHECK(rules != NULL);
  cf_error err = {0};
  int rc = oci_devices_attach(rules, -1, &err);
  bool ok = rc < 0 && err.status == CF_INVALID_ARGUMENT && strstr(err.msg, must_name);
  if (!ok) {
    fprintf(stderr, "invalid %s: rc %d, status %d, message \"%s\" (want INVALID_ARGUMENT naming %s)\n",
            rules_json, rc, err.status, err.msg, must_name);
    failures++;
  } else {
    printf("refused as expected: %s\n", err.msg);
  }
  json_object_put(rules);
}

/* n rules as JSON: n - 1 that match nothing real (majors and minors past
 * what Linux uses, the biggest instruction blocks), then allow c 1:11 r. */
static char *many_rules(int n) {
  size_t cap = (size_t)n * 100 + 64, len = 0;
  char *s = malloc(cap);
  len += snprintf(s + len, cap - len, "[");
  for (int i = 0; i < n - 1; i++)
    len += snprintf(s + len, cap - len,
                    "{\"allow\":%s,\"type\":\"c\",\"major\":%u,\"minor\":%u,\"access\":\"r\"},",
                    i % 2 ? "true" : "false", 4294967295u - (unsigned)i, 4294967295u - (unsigned)i);
  snprintf(s + len, cap - len, "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"r\"}]");
  return s;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (geteuid() != 0) {
    printf("skipped: needs root (cgroup directories and BPF programs)\n");
    return 77;
  }
  struct statfs sfs;
  const char *candidates[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
  for (size_t i = 0; i < 2 && !cg_root[0]; i++)
    if (statfs(candidates[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
      snprintf(cg_root, sizeof(cg_root), "%s", candidates[i]);
  if (!cg_root[0]) {
    printf("skipped: neither /sys/fs/cgroup/unified nor /sys/fs/cgroup is a cgroup2 mount\n");
    return 77;
  }
  struct stat st;
  if (stat("/dev/kmsg", &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 11)) {
    printf("skipped: no /dev/kmsg (c 1:11) to be denied\n");
    return 77;
  }
  if (!mkdtemp(tmpdir)) {
    printf("skipped: mkdtemp: %s\n", strerror(errno));
    return 77;
  }
  /* what works without any device program */
  if (!probe_in(NULL, baseline)) {
    rmdir(tmpdir);
    return 1;
  }
  for (int i = 0; i < N_PROBES; i++)
    if (baseline[i])
      printf("note: %s fails without a device program (%s): not checked\n", probe_names[i],
             strerror(baseline[i]));
  if (baseline[P_NULL_RW] || baseline[P_KMSG_R] || baseline[P_KMSG_W]) {
    printf("skipped: /dev/null or /dev/kmsg cannot be opened even without a device program\n");
    rmdir(tmpdir);
    return 77;
  }

  /* Validation first: fd -1 is never reached. */
  const char *ok = "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"}";
  char buf[512];
#define INVALID(second, name)                                \
  do {                                                       \
    snprintf(buf, sizeof(buf), "[%s,%s]", ok, second);       \
    check_invalid(buf, name);                                \
  } while (0)
  INVALID("{\"allow\":true,\"type\":\"x\"}", "devices[1].type");
  INVALID("{\"allow\":true,\"type\":\"cc\"}", "devices[1].type");
  INVALID("{\"allow\":true,\"access\":\"rwq\"}", "devices[1].access");
  INVALID("{\"allow\":true,\"access\":7}", "devices[1].access");
  INVALID("{\"allow\":true,\"major\":-5}", "devices[1].major");
  INVALID("{\"allow\":true,\"major\":\"1\"}", "devices[1].major");
  INVALID("{\"allow\":true,\"minor\":4294967296}", "devices[1].minor");
  INVALID("{\"allow\":true,\"minor\":1.5}", "devices[1].minor");
  INVALID("{\"type\":\"c\",\"access\":\"rwm\"}", "devices[1].allow");
  INVALID("{\"allow\":\"yes\"}", "devices[1].allow");
  INVALID("{\"allow\":null}", "devices[1].allow");
  INVALID("42", "devices[1]");
  INVALID("{\"allow\":true,\"path\":\"/dev/kmsg\"}", "devices[1]");
  check_invalid("{\"allow\":true}", "linux.resources.devices");
  {
    char *too_many = many_rules(1025);
    check_invalid(too_many, "1024");
    free(too_many);
  }

  /* Errors from the kernel side name the step. */
  {
    cf_error err = {0};
    CHECK(oci_devices_attach(NULL, -1, &err) < 0 && err.errnum == EBADF);
    int notcg = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cf_error_clear(&err);
    CHECK(oci_devices_attach(NULL, notcg, &err) < 0 && strstr(err.msg, "BPF_PROG_ATTACH"));
    printf("not a cgroup: %s\n", err.msg);
    close(notcg);
  }

  /* Behaviour. */
  const int OK = 0;
  /* null zero full urandom random ptmx kmsg-r kmsg-w loopctl mknod-c mknod-b */
  const int defaults[N_PROBES] = {OK, OK, OK, OK, OK, OK, D, D, D, OK, OK};
  run_case("deny all (containerd's default)", "[{\"allow\":false,\"access\":\"rwm\"}]", false,
           defaults);
  run_case("no spec rules", NULL, false, defaults);
  run_case("deny all, then c 1:11 r (dirfd O_PATH)",
           "[{\"allow\":false,\"access\":\"rwm\"},"
           "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"r\"}]",
           true, (const int[N_PROBES]){OK, OK, OK, OK, OK, OK, OK, D, D, OK, OK});
  run_case("allow all", "[{\"allow\":true,\"access\":\"rwm\"}]", false,
           (const int[N_PROBES]){OK, OK, OK, OK, OK, OK, OK, OK, OK, OK, OK});
  run_case("allow all, then deny all",
           "[{\"allow\":true,\"access\":\"rwm\"},{\"allow\":false}]", false, defaults);
  /* the last matching rule decides; type, major and access must all match */
  run_case("last match wins",
           "[{\"allow\":true,\"type\":\"c\",\"major\":1},"
           "{\"allow\":false,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"w\"},"
           "{\"allow\":true,\"type\":\"b\",\"major\":10,\"minor\":237},"
           "{\"allow\":true,\"type\":\"c\",\"major\":4294967295,\"minor\":237},"
           "{\"allow\":true,\"type\":\"c\",\"major\":10,\"minor\":237,\"access\":\"r\"}]",
           false, (const int[N_PROBES]){OK, OK, OK, OK, OK, OK, OK, D, D, OK, OK});
  run_case("type a with major/minor", "[{\"allow\":true,\"major\":10,\"minor\":237,\"access\":\"rw\"}]",
           false, (const int[N_PROBES]){OK, OK, OK, OK, OK, OK, D, D, OK, OK, OK});
  run_case("wildcard minor", "[{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":-1,\"access\":\"w\"}]",
           false, (const int[N_PROBES]){OK, OK, OK, OK, OK, OK, D, OK, D, OK, OK});
  {
    char *max = many_rules(1024);
    run_case("1024 rules (the most allowed)", max, false,
             (const int[N_PROBES]){OK, OK, OK, OK, OK, OK, OK, D, D, OK, OK});
    free(max);
  }

  rmdir(tmpdir);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all device program checks passed\n");
  return 0;
}
