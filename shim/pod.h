/* The pod: its VM (a vmm backend) and the connection to its agent. */
#ifndef COFFER_SHIM_POD_H
#define COFFER_SHIM_POD_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/loop.h"
#include "coffer/ttrpc.h"
#include "coffer/vmm.h"
#include "coffer/vmm_console.h"
#include "guest_log.h"

typedef struct shim shim;

/* A request that arrived before the agent was ready; replayed after. */
typedef struct deferred {
  ttrpc_handler handler;
  ttrpc_call *call;
  uint8_t *payload;
  size_t len;
  struct deferred *next;
} deferred;

enum pod_state { POD_STARTING, POD_READY, POD_FAILED, POD_DEAD, POD_STOPPED };

typedef struct pod {
  enum pod_state state;
  const cf_vmm_ops *ops;
  cf_vm *vm;
  ttrpc_client *agent;
  int pidfd;
  cf_watch *pid_watch;
  cf_timer *timer;     /* the next connect attempt */
  cf_timer *resend;    /* the next Health on the current connection */
  uint64_t deadline_ms;
  unsigned attempts;   /* connects so far: the back-off between them */
  uint64_t conn_ms;    /* when the current connection was made */
  bool answered;       /* a Health was answered: CreateSandbox is under way */
  char last_why[256];  /* why the last attempt failed */
  cf_console_tail *console; /* the guest console -> our log */
  cf_watch *console_watch;
  guest_log glog;
  cf_error failure;   /* why the pod is FAILED / DEAD */
  deferred *waiting, **waiting_tail;
  struct cf_relay *relay; /* the broker relay's host end (relay.c); NULL: none */
  bool relay_on;          /* the VM got the relay port (no pod network, a broker) */
} pod;

void shim_pod_start(shim *s);
/* Run handler now if the pod is ready, fail the call if it cannot become
 * ready, else keep it until it is. Returns true when the caller should go on
 * handling the call right now. */
bool shim_pod_ready_or_defer(shim *s, ttrpc_handler h, ttrpc_call *call,
                        const uint8_t *payload, size_t len);
/* Async agent call; on failure to send, cb runs at once with the status. */
void shim_pod_agent_call(shim *s, const char *method, const ProtobufCMessage *req,
                    int timeout_ms, ttrpc_reply_cb cb, void *data);
/* Ask the agent to destroy the sandbox and power the guest off (bounded);
 * shim_pod_stop then finds the VM gone instead of waiting out its grace. */
void shim_pod_power_off(shim *s);
void shim_pod_stop(shim *s);
bool shim_pod_alive(shim *s);

#endif
