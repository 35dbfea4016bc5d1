/* agent_test cases: What a spec asks, enforced (runc is the reference), and what the
 * built-in runtime hands to runc. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <termios.h>
#include <time.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "coffer/transport.h"
#include "cases.h"

static json_object *jobj(json_object *o, const char *path) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
    json_object *c;
    if (!json_object_object_get_ex(o, tok, &c) || !json_object_is_type(c, json_type_object)) {
      c = json_object_new_object();
      json_object_object_add(o, tok, c);
    }
    o = c;
  }
  return o;
}

static json_object *jparse(const char *txt) {
  json_object *v = json_tokener_parse(txt);
  CHECK(v, "test bug: not JSON: %s", txt);
  return v;
}

/* Sets the field `key` of the object at `path` ("" = the spec) to JSON text. */
static void jset(json_object *s, const char *path, const char *key, const char *value) {
  json_object_object_add(path[0] ? jobj(s, path) : s, key, jparse(value));
}

/* Appends JSON text to the array `key` of the object at `path`. */
static void jappend(json_object *s, const char *path, const char *key, const char *value) {
  json_object *o = path[0] ? jobj(s, path) : s, *arr;
  if (!json_object_object_get_ex(o, key, &arr) || !json_object_is_type(arr, json_type_array)) {
    arr = json_object_new_array();
    json_object_object_add(o, key, arr);
  }
  json_object_array_add(arr, jparse(value));
}

/* Creates the container of spec (consumed), starts it, waits for its exit,
 * reads both streams and removes it. Returns the exit status. */
static int run_spec(const char *id, json_object *spec, char **out, char **err) {
  int rc = h_create_json(&H, id, spec, NULL, NULL, msg, sizeof(msg));
  json_object_put(spec);
  CHECK(rc == CF_OK, "create %s: %s", id, msg);
  CHECK(h_start(&H, id, msg, sizeof(msg)) == CF_OK, "start %s: %s", id, msg);
  int st = h_wait(&H, id, "");
  *out = h_read_all(&H, id, "", false, NULL);
  *err = h_read_all(&H, id, "", true, NULL);
  printf("--- %s exited %d; stdout:\n%s--- stderr:\n%s", id, st, *out, *err);
  CHECK(h_remove(&H, id, false) == CF_OK, "remove %s", id);
  return st;
}

static const char *const tmpfs_tmp =
    "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"nodev\",\"mode=1777\"]}";

/* process.user (uid, gid, additionalGids), capabilities, noNewPrivileges,
 * rlimits, a cwd the image lacks (made, though root.readonly), hostname. An
 * exec whose process names no capabilities gets the container's, as with
 * runc (its finalizeNamespace falls back to the container's config). */
