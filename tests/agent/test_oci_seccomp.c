/* The built-in runtime's seccomp filter (agent/oci/seccomp.c) against the
 * real kernel: each case builds a filter from a linux.seccomp object, a child
 * loads it and makes one raw syscall, and its exit code tells the result.
 * The child sets no_new_privs first, so no privilege is needed. After the
 * load it makes only raw syscalls (no libc or sanitizer paths). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "seccomp_filter.h"

#include "../shim/check.h"

/* exit codes of the probe child */
#define OK_BASE 200     /* the syscall returned r >= 0: OK_BASE + min(r, 50) */
#define SETUP_FAILED 150
#define KILLED_BASE 1000 /* killed by a signal: KILLED_BASE + signo */
#define IS_OK(x) ((x) >= OK_BASE && (x) <= OK_BASE + 50)

/* JSON written with ' for " so the cases stay readable. */
static json_object *J(const char *text) {
  char *s = strdup(text);
  for (char *p = s; *p; p++)
    if (*p == '\'')
      *p = '"';
  json_object *o = json_tokener_parse(s);
  if (!o) {
    fprintf(stderr, "bad test JSON: %s\n", s);
    exit(2);
  }
  free(s);
  return o;
}

/* What a filtered process needs to get from the load to its exit (and
 * what a sanitizer runtime may touch on the way), for default-deny cases. */
#define BASE_ALLOW                                                                          \
  "{'names':['exit_group','exit','write','rt_sigreturn','rt_sigprocmask','brk','mmap',"    \
  "'munmap','mprotect','madvise','futex','sched_yield','close','read','getpid','gettid'],"   \
  "'action':'SCMP_ACT_ALLOW'}"

static long raw_exit(int code) {
  return syscall(SYS_exit_group, code);
}

/* Builds `seccomp`, loads it in a child (after no_new_privs when nnp) that
 * then calls syscall(nr, a0, a1, a2). Returns the child's errno, or
 * IS_OK(...) on success, or KILLED_BASE + signal. -1 when the build failed. */
static int probe_ex(json_object *seccomp, bool nnp, long nr, long a0, long a1, long a2) {
  oci_seccomp *s = NULL;
  cf_error err = {0};
  if (oci_seccomp_build(seccomp, &s, &err) < 0) {
    fprintf(stderr, "oci_seccomp_build: %s\n", err.msg);
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* SIGSYS kills would dump core */
    if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
      perror("PR_SET_NO_NEW_PRIVS");
      raw_exit(SETUP_FAILED);
    }
    if (oci_seccomp_load(s, &err) < 0) {
      fprintf(stderr, "oci_seccomp_load: %s\n", err.msg);
      raw_exit(SETUP_FAILED);
    }
    long r = syscall(nr, a0, a1, a2, 0L, 0L, 0L);
    raw_exit(r < 0 ? errno : OK_BASE + (int)(r > 50 ? 50 : r));
    _exit(SETUP_FAILED + 1); /* exit_group was refused */
  }
  oci_seccomp_free(s);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      perror("waitpid");
      exit(1);
    }
  if (WIFSIGNALED(status))
    return KILLED_BASE + WTERMSIG(status);
  return WEXITSTATUS(status);
}

static int probe(const char *text, long nr, long a0, long a1, long a2) {
  json_object *o = J(text);
  int r = probe_ex(o, true, nr, a0, a1, a2);
  json_object_put(o);
  return r;
}

#define CHECK_PROBE(expr, want)                                                             \
  do {                                                                                      \
    int got_ = (expr);                                                                      \
    if (got_ != (want)) {                                                                   \
      fprintf(stderr, "%s:%d: %s gave %d, expected %d\n", __FILE__, __LINE__, #expr, got_,  \
              (want));                                                                      \
      failures++;                                                                           \
    }                                                                                       \
  } while (0)
