/* agent/oci/cgroup_*.c: the cgroup v2 part of the built-in OCI runtime.
 *
 * Two parts:
 *  - resources, errors and stats against a directory tree of regular files
 *    shaped like a cgroup v2 hierarchy. This stands in for the controllers
 *    this host does not give its cgroup2 mount (a hybrid v1 host binds them
 *    to v1); the real guest kernel is covered by the VM e2e test.
 *  - create/enter/pids/freeze/signal/stats/destroy against the kernel's
 *    cgroup2 mount at /sys/fs/cgroup/unified (root; skipped otherwise).
 * Exit 0 = passed, 1 = a check failed, 77 = the kernel part was skipped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "../shim/check.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static char tmp[PATH_MAX]; /* the fake hierarchy */

static void put(const char *rel, const char *content) {
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", tmp, rel);
  FILE *f = fopen(p, "we");
  if (!f) {
    fprintf(stderr, "create %s: %s\n", p, strerror(errno));
    failures++;
    return;
  }
  fputs(content, f);
  fclose(f);
}

static void dir(const char *rel) {
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", tmp, rel);
  if (mkdir(p, 0755) < 0 && errno != EEXIST) {
    fprintf(stderr, "mkdir %s: %s\n", p, strerror(errno));
    failures++;
  }
}

/* The file's content ("<missing>" when it cannot be read). */
static const char *get_abs(const char *p) {
  static char buf[4096];
  FILE *f = fopen(p, "re");
  if (!f)
    return "<missing>";
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static const char *get(const char *rel) {
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", tmp, rel);
  return get_abs(p);
}

static bool exists(const char *p) { return access(p, F_OK) == 0; }

#define CHECK_FILE(rel, want)                                                          \
  do {                                                                                 \
    const char *got_ = get(rel);                                                       \
    if (strcmp(got_, want) != 0) {                                                     \
      fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, rel,   \
              got_, want);                                                             \
      failures++;                                                                      \
    }                                                                                  \
  } while (0)

/* A failing call whose message must contain `want`, with the given status
 * (CF_OK: any). */
#define CHECK_FAILS(call, status_, want)                                               \
  do {                                                                                 \
    int r_ = (call);                                                                   \
    if (r_ >= 0 || !strstr(err.msg, want) ||                                           \
        ((status_) != CF_OK && err.status != (status_))) {                             \
      fprintf(stderr, "%s:%d: %s gave %d \"%s\" (status %d), want an error with \"%s\"\n", \
              __FILE__, __LINE__, #call, r_, err.msg, err.status, want);               \
      failures++;                                                                      \
    }                                                                                  \
    cf_error_clear(&err);                                                              \
  } while (0)

static json_object *J(const char *s) {
  json_object *o = json_tokener_parse(s);
  if (!o) {
    fprintf(stderr, "bad test JSON: %s\n", s);
    abort();
  }
  return o;
}

/* apply a JSON literal; returns the result, err filled */
static int apply(const oci_cgroup *cg, const char *json, cf_error *err) {
  json_object *o = J(json);
  int r = oci_cgroup_apply(cg, o, err);
  json_object_put(o);
  return r;
}

static int create(oci_cgroup *cg, const char *root, const char *path, const char *json,
                  cf_error *err) {
  json_object *o = json ? J(json) : NULL;
  int r = oci_cgroup_create(cg, root, path, o, err);
  if (o)
    json_object_put(o);
  return r;
}

static void leaf_files(const char *leaf) {
  static const char *const files[][2] = {
      {"cgroup.procs", ""},           {"cgroup.controllers", ""},
      {"memory.max", "max\n"},        {"memory.low", "0\n"},
      {"memory.high", "max\n"},       {"memory.swap.max", "max\n"},
      {"memory.current", "0\n"},      {"cpu.weight", "100\n"},
      {"cpu.max", "max 100000\n"},    {"cpuset.cpus", ""},
      {"cpuset.mems", ""},            {"pids.max", "max\n"},
      {"io.weight", "default 100\n"}, {"io.max", ""},
      {"hugetlb.2MB.max", "max\n"},
  };
  dir(leaf);
  for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
    char rel[256];
    snprintf(rel, sizeof(rel), "%s/%s", leaf, files[i][0]);
    put(rel, files[i][1]);
  }
}

