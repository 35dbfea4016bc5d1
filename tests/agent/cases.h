/* agent_test's cases, by area (cases_*.c), and what they share. */
#ifndef COFFER_TESTS_AGENT_CASES_H
#define COFFER_TESTS_AGENT_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

extern harness H;       /* the agent under test */
extern char msg[1024];  /* the last call's error text */
extern const char *h_ctl_bin; /* coffer-agent-ctl, for the ctl case */

typedef struct agent_case {
  const char *name;     /* the ctest name without "agent_" / "agent_builtin_" */
  void (*run)(void);
} agent_case;

extern const agent_case agent_cases_io[], agent_cases_lifecycle[], agent_cases_pod[],
    agent_cases_transport[], agent_cases_spec[], agent_cases_policy[], agent_cases_secrets[],
    agent_cases_volumes[];
int agent_secrets_setup(void); /* cases_secrets.c: before h_setup */

/* shared helpers */
typedef struct waiter {  /* an asynchronous WaitProcess (or Read*) answer */
  bool done;
  int status;
  uint32_t exit_status;
} waiter;
void on_wait(int status, const char *m, const uint8_t *payload, size_t len, void *d);
void wait_async(ttrpc_client *cli, const char *id, const char *eid, waiter *w);
void run_ms(int ms);                                  /* the harness loop for ms */
void ns_link(uint32_t pid, const char *ns, char *buf, size_t cap); /* /proc/pid/ns/ns */
/* CHECK that a call's status is want */
void expect(int got, int want, const char *what);
/* CreateContainer with spec text as is; kind/src: the Rootfs */
int create_raw(const char *id, const char *spec, size_t len, int kind, const char *src);
extern char loops[2][64];                             /* rootfs_block's loop devices */
void block_cleanup(void);

#endif