#define CHECK_PROBE_OK(expr)                                                                \
  do {                                                                                      \
    int got_ = (expr);                                                                      \
    if (!IS_OK(got_)) {                                                                     \
      fprintf(stderr, "%s:%d: %s gave %d, expected success\n", __FILE__, __LINE__, #expr,   \
              got_);                                                                        \
      failures++;                                                                           \
    }                                                                                       \
  } while (0)

/* (a) default allow, mkdir/mkdirat denied with EACCES */
static void test_errno_rule(void) {
  char dir[] = "/tmp/coffer-seccomp-XXXXXX", sub[64];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    failures++;
    return;
  }
  snprintf(sub, sizeof(sub), "%s/sub", dir);
  const char *deny_mkdir = "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['mkdir',"
                           "'mkdirat'],'action':'SCMP_ACT_ERRNO','errnoRet':13}]}";
  /* the control: without the filter the same child succeeds */
  CHECK_PROBE_OK(probe_ex(NULL, true, SYS_mkdirat, AT_FDCWD, (long)sub, 0700));
  CHECK(rmdir(sub) == 0);
  CHECK_PROBE(probe(deny_mkdir, SYS_mkdirat, AT_FDCWD, (long)sub, 0700), EACCES);
#ifdef SYS_mkdir
  CHECK_PROBE(probe(deny_mkdir, SYS_mkdir, (long)sub, 0700, 0), EACCES);
#endif
  struct stat st;
  CHECK(stat(sub, &st) < 0 && errno == ENOENT);
  CHECK_PROBE_OK(probe(deny_mkdir, SYS_getpid, 0, 0, 0));
  /* errnoRet defaults to EPERM */
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getppid'],"
                    "'action':'SCMP_ACT_ERRNO'}]}",
                    SYS_getppid, 0, 0, 0),
              EPERM);
  rmdir(sub);
  CHECK(rmdir(dir) == 0);
}

/* (b) default deny: what the allowlist leaves out fails with the default
 * errno */
static void test_default_deny(void) {
  const char *allow = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW "]}";
  CHECK_PROBE(probe(allow, SYS_getppid, 0, 0, 0), EPERM);
  CHECK_PROBE_OK(probe(allow, SYS_getpid, 0, 0, 0));
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':38,'syscalls':["
                    BASE_ALLOW "]}",
                    SYS_getppid, 0, 0, 0),
              ENOSYS);
  /* a rule with the default action (EPERM) is dropped, not an error */
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                    ",{'names':['getppid'],'action':'SCMP_ACT_ERRNO','errnoRet':1}]}",
                    SYS_getppid, 0, 0, 0),
              EPERM);
  /* ... while another errno is a rule of its own */
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                    ",{'names':['getppid'],'action':'SCMP_ACT_ERRNO','errnoRet':22}]}",
                    SYS_getppid, 0, 0, 0),
              EINVAL);
}

/* the other actions, each on getppid */
static void test_actions(void) {
  const char *fmt = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                    ",{'names':['getppid'],'action':'%s'}]}";
  char buf[1024];
  snprintf(buf, sizeof(buf), fmt, "SCMP_ACT_KILL_PROCESS");
  CHECK_PROBE(probe(buf, SYS_getppid, 0, 0, 0), KILLED_BASE + SIGSYS);
  snprintf(buf, sizeof(buf), fmt, "SCMP_ACT_KILL");
  CHECK_PROBE(probe(buf, SYS_getppid, 0, 0, 0), KILLED_BASE + SIGSYS);
  snprintf(buf, sizeof(buf), fmt, "SCMP_ACT_KILL_THREAD");
  CHECK_PROBE(probe(buf, SYS_getppid, 0, 0, 0), KILLED_BASE + SIGSYS);
  snprintf(buf, sizeof(buf), fmt, "SCMP_ACT_TRAP");
  CHECK_PROBE(probe(buf, SYS_getppid, 0, 0, 0), KILLED_BASE + SIGSYS);
  snprintf(buf, sizeof(buf), fmt, "SCMP_ACT_LOG");
  CHECK_PROBE_OK(probe(buf, SYS_getppid, 0, 0, 0));
  /* no tracer attached: the kernel fails the syscall with ENOSYS */
  snprintf(buf, sizeof(buf), fmt, "SCMP_ACT_TRACE");
  CHECK_PROBE(probe(buf, SYS_getppid, 0, 0, 0), ENOSYS);
  /* kill as the default */
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_KILL_PROCESS','syscalls':[" BASE_ALLOW "]}",
                    SYS_getppid, 0, 0, 0),
              KILLED_BASE + SIGSYS);
  CHECK_PROBE_OK(probe("{'defaultAction':'SCMP_ACT_KILL_PROCESS','syscalls':[" BASE_ALLOW "]}",
                       SYS_getpid, 0, 0, 0));
}

