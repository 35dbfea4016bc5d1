/* Test harness for coffer-agent: a private temp dir, a busybox rootfs built
 * from /bin/busybox, the agent started as a host process on a unix socket,
 * a ttrpc client to it, and helpers for the calls tests make. */
#ifndef COFFER_TESTS_AGENT_HARNESS_H
#define COFFER_TESTS_AGENT_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "agent.pb-c.h"
#include "coffer/loop.h"
#include "coffer/ttrpc.h"

#define SKIP 77

typedef struct harness {
  char dir[128];
  char sock[192], state[192], rootfs[192], log[192];
  const char *agent_bin;
  pid_t agent_pid;
  cf_loop *loop;
  ttrpc_client *cli;
  char sandbox[64];
  char cgroup_parent[96];
  json_object *spec_template;
} harness;

#define CHECK(cond, ...)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                 \
      fprintf(stderr, __VA_ARGS__);                                                   \
      fprintf(stderr, "\n");                                                          \
      h_fail();                                                                       \
    }                                                                                 \
  } while (0)

/* Optional knobs set before h_setup: where the temp dir goes (default
 * /tmp), argv words run before the agent (e.g. unshare ...), and whether
 * h_setup sends CreateSandbox. */
extern const char *h_tmp_base;
extern const char *const *h_wrapper;
/* COFFER_TEST_RUNTIME=builtin: the agent runs containers with its built-in
 * runtime, in a mount namespace of its own with cgroup v2 on /sys/fs/cgroup
 * (this host is v1 hybrid; its v2 hierarchy has no controllers, so the
 * cases that need memory limits stay with runc). */
extern bool h_builtin;
extern bool h_no_sandbox;

/* Skips (77) unless root with runc and /bin/busybox; builds the rootfs,
 * starts the agent with extra_args (NULL-terminated, may be NULL). */
void h_setup(harness *h, const char *agent_bin, const char *const *extra_args);
void h_start_agent(harness *h, const char *const *extra_args);
/* Listen on addr; client_fd >= 0: talk over that fd instead of connecting. */
void h_start_agent_at(harness *h, const char *addr, int client_fd, const char *const *extra_args);
/* SIGTERM, wait; returns the agent's wait status (0: clean exit, no leaks
 * reported under LeakSanitizer). */
int h_stop_agent(harness *h);
void h_teardown(harness *h);
void h_fail(void) __attribute__((noreturn));
void h_build_rootfs(const char *dir);

/* Generic synchronous call; returns the status (CF_OK = 0) and fills msg. */
int h_call(harness *h, const char *method, const ProtobufCMessage *req,
           const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, char *msg,
           size_t msgcap);
int h_call_bytes(harness *h, const char *method, const uint8_t *buf, size_t len, char *msg,
                 size_t msgcap);

typedef struct spec_opts {
  bool terminal, in, no_stderr;
  int64_t memory_limit;
  const char *annotation_type;  /* io.kubernetes.cri.container-type */
} spec_opts;
/* The spec as JSON text (malloc'd): runc's default spec with args. */
char *h_spec(harness *h, const char *const *args, const spec_opts *o);
int h_create(harness *h, const char *id, const char *const *args, const spec_opts *o,
             uint32_t *pid, char *msg, size_t cap);
/* The same spec as a JSON object (the caller's), for a test to change
 * fields of before h_create_json; the stdio of the create comes from o. */
json_object *h_spec_json(harness *h, const char *const *args, const spec_opts *o);
int h_create_json(harness *h, const char *id, json_object *spec, const spec_opts *o,
                  uint32_t *pid, char *msg, size_t cap);
int h_create_text(harness *h, const char *id, const char *spec, const spec_opts *o,
                  uint32_t *pid, char *msg, size_t cap);
int h_start(harness *h, const char *id, char *msg, size_t cap);
int h_remove(harness *h, const char *id, bool force);
int h_signal(harness *h, const char *id, const char *eid, int sig);
/* Returns the exit status, or -status on a call failure. */
int h_wait(harness *h, const char *id, const char *eid);
/* Reads a stream to EOF; malloc'd, NUL-terminated. */
char *h_read_all(harness *h, const char *id, const char *eid, bool err_stream, size_t *len);
int h_write(harness *h, const char *id, const char *eid, const void *data, size_t len);
int h_close_stdin(harness *h, const char *id, const char *eid);
int h_exec(harness *h, const char *id, const char *eid, const char *const *args, bool terminal,
           bool in, char *msg, size_t cap);

/* /proc/<pid>/status field in kB, and the number of open fds. */
long h_proc_status_kb(pid_t pid, const char *field);
int h_fd_count(pid_t pid);
void h_sleep_ms(int ms);

#endif
