/* The container's config.json: the shim's OCI spec, adjusted to this guest.
 *
 * What the agent owns in the spec: root.path (the rootfs it mounted),
 * process.terminal (from the stdio mode), linux.cgroupsPath (under the pod's
 * cgroup), the IPC/UTS(/PID) namespaces of a pod's later containers (joined
 * to the sandbox container's). In guest mode a host path means nothing
 * until the guest has it: the shim shares every host volume (SharedMount),
 * so a bind mount whose source does not exist in the guest fails the create
 * naming it (one whose source the guest has binds the guest's file; /etc/hosts,
 * resolv.conf, hostname and /dev/shm come from the pod's files in the guest),
 * hooks are dropped, and so are network
 * namespaces (the VM is the pod's) and namespace paths that are not another
 * container's of the pod. */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"

static void json_putp(json_object **o) {
  if (*o)
    json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static json_object *parse_object(const uint8_t *buf, size_t len, const char *what,
                                 cf_error *err) {
  if (len == 0) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s is empty", what);
    return NULL;
  }
  if (len > AGENT_MAX_SPEC) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s is %zu bytes, more than the %u allowed",
                  what, len, AGENT_MAX_SPEC);
    return NULL;
  }
  json_tokener *tok = json_tokener_new_ex(64);
  if (!tok) {
    cf_err(err, ENOMEM, "%s", what);
    return NULL;
  }
  json_object *o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  json_tokener_free(tok);
  if (!o || jerr != json_tokener_success) {
    if (o)
      json_object_put(o);
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s is not valid JSON: %s", what,
                  jerr == json_tokener_continue ? "unexpected end"
                                                : json_tokener_error_desc(jerr));
    return NULL;
  }
  if (!json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    cf_err_status(err, CF_INVALID_ARGUMENT, "%s is not a JSON object", what);
    return NULL;
  }
  return o;
}

static json_object *get_or_add_object(json_object *parent, const char *key) {
  json_object *o;
  if (json_object_object_get_ex(parent, key, &o) && json_object_is_type(o, json_type_object))
    return o;
  o = json_object_new_object();
  json_object_object_add(parent, key, o);
  return o;
}