static void *call_getppid(void *arg) {
  (void)arg;
  syscall(SYS_getppid);
  return NULL;
}

/* getppid under `action` from a second thread: KILL_THREAD ends that thread
 * (the child then exits 0), KILL_PROCESS every thread. */
static int probe_thread(const char *action) {
  char buf[256];
  snprintf(buf, sizeof(buf),
           "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getppid'],'action':'%s'}]}",
           action);
  json_object *o = J(buf);
  oci_seccomp *s = NULL;
  cf_error err = {0};
  int r = oci_seccomp_build(o, &s, &err);
  json_object_put(o);
  if (r < 0) {
    fprintf(stderr, "oci_seccomp_build: %s\n", err.msg);
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    pthread_t t = 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || oci_seccomp_load(s, &err) < 0 ||
        pthread_create(&t, NULL, call_getppid, NULL) != 0)
      raw_exit(SETUP_FAILED);
    pthread_join(t, NULL);
    raw_exit(0);
  }
  oci_seccomp_free(s);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return -1;
  return WIFSIGNALED(status) ? KILLED_BASE + WTERMSIG(status) : WEXITSTATUS(status);
}

static void test_kill_thread_or_process(void) {
  CHECK_PROBE(probe_thread("SCMP_ACT_KILL_THREAD"), 0);
  CHECK_PROBE(probe_thread("SCMP_ACT_KILL"), 0);
  CHECK_PROBE(probe_thread("SCMP_ACT_KILL_PROCESS"), KILLED_BASE + SIGSYS);
}