static void test_fake_resources(void) {
  cf_error err = {0};
  oci_cgroup cg;
  /* root offers everything and has cpu on; pod has what it offers on */
  put("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
  put("cgroup.subtree_control", "cpu\n");
  dir("pod");
  put("pod/cgroup.controllers", "cpu memory pids\n");
  put("pod/cgroup.subtree_control", "cpu memory pids\n");
  leaf_files("pod/ctr");

  int r = create(&cg, tmp, "/pod/ctr",
                 "{\"memory\": {\"limit\": 1073741824, \"swap\": 2147483648,"
                 "              \"reservation\": 536870912, \"swappiness\": 0,"
                 "              \"kernel\": -1, \"disableOOMKiller\": false},"
                 " \"cpu\": {\"shares\": 1024, \"quota\": 50000, \"period\": 100000,"
                 "           \"cpus\": \"0-1\", \"mems\": \"0\"},"
                 " \"pids\": {\"limit\": 100},"
                 " \"blockIO\": {\"weight\": 500,"
                 "   \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 1048576}],"
                 "   \"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 16, \"rate\": 100},"
                 "                                 {\"major\": 8, \"minor\": 32, \"rate\": 0}]},"
                 " \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}],"
                 " \"devices\": [{\"allow\": false, \"access\": \"rwm\"}],"
                 " \"network\": {},"
                 " \"unified\": {\"memory.high\": \"900000000\"}}",
                 &err);
  CHECK(r == 0);
  if (r < 0) {
    fprintf(stderr, "create: %s\n", err.msg);
    return;
  }
  CHECK(cg.dirfd >= 0);
  CHECK(strcmp(cg.root, tmp) == 0 && strcmp(cg.path, "/pod/ctr") == 0);
  /* only what was offered and off, in one write (one tree walk in the kernel) */
  CHECK_FILE("cgroup.subtree_control", "+cpuset +io +memory +pids +hugetlb");
  CHECK_FILE("pod/cgroup.subtree_control", "cpu memory pids\n");
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/pod/ctr/cgroup.subtree_control", tmp);
  CHECK(!exists(p)); /* the leaf's own is not touched */
  CHECK_FILE("pod/ctr/memory.max", "1073741824\n");
  CHECK_FILE("pod/ctr/memory.swap.max", "1073741824\n"); /* 2G memory+swap - 1G */
  CHECK_FILE("pod/ctr/memory.low", "536870912\n");
  CHECK_FILE("pod/ctr/memory.high", "900000000");
  CHECK_FILE("pod/ctr/cpu.weight", "39\n");
  CHECK_FILE("pod/ctr/cpu.max", "50000 100000\n");
  CHECK_FILE("pod/ctr/cpuset.cpus", "0-1\n");
  CHECK_FILE("pod/ctr/cpuset.mems", "0\n");
  CHECK_FILE("pod/ctr/pids.max", "100\n");
  CHECK_FILE("pod/ctr/io.weight", "default 4950\n");
  CHECK_FILE("pod/ctr/io.max", "8:0 rbps=1048576\n8:16 wiops=100\n8:32 wiops=max\n");
  CHECK_FILE("pod/ctr/hugetlb.2MB.max", "4194304\n");

  /* updates: -1 = unlimited, missing period, period alone, conversions */
  CHECK(apply(&cg, "{\"memory\": {\"limit\": -1, \"swap\": -1}}", &err) == 0);
  CHECK_FILE("pod/ctr/memory.max", "max\n");
  CHECK_FILE("pod/ctr/memory.swap.max", "max\n");
  CHECK(apply(&cg, "{\"memory\": {\"limit\": 1000, \"swap\": 1000}}", &err) == 0);
  CHECK_FILE("pod/ctr/memory.swap.max", "0\n");
  CHECK(apply(&cg, "{\"cpu\": {\"quota\": 20000}}", &err) == 0);
  CHECK_FILE("pod/ctr/cpu.max", "20000 100000\n");
  CHECK(apply(&cg, "{\"cpu\": {\"period\": 50000}}", &err) == 0);
  CHECK_FILE("pod/ctr/cpu.max", "20000 50000\n");
  CHECK(apply(&cg, "{\"cpu\": {\"quota\": -1, \"period\": 100000}}", &err) == 0);
  CHECK_FILE("pod/ctr/cpu.max", "max 100000\n");
  CHECK(apply(&cg, "{\"cpu\": {\"shares\": 2}}", &err) == 0);
  CHECK_FILE("pod/ctr/cpu.weight", "1\n");
  CHECK(apply(&cg, "{\"cpu\": {\"shares\": 1}}", &err) == 0); /* clamped to 2 */
  CHECK_FILE("pod/ctr/cpu.weight", "1\n");
  CHECK(apply(&cg, "{\"cpu\": {\"shares\": 262144}}", &err) == 0);
  CHECK_FILE("pod/ctr/cpu.weight", "10000\n");
  CHECK(apply(&cg, "{\"cpu\": {\"shares\": 1000000}}", &err) == 0);
  CHECK_FILE("pod/ctr/cpu.weight", "10000\n");
  CHECK(apply(&cg, "{\"pids\": {\"limit\": 0}}", &err) == 0);
  CHECK_FILE("pod/ctr/pids.max", "max\n");
  CHECK(apply(&cg, "{\"pids\": {\"limit\": 7}}", &err) == 0);
  CHECK(apply(&cg, "{\"pids\": {\"limit\": -1}}", &err) == 0);
  CHECK_FILE("pod/ctr/pids.max", "max\n");
  CHECK(apply(&cg, "{\"blockIO\": {\"weight\": 10}}", &err) == 0);
  CHECK_FILE("pod/ctr/io.weight", "default 1\n");
  CHECK(apply(&cg, "{\"blockIO\": {\"weight\": 1000}}", &err) == 0);
  CHECK_FILE("pod/ctr/io.weight", "default 10000\n");
  CHECK(apply(&cg, "{\"blockIO\": {\"weightDevice\": [{\"major\": 8, \"minor\": 0, "
                   "\"weight\": 100}]}}", &err) == 0);
  CHECK_FILE("pod/ctr/io.weight", "8:0 910\n");
  /* not given = left alone; null = not given */
  CHECK(apply(&cg, "{\"memory\": {\"limit\": null}, \"cpu\": {}, \"pids\": null}", &err) == 0);
  CHECK_FILE("pod/ctr/memory.max", "1000\n");
  CHECK(oci_cgroup_apply(&cg, NULL, &err) == 0);

  /* refusals, each naming its field */
  CHECK_FAILS(apply(&cg, "{\"foo\": 1}", &err), CF_UNIMPLEMENTED, "linux.resources.foo");
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"bogus\": 1}}", &err), CF_UNIMPLEMENTED,
              "linux.resources.memory.bogus");
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"limit\": \"1G\"}}", &err), CF_INVALID_ARGUMENT,
              "linux.resources.memory.limit: must be an integer");
  CHECK_FAILS(apply(&cg, "{\"cpu\": {\"cpus\": 3}}", &err), CF_INVALID_ARGUMENT,
              "linux.resources.cpu.cpus: must be a string");
  CHECK_FAILS(apply(&cg, "{\"cpu\": {\"shares\": -5}}", &err), CF_INVALID_ARGUMENT,
              "linux.resources.cpu.shares");
  CHECK_FAILS(apply(&cg, "{\"memory\": []}", &err), CF_INVALID_ARGUMENT,
              "linux.resources.memory: must be an object");
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"disableOOMKiller\": true}}", &err), CF_UNIMPLEMENTED,
              "cannot disable the OOM killer");
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"limit\": 2000, \"swap\": 1000}}", &err),
              CF_INVALID_ARGUMENT, "linux.resources.memory.swap");
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"swap\": 1000}}", &err), CF_INVALID_ARGUMENT,
              "needs a memory.limit");
  CHECK_FAILS(apply(&cg, "{\"cpu\": {\"realtimeRuntime\": 1000}}", &err), CF_UNIMPLEMENTED,
              "linux.resources.cpu.realtimeRuntime");
  CHECK_FAILS(apply(&cg, "{\"blockIO\": {\"weight\": 5}}", &err), CF_INVALID_ARGUMENT,
              "linux.resources.blockIO.weight: 5 is outside 10..1000");
  CHECK_FAILS(apply(&cg, "{\"blockIO\": {\"throttleReadBpsDevice\": [{\"major\": 8}]}}", &err),
              CF_INVALID_ARGUMENT, "throttleReadBpsDevice[0].minor: missing");
  CHECK_FAILS(apply(&cg, "{\"hugepageLimits\": [{\"pageSize\": \"../2MB\", \"limit\": 1}]}",
                    &err),
              CF_INVALID_ARGUMENT, "hugepageLimits[0].pageSize");
  CHECK_FAILS(apply(&cg, "{\"unified\": {\"cgroup.procs\": \"1\"}}", &err), CF_INVALID_ARGUMENT,
              "linux.resources.unified.cgroup.procs");
  CHECK_FAILS(apply(&cg, "{\"unified\": {\"../x.y\": \"1\"}}", &err), CF_INVALID_ARGUMENT,
              "unified.../x.y");
  CHECK_FAILS(apply(&cg, "{\"unified\": {\"memory.max\": 5}}", &err), CF_INVALID_ARGUMENT,
              "must be a string");
  /* a refusal changes nothing, even when listed after a valid field */
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"limit\": 5}, \"network\": {\"classID\": 1}}", &err),
              CF_UNIMPLEMENTED, "linux.resources.network.classID");
  CHECK_FILE("pod/ctr/memory.max", "1000\n");
  CHECK_FAILS(apply(&cg, "{\"rdma\": {\"mlx5_1\": {\"hcaHandles\": 3}}}", &err),
              CF_UNIMPLEMENTED, "linux.resources.rdma");
  /* checkBeforeUpdate against memory.current */
  put("pod/ctr/memory.current", "5000\n");
  CHECK_FAILS(apply(&cg, "{\"memory\": {\"limit\": 4096, \"checkBeforeUpdate\": true}}", &err),
              CF_FAILED_PRECONDITION, "current usage 5000");
  CHECK(apply(&cg, "{\"memory\": {\"limit\": 8192, \"checkBeforeUpdate\": true}}", &err) == 0);
  CHECK_FILE("pod/ctr/memory.max", "8192\n");

  /* a controller's file missing names the controller */
  leaf_files("pod/bare");
  snprintf(p, sizeof(p), "%s/pod/bare/memory.max", tmp);
  unlink(p);
  oci_cgroup bare = {.root = tmp, .path = "/pod/bare", .dirfd = -1}; /* path-based access */
  CHECK_FAILS(apply(&bare, "{\"memory\": {\"limit\": 1}}", &err), CF_OK,
              "linux.resources.memory.limit: memory.max does not exist in");
  CHECK_FAILS(apply(&bare, "{\"memory\": {\"limit\": 1}}", &err), CF_OK,
              "is the memory controller enabled?");
  CHECK_FAILS(apply(&bare, "{\"unified\": {\"rdma.max\": \"x\"}}", &err), CF_OK,
              "is the rdma controller enabled?");
  CHECK(apply(&bare, "{\"pids\": {\"limit\": 3}}", &err) == 0);
  CHECK_FILE("pod/bare/pids.max", "3\n");

  /* paths: must start with '/', no "..", not the root itself */
  oci_cgroup bad = {.dirfd = 5};
  CHECK_FAILS(create(&bad, tmp, "/pod/../../etc", NULL, &err), CF_INVALID_ARGUMENT, "\"..\"");
  CHECK(bad.dirfd == -1 && !bad.root && !bad.path);
  CHECK_FAILS(create(&bad, tmp, "/..", NULL, &err), CF_INVALID_ARGUMENT, "\"..\"");
  CHECK_FAILS(create(&bad, tmp, "pod/x", NULL, &err), CF_INVALID_ARGUMENT, "must start with");
  CHECK_FAILS(create(&bad, tmp, "//", NULL, &err), CF_INVALID_ARGUMENT, "root cgroup");
  snprintf(p, sizeof(p), "%s/nonexistent", tmp);
  CHECK_FAILS(create(&bad, p, "/x", NULL, &err), CF_OK, "cgroup root");
  /* a leaf made by a create that then fails goes again */
  CHECK_FAILS(create(&bad, tmp, "/pod/new", "{\"memory\": {\"limit\": 1}}", &err), CF_OK,
              "is the memory controller enabled?");
  snprintf(p, sizeof(p), "%s/pod/new", tmp);
  CHECK(!exists(p));
  CHECK(bad.dirfd == -1 && !bad.root);
  /* a leaf that exists (agent restart) is fine, and kept on failure */
  oci_cgroup again;
  CHECK(create(&again, tmp, "/pod/ctr/", NULL, &err) == 0);
  oci_cgroup_close(&again);
  CHECK_FAILS(create(&again, tmp, "/pod/bare", "{\"memory\": {\"limit\": 1}}", &err), CF_OK,
              "memory.max does not exist");
  snprintf(p, sizeof(p), "%s/pod/bare", tmp);
  CHECK(exists(p));
  /* trailing slashes of root are dropped */
  snprintf(p, sizeof(p), "%s//", tmp);
  CHECK(create(&again, p, "/pod/ctr", NULL, &err) == 0);
  CHECK(again.root && strcmp(again.root, tmp) == 0);
  oci_cgroup_close(&again);

  oci_cgroup_close(&cg);
  CHECK(cg.dirfd == -1 && !cg.root && !cg.path);
}

