/* The shim daemon: one per pod, spawned by `start` with the listening
 * socket as fd 3. Serves the Task API on one event loop until Shutdown. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "address.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "image_seed.h"
#include "shim.h"
#include "events.h"
#include "pod.h"
#include "process.h"
#include "rootfs.h"
#include "service.h"

#define LISTEN_FD 3

/* containerd reads the bundle's `log` fifo: our stderr from now on. */
static void open_log(void) {
  int fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return;
  dup2(fd, STDERR_FILENO);
  close(fd);
}

static void on_signal(cf_loop *loop, int fd, uint32_t events, void *data) {
  shim *s = data;
  struct signalfd_siginfo si;
  while (read(fd, &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGCHLD) {
      /* reap everything: the agent (process backend), orphans we
       * inherited as subreaper, log drivers */
      while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
      continue;
    }
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      cf_info("signal %d: shutting down", si.ssi_signo);
      s->exiting = true;
      cf_loop_quit(loop);
    }
  }
}

static int setup_signals(shim *s, cf_error *err) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
    return cf_err(err, errno, "sigprocmask");
  s->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (s->signal_fd < 0)
    return cf_err(err, errno, "signalfd");
  s->signal_watch = cf_loop_watch(s->loop, s->signal_fd, EPOLLIN, on_signal, s, err);
  return s->signal_watch ? 0 : -EIO;
}

/* spec.hostname of the pod's first task (CRI sandboxes carry the pod's). */
static void spec_hostname(const char *spec, char *out, size_t cap) {
  out[0] = '\0';
  json_object *root = json_tokener_parse(spec);
  json_object *h = NULL;
  if (root && json_object_object_get_ex(root, "hostname", &h) &&
      json_object_is_type(h, json_type_string) && json_object_get_string_len(h) < (int)cap)
    snprintf(out, cap, "%s", json_object_get_string(h));
  json_object_put(root);
}

static int setup(shim *s, cf_error *err) {
  const char *cfg_path = getenv("COFFER_SHIM_CONFIG_PATH");
  const char *cfg_body = getenv("COFFER_SHIM_CONFIG_BODY");
  if (shim_config_load(&s->cfg, cfg_path, cfg_body, err) < 0)
    return -EINVAL;
  int level = cf_log_level_parse(s->cfg.log_level);
  if (s->opts.debug)
    level = CF_LOG_DEBUG;
  cf_log_init("shim", level < 0 ? CF_LOG_INFO : (enum cf_log_level)level, STDERR_FILENO);

  if (!getcwd(s->bundle, sizeof(s->bundle)))
    return cf_err(err, errno, "getcwd");
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/config.json", s->bundle);
  char *spec = NULL;
  size_t len = 0;
  if (cf_read_file(path, 1u << 20, &spec, &len, err) < 0)
    return -EINVAL;
  int r = shim_group_id(spec, s->opts.id, s->group_id, sizeof(s->group_id), err);
  spec_hostname(spec, s->hostname, sizeof(s->hostname));
  shim_pod_files_read(spec, &s->pod_files);
  /* a malformed annotation fails the pod (shim_pod_start), so Create says why */
  if (shim_pod_size(&s->cfg, spec, &s->size, &s->size_err) < 0)
    cf_error_prefix(&s->size_err, "pod sizing from %s", path);
  shim_initdata_read(&s->cfg, spec, &s->initdata, &s->initdata_err); /* initdata.h */
  /* the guest starts pulling these at CreateSandbox; a malformed list fails
   * the seed at start already, so here it is only left out */
  cf_error ignored = {0};
  if ((s->prefetch = calloc(1, sizeof(*s->prefetch))) &&
      shim_guest_pull_images(spec, s->prefetch, &ignored) < 0)
    s->prefetch->n = 0;
  free(spec);
  if (r < 0)
    return r;
  if (shim_pod_dir(s->cfg.state_dir, s->opts.ns, s->group_id, s->state_dir,
                   sizeof(s->state_dir), err) < 0 ||
      shim_sock_dir(s->state_dir, s->sock_dir, sizeof(s->sock_dir), err) < 0)
    return -EINVAL;
  char address[300];
  if (shim_socket_address(s->opts.address, s->opts.ns, s->group_id, address, sizeof(address),
                          err) < 0)
    return -EINVAL;
  snprintf(s->socket_path, sizeof(s->socket_path), "%s", shim_address_path(address));

  if (!(s->loop = cf_loop_new(err)))
    return -EIO;
  /* containerd's calls and the agent's replies come in quick succession */
  cf_loop_set_busy_poll(s->loop, s->cfg.busy_poll_us);
  if (setup_signals(s, err) < 0)
    return -EIO;
  /* Orphans of the agent (its containers, should it die) come to us. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (!(s->srv = ttrpc_server_new(s->loop, err)))
    return -EIO;
  if (shim_service_register(s, err) < 0)
    return -EIO;
  fcntl(LISTEN_FD, F_SETFD, FD_CLOEXEC);
  if (ttrpc_server_listen_fd(s->srv, LISTEN_FD, err) < 0)
    return cf_error_prefix(err, "shim socket (fd %d)", LISTEN_FD);
  shim_events_init(s);
  return 0;
}

int shim_daemon_main(shim_opts *o) {
  open_log();
  cf_log_init("shim", o->debug ? CF_LOG_DEBUG : CF_LOG_INFO, STDERR_FILENO);
  shim *s = calloc(1, sizeof(*s));
  if (!s)
    return 1;
  s->opts = *o;
  s->signal_fd = -1;
  s->pod.pidfd = -1;
  cf_error err = {0};
  if (setup(s, &err) < 0) {
    cf_error_log("shim daemon for %s: %s", o->id, err.msg);
    return 1;
  }
  cf_info("shim daemon for pod %s serving on %s (backend %s, config %s)", s->group_id,
          s->socket_path, s->cfg.backend, s->cfg.source);
  shim_pod_start(s);
  /* Start-up garbage (config parsing) is freed: give it back. */
  malloc_trim(0);
  cf_loop_run(s->loop);

  /* Shutdown: no tasks left (or told to): stop the VM, tell containerd
   * what is still queued, leave nothing behind. */
  shim_procs_all_lost(s, "the shim is shutting down");
  shim_pod_power_off(s);
  shim_pod_stop(s);
  while (s->tasks) {
    cf_error e2 = {0};
    if (s->tasks->rootfs_mounted && shim_rootfs_unmount(s->tasks->rootfs, &e2) < 0)
      cf_warn("%s", e2.msg);
    shim_task_free(s, s->tasks);
  }
  unlink(s->socket_path);
  shim_events_flush(s, 2000);
  shim_pod_dir_remove(s->state_dir);
  shim_sock_dir_remove(s->sock_dir);
  cf_info("shim daemon for pod %s exits", s->group_id);
  ttrpc_server_free(s->srv);
  shim_events_free(s);
  if (s->signal_watch)
    cf_loop_unwatch(s->signal_watch);
  if (s->signal_fd >= 0)
    close(s->signal_fd);
  cf_loop_free(s->loop);
  shim_pod_files_free(&s->pod_files);
  shim_initdata_free(&s->initdata);
  free(s->prefetch);
  s->prefetch = NULL;
  shim_config_free(&s->cfg);
  free(s);
  return 0;
}