/* process: args must be a non-empty array of strings; cwd absolute if set. */
static int check_process(json_object *proc, const char *what, cf_error *err) {
  if (!proc || !json_object_is_type(proc, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: \"process\" must be an object", what);
  json_object *args;
  if (!json_object_object_get_ex(proc, "args", &args) ||
      !json_object_is_type(args, json_type_array) || json_object_array_length(args) == 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: process.args must be a non-empty array", what);
  for (size_t i = 0; i < json_object_array_length(args); i++)
    if (!json_object_is_type(json_object_array_get_idx(args, i), json_type_string))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: process.args[%zu] is not a string", what, i);
  json_object *cwd;
  if (json_object_object_get_ex(proc, "cwd", &cwd)) {
    const char *s = json_object_get_string(cwd);
    if (!json_object_is_type(cwd, json_type_string) || s[0] != '/')
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: process.cwd must be an absolute path", what);
  }
  return 0;
}

static const char *str_field(json_object *o, const char *key) {
  json_object *v;
  if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

/* Namespaces: join the sandbox container's ipc/uts (and pid when shared);
 * in guest mode drop host paths (network lives in the VM itself). */
static int adjust_namespaces(json_object *linux_, const bundle_opts *o, cf_error *err) {
  json_object *ns;
  if (!json_object_object_get_ex(linux_, "namespaces", &ns))
    return 0;
  if (!json_object_is_type(ns, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.namespaces must be an array");
  json_object *out = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(ns); i++) {
    json_object *e = json_object_array_get_idx(ns, i);
    const char *type = str_field(e, "type");
    if (!type) {
      json_object_put(out);
      return cf_err_status(err, CF_INVALID_ARGUMENT, "linux.namespaces[%zu] has no type", i);
    }
    const char *path = str_field(e, "path");
    bool join = o->sandbox_pid > 0 &&
                (!strcmp(type, "ipc") || !strcmp(type, "uts") ||
                 (!strcmp(type, "pid") && (o->share_pid || path)));
    /* the VM is the pod's network namespace: its containers share it, as
     * a pod's containers do, and none pays for a new one (a network
     * namespace costs ~20 ms to make and to tear down under TCG) */
    if (o->guest && !strcmp(type, "network"))
      continue;
    json_object *ne = json_object_new_object();
    json_object_object_add(ne, "type", json_object_new_string(type));
    if (join) {
      char p[64];
      snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)o->sandbox_pid, type);
      json_object_object_add(ne, "path", json_object_new_string(p));
    } else if (path && !o->guest) {
      json_object_object_add(ne, "path", json_object_new_string(path));
    } else if (path && o->guest && strcmp(type, "network")) {
      /* a guest never trusts a namespace path from the host: only another
       * container of this pod, named exactly /proc/<its pid>/ns/<type> */
      int pid = 0, end = 0;
      char t[32] = "";
      bool ok = sscanf(path, "/proc/%d/ns/%31[a-z]%n", &pid, t, &end) == 2 &&
                path[end] == '\0' && !strcmp(t, type);
      bool known = false;
      for (size_t k = 0; ok && k < o->n_known_pids; k++)
        known |= o->known_pids[k] == pid;
      if (!ok || !known) {
        json_object_put(ne);
        json_object_put(out);
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "linux.namespaces: %s path \"%.128s\" is not the namespace of a container of this pod",
                             type, path);
      }
      json_object_object_add(ne, "path", json_object_new_string(path));
    }
    json_object_array_add(out, ne);
  }
  json_object_object_add(linux_, "namespaces", out);
  return 0;
}

static json_object *bind_mount(const char *dst, const char *src) {
  json_object *m = json_object_new_object(), *opts = json_object_new_array();
  json_object_object_add(m, "destination", json_object_new_string(dst));
  json_object_object_add(m, "type", json_object_new_string("bind"));
  json_object_object_add(m, "source", json_object_new_string(src));
  json_object_array_add(opts, json_object_new_string("rbind"));
  json_object_array_add(opts, json_object_new_string("rw"));
  json_object_object_add(m, "options", opts);
  return m;
}

/* A mount whose source we replaced must be a bind mount. */
static void make_bind(json_object *m, const char *src) {
  json_object_object_add(m, "source", json_object_new_string(src));
  json_object_object_add(m, "type", json_object_new_string("bind"));
  json_object *opts;
  if (!json_object_object_get_ex(m, "options", &opts) || !json_object_is_type(opts, json_type_array)) {
    opts = json_object_new_array();
    json_object_object_add(m, "options", opts);
  }
  for (size_t k = 0; k < json_object_array_length(opts); k++) {
    const char *s = json_object_get_string(json_object_array_get_idx(opts, k));
    if (s && (!strcmp(s, "bind") || !strcmp(s, "rbind")))
      return;
  }
  json_object_array_add(opts, json_object_new_string("rbind"));
}

/* Files a CRI spec bind-mounts from the host that the guest provides. */
static const char *guest_file(const char *dst) {
  if (!strcmp(dst, "/etc/resolv.conf"))
    return "resolv.conf";
  if (!strcmp(dst, "/etc/hosts"))
    return "hosts";
  if (!strcmp(dst, "/etc/hostname"))
    return "hostname";
  if (!strcmp(dst, "/dev/shm"))
    return "shm";
  return NULL;
}

/* SharedMounts replace the source of the spec mount with their destination,
 * or are added as bind mounts when the spec has none there. */
static int adjust_mounts(json_object *spec, const bundle_opts *o, cf_error *err) {
  json_object *mounts = NULL;
  if (json_object_object_get_ex(spec, "mounts", &mounts) &&
      !json_object_is_type(mounts, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "mounts must be an array");
  _cleanup_free_ bool *used = calloc(o->n_mounts + 1, sizeof(bool));
  if (!used)
    return cf_err(err, ENOMEM, "mounts");
  json_object *out = json_object_new_array();
  for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++) {
    json_object *m = json_object_array_get_idx(mounts, i);
    const char *dst = str_field(m, "destination");
    if (!dst || dst[0] != '/' || cf_path_has_dotdot(dst)) {
      json_object_put(out);
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "mounts[%zu]: destination must be an absolute path without \"..\"", i);
    }
    const char *replaced = NULL;
    for (size_t k = 0; k < o->n_mounts; k++)
      if (!strcmp(o->mount_dst[k], dst)) {
        replaced = o->mount_src[k];
        used[k] = true;
      }
    if (replaced) {
      make_bind(m, replaced);
    } else if (o->guest && o->guest_files_dir && guest_file(dst)) {
      /* the pod's DNS/hosts/hostname files live in the guest */
      char src[4200];
      struct stat st;
      snprintf(src, sizeof(src), "%s/%s", o->guest_files_dir, guest_file(dst));
      if (stat(src, &st) < 0) {
        cf_debug("container %s: no guest %s: dropping its mount", o->id, dst);
        continue;
      }
      make_bind(m, src);
    } else if (o->guest) {
      const char *type = str_field(m, "type");
      const char *src = str_field(m, "source");
      json_object *opts;
      bool bind = (type && !strcmp(type, "bind"));
      if (!bind && json_object_object_get_ex(m, "options", &opts) &&
          json_object_is_type(opts, json_type_array))
        for (size_t k = 0; k < json_object_array_length(opts); k++) {
          const char *s = json_object_get_string(json_object_array_get_idx(opts, k));
          if (s && (!strcmp(s, "bind") || !strcmp(s, "rbind")))
            bind = true;
        }
      struct stat st;
      /* the shim shares every host volume it can; what is left would be a
       * silently missing volume in the container */
      if (bind && (!src || src[0] != '/' || stat(src, &st) < 0)) {
        json_object_put(out);
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "mounts[%zu] (%s): bind source \"%s\" was not shared with the "
                             "guest and does not exist in it",
                             i, dst, src ? src : "");
      }
    }
    json_object_array_add(out, json_object_get(m));
  }
  for (size_t k = 0; k < o->n_mounts; k++)
    if (!used[k])
      json_object_array_add(out, bind_mount(o->mount_dst[k], o->mount_src[k]));
  /* Last, so that no mount from the spec can cover them. */
  for (size_t k = 0; k < o->n_ro; k++) {
    json_object *m = bind_mount(o->ro_dst[k], o->ro_src[k]), *opts = json_object_new_array();
    static const char *const ro_opts[] = {"rbind", "ro", "nosuid", "nodev", "noexec"};
    for (size_t i = 0; i < 5; i++)
      json_object_array_add(opts, json_object_new_string(ro_opts[i]));
    json_object_object_add(m, "options", opts);
    json_object_array_add(out, m);
  }
  json_object_object_add(spec, "mounts", out);
  return 0;
}

