/* The shim daemon's one context (struct shim); each file's functions are in
 * its own header.
 *
 *   main.c     flags, start | delete | daemon
 *   manager.c  start (spawn or find the pod's daemon) and delete (cleanup)
 *   daemon.c   the daemon: loop, signals, log fifo, Task service registration
 *   service.c  Task API handlers
 *   pod.c      the VM (vmm backend) and the agent connection
 *   process.c  task / exec state, exits, waiters
 *   stdio_pump.c  containerd's stdio URIs <-> agent Read/Write calls
 *   events.c   ordered, retried Events.Forward to containerd
 *   rootfs.c   the Create request's mounts on the bundle's rootfs
 *   metrics.c  agent stats -> containerd cgroups Metrics */
#ifndef COFFER_SHIM_H
#define COFFER_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/loop.h"
#include "coffer/ttrpc.h"
#include "config.h"
#include "podfiles.h"
#include "events.h"
#include "initdata.h"
#include "pod.h"
#include "podsize.h"
#include "process.h"

#define SHIM_VERSION "0.1.0"
#define TASK_SERVICE "containerd.task.v2.Task"
#define AGENT_SERVICE "coffer.agent.v1.Agent"
#define HEALTH_SERVICE "coffer.agent.v1.Health"

typedef struct shim_opts {
  const char *ns;
  const char *address;        /* containerd's grpc address */
  const char *publish_binary;
  const char *id;
  const char *bundle;
  const char *action;         /* "start" | "delete" | NULL (daemon) */
  bool debug;
} shim_opts;

struct shim {
  cf_loop *loop;
  shim_opts opts;
  shim_config cfg;
  char group_id[160];
  char hostname[256];     /* the pod's (the first task's spec), for the guest */
  shim_pod_files pod_files; /* the pod's DNS and hosts, for the guest */
  char bundle[4096];
  char socket_path[256];
  char state_dir[4096];   /* per pod: cfg.state_dir/<ns>/<group_id> */
  char sock_dir[64];      /* per pod: the backend's sockets (shim_sock_dir) */
  cf_pod_size size;       /* the VM's, from the first task's annotations */
  cf_error size_err;      /* set (status != 0) when they were malformed */
  shim_initdata initdata; /* the pod's init-data (initdata.h) */
  cf_error initdata_err;  /* set (status != 0) when it was malformed */
  struct shim_image_list *prefetch; /* the images its guest pulls (image_seed.h): CreateSandbox's hint */
  ttrpc_server *srv;
  pod pod;
  events ev;
  shim_task *tasks;
  int signal_fd;
  cf_watch *signal_watch;
  bool exiting;
};


#endif