static void test_spec_security(void) {
  spec_opts o = {.in = true};
  json_object *s = h_spec_json(&H, ARGS("sh", "-c",
      "id; ulimit -n; ulimit -Hn; pwd; "
      "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; hostname; "
      "cat /proc/sys/kernel/shm_rmid_forced; read x || true"), &o);
  json_object *ro;
  CHECK(json_object_object_get_ex(jobj(s, "root"), "readonly", &ro) && json_object_get_boolean(ro),
        "runc's template no longer has a read-only root");
  jset(s, "process", "user", "{\"uid\":1000,\"gid\":1000,\"additionalGids\":[2000]}");
  jset(s, "process", "capabilities",
       "{\"bounding\":[\"CAP_CHOWN\"],\"effective\":[\"CAP_CHOWN\"],\"permitted\":[\"CAP_CHOWN\"]}");
  jset(s, "process", "noNewPrivileges", "true");
  jset(s, "process", "rlimits", "[{\"type\":\"RLIMIT_NOFILE\",\"soft\":123,\"hard\":456}]");
  jset(s, "process", "cwd", "\"/work/dir\"");
  jset(s, "", "hostname", "\"coffer-sec\"");
  /* a sysctl of the container's IPC namespace is applied; one of the whole
   * kernel is refused */
  jset(s, "linux", "sysctl", "{\"kernel.core_pattern\":\"|/bin/false\"}");
  int rc = h_create_json(&H, "sec", s, &o, NULL, msg, sizeof(msg));
  CHECK(rc != CF_OK, "a spec setting kernel.core_pattern was accepted");
  printf("kernel.core_pattern refused: %s\n", msg);
  jset(s, "linux", "sysctl", "{\"kernel.shm_rmid_forced\":\"1\"}");
  rc = h_create_json(&H, "sec", s, &o, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "sec", msg, sizeof(msg)) == CF_OK, "start: %s", msg);

  /* uid 0, no capabilities, rlimits or noNewPrivileges in the process */
  CHECK(h_exec(&H, "sec", "e1", ARGS("sh", "-c",
                "id; ulimit -n; ulimit -Hn; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status"),
               false, false, msg, sizeof(msg)) == CF_OK, "exec: %s", msg);
  int est = h_wait(&H, "sec", "e1");
  char *eout = h_read_all(&H, "sec", "e1", false, NULL);
  char *eerr = h_read_all(&H, "sec", "e1", true, NULL);
  printf("--- exec e1 exited %d; stdout:\n%s--- stderr:\n%s", est, eout, eerr);

  CHECK(h_close_stdin(&H, "sec", "") == CF_OK, "close stdin");
  int st = h_wait(&H, "sec", "");
  char *out = h_read_all(&H, "sec", "", false, NULL);
  char *err = h_read_all(&H, "sec", "", true, NULL);
  printf("--- sec exited %d; stdout:\n%s--- stderr:\n%s", st, out, err);
  CHECK(st == 0, "exit status %d (stderr \"%s\")", st, err);
  /* uid 1000 without ambient capabilities: execve clears the permitted and
   * effective sets; the bounding set stays CAP_CHOWN (bit 0) */
  const char *want =
      "uid=1000 gid=1000 groups=2000\n"
      "123\n"
      "456\n"
      "/work/dir\n"
      "CapEff:\t0000000000000000\n"
      "CapBnd:\t0000000000000001\n"
      "NoNewPrivs:\t1\n"
      "coffer-sec\n"
      "1\n";
  CHECK(!strcmp(out, want), "init saw\n%s\nwant\n%s", out, want);
  CHECK(!strcmp(err, ""), "init stderr \"%s\"", err);
  /* runc 1.1: an exec's process without capabilities gets the
   * container's (root keeps CAP_CHOWN, all its bounding set allows); its
   * noNewPrivileges and rlimits are the process's own (false; none, so the
   * limits the agent has, which are this test's) */
  struct rlimit nofile;
  getrlimit(RLIMIT_NOFILE, &nofile);
  char ewant[256];
  snprintf(ewant, sizeof(ewant),
           "uid=0 gid=0\n"
           "%llu\n"
           "%llu\n"
           "CapEff:\t0000000000000001\n"
           "CapBnd:\t0000000000000001\n"
           "NoNewPrivs:\t0\n",
           (unsigned long long)nofile.rlim_cur, (unsigned long long)nofile.rlim_max);
  CHECK(est == 0 && !strcmp(eout, ewant),
        "exec without capabilities, rlimits, noNewPrivileges (exit %d) saw\n%s\nwant (runc)\n%s",
        est, eout, ewant);
  free(out);
  free(err);
  free(eout);
  free(eerr);
  CHECK(h_remove(&H, "sec", false) == CF_OK, "remove");
}

/* linux.maskedPaths (files masked by /dev/null, directories by an empty
 * tmpfs, missing paths skipped), linux.readonlyPaths, root.readonly, and a
 * tmpfs mount of the spec writable under the read-only root. */