/* TEE: what a spec leaves out is not left open. */
static const char *const default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FSETID", "CAP_FOWNER",
    "CAP_MKNOD",  "CAP_NET_RAW",          "CAP_SETGID", "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",         "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",   "CAP_AUDIT_WRITE",      NULL};
static const char *const default_masked[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/kernel/config",
    "/sys/kernel/security", "/sys/kernel/debug", NULL};
static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL};
/* The default seccomp filter: everything but what reaches the kernel's
 * administration, other processes' memory, or new mount and key APIs
 * (EPERM). A spec's own filter replaces it. */
static const char *const default_denied_syscalls[] = {
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
    "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
    "get_kernel_syms", "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup",
    "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
    "mount", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
    "open_tree", "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev",
    "query_module", "quotactl", "reboot", "request_key", "setns", "settimeofday", "swapoff",
    "swapon", "syslog", "umount2", "unshare", "uselib", "userfaultfd", "vm86", "vm86old", NULL};

static json_object *string_array(const char *const *l) {
  json_object *a = json_object_new_array();
  for (; a && *l; l++)
    json_object_array_add(a, json_object_new_string(*l));
  return a;
}

static void tee_default_caps(json_object *proc) {
  json_object *x;
  if (json_object_object_get_ex(proc, "capabilities", &x) && x)
    return;
  json_object *caps = json_object_new_object();
  json_object_object_add(caps, "bounding", string_array(default_caps));
  json_object_object_add(caps, "effective", string_array(default_caps));
  json_object_object_add(caps, "permitted", string_array(default_caps));
  json_object_object_add(proc, "capabilities", caps);
}

