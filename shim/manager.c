/* `start`: find or spawn the pod's shim daemon and print its address.
 * `delete`: clean up after a task whose daemon died. */
#include "manager.h"
#include "startopts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "coffer/transport.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "coffer/path.h"
#include "coffer/id.h"
#include "image_seed.h"
#include "rootfs.h"

#define START_INPUT_MAX (1u << 20)

static int read_stdin(uint8_t **out, size_t *len, cf_error *err) {
  *out = NULL;
  *len = 0;
  if (isatty(STDIN_FILENO))
    return 0;
  size_t cap = 0;
  uint8_t *buf = NULL;
  for (;;) {
    if (*len == cap) {
      if (cap >= START_INPUT_MAX) {
        free(buf);
        return cf_err_status(err, CF_INVALID_ARGUMENT, "stdin: runtime options over 1 MiB");
      }
      cap = cap ? cap * 2 : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        return cf_err(err, ENOMEM, "stdin");
      }
      buf = nb;
    }
    ssize_t n = read(STDIN_FILENO, buf + *len, cap - *len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* EBADF (closed stdin) counts as no input */
    *len += (size_t)n;
  }
  *out = buf;
  return 0;
}

/* True when something accepts connections on the unix socket path. */
static bool socket_alive(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
  close(fd);
  return ok;
}

/* True when a shim daemon serves the socket: it answers Connect. */
static bool shim_answers(const char *path, const char *id) {
  if (!socket_alive(path))
    return false;
  cf_error err = {0};
  cf_loop *loop = cf_loop_new(&err);
  if (!loop)
    return true; /* cannot tell: assume alive, clean nothing */
  char addr[300];
  snprintf(addr, sizeof(addr), "unix:%s", path);
  bool alive = false;
  int fd = cf_transport_connect(addr, 0, &err);
  ttrpc_client *c = fd >= 0 ? ttrpc_client_new(loop, fd, &err) : NULL;
  if (c) {
    Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
    req.id = (char *)id;
    alive = ttrpc_client_call_sync(c, TASK_SERVICE, "Connect", &req.base,
                                   &containerd__task__v2__connect_response__descriptor, NULL,
                                   2000, &err) == 0;
    ttrpc_client_free(c);
  }
  cf_loop_free(loop);
  return alive;
}

static int write_file(const char *dir, const char *name, const char *text, cf_error *err) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return cf_write_file_atomic(path, text, strlen(text), 0600, 0, err);
}

static int bundle_group(const char *bundle, const char *id, char *group, size_t cap,
                        cf_error *err) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/config.json", bundle);
  _cleanup_free_ char *spec = NULL;
  size_t len;
  if (cf_read_file(path, 1u << 20, &spec, &len, err) < 0)
    return -EINVAL;
  return shim_group_id(spec, id, group, cap, err);
}

/* Spawn the daemon: this binary without an action, the listening socket as
 * fd 3, in its own session, stdio on /dev/null (it opens the log fifo). */
static int spawn_daemon(const shim_opts *o, int listen_fd, const char *cfg_path,
                        const char *cfg_body, const char *ttrpc_address, cf_error *err) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n < 0)
    return cf_err(err, errno, "readlink /proc/self/exe");
  self[n] = '\0';
  pid_t pid = fork();
  if (pid < 0)
    return cf_err(err, errno, "fork shim daemon");
  if (pid > 0)
    return 0;
  setsid();
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
      close(null);
  }
  if (listen_fd == 3) {
    int fl = fcntl(3, F_GETFD);
    fcntl(3, F_SETFD, fl & ~FD_CLOEXEC);
  } else {
    dup2(listen_fd, 3);
  }
  setenv("COFFER_SHIM_CONFIG_PATH", cfg_path ? cfg_path : "", 1);
  if (cfg_body)
    setenv("COFFER_SHIM_CONFIG_BODY", cfg_body, 1);
  if (ttrpc_address)
    setenv("TTRPC_ADDRESS", ttrpc_address, 1);
  const char *argv[] = {self, "-namespace", o->ns, "-address", o->address,
                        "-publish-binary", o->publish_binary, "-id", o->id,
                        o->debug ? "-debug" : NULL, NULL};
  execv(self, (char *const *)argv);
  _exit(127);
}