static void test_masked_and_readonly_paths(void) {
  struct stat hs;
  if (stat("/proc/keys", &hs) != 0 || stat("/proc/timer_list", &hs) != 0 ||
      stat("/sys/firmware", &hs) != 0) {
    printf("SKIP: the host kernel has no /proc/keys, /proc/timer_list or /sys/firmware to mask\n");
    h_teardown(&H);
    exit(SKIP);
  }
  json_object *s = h_spec_json(&H, ARGS("sh", "-c",
      "stat -c '%n %F %t:%T' /proc/keys /proc/timer_list; "
      "wc -c < /proc/timer_list; "
      "test -e /proc/kcore || echo no-kcore; "
      "echo firmware=$(ls -A /sys/firmware | wc -l); "
      "echo 1 > /proc/sys/vm/drop_caches || echo sysctl-write-failed; "
      "cat /proc/sys/kernel/ostype; "
      "touch /newfile || echo touch-failed; "
      "echo data > /scratch/f && cat /scratch/f; "
      "awk '$2==\"/scratch\"{print $3}' /proc/mounts"), NULL);
  /* /proc/kcore does not exist on every kernel (not on this host's) */
  jset(s, "linux", "maskedPaths",
       "[\"/proc/kcore\",\"/proc/keys\",\"/proc/timer_list\",\"/sys/firmware\",\"/proc/no-such-entry\"]");
  jset(s, "linux", "readonlyPaths", "[\"/proc/sys\"]");
  jset(s, "root", "readonly", "true");
  jappend(s, "", "mounts",
          "{\"destination\":\"/scratch\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
          "\"options\":[\"nosuid\",\"nodev\",\"size=1m\"]}");
  char *out, *err;
  int st = run_spec("masked", s, &out, &err);
  CHECK(st == 0, "exit status %d", st);
  const char *want =
      "/proc/keys character special file 1:3\n"
      "/proc/timer_list character special file 1:3\n"
      "0\n"
      "no-kcore\n"
      "firmware=0\n"
      "sysctl-write-failed\n"
      "Linux\n"
      "touch-failed\n"
      "data\n"
      "tmpfs\n";
  CHECK(!strcmp(out, want), "saw\n%s\nwant\n%s", out, want);
  const char *ewant =
      "sh: can't create /proc/sys/vm/drop_caches: Read-only file system\n"
      "touch: /newfile: Read-only file system\n";
  CHECK(!strcmp(err, ewant), "stderr\n%s\nwant\n%s", err, ewant);
  free(out);
  free(err);
  char path[300];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/newfile", H.rootfs);
  CHECK(stat(path, &sb) != 0, "/newfile was created in the rootfs");

  /* the same without masks: what the masks hid is there */
  s = h_spec_json(&H, ARGS("sh", "-c",
      "stat -c '%n %F' /proc/timer_list; cat /proc/sys/kernel/ostype; "
      "ls -A /sys/firmware | grep -c ."), NULL);
  jset(s, "linux", "maskedPaths", "[]");
  jset(s, "linux", "readonlyPaths", "[]");
  st = run_spec("unmasked", s, &out, &err);
  CHECK(st == 0, "unmasked exit status %d", st);
  int n = 0;
  CHECK(sscanf(out, "/proc/timer_list regular empty file\nLinux\n%d", &n) == 1 && n > 0,
        "unmasked saw \"%s\"", out);
  free(out);
  free(err);
}

/* linux.seccomp: mkdir/mkdirat fail with EPERM (errnoRet 1), the rest is
 * allowed; an exec runs under the container's filter too. */
static void test_seccomp_filter(void) {
  spec_opts o = {.in = true};
  json_object *s = h_spec_json(&H, ARGS("sh", "-c",
      "mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touched; read x || true"), &o);
  jset(s, "linux", "seccomp",
       "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
       "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}");
  jappend(s, "", "mounts", tmpfs_tmp);
  int rc = h_create_json(&H, "sc", s, &o, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "sc", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_exec(&H, "sc", "e1", ARGS("sh", "-c",
                "mkdir /tmp/z; echo mkdir=$?; touch /tmp/w && echo touched; ls /tmp"),
               false, false, msg, sizeof(msg)) == CF_OK, "exec: %s", msg);
  int est = h_wait(&H, "sc", "e1");
  char *eout = h_read_all(&H, "sc", "e1", false, NULL);
  char *eerr = h_read_all(&H, "sc", "e1", true, NULL);
  printf("--- exec e1 exited %d; stdout:\n%s--- stderr:\n%s", est, eout, eerr);
  CHECK(h_close_stdin(&H, "sc", "") == CF_OK, "close stdin");
  int st = h_wait(&H, "sc", "");
  char *out = h_read_all(&H, "sc", "", false, NULL);
  char *err = h_read_all(&H, "sc", "", true, NULL);
  printf("--- sc exited %d; stdout:\n%s--- stderr:\n%s", st, out, err);
  CHECK(st == 0 && !strcmp(out, "mkdir=1\ntouched\n"), "init (exit %d) saw \"%s\"", st, out);
  CHECK(!strcmp(err, "mkdir: can't create directory '/tmp/x': Operation not permitted\n"),
        "init stderr \"%s\"", err);
  /* the exec sees the init's /tmp: y from the init, w of its own, no x or z */
  CHECK(est == 0 && !strcmp(eout, "mkdir=1\ntouched\nw\ny\n"), "exec (exit %d) saw \"%s\"", est,
        eout);
  CHECK(!strcmp(eerr, "mkdir: can't create directory '/tmp/z': Operation not permitted\n"),
        "exec stderr \"%s\"", eerr);
  free(out);
  free(err);
  free(eout);
  free(eerr);
  CHECK(h_remove(&H, "sc", false) == CF_OK, "remove");

  /* without noNewPrivileges, for a user other than root: the filter must
   * be loaded while the process still has CAP_SYS_ADMIN (before its user
   * changes; runc loads it before finalizeNamespace) */
  s = h_spec_json(&H, ARGS("sh", "-c",
      "id -u; mkdir /tmp/x; echo mkdir=$?; grep NoNewPrivs /proc/self/status"), NULL);
  jset(s, "linux", "seccomp",
       "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
       "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}");
  jappend(s, "", "mounts", tmpfs_tmp);
  jset(s, "process", "noNewPrivileges", "false");
  jset(s, "process", "user", "{\"uid\":1000,\"gid\":1000}");
  st = run_spec("sc-user", s, &out, &err);
  CHECK(st == 0 && !strcmp(out, "1000\nmkdir=1\nNoNewPrivs:\t0\n"),
        "uid 1000 without no_new_privs (exit %d) saw \"%s\" (stderr \"%s\")", st, out, err);
  CHECK(!strcmp(err, "mkdir: can't create directory '/tmp/x': Operation not permitted\n"),
        "uid 1000 without no_new_privs: stderr \"%s\"", err);
  free(out);
  free(err);
}