/* (c) argument comparisons */
static void test_args(void) {
  const char *eq = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                   ",{'names':['personality'],'action':'SCMP_ACT_ALLOW',"
                   "'args':[{'index':0,'value':0,'op':'SCMP_CMP_EQ'}]}]}";
  CHECK_PROBE_OK(probe(eq, SYS_personality, 0, 0, 0));
  CHECK_PROBE(probe(eq, SYS_personality, 8, 0, 0), EPERM);

  /* MASKED_EQ: value is the mask, valueTwo what the masked arg must be */
  const char *masked = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                       ",{'names':['socket'],'action':'SCMP_ACT_ALLOW',"
                       "'args':[{'index':0,'value':255,'valueTwo':1,'op':'SCMP_CMP_MASKED_EQ'}]}]}";
  CHECK_PROBE_OK(probe(masked, SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  CHECK_PROBE(probe(masked, SYS_socket, AF_INET, SOCK_STREAM, 0), EPERM);
  /* 0x101 & 0xff == AF_UNIX: the filter lets it through, the kernel refuses */
  CHECK_PROBE(probe(masked, SYS_socket, 0x101, SOCK_STREAM, 0), EAFNOSUPPORT);

  /* distinct indexes: one rule, all comparisons must hold (AND) */
  const char *and = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                    ",{'names':['socket'],'action':'SCMP_ACT_ALLOW','args':["
                    "{'index':0,'value':1,'op':'SCMP_CMP_EQ'},"
                    "{'index':1,'value':1,'op':'SCMP_CMP_EQ'}]}]}";
  CHECK_PROBE_OK(probe(and, SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  CHECK_PROBE(probe(and, SYS_socket, AF_UNIX, SOCK_DGRAM, 0), EPERM);
  CHECK_PROBE(probe(and, SYS_socket, AF_INET, SOCK_STREAM, 0), EPERM);

  /* a repeated index: one rule per comparison, any may hold (OR) */
  const char *or = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                   ",{'names':['personality'],'action':'SCMP_ACT_ALLOW','args':["
                   "{'index':0,'value':0,'op':'SCMP_CMP_EQ'},"
                   "{'index':0,'value':8,'op':'SCMP_CMP_EQ'}]}]}";
  CHECK_PROBE_OK(probe(or, SYS_personality, 0, 0, 0));
  CHECK_PROBE_OK(probe(or, SYS_personality, 8, 0, 0));
  CHECK_PROBE(probe(or, SYS_personality, 16, 0, 0), EPERM);
  /* more comparisons than arguments (they must repeat an index) */
#define EQ0(v) "{'index':0,'value':" #v ",'op':'SCMP_CMP_EQ'}"
  const char *many = "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
                     ",{'names':['personality'],'action':'SCMP_ACT_ALLOW','args':[" EQ0(1) ","
                     EQ0(2) "," EQ0(3) "," EQ0(4) "," EQ0(5) "," EQ0(6) "," EQ0(16) "]}]}";
  CHECK_PROBE_OK(probe(many, SYS_personality, 16, 0, 0));
  CHECK_PROBE(probe(many, SYS_personality, 8, 0, 0), EPERM);

  /* the other ops on personality's arg0 (allow when the comparison holds) */
  static const struct {
    const char *op;
    long arg;
    bool allowed;
  } cmp[] = {{"SCMP_CMP_NE", 8, false}, {"SCMP_CMP_NE", 16, true}, {"SCMP_CMP_LT", 4, true},
             {"SCMP_CMP_LT", 8, false}, {"SCMP_CMP_LE", 8, true},  {"SCMP_CMP_LE", 16, false},
             {"SCMP_CMP_GE", 8, true},  {"SCMP_CMP_GE", 4, false}, {"SCMP_CMP_GT", 16, true},
             {"SCMP_CMP_GT", 8, false}};
  for (size_t i = 0; i < sizeof(cmp) / sizeof(cmp[0]); i++) {
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[" BASE_ALLOW
             ",{'names':['personality'],'action':'SCMP_ACT_ALLOW',"
             "'args':[{'index':0,'value':8,'op':'%s'}]}]}",
             cmp[i].op);
    int got = probe(buf, SYS_personality, cmp[i].arg, 0, 0);
    if (cmp[i].allowed ? !IS_OK(got) : got != EPERM) {
      fprintf(stderr, "personality(%ld) under arg0 %s 8: got %d, expected %s\n", cmp[i].arg,
              cmp[i].op, got, cmp[i].allowed ? "success" : "EPERM");
      failures++;
    }
  }
}

/* (d) names this libseccomp does not know are skipped */
static void test_unknown_names(void) {
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':"
                    "['not_a_syscall_xyz','getppid',''],'action':'SCMP_ACT_ERRNO','errnoRet':22}]}",
                    SYS_getppid, 0, 0, 0),
              EINVAL);
}

/* flags and architectures the spec may list */
static void test_flags_and_arches(void) {
  CHECK_PROBE(probe("{'defaultAction':'SCMP_ACT_ALLOW','flags':['SECCOMP_FILTER_FLAG_TSYNC',"
                    "'SECCOMP_FILTER_FLAG_LOG','SECCOMP_FILTER_FLAG_SPEC_ALLOW'],"
                    "'syscalls':[{'names':['getppid'],'action':'SCMP_ACT_ERRNO','errnoRet':22}]}",
                    SYS_getppid, 0, 0, 0),
              EINVAL);
  /* every arch of Docker's and containerd's profiles; the native one twice */
  const char *arches = "{'defaultAction':'SCMP_ACT_ERRNO','architectures':['SCMP_ARCH_X86_64',"
                       "'SCMP_ARCH_X86','SCMP_ARCH_X32','SCMP_ARCH_AARCH64','SCMP_ARCH_ARM',"
                       "'SCMP_ARCH_PPC64LE','SCMP_ARCH_S390X','SCMP_ARCH_RISCV64',"
                       "'SCMP_ARCH_MIPSEL64','SCMP_ARCH_X86_64'],'syscalls':[" BASE_ALLOW
                       ",{'names':['socket'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,"
                       "'value':1,'op':'SCMP_CMP_EQ'}]}]}";
  CHECK_PROBE(probe(arches, SYS_getppid, 0, 0, 0), EPERM);
  CHECK_PROBE_OK(probe(arches, SYS_getpid, 0, 0, 0));
  CHECK_PROBE_OK(probe(arches, SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  CHECK_PROBE(probe(arches, SYS_socket, AF_INET, SOCK_STREAM, 0), EPERM);
}

/* The load itself sets no no_new_privs; without it (and without
 * CAP_SYS_ADMIN) the kernel refuses the filter. Root only. */
static void test_no_nnp(void) {
  if (geteuid() != 0) {
    printf("test_no_nnp: skipped (not root)\n");
    return;
  }
  const char *allow = "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getppid'],"
                      "'action':'SCMP_ACT_ERRNO','errnoRet':22}]}";
  json_object *o = J(allow);
  /* prctl(PR_GET_NO_NEW_PRIVS) after the load: 0 */
  CHECK_PROBE(probe_ex(o, false, SYS_prctl, PR_GET_NO_NEW_PRIVS, 0, 0), OK_BASE + 0);
  CHECK_PROBE(probe_ex(o, false, SYS_getppid, 0, 0, 0), EINVAL);

  /* without CAP_SYS_ADMIN: an error that says what is missing */
  oci_seccomp *s = NULL;
  cf_error err = {0};
  CHECK(oci_seccomp_build(o, &s, &err) == 0);
  json_object_put(o);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (setresuid(65534, 65534, 65534) < 0)
      _exit(SETUP_FAILED);
    int r = oci_seccomp_load(s, &err);
    _exit(r == -EACCES && strstr(err.msg, "CAP_SYS_ADMIN") &&
                  strstr(err.msg, "loading the seccomp filter")
              ? 0
              : 1);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  oci_seccomp_free(s);
}

/* (e) errors name the field */
static void expect_error(const char *text, const char *needle) {
  json_object *o = J(text);
  oci_seccomp *s = (oci_seccomp *)1;
  cf_error err = {0};
  int r = oci_seccomp_build(o, &s, &err);
  if (r >= 0 || err.status != CF_INVALID_ARGUMENT || !strstr(err.msg, needle) || s) {
    fprintf(stderr, "seccomp %s:\n  expected an INVALID_ARGUMENT error with \"%s\", got r=%d "
                    "status=%d \"%s\"\n",
            text, needle, r, err.status, err.msg);
    failures++;
  }
  if (r >= 0)
    oci_seccomp_free(s);
  json_object_put(o);
}

static void test_errors(void) {
  expect_error("[]", "linux.seccomp must be an object");
  expect_error("{}", "linux.seccomp.defaultAction is missing");
  expect_error("{'defaultAction':7}", "linux.seccomp.defaultAction must be a string");
  expect_error("{'defaultAction':'SCMP_ACT_FOO'}",
               "linux.seccomp.defaultAction \"SCMP_ACT_FOO\" is not a seccomp action");
  expect_error("{'defaultAction':'SCMP_ACT_NOTIFY'}",
               "linux.seccomp.defaultAction: seccomp notify (SCMP_ACT_NOTIFY) is not supported");
  expect_error("{'defaultAction':'SCMP_ACT_KILL','defaultErrnoRet':1}",
               "linux.seccomp.defaultErrnoRet is set but SCMP_ACT_KILL takes no errno");
  expect_error("{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':4096}",
               "linux.seccomp.defaultErrnoRet 4096 is out of range (0..4095)");
  expect_error("{'defaultAction':'SCMP_ACT_TRACE','defaultErrnoRet':65536}",
               "linux.seccomp.defaultErrnoRet 65536 is out of range (0..65535)");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','listenerPath':'/run/notify.sock'}",
               "seccomp notify (linux.seccomp.listenerPath) is not supported");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','listenerMetadata':'x'}",
               "seccomp notify (linux.seccomp.listenerMetadata) is not supported");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','architectures':['SCMP_ARCH_VAX']}",
               "linux.seccomp.architectures[0] \"SCMP_ARCH_VAX\" is not an architecture");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','architectures':['SCMP_ARCH_X86_64','x86']}",
               "linux.seccomp.architectures[1] \"x86\" is not an architecture");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','architectures':'SCMP_ARCH_X86_64'}",
               "linux.seccomp.architectures must be an array");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','flags':['SECCOMP_FILTER_FLAG_FOO']}",
               "linux.seccomp.flags[0] \"SECCOMP_FILTER_FLAG_FOO\" is not a seccomp filter flag");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','seccompFoo':1}",
               "linux.seccomp.seccompFoo is not supported");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':{}}",
               "linux.seccomp.syscalls must be an array");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[3]}",
               "linux.seccomp.syscalls[0] must be an object");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO'},{'names':['getpid'],'action':'SCMP_ACT_FOO'}]}",
               "linux.seccomp.syscalls[1].action \"SCMP_ACT_FOO\" is not a seccomp action");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid']}]}",
               "linux.seccomp.syscalls[0].action is missing");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':['SCMP_ACT_ERRNO']}]}",
               "linux.seccomp.syscalls[0].action must be a string");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_NOTIFY'}]}",
               "linux.seccomp.syscalls[0].action: seccomp notify (SCMP_ACT_NOTIFY) is not "
               "supported");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':'getpid',"
               "'action':'SCMP_ACT_ERRNO'}]}",
               "linux.seccomp.syscalls[0].names must be a non-empty array of strings");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':[],"
               "'action':'SCMP_ACT_ERRNO'}]}",
               "linux.seccomp.syscalls[0].names must be a non-empty array of strings");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid',3],"
               "'action':'SCMP_ACT_ERRNO'}]}",
               "linux.seccomp.syscalls[0].names[1] must be a string");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'name':'getpid',"
               "'action':'SCMP_ACT_ERRNO'}]}",
               "linux.seccomp.syscalls[0].name is not supported");
  expect_error("{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ALLOW','errnoRet':1}]}",
               "linux.seccomp.syscalls[0].errnoRet is set but SCMP_ACT_ALLOW takes no errno");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','errnoRet':4096}]}",
               "linux.seccomp.syscalls[0].errnoRet 4096 is out of range (0..4095)");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','errnoRet':-1}]}",
               "linux.seccomp.syscalls[0].errnoRet -1 is negative");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','errnoRet':'1'}]}",
               "linux.seccomp.syscalls[0].errnoRet must be an unsigned integer");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':{}}]}",
               "linux.seccomp.syscalls[0].args must be an array");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':0,'value':1,'op':'SCMP_CMP_EQ'},"
               "{'index':1,'value':1,'op':'SCMP_CMP_FOO'}]}]}",
               "linux.seccomp.syscalls[0].args[1].op \"SCMP_CMP_FOO\" is not a comparison");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':6,'value':1,'op':'SCMP_CMP_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].index 6 is out of range (0..5)");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'value':1,'op':'SCMP_CMP_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].index is missing");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':0,'op':'SCMP_CMP_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].value is missing");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':0,'value':1}]}]}",
               "linux.seccomp.syscalls[0].args[0].op is missing");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':0,'value':-5,'op':'SCMP_CMP_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].value -5 is negative");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':0,'value':1.5,'op':'SCMP_CMP_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].value must be an unsigned integer");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[{'index':0,'value':1,'valueTwo':'x',"
               "'op':'SCMP_CMP_MASKED_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].valueTwo must be an unsigned integer");
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ERRNO','args':[7]}]}",
               "linux.seccomp.syscalls[0].args[0] must be an object");
  /* a bad rule is an error even when its action is the default one */
  expect_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getpid'],"
               "'action':'SCMP_ACT_ALLOW','args':[{'index':9,'value':1,'op':'SCMP_CMP_EQ'}]}]}",
               "linux.seccomp.syscalls[0].args[0].index 9 is out of range");
}