static void test_fake_stats(void) {
  cf_error err = {0};
  dir("pod");
  dir("pod/st");
  put("pod/st/cgroup.procs", "");
  put("pod/st/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                         "nr_periods 10\nnr_throttled 3\nthrottled_usec 250\n");
  put("pod/st/memory.current", "4096\n");
  put("pod/st/memory.max", "max\n");
  put("pod/st/memory.peak", "8192\n");
  put("pod/st/memory.swap.current", "12\n");
  put("pod/st/memory.swap.max", "65536\n");
  put("pod/st/memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n");
  put("pod/st/memory.stat", "anon 100\nfile 200\nkernel 300"); /* no final '\n' */
  put("pod/st/pids.current", "3\n");
  put("pod/st/pids.max", "max\n");
  put("pod/st/io.stat", "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n"
                        "253:1 rbytes=5 wbytes=6 rios=7 wios=8 dbytes=0 dios=0\n");
  put("pod/st/hugetlb.2MB.current", "2097152\n");
  put("pod/st/hugetlb.2MB.max", "4194304\n");
  put("pod/st/hugetlb.2MB.events", "max 5\n");
  put("pod/st/hugetlb.2MB.rsvd.current", "0\n");
  put("pod/st/hugetlb.2MB.rsvd.max", "max\n");

  oci_cgroup cg = {.root = tmp, .path = "/pod/st", .dirfd = -1};
  oci_stats s;
  int r = oci_cgroup_stats(&cg, &s, &err);
  CHECK(r == 0);
  if (r < 0) {
    fprintf(stderr, "stats: %s\n", err.msg);
    return;
  }
  CHECK(s.cpu.total_ns == 1500000 && s.cpu.user_ns == 1000000 && s.cpu.kernel_ns == 500000);
  CHECK(s.cpu.throttling_periods == 10 && s.cpu.throttled_periods == 3 &&
        s.cpu.throttled_time_ns == 250000);
  CHECK(s.memory.usage.usage == 4096);
  CHECK(s.memory.usage.limit == UINT64_MAX);
  CHECK(s.memory.usage.max == 8192);
  CHECK(s.memory.usage.failcnt == 2);
  CHECK(s.memory.swap.usage == 12 && s.memory.swap.limit == 65536);
  CHECK(s.memory.cache == 200);
  CHECK(s.memory.n_stat == 3);
  for (size_t i = 0; i < s.memory.n_stat; i++) {
    const char *k = s.memory.stat[i].key;
    uint64_t v = s.memory.stat[i].value;
    CHECK((strcmp(k, "anon") == 0 && v == 100) || (strcmp(k, "file") == 0 && v == 200) ||
          (strcmp(k, "kernel") == 0 && v == 300));
  }
  CHECK(s.pids.current == 3 && s.pids.limit == 0);
  CHECK(s.blkio.n_service_bytes == 4 && s.blkio.n_serviced == 4);
  if (s.blkio.n_service_bytes == 4 && s.blkio.n_serviced == 4) {
    const oci_blkio_entry *b = s.blkio.service_bytes, *o = s.blkio.serviced;
    CHECK(b[0].major == 8 && b[0].minor == 0 && !strcmp(b[0].op, "Read") && b[0].value == 1024);
    CHECK(b[1].major == 8 && !strcmp(b[1].op, "Write") && b[1].value == 2048);
    CHECK(b[2].major == 253 && b[2].minor == 1 && !strcmp(b[2].op, "Read") && b[2].value == 5);
    CHECK(b[3].major == 253 && !strcmp(b[3].op, "Write") && b[3].value == 6);
    CHECK(!strcmp(o[0].op, "Read") && o[0].value == 1 && !strcmp(o[1].op, "Write") &&
          o[1].value == 2);
    CHECK(o[2].major == 253 && o[2].value == 7 && o[3].value == 8);
  }
  CHECK(s.n_hugetlb == 1);
  if (s.n_hugetlb == 1) {
    CHECK(strcmp(s.hugetlb[0].pagesize, "2MB") == 0);
    CHECK(s.hugetlb[0].usage == 2097152 && s.hugetlb[0].max == 4194304 &&
          s.hugetlb[0].failcnt == 5);
  }
  oci_stats_free(&s);

  /* no controller files at all: zeros, not an error */
  dir("pod/empty");
  put("pod/empty/cgroup.procs", "");
  oci_cgroup empty = {.root = tmp, .path = "/pod/empty", .dirfd = -1};
  CHECK(oci_cgroup_stats(&empty, &s, &err) == 0);
  CHECK(s.cpu.total_ns == 0 && s.memory.n_stat == 0 && s.blkio.n_service_bytes == 0 &&
        s.n_hugetlb == 0);
  oci_stats_free(&s);
  /* a cgroup that is gone is an error naming it */
  oci_cgroup gone = {.root = tmp, .path = "/pod/gone", .dirfd = -1};
  CHECK_FAILS(oci_cgroup_stats(&gone, &s, &err), CF_OK, "/pod/gone");
}

/* rm -r of the fake tree (regular files and directories only) */
static void remove_tree(const char *p) {
  DIR *d = opendir(p);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
        continue;
      char sub[PATH_MAX];
      snprintf(sub, sizeof(sub), "%s/%s", p, de->d_name);
      if (de->d_type == DT_DIR)
        remove_tree(sub);
      else
        unlink(sub);
    }
    closedir(d);
  }
  rmdir(p);
}