/* linux.devices makes the node; linux.resources.devices decides whether it
 * opens: denied by the template's deny-all rule, then readable (not
 * writable) with an allow rule for reading it. The standard devices stay
 * usable either way. */
static void test_device_cgroup(void) {
  const char *script =
      "stat -c '%F %t:%T %a' /dev/testkmsg; "
      "dd if=/dev/testkmsg of=/dev/null bs=1 count=0 2>/dev/null; echo read=$?; "
      "dd if=/dev/zero of=/dev/testkmsg bs=1 count=0 2>/dev/null; echo write=$?; "
      "exec 3</dev/testkmsg && echo opened";
  const char *node =
      "{\"path\":\"/dev/testkmsg\",\"type\":\"c\",\"major\":1,\"minor\":11,\"fileMode\":438}";
  for (int allow = 0; allow < 2; allow++) {
    json_object *s = h_spec_json(&H, ARGS("sh", "-c", script), NULL);
    jappend(s, "linux", "devices", node);
    /* with kernel.dmesg_restrict, reading /dev/kmsg takes CAP_SYSLOG too:
     * both containers have it, so the device rules alone decide */
    static const char *const sets[] = {"bounding", "effective", "permitted"};
    for (size_t i = 0; i < 3; i++)
      jappend(s, "process.capabilities", sets[i], "\"CAP_SYSLOG\"");
    jset(s, "linux.resources", "devices", "[{\"allow\":false,\"access\":\"rwm\"}]");
    if (allow)
      jappend(s, "linux.resources", "devices",
              "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"r\"}");
    char *out, *err;
    int st = run_spec(allow ? "dev-allowed" : "dev-denied", s, &out, &err);
    if (!allow) {
      /* a failed redirection of exec ends the shell */
      CHECK(st == 1, "denied: exit status %d", st);
      CHECK(!strcmp(out, "character special file 1:b 666\nread=1\nwrite=1\n"),
            "denied: saw \"%s\"", out);
      CHECK(!strcmp(err, "sh: can't open /dev/testkmsg: Operation not permitted\n"),
            "denied: stderr \"%s\"", err);
    } else {
      CHECK(st == 0, "allowed: exit status %d", st);
      CHECK(!strcmp(out, "character special file 1:b 666\nread=0\nwrite=1\nopened\n"),
            "allowed: saw \"%s\"", out);
      CHECK(!strcmp(err, ""), "allowed: stderr \"%s\"", err);
    }
    free(out);
    free(err);
  }
}

/* CreateSandbox with share_pid_namespace: a later container joins the pause
 * container's PID namespace (the built-in runtime forks its init from a
 * helper that joined it) and sees the pause process as PID 1. */