/* (f) no linux.seccomp: no filter, and loading none does nothing */
static void test_null(void) {
  oci_seccomp *s = (oci_seccomp *)1;
  cf_error err = {0};
  CHECK(oci_seccomp_build(NULL, &s, &err) == 0 && s == NULL);
  CHECK(oci_seccomp_load(NULL, &err) == 0);
  oci_seccomp_free(NULL);
  /* full-range values, optional fields absent or null */
  json_object *o = J("{'defaultAction':'SCMP_ACT_ALLOW','defaultErrnoRet':null,'flags':null,"
                     "'listenerPath':'','syscalls':[{'names':['getppid'],'action':'SCMP_ACT_ERRNO',"
                     "'args':[{'index':5,'value':18446744073709551615,'valueTwo':"
                     "18446744073709551615,'op':'SCMP_CMP_MASKED_EQ'}]}]}");
  CHECK(oci_seccomp_build(o, &s, &err) == 0 && s != NULL);
  oci_seccomp_free(s);
  json_object_put(o);
}

/* (g) a profile the size of the default ones: every x86_64 syscall name but
 * getppid, personality and socket (libseccomp maps them on other arches, or
 * skips them), names of other arches and of newer kernels, argument rules,
 * the arches of containerd's amd64 and arm64 profiles. */