static void tee_defaults(json_object *proc, json_object *linux_) {
  json_object *x;
  tee_default_caps(proc);
  if (!json_object_object_get_ex(linux_, "maskedPaths", &x) || !x)
    json_object_object_add(linux_, "maskedPaths", string_array(default_masked));
  if (!json_object_object_get_ex(linux_, "readonlyPaths", &x) || !x)
    json_object_object_add(linux_, "readonlyPaths", string_array(default_readonly));
  if (!json_object_object_get_ex(linux_, "seccomp", &x) || !x) {
    json_object *sc = json_object_new_object(), *rule = json_object_new_object();
    json_object *rules = json_object_new_array();
    json_object_object_add(sc, "defaultAction", json_object_new_string("SCMP_ACT_ALLOW"));
    json_object_object_add(rule, "names", string_array(default_denied_syscalls));
    json_object_object_add(rule, "action", json_object_new_string("SCMP_ACT_ERRNO"));
    json_object_object_add(rule, "errnoRet", json_object_new_int(1));
    json_object_array_add(rules, rule);
    json_object_object_add(sc, "syscalls", rules);
    json_object_object_add(linux_, "seccomp", sc);
  }
}

char *bundle_make_config(const uint8_t *spec, size_t len, const bundle_opts *o,
                         bool *is_sandbox, cf_error *err) {
  _cleanup_json_ json_object *s = parse_object(spec, len, "OCI spec", err);
  if (!s)
    return NULL;
  json_object *proc;
  if (!json_object_object_get_ex(s, "process", &proc) ||
      check_process(proc, "OCI spec", err) < 0) {
    if (!proc)
      cf_err_status(err, CF_INVALID_ARGUMENT, "OCI spec has no \"process\"");
    return NULL;
  }
  json_object_object_add(proc, "terminal", json_object_new_boolean(o->terminal));

  json_object *root = get_or_add_object(s, "root");
  json_object_object_add(root, "path", json_object_new_string(o->root_path));

  *is_sandbox = false;
  json_object *ann;
  if (json_object_object_get_ex(s, "annotations", &ann)) {
    const char *t = str_field(ann, "io.kubernetes.cri.container-type");
    if (!t)
      t = str_field(ann, "io.kubernetes.cri-o.ContainerType");
    *is_sandbox = t && !strcmp(t, "sandbox");
  }
  bundle_opts oo = *o;
  if (*is_sandbox)
    oo.sandbox_pid = 0; /* the pod's pause container makes the namespaces */

  json_object *linux_ = get_or_add_object(s, "linux");
  json_object_object_add(linux_, "cgroupsPath", json_object_new_string(o->cgroup_path));
  if (adjust_namespaces(linux_, &oo, err) < 0 || adjust_mounts(s, &oo, err) < 0)
    return NULL;
  if (o->guest)
    json_object_object_del(s, "hooks");
  if (o->tee)
    tee_defaults(proc, linux_);

  const char *txt = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN);
  char *r = txt ? strdup(txt) : NULL;
  if (!r)
    cf_err(err, ENOMEM, "OCI spec");
  return r;
}

char *bundle_make_process(const uint8_t *json, size_t len, bool terminal, bool tee,
                          cf_error *err) {
  _cleanup_json_ json_object *p = parse_object(json, len, "process spec", err);
  if (!p || check_process(p, "process spec", err) < 0)
    return NULL;
  if (tee)
    tee_default_caps(p);
  json_object_object_add(p, "terminal", json_object_new_boolean(terminal));
  const char *txt = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN);
  char *r = txt ? strdup(txt) : NULL;
  if (!r)
    cf_err(err, ENOMEM, "process spec");
  return r;
}