static char *read_text(const char *path) {
  FILE *f = fopen(path, "re");
  CHECK(f, "open %s", path);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
    n += r;
    if (n + 1 == cap)
      buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static char *runc_list(void) {
  char cmd[300], *out = calloc(1, 4096);
  snprintf(cmd, sizeof(cmd), "runc --root %s/runc list -q 2>/dev/null", H.state);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(out, 1, 4095, f) : 0;
  out[n] = '\0';
  if (f)
    pclose(f);
  return out;
}

/* Built-in runtime only: a spec asking what it does not implement
 * (linux.personality) is run by runc instead, and says so in the log; a
 * malformed spec gets the built-in runtime's error naming the field (no
 * runc fallback for mistakes). */
static void test_falls_back_to_runc(void) {
  json_object *s = h_spec_json(&H, ARGS("sh", "-c", "echo via-runc"), NULL);
  jset(s, "linux", "personality", "{\"domain\":\"LINUX\"}");
  int rc = h_create_json(&H, "fb", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  char *listed = runc_list();
  CHECK(!strcmp(listed, "fb\n"), "runc lists \"%s\", not fb", listed);
  free(listed);
  CHECK(h_start(&H, "fb", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_wait(&H, "fb", "") == 0, "exit status");
  char *out = h_read_all(&H, "fb", "", false, NULL);
  CHECK(!strcmp(out, "via-runc\n"), "output \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "fb", false) == CF_OK, "remove");

  /* the same spec without it: the built-in runtime, runc knows nothing */
  CHECK(h_create(&H, "bi", ARGS("sh", "-c", "echo built-in"), NULL, NULL, msg, sizeof(msg)) == CF_OK,
        "create: %s", msg);
  listed = runc_list();
  CHECK(!strcmp(listed, ""), "runc lists \"%s\" for a built-in container", listed);
  free(listed);
  CHECK(h_start(&H, "bi", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_wait(&H, "bi", "") == 0, "exit status");
  out = h_read_all(&H, "bi", "", false, NULL);
  CHECK(!strcmp(out, "built-in\n"), "output \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "bi", false) == CF_OK, "remove");

  char *log = read_text(H.log);
  CHECK(strstr(log, "container fb: runc runs it (linux.personality is not implemented by the "
                    "built-in runtime)"),
        "the log does not say runc runs fb");
  CHECK(!strstr(log, "container bi: runc runs it"), "the log says runc runs bi");
  free(log);

  /* malformed: errors naming the field, nothing left behind */
  s = h_spec_json(&H, ARGS("true"), NULL);
  json_object *mounts, *m0;
  CHECK(json_object_object_get_ex(s, "mounts", &mounts) &&
        (m0 = json_object_array_get_idx(mounts, 0)), "template has no mounts");
  json_object_object_add(m0, "destination", json_object_new_string("proc"));
  rc = h_create_json(&H, "bad1", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  printf("relative mount destination: %s: %s\n", cf_status_name(rc), msg);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "mounts[0]"), "relative mount destination: %s: %s",
        cf_status_name(rc), msg);
  s = h_spec_json(&H, ARGS("true"), NULL);
  jset(s, "process", "rlimits", "[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":5}]");
  rc = h_create_json(&H, "bad2", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  printf("soft rlimit above hard: %s: %s\n", cf_status_name(rc), msg);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "process.rlimits[0]"),
        "soft rlimit above hard: %s: %s", cf_status_name(rc), msg);
  s = h_spec_json(&H, ARGS("true"), NULL);
  jset(s, "linux", "devices", "[{\"path\":\"/dev/x\",\"type\":\"q\",\"major\":1,\"minor\":3}]");
  rc = h_create_json(&H, "bad3", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  printf("device of type q: %s: %s\n", cf_status_name(rc), msg);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "linux.devices[0]"), "device of type q: %s: %s",
        cf_status_name(rc), msg);
  listed = runc_list();
  CHECK(!strcmp(listed, ""), "runc lists \"%s\" after the failed creates", listed);
  free(listed);
  log = read_text(H.log);
  const char *first = strstr(log, "runc runs it");
  CHECK(first && !strstr(first + 1, "runc runs it"), "a malformed spec went to runc");
  free(log);
  char path[300];
  struct stat sb;
  snprintf(path, sizeof(path), "%s/bundles/bad2", H.state);
  CHECK(stat(path, &sb) != 0, "bundle of a failed create left behind");
}

const agent_case agent_cases_spec[] = {
    {"spec_security", test_spec_security},
    {"masked_and_readonly_paths", test_masked_and_readonly_paths},
    {"seccomp_filter", test_seccomp_filter},
    {"device_cgroup", test_device_cgroup},
    {"falls_back_to_runc", test_falls_back_to_runc},
    {NULL, NULL},
};