static const char *const big_allow[] = {
    "_sysctl", "accept", "accept4", "access", "acct", "add_key", "adjtimex", "afs_syscall",
    "alarm", "arch_prctl", "bind", "bpf", "brk", "capget", "capset", "chdir", "chmod", "chown",
    "chroot", "clock_adjtime", "clock_getres", "clock_gettime", "clock_nanosleep",
    "clock_settime", "clone", "clone3", "close", "close_range", "connect", "copy_file_range",
    "creat", "create_module", "delete_module", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
    "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_init", "fanotify_mark",
    "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr",
    "finit_module", "flistxattr", "flock", "fork", "fremovexattr", "fsconfig", "fsetxattr",
    "fsmount", "fsopen", "fspick", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
    "futex_waitv", "futimesat", "get_kernel_syms", "get_mempolicy", "get_robust_list",
    "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid",
    "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getpmsg", "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "getrusage",
    "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr",
    "init_module", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
    "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl", "ioperm", "iopl",
    "ioprio_get", "ioprio_set", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lookup_dcookie",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise", "mbind", "membarrier",
    "memfd_create", "memfd_secret", "migrate_pages", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "modify_ldt", "mount", "mount_setattr",
    "move_mount", "move_pages", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
    "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
    "newfstatat", "nfsservctl", "open", "open_by_handle_at", "open_tree", "openat", "openat2",
    "pause", "perf_event_open", "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pivot_root", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
    "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_madvise",
    "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6", "ptrace",
    "putpmsg", "pwrite64", "pwritev", "pwritev2", "query_module", "quotactl", "quotactl_fd",
    "read", "readahead", "readlink", "readlinkat", "readv", "reboot", "recvfrom", "recvmmsg",
    "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
    "request_key", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
    "sched_rr_get_interval", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "security", "select", "semctl", "semget",
    "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto", "set_mempolicy",
    "set_mempolicy_home_node", "set_robust_list", "set_thread_area", "set_tid_address",
    "setdomainname", "setfsgid", "setfsuid", "setgid", "setgroups", "sethostname", "setitimer",
    "setns", "setpgid", "setpriority", "setregid", "setresgid", "setresuid", "setreuid",
    "setrlimit", "setsid", "setsockopt", "settimeofday", "setuid", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "socketpair", "splice", "stat", "statfs", "statx", "swapoff", "swapon", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "sysfs", "sysinfo", "syslog", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill",
    "truncate", "tuxcall", "umask", "umount2", "uname", "unlink", "unlinkat", "unshare",
    "uselib", "userfaultfd", "ustat", "utime", "utimensat", "utimes", "vfork", "vhangup",
    "vmsplice", "vserver", "wait4", "waitid", "write", "writev",
    /* x86-32 only, newer kernels, nobody's */
    "socketcall", "_llseek", "fstatat64", "mmap2", "fcntl64", "cachestat", "mseal",
    "futex_waitv", "map_shadow_stack", "listmount", "not_a_syscall_xyz",
};