static int start(shim_opts *o, char *address, size_t cap, cf_error *err) {
  _cleanup_free_ uint8_t *input = NULL;
  size_t input_len;
  _cleanup_free_ char *cfg_path = NULL, *cfg_body = NULL, *ttrpc_address = NULL;
  if (read_stdin(&input, &input_len, err) < 0 ||
      shim_parse_start_input(input, input_len, o->id, o->ns, &cfg_path, &cfg_body, &ttrpc_address, err) < 0)
    return -EINVAL;

  shim_config cfg = {0};
  int r = shim_config_load(&cfg, cfg_path, cfg_body, err);
  if (r == 0 && !cf_vmm_lookup(cfg.backend))
    r = cf_err_status(err, CF_INVALID_ARGUMENT,
                      "config %s: key \"backend\": \"%s\" is not built into this shim",
                      cfg.source, cfg.backend);
  char bundle[PATH_MAX], group[160], pod_dir[PATH_MAX];
  if (r == 0 && !getcwd(bundle, sizeof(bundle)))
    r = cf_err(err, errno, "getcwd");
  if (r == 0 && !cf_id_valid(o->id))
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "invalid task id \"%.*s\"", 140, o->id);
  if (r == 0)
    r = bundle_group(bundle, o->id, group, sizeof(group), err);
  if (r == 0)
    r = shim_pod_dir(cfg.state_dir, o->ns, group, pod_dir, sizeof(pod_dir), err);
  /* before the kubelet pulls the pod's images: containerd must not try to
   * unpack what only the guest can read (image_seed.h) */
  if (r == 0)
    r = shim_image_seed_bundle(&cfg, bundle, o->address, o->ns, err);
  char pod_file[PATH_MAX + 512];
  snprintf(pod_file, sizeof(pod_file), "backend=%s\nstate_dir=%s\ngroup=%s\n",
           cfg.backend ? cfg.backend : "", pod_dir, group);
  shim_config_free(&cfg);
  if (r < 0)
    return r;
  if (shim_socket_address(o->address, o->ns, group, address, cap, err) < 0)
    return -EINVAL;
  const char *path = shim_address_path(address);

  if (write_file(bundle, SHIM_POD_FILE, pod_file, err) < 0)
    return -EIO;
  if (!socket_alive(path)) {
    if (cf_mkdir_p(SHIM_SOCKET_DIR, 0711, 0711) < 0)
      return cf_err(err, errno, "mkdir %s", SHIM_SOCKET_DIR);
    char listen_addr[300];
    snprintf(listen_addr, sizeof(listen_addr), "unix:%s", path);
    _cleanup_close_ int lfd = cf_transport_listen(listen_addr, err);
    if (lfd < 0)
      return cf_error_prefix(err, "shim socket");
    if (spawn_daemon(o, lfd, cfg_path, cfg_body, ttrpc_address, err) < 0) {
      unlink(path);
      return -EIO;
    }
  }
  char line[300];
  snprintf(line, sizeof(line), "%s", address);
  return write_file(bundle, "address", line, err);
}

int shim_manager_start(shim_opts *o) {
  cf_error err = {0};
  char address[300];
  if (start(o, address, sizeof(address), &err) < 0) {
    fprintf(stderr, "coffer shim start (id %s): %s\n", o->id, err.msg);
    return 1;
  }
  /* The plain address: every containerd version (1.6 reads it verbatim,
   * 2.x falls back to it) understands this form. */
  fputs(address, stdout);
  return 0;
}

/* ------------------------------------------------------------------ delete */

static void read_pod_file(const char *bundle, char *backend, char *state_dir, char *group,
                          size_t cap) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", bundle, SHIM_POD_FILE);
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f)
    return;
  char line[PATH_MAX + 32];
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "backend=", 8) == 0)
      snprintf(backend, cap, "%s", line + 8);
    else if (strncmp(line, "state_dir=", 10) == 0)
      snprintf(state_dir, cap, "%s", line + 10);
    else if (strncmp(line, "group=", 6) == 0)
      snprintf(group, cap, "%s", line + 6);
  }
}

int shim_manager_delete(shim_opts *o) {
  char bundle[PATH_MAX];
  if (*o->bundle)
    snprintf(bundle, sizeof(bundle), "%s", o->bundle);
  else if (!getcwd(bundle, sizeof(bundle)))
    bundle[0] = '\0';
  cf_log_init("shim-delete", o->debug ? CF_LOG_DEBUG : CF_LOG_WARN, STDERR_FILENO);

  char backend[PATH_MAX] = "", state_dir[PATH_MAX] = "", group[PATH_MAX] = "";
  if (*bundle)
    read_pod_file(bundle, backend, state_dir, group, sizeof(backend));
  cf_error err = {0};

  /* The pod: only when its daemon is gone (others of the pod may live on).
   * containerd bounds this command (5 s by default): socket first, then
   * the task's rootfs, then the slower backend cleanup. */
  char address[300];
  const char *gid = *group ? group : o->id;
  bool have_addr = *o->address && cf_id_valid(gid) &&
                   shim_socket_address(o->address, o->ns, gid, address, sizeof(address), &err) == 0;
  /* containerd runs us as soon as the shim's connection drops, which can be
   * before a killed shim's listening socket is gone: a shim is alive only
   * when it answers. */
  bool alive = have_addr && shim_answers(shim_address_path(address), o->id);
  if (!alive && have_addr)
    unlink(shim_address_path(address));

  char rootfs[PATH_MAX + 16];
  snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
  cf_error_clear(&err);
  if (*bundle && shim_rootfs_unmount(rootfs, &err) < 0)
    cf_warn("%s", err.msg);

  if (!alive) {
    const cf_vmm_ops *ops = cf_vmm_lookup(backend);
    if (ops && *state_dir) {
      cf_error_clear(&err);
      char sock_dir[64];
      if (ops->cleanup(gid, state_dir, &err) < 0) {
        cf_warn("cleanup of pod %s: %s", gid, err.msg);
      } else {
        shim_pod_dir_remove(state_dir);
        if (shim_sock_dir(state_dir, sock_dir, sizeof(sock_dir), NULL) == 0)
          shim_sock_dir_remove(sock_dir);
      }
    }
  }

  /* What runc's shim answers for a task that died with its shim. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = now.tv_sec;
  ts.nanos = (int32_t)now.tv_nsec;
  Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
  resp.exit_status = 128 + 9;
  resp.exited_at = &ts;
  uint8_t out[128];
  size_t n = containerd__task__v2__delete_response__pack(&resp, out);
  if (fwrite(out, 1, n, stdout) != n)
    return 1;
  return 0;
}