/* ------------------------------------------------------------ the kernel */

#define UNIFIED "/sys/fs/cgroup/unified"

static char top[PATH_MAX]; /* /coffer-test-<pid> */
static pid_t kids[4];
static volatile uint64_t *counter; /* shared with the spinning children */

static pid_t spawn(void) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
    for (;;)
      __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
  }
  for (size_t i = 0; i < sizeof(kids) / sizeof(*kids); i++)
    if (!kids[i]) {
      kids[i] = pid;
      break;
    }
  return pid;
}

static void forget(pid_t pid) {
  for (size_t i = 0; i < sizeof(kids) / sizeof(*kids); i++)
    if (kids[i] == pid)
      kids[i] = 0;
}

/* How the child ended: the signal that killed it, 0 otherwise. */
static int reap(pid_t pid) {
  int st;
  alarm(5);
  pid_t r = waitpid(pid, &st, 0);
  alarm(0);
  forget(pid);
  return r == pid && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint64_t count_now(void) { return __atomic_load_n(counter, __ATOMIC_RELAXED); }

static bool events_frozen(const char *cgdir, int want) {
  char p[PATH_MAX], line[64];
  snprintf(p, sizeof(p), "%s/cgroup.events", cgdir);
  const char *s = get_abs(p);
  snprintf(line, sizeof(line), "frozen %d", want);
  return strstr(s, line) != NULL;
}

static void kernel_cleanup(void) {
  for (size_t i = 0; i < sizeof(kids) / sizeof(*kids); i++)
    if (kids[i] > 0) {
      kill(kids[i], SIGKILL);
      waitpid(kids[i], NULL, 0);
      kids[i] = 0;
    }
  static const char *const rel[] = {"/a/b/sub", "/a/b", "/a/c", "/a", ""};
  for (size_t i = 0; top[0] && i < sizeof(rel) / sizeof(*rel); i++) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), UNIFIED "%s%s", top, rel[i]);
    for (int tries = 0; rmdir(p) < 0 && errno == EBUSY && tries < 200; tries++)
      sleep_ms(5);
  }
}