static void test_big_profile(void) {
  json_object *seccomp = J("{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':1,"
                           "'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32',"
                           "'SCMP_ARCH_AARCH64','SCMP_ARCH_ARM']}");
  json_object *names = json_object_new_array();
  size_t n = sizeof(big_allow) / sizeof(big_allow[0]);
  for (size_t i = 0; i < n; i++)
    json_object_array_add(names, json_object_new_string(big_allow[i]));
  json_object *rule = json_object_new_object();
  json_object_object_add(rule, "names", names);
  json_object_object_add(rule, "action", json_object_new_string("SCMP_ACT_ALLOW"));
  json_object *syscalls = J(
      "[{'names':['personality'],'action':'SCMP_ACT_ALLOW','args':[{'index':0,'value':0,"
      "'op':'SCMP_CMP_EQ'}]},{'names':['personality'],'action':'SCMP_ACT_ALLOW','args':["
      "{'index':0,'value':8,'op':'SCMP_CMP_EQ'}]},{'names':['socket'],'action':'SCMP_ACT_ALLOW',"
      "'args':[{'index':0,'value':40,'op':'SCMP_CMP_NE'}]},{'names':['clone3'],"
      "'action':'SCMP_ACT_ERRNO','errnoRet':38}]");
  json_object_array_add(syscalls, rule);
  json_object_object_add(seccomp, "syscalls", syscalls);
  printf("big profile: %zu names\n", n);

  CHECK_PROBE(probe_ex(seccomp, true, SYS_getppid, 0, 0, 0), EPERM);
  CHECK_PROBE_OK(probe_ex(seccomp, true, SYS_getpid, 0, 0, 0));
  CHECK_PROBE_OK(probe_ex(seccomp, true, SYS_gettid, 0, 0, 0));
  CHECK_PROBE_OK(probe_ex(seccomp, true, SYS_personality, 8, 0, 0));
  CHECK_PROBE(probe_ex(seccomp, true, SYS_personality, 16, 0, 0), EPERM);
  CHECK_PROBE_OK(probe_ex(seccomp, true, SYS_socket, AF_UNIX, SOCK_STREAM, 0));
  CHECK_PROBE(probe_ex(seccomp, true, SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0), EPERM);
#ifdef SYS_clone3
  CHECK_PROBE(probe_ex(seccomp, true, SYS_clone3, 0, 0, 0), ENOSYS);
#endif
  json_object_put(seccomp);
}

int main(void) {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
    printf("skipped: this kernel has no seccomp (CONFIG_SECCOMP)\n");
    return 77;
  }
  test_null();
  test_errors();
  test_errno_rule();
  test_default_deny();
  test_actions();
  test_kill_thread_or_process();
  test_args();
  test_unknown_names();
  test_flags_and_arches();
  test_no_nnp();
  test_big_profile();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all seccomp checks passed\n");
  return 0;
}
