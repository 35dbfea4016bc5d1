/* The guest end of the broker relay (see relay.h). */
#include "relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "coffer/relay.h"
#include "coffer/transport.h"

/* /dev/vportNpM of the virtio-serial port named name; -ENOENT without one. */
static int find_port(const char *name, char *buf, size_t cap) {
  _cleanup_closedir_ DIR *d = opendir("/sys/class/virtio-ports");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[512], found[64] = "";
    snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f || !fgets(found, sizeof(found), f))
      continue;
    found[strcspn(found, "\n")] = '\0';
    if (!strcmp(found, name)) {
      snprintf(buf, cap, "/dev/%s", e->d_name);
      return 0;
    }
  }
  return -ENOENT;
}

static int open_channel(const char *channel, cf_error *err) {
  if (!strncmp(channel, "fd:", 3)) {
    char *end;
    long fd = strtol(channel + 3, &end, 10);
    if (*end || fd < 3 || fd > INT_MAX || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "relay channel %s: not an open fd", channel);
    return (int)fd;
  }
  if (!strncmp(channel, "serial:", 7))
    return cf_transport_open_serial(channel + 7, err);
  return cf_err_status(err, CF_INVALID_ARGUMENT, "relay channel %s: expected fd:N or serial:PATH",
                       channel);
}

/* The pump runs on a loop and thread of its own: the agent's loop may wait
 * on the attester (a secret for CreateContainer) while the attester's
 * broker connection goes through this very pump. */
static void *pump(void *loop) {
  int r = cf_loop_run(loop);
  if (r < 0)
    cf_warn("broker relay: its event loop failed: %s", strerror(-r));
  return NULL;
}

int agent_relay_start(agent *a, const char *channel, const char *socket_path, cf_error *err) {
  char port[64];
  if (!channel) {
    if (!a->pid1 || find_port(CF_RELAY_PORT_NAME, port, sizeof(port)) < 0) {
      cf_debug("no virtio-serial port %s: no broker relay", CF_RELAY_PORT_NAME);
      return 0;
    }
    static char found[80];
    snprintf(found, sizeof(found), "serial:%s", port);
    channel = found;
  }
  const char *path = socket_path ? socket_path : CF_RELAY_GUEST_SOCKET;
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    int r = cf_mkdir_p(dir, 0755, 0700);
    if (r < 0)
      return cf_err(err, -r, "relay socket directory %s", dir);
  }
  int chan = open_channel(channel, err);
  if (chan < 0)
    return chan;
  char addr[PATH_MAX + 8];
  snprintf(addr, sizeof(addr), "unix:%s", path);
  int lfd = cf_transport_listen(addr, err);
  if (lfd < 0) {
    close(chan);
    return cf_error_prefix(err, "broker relay");
  }
  chmod(path, 0600); /* guest programs run as root; containers never see it */
  cf_loop *loop = cf_loop_new(err);
  if (!loop) {
    close(chan);
    close(lfd);
    return cf_error_prefix(err, "broker relay");
  }
  cf_relay_opts o = {.name = "guest"};
  a->relay = cf_relay_guest_new(loop, chan, lfd, &o, err);
  if (!a->relay) {
    cf_loop_free(loop);
    return cf_error_prefix(err, "broker relay");
  }
  pthread_t t;
  int r = pthread_create(&t, NULL, pump, loop);
  if (r) {
    a->relay = NULL; /* no pump: guest programs must not dial it */
    return cf_err(err, r, "broker relay: start its thread");
  }
  pthread_detach(t);
  /* guest programs the agent starts (the attester) dial it through this */
  setenv(CF_RELAY_SOCKET_ENV, path, 1);
  cf_info("broker relay: %s on %s", path, channel);
  return 0;
}