static int test_kernel(void) {
  struct statfs fs;
  if (geteuid() != 0) {
    printf("SKIP kernel part: needs root (cgroup directories under " UNIFIED ")\n");
    return 77;
  }
  if (statfs(UNIFIED, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
    printf("SKIP kernel part: " UNIFIED " is not a cgroup2 mount\n");
    return 77;
  }
  counter = mmap(NULL, sizeof(*counter), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                 0);
  if (counter == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  cf_error err = {0};
  char path[PATH_MAX], leaf[PATH_MAX], p[PATH_MAX];
  snprintf(top, sizeof(top), "/coffer-test-%d", (int)getpid());
  snprintf(path, sizeof(path), "%s/a/b", top);
  snprintf(leaf, sizeof(leaf), UNIFIED "%s", path);

  oci_cgroup cg;
  int r = create(&cg, UNIFIED, path, NULL, &err);
  CHECK(r == 0);
  if (r < 0) {
    fprintf(stderr, "create %s: %s\n", path, err.msg);
    return 1;
  }
  CHECK(exists(leaf));
  /* the controllers the mount offers are switched on down to the leaf's parent */
  char offered[256];
  snprintf(offered, sizeof(offered), "%s", get_abs(UNIFIED "/cgroup.controllers"));
  printf("kernel part: " UNIFIED " offers \"%.*s\"\n", (int)strcspn(offered, "\n"), offered);
  if (strstr(offered, "hugetlb")) {
    snprintf(p, sizeof(p), UNIFIED "%s/a/cgroup.subtree_control", top);
    CHECK(strstr(get_abs(p), "hugetlb") != NULL);
    snprintf(p, sizeof(p), "%s/hugetlb.2MB.max", leaf);
    if (exists(p)) {
      CHECK(apply(&cg, "{\"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 2097152}]}",
                  &err) == 0);
      CHECK(strcmp(get_abs(p), "2097152\n") == 0);
      printf("kernel part: hugepageLimits → hugetlb.2MB.max checked\n");
    }
  }
  if (!strstr(offered, "memory"))
    CHECK_FAILS(apply(&cg, "{\"memory\": {\"limit\": 1048576}}", &err), CF_OK,
                "is the memory controller enabled?");
  /* an existing leaf (agent restart) */
  oci_cgroup again;
  CHECK(create(&again, UNIFIED, path, NULL, &err) == 0);
  oci_cgroup_close(&again);

  /* enter, pids */
  pid_t c1 = spawn();
  CHECK(oci_cgroup_enter(&cg, c1, &err) == 0);
  pid_t *pids = NULL;
  size_t n = 0;
  CHECK(oci_cgroup_pids(&cg, &pids, &n, &err) == 0);
  CHECK(n == 1 && pids && pids[0] == c1);
  free(pids);

  /* freeze: the child stops counting; thaw: it goes on */
  sleep_ms(20);
  CHECK(oci_cgroup_freeze(&cg, true, &err) == 0);
  CHECK(events_frozen(leaf, 1));
  uint64_t a = count_now();
  sleep_ms(100);
  CHECK(count_now() == a);
  CHECK(oci_cgroup_freeze(&cg, false, &err) == 0);
  CHECK(events_frozen(leaf, 0));
  sleep_ms(50);
  CHECK(count_now() != a);
  if (err.msg[0])
    fprintf(stderr, "error: %s\n", err.msg);

  /* stats of a cgroup without controllers: core cpu.stat only */
  oci_stats s;
  CHECK(oci_cgroup_stats(&cg, &s, &err) == 0);
  CHECK(s.cpu.total_ns > 0);
  if (strstr(offered, "hugetlb"))
    CHECK(s.n_hugetlb >= 1);
  oci_stats_free(&s);

  /* a signal other than SIGKILL goes to each process */
  CHECK(oci_cgroup_signal_all(&cg, SIGTERM, &err) == 0);
  CHECK(reap(c1) == SIGTERM);
  /* to a frozen cgroup too: SIGKILL gets through */
  pid_t c0 = spawn();
  CHECK(oci_cgroup_enter(&cg, c0, &err) == 0);
  CHECK(oci_cgroup_freeze(&cg, true, &err) == 0);
  CHECK(oci_cgroup_signal_all(&cg, SIGKILL, &err) == 0);
  CHECK(reap(c0) == SIGKILL);
  CHECK(oci_cgroup_freeze(&cg, false, &err) == 0);

  /* destroy kills what is left, sub-cgroups included, and removes it all */
  pid_t c2 = spawn(), c3 = spawn();
  CHECK(oci_cgroup_enter(&cg, c2, &err) == 0);
  snprintf(p, sizeof(p), "%s/sub", leaf);
  CHECK(mkdir(p, 0755) == 0);
  oci_cgroup sub = {.root = UNIFIED, .path = p + strlen(UNIFIED), .dirfd = -1};
  CHECK(oci_cgroup_enter(&sub, c3, &err) == 0);
  CHECK(oci_cgroup_pids(&cg, &pids, &n, &err) == 0);
  CHECK(n == 2 && pids && ((pids[0] == c2 && pids[1] == c3) || (pids[0] == c3 && pids[1] == c2)));
  free(pids);
  CHECK(oci_cgroup_destroy(&cg, &err) == 0);
  if (err.msg[0])
    fprintf(stderr, "error: %s\n", err.msg);
  CHECK(!exists(leaf));
  CHECK(cg.dirfd == -1);
  CHECK(reap(c2) == SIGKILL);
  CHECK(reap(c3) == SIGKILL);
  /* again: gone is fine */
  CHECK(oci_cgroup_destroy(&cg, &err) == 0);
  oci_cgroup_close(&cg);

  /* destroy of an empty cgroup */
  snprintf(path, sizeof(path), "%s/a/c", top);
  CHECK(create(&cg, UNIFIED, path, NULL, &err) == 0);
  CHECK(oci_cgroup_destroy(&cg, &err) == 0);
  snprintf(p, sizeof(p), UNIFIED "%s", path);
  CHECK(!exists(p));
  oci_cgroup_close(&cg);
  return 0;
}

int main(void) {
  snprintf(tmp, sizeof(tmp), "/tmp/coffer-cgroup-test-XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  test_fake_resources();
  test_fake_stats();
  remove_tree(tmp);
  int fake_failures = failures;
  printf("fake hierarchy (resources, errors, stats): %s\n", failures ? "FAILED" : "ok");

  int k = test_kernel();
  kernel_cleanup();
  if (k == 1)
    failures++;
  if (k == 0)
    printf("kernel part (" UNIFIED "): %s\n", failures > fake_failures ? "FAILED" : "ok");
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  return k == 77 ? 77 : 0;
}
