/* The libvirt VM backend, shim side: one QEMU VM per pod via coffer-vmm.
 *
 * start() writes <state_dir>/vm/spec.json and runs `coffer-vmm create`; the
 * helper (which alone links libvirt) defines and starts a transient domain
 * coffer-<pod id> and prints QEMU's pid and the agent address. What cleanup
 * needs after a shim crash is in <state_dir>/vm/record.json.
 *
 * Knobs (environment of the shim; defaults in brackets):
 *   COFFER_VMM_HELPER        coffer-vmm path            [next to the shim, PATH]
 *   COFFER_LIBVIRT_URI       libvirt URI                [qemu:///system]
 *   COFFER_VMM_ACCEL         auto | kvm | tcg           [auto: probed, cached]
 *   COFFER_VMM_ROOTFS        virtiofs | block           [plain: virtiofs; TEE: block]
 *   COFFER_VMM_BLOCK_SLOTS   block slots per VM         [4]
 *   COFFER_VMM_BLOCK_SLOT_MIB  size of each (sparse)    [4096]
 *   COFFER_VMM_VERITY_CACHE  block rootfs images and their dm-verity hash
 *                            trees, per image ("" = no cache) [/var/cache/coffer/rootfs]
 *   COFFER_VMM_VERITY        off: block images without a root hash (benchmark
 *                            baseline only; a TEE guest refuses them)   [on]
 *   COFFER_VMM_EMULATOR      QEMU binary                [libvirt's default]
 *   COFFER_VMM_VIRTIOFSD     virtiofsd                  [/usr/lib/qemu/virtiofsd]
 *   COFFER_AGENT_TRANSPORT   auto | vsock | serial      [auto: vsock iff /dev/vhost-vsock];
 *                            the config's agent_transport wins when not "auto"
 *   COFFER_SNP_CBITPOS / COFFER_SNP_REDUCED_PHYS_BITS / COFFER_SNP_POLICY   [51 / 1 / 0x30000]
 *   COFFER_TDX_POLICY / COFFER_TDX_QGS_SOCKET   [0x10000000 / /var/run/tdx-qgs/qgs.socket] */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "coffer/transport.h"
#include "spec.h"

#define HELPER_CREATE_TIMEOUT_MS 120000 /* first libvirt use may probe QEMU (~11 s) */
#define HELPER_DESTROY_TIMEOUT_MS 60000
#define SUN_PATH_MAX 107

static const char *env_or(const char *k, const char *def) {
  const char *v = getenv(k);
  return v && *v ? v : def;
}

static void set_str(char **dst, const char *v) {
  free(*dst);
  *dst = strdup(v ? v : "");
}

/* FNV-1a, 64 bit: a name, not a security boundary (the directory is 0700). */
static uint64_t fnv1a64(const char *p, uint64_t h) {
  for (; *p; p++)
    h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
  return h;
}

/* A short, stable socket path when <state_dir>/vm/agent.sock is too long. */
static int short_sock_path(const char *pod_id, char *out, size_t cap, cf_error *err) {
  mkdir("/run/coffer", 0711);
  if (mkdir(VM_SHORT_SOCK_DIR, 0700) < 0 && errno != EEXIST)
    return cf_err(err, errno, "create %s", VM_SHORT_SOCK_DIR);
  uint64_t a = fnv1a64(pod_id, 0xcbf29ce484222325ULL);
  uint64_t b = fnv1a64(pod_id, a ^ 0x9e3779b97f4a7c15ULL);
  snprintf(out, cap, "%s/%016llx%016llx.sock", VM_SHORT_SOCK_DIR, (unsigned long long)a,
           (unsigned long long)b);
  return 0;
}

/* The init-data goes to coffer-vmm as a file: it computes the launch
 * digests, so the shim never maps libcrypto. Empty file = no init-data. */
static int write_init_data(const cf_vm_config *cfg, const char *dir, char *path, size_t cap,
                           cf_error *err) {
  snprintf(path, cap, "%s/init-data", dir);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return cf_err(err, errno, "create %s", path);
  size_t n = cfg->init_data ? cfg->init_data_len : 0;
  const uint8_t *p = cfg->init_data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return cf_err(err, w < 0 ? errno : EIO, "write %s", path);
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int write_record(const struct cf_vm *vm, cf_error *err) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "name", json_object_new_string(vm->name));
  json_object_object_add(o, "helper", json_object_new_string(vm->helper));
  json_object_object_add(o, "uri", json_object_new_string(vm->uri));
  json_object_object_add(o, "pid", json_object_new_int64(vm->pid));
  json_object_object_add(o, "agent_socket", json_object_new_string(vm->agent_sock));
  json_object_object_add(o, "share", json_object_new_string(vm->share));
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/record.json", vm->dir);
  const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  int r = txt ? cf_write_file_atomic(path, txt, strlen(txt), 0600, 0, err)
              : cf_err(err, ENOMEM, "write %s", path);
  json_object_put(o);
  return r;
}

static int fill_spec(const cf_vm_config *cfg, struct cf_vm *vm, bool tee, vm_spec *s,
                     cf_error *err) {
  set_str(&s->pod_id, cfg->pod_id);
  set_str(&s->profile, cfg->profile && *cfg->profile ? cfg->profile : "plain");
  set_str(&s->machine, cfg->machine && *cfg->machine ? cfg->machine : tee ? "q35" : "microvm");
  set_str(&s->accel, env_or("COFFER_VMM_ACCEL", "auto"));
  set_str(&s->emulator, env_or("COFFER_VMM_EMULATOR", ""));
  set_str(&s->kernel, cfg->kernel);
  set_str(&s->initrd, cfg->initrd);
  set_str(&s->firmware, cfg->firmware);
  char cmdline[4096];
  if (vm_spec_kernel_cmdline(cfg->log_level, cfg->kernel_params, cmdline, sizeof(cmdline), err) < 0)
    return -EINVAL;
  set_str(&s->cmdline, cmdline);
  s->vcpus = cfg->vcpus ? cfg->vcpus : 1;
  s->memory_mib = cfg->memory_mib ? cfg->memory_mib : 256;
  s->tcg_cache_mib = cfg->attests ? VM_TCG_CACHE_MIB_ATTESTING : VM_TCG_CACHE_MIB;
  set_str(&s->state_dir, vm->dir);
  set_str(&s->console_log, vm->console);
  set_str(&s->agent_socket, vm->agent_sock);
  set_str(&s->relay_socket, vm->relay_sock);
  set_str(&s->share_dir, vm->share);
  set_str(&s->virtiofsd, env_or("COFFER_VMM_VIRTIOFSD", "/usr/lib/qemu/virtiofsd"));
  for (unsigned i = 0; i < vm->nslots && i < SPEC_MAX_DISKS; i++) {
    char p[PATH_MAX + 32], serial[32];
    snprintf(p, sizeof(p), "%s/disks/slot-%u.img", vm->dir, i);
    snprintf(serial, sizeof(serial), VM_SLOT_SERIAL_FMT, i);
    s->disks[i].path = strdup(p);
    s->disks[i].serial = strdup(serial);
    s->disks[i].readonly = true;
    s->ndisks++;
  }
  if (tee) {
    char idp[PATH_MAX + 16];
    int r = write_init_data(cfg, vm->dir, idp, sizeof(idp), err);
    if (r < 0)
      return r;
    set_str(&s->init_data_path, idp);
  }
  s->snp_cbitpos = (unsigned)atoi(env_or("COFFER_SNP_CBITPOS", "51"));
  s->snp_reduced_phys_bits = (unsigned)atoi(env_or("COFFER_SNP_REDUCED_PHYS_BITS", "1"));
  set_str(&s->snp_policy, env_or("COFFER_SNP_POLICY", "0x30000"));
  set_str(&s->tdx_policy, env_or("COFFER_TDX_POLICY", "0x10000000"));
  set_str(&s->tdx_qgs_socket, env_or("COFFER_TDX_QGS_SOCKET", "/var/run/tdx-qgs/qgs.socket"));
  return vm_spec_validate(s, err);
}

static int parse_created(struct cf_vm *vm, const char *out, cf_error *err) {
  json_object *o = json_tokener_parse(out);
  json_object *pid, *addr;
  if (!o || !json_object_object_get_ex(o, "pid", &pid) ||
      !json_object_object_get_ex(o, "agent_address", &addr)) {
    json_object_put(o);
    return cf_err_status(err, CF_INTERNAL, "coffer-vmm create printed no pid/agent_address: %.200s", out);
  }
  vm->pid = (pid_t)json_object_get_int64(pid);
  snprintf(vm->agent_addr, sizeof(vm->agent_addr), "%s", json_object_get_string(addr));
  json_object_put(o);
  return vm->pid > 0 ? 0 : cf_err_status(err, CF_INTERNAL, "coffer-vmm create: bad pid");
}

/* The config's agent_transport, else $COFFER_AGENT_TRANSPORT; "auto" picks
 * vsock exactly when the host can give the VM one. */
static int want_vsock(const cf_vm_config *cfg, bool *vsock, cf_error *err) {
  const char *t = cfg->agent_transport && *cfg->agent_transport ? cfg->agent_transport : NULL;
  if (!t || !strcmp(t, "auto"))
    t = env_or("COFFER_AGENT_TRANSPORT", "auto");
  if (!strcmp(t, "vsock") || !strcmp(t, "serial")) {
    *vsock = !strcmp(t, "vsock");
    if (*vsock && access("/dev/vhost-vsock", R_OK | W_OK) != 0)
      return cf_err(err, errno, "agent transport vsock: /dev/vhost-vsock");
    return 0;
  }
  if (strcmp(t, "auto") != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "agent transport \"%s\" unknown (auto, vsock, serial)", t);
  *vsock = access("/dev/vhost-vsock", R_OK | W_OK) == 0;
  return 0;
}

static int lv_cleanup(const char *pod_id, const char *state_dir, cf_error *err);

static int lv_start(const cf_vm_config *cfg, cf_vm **out, cf_error *err) {
  *out = NULL;
  if (!cfg->pod_id || !cfg->state_dir || !cfg->kernel || !*cfg->kernel)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "libvirt backend: pod id, state dir and kernel are required");
  _cleanup_free_ struct cf_vm *vm = calloc(1, sizeof(*vm));
  if (!vm)
    return cf_err(err, ENOMEM, "libvirt backend");
  const char *profile = cfg->profile && *cfg->profile ? cfg->profile : "plain";
  bool tee = !strcmp(profile, "sev-snp") || !strcmp(profile, "tdx");
  snprintf(vm->pod_id, sizeof(vm->pod_id), "%s", cfg->pod_id);
  if (vm_spec_domain_name(cfg->pod_id, vm->name, sizeof(vm->name), err) < 0)
    return -EINVAL;
  if (lv_backend_find_helper(vm->helper, sizeof(vm->helper), err) < 0)
    return -ENOENT;
  snprintf(vm->uri, sizeof(vm->uri), "%s", env_or("COFFER_LIBVIRT_URI", "qemu:///system"));
  if ((size_t)snprintf(vm->dir, sizeof(vm->dir), "%s/" VM_SUBDIR, cfg->state_dir) >= sizeof(vm->dir))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "state dir %s too long", cfg->state_dir);
  /* A leftover of an earlier VM of this pod would collide: clear it. */
  if (lv_cleanup(cfg->pod_id, cfg->state_dir, err) < 0)
    return cf_error_prefix(err, "clearing leftovers of pod %s", cfg->pod_id);
  if (mkdir(vm->dir, 0700) < 0)
    return cf_err(err, errno, "create %s", vm->dir);
  snprintf(vm->console, sizeof(vm->console), "%s/console.log", vm->dir);
  int r;
  bool vsock = false;
  if ((r = want_vsock(cfg, &vsock, err)) < 0)
    goto fail;
  if (!vsock) {
    if (cfg->sock_dir && *cfg->sock_dir &&
        strlen(cfg->sock_dir) + sizeof("/agent.sock") <= SUN_PATH_MAX)
      snprintf(vm->agent_sock, sizeof(vm->agent_sock), "%s/agent.sock", cfg->sock_dir);
    else if (strlen(vm->dir) + sizeof("/agent.sock") <= SUN_PATH_MAX)
      snprintf(vm->agent_sock, sizeof(vm->agent_sock), "%s/agent.sock", vm->dir);
    else if ((r = short_sock_path(cfg->pod_id, vm->agent_sock, sizeof(vm->agent_sock), err)) < 0)
      goto fail;
    unlink(vm->agent_sock);
  }
  if (cfg->relay) {
    if (cfg->sock_dir && *cfg->sock_dir &&
        strlen(cfg->sock_dir) + sizeof("/relay.sock") <= SUN_PATH_MAX)
      snprintf(vm->relay_sock, sizeof(vm->relay_sock), "%s/relay.sock", cfg->sock_dir);
    else if (strlen(vm->dir) + sizeof("/relay.sock") <= SUN_PATH_MAX)
      snprintf(vm->relay_sock, sizeof(vm->relay_sock), "%s/relay.sock", vm->dir);
    else
      cf_warn("pod %s: no broker relay port: socket paths under %s are too long", cfg->pod_id,
              vm->dir);
    if (vm->relay_sock[0])
      unlink(vm->relay_sock);
  }
  const char *mode = env_or("COFFER_VMM_ROOTFS", tee ? "block" : "virtiofs");
  vm->block_rootfs = tee || !strcmp(mode, "block");
  if (!vm->block_rootfs) {
    snprintf(vm->share, sizeof(vm->share), "%s/share", vm->dir);
    if ((r = lv_backend_share_prepare(vm, err)) < 0)
      goto fail;
  } else {
    unsigned slots = (unsigned)atoi(env_or("COFFER_VMM_BLOCK_SLOTS", "4"));
    unsigned long long mib = strtoull(env_or("COFFER_VMM_BLOCK_SLOT_MIB", "4096"), NULL, 10);
    if (slots < 1 || slots > SPEC_MAX_DISKS || mib < 1) {
      r = cf_err_status(err, CF_INVALID_ARGUMENT, "COFFER_VMM_BLOCK_SLOTS must be 1..%d, slot size >= 1 MiB",
                        SPEC_MAX_DISKS);
      goto fail;
    }
    if ((r = lv_backend_slots_prepare(vm, slots, mib, err)) < 0)
      goto fail;
  }
  /* Recorded before create, so a crash mid-create still gets cleaned up. */
  if ((r = write_record(vm, err)) < 0)
    goto fail;

  vm_spec s;
  vm_spec_init(&s);
  r = fill_spec(cfg, vm, tee, &s, err);
  if (r == 0)
    r = lv_backend_net_prepare(cfg, vm->dir, &s, err);
  char spec_path[PATH_MAX + 16];
  snprintf(spec_path, sizeof(spec_path), "%s/spec.json", vm->dir);
  if (r == 0)
    r = vm_spec_write_file(&s, spec_path, err);
  vm_spec_free(&s);
  if (r < 0)
    goto fail;
  char *argv[] = {"coffer-vmm", "create", "--spec", spec_path, "--uri", vm->uri, NULL};
  char outbuf[8192];
  uint64_t t0 = cf_now_ms();
  if ((r = lv_backend_run_helper(vm->helper, argv, outbuf, sizeof(outbuf), HELPER_CREATE_TIMEOUT_MS, err)) < 0 ||
      (r = parse_created(vm, outbuf, err)) < 0 || (r = write_record(vm, err)) < 0 ||
      (r = lv_backend_net_attach(cfg, err)) < 0)
    goto fail;
  cf_info("pod %s: VM %s started (qemu pid %d, agent %s, %s rootfs) in %ld ms", vm->pod_id,
          vm->name, (int)vm->pid, vm->agent_addr, vm->block_rootfs ? "block" : "virtiofs",
          (long)(cf_now_ms() - t0));
  *out = cf_steal_ptr(vm);
  return 0;
fail:;
  cf_error ignored = {0};
  lv_cleanup(cfg->pod_id, cfg->state_dir, &ignored);
  return cf_error_prefix(err, "start VM of pod %s", cfg->pod_id);
}

static const char *lv_agent_address(cf_vm *vm) { return vm->agent_addr; }
static pid_t lv_pid(cf_vm *vm) { return vm->pid; }
/* QEMU bound the port's socket before the domain started: one connect. */
static int lv_relay_channel(cf_vm *vm, cf_error *err) {
  if (!vm->relay_sock[0])
    return cf_err(err, ENOTSUP, "VM %s has no broker relay port", vm->name);
  char addr[PATH_MAX + 8];
  snprintf(addr, sizeof(addr), "unix:%s", vm->relay_sock);
  return cf_transport_connect(addr, 2000, err);
}

static const char *lv_console_log(cf_vm *vm) { return vm->console; }

static int lv_add_rootfs(cf_vm *vm, const char *cid, const char *host_rootfs, cf_rootfs *out,
                         cf_error *err) {
  return lv_backend_add_rootfs(vm, cid, host_rootfs, out, err);
}

static int lv_remove_rootfs(cf_vm *vm, const char *cid, cf_error *err) {
  return lv_backend_remove_rootfs(vm, cid, err);
}

/* True when pid is still the QEMU of domain `name` (pids get reused). */
static bool is_our_qemu(pid_t pid, const char *name) {
  if (pid <= 0)
    return false;
  char p[64], buf[8192], needle[320];
  snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
  _cleanup_fclose_ FILE *f = fopen(p, "re");
  size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  for (size_t i = 0; i < n; i++)
    if (!buf[i])
      buf[i] = ' ';
  buf[n] = 0;
  snprintf(needle, sizeof(needle), "guest=%s,", name);
  return strstr(buf, needle) != NULL;
}

/* virtiofsd instances serving share (libvirt kills them with the domain;
 * this covers a libvirtd that is gone). */
static void kill_virtiofsd(const char *share) {
  if (!share[0])
    return;
  char needle[PATH_MAX + 16];
  snprintf(needle, sizeof(needle), "source=%s", share);
  _cleanup_closedir_ DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    char p[64], buf[8192];
    snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    bool virtiofsd = n && strstr(buf, "virtiofsd");
    for (size_t i = 0; i < n; i++)
      if (!buf[i])
        buf[i] = ' ';
    buf[n] = 0;
    if (virtiofsd) {
      char *hit = strstr(buf, needle);
      if (hit && (hit[strlen(needle)] == ' ' || hit[strlen(needle)] == ',' || !hit[strlen(needle)]))
        kill((pid_t)pid, SIGKILL);
    }
  }
}

static void read_record(const char *dir, char *helper, size_t hcap, char *uri, size_t ucap,
                        pid_t *pid, char *sock, size_t scap, char *share, size_t shcap) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/record.json", dir);
  json_object *o = json_object_from_file(path);
  json_object *v;
  if (o && json_object_object_get_ex(o, "helper", &v))
    snprintf(helper, hcap, "%s", json_object_get_string(v));
  if (o && json_object_object_get_ex(o, "uri", &v))
    snprintf(uri, ucap, "%s", json_object_get_string(v));
  if (o && json_object_object_get_ex(o, "pid", &v))
    *pid = (pid_t)json_object_get_int64(v);
  if (o && json_object_object_get_ex(o, "agent_socket", &v))
    snprintf(sock, scap, "%s", json_object_get_string(v));
  if (o && json_object_object_get_ex(o, "share", &v))
    snprintf(share, shcap, "%s", json_object_get_string(v));
  json_object_put(o);
}

/* What tearing a pod's VM down needs: from the live struct (stop) or from
 * record.json (cleanup after a dead shim). */
typedef struct vm_facts {
  char name[300], dir[PATH_MAX], helper[PATH_MAX], uri[512], sock[PATH_MAX], share[PATH_MAX];
  pid_t pid;
  bool started; /* a VM may exist: ask libvirt to destroy it */
} vm_facts;

static int destroy_vm(const char *pod_id, const vm_facts *f, cf_error *err) {
  int rc = 0;
  cf_error herr = {0};
  if (f->started && f->helper[0]) {
    /* --state-dir: a same-named VM of another namespace's pod is not ours */
    char *argv[] = {"coffer-vmm", "destroy", "--name", (char *)f->name, "--state-dir",
                    (char *)f->dir, "--uri", (char *)f->uri, NULL};
    char out[256];
    if (lv_backend_run_helper(f->helper, argv, out, sizeof(out), HELPER_DESTROY_TIMEOUT_MS, &herr) < 0)
      cf_warn("pod %s: %s; killing its processes directly", pod_id, herr.msg);
  }
  /* Belt and braces: libvirtd may be gone; QEMU must not outlive the pod. */
  if (is_our_qemu(f->pid, f->name)) {
    kill(f->pid, SIGKILL);
    for (int i = 0; i < 100 && kill(f->pid, 0) == 0 && is_our_qemu(f->pid, f->name); i++)
      usleep(10000);
  }
  kill_virtiofsd(f->share);
  lv_backend_net_teardown(pod_id, f->dir);
  if (f->sock[0] && strncmp(f->sock, VM_SHORT_SOCK_DIR "/", sizeof(VM_SHORT_SOCK_DIR)) == 0)
    unlink(f->sock);
  if (lv_backend_remove_tree(f->dir, err) < 0)
    rc = -EBUSY;
  if (rc == 0 && herr.msg[0] && f->started) {
    /* The files are gone but libvirt may still know the domain: say so. */
    cf_err_status(err, CF_UNAVAILABLE, "pod %s: %s", pod_id, herr.msg);
    rc = -EIO;
  }
  return rc;
}

static int lv_cleanup(const char *pod_id, const char *state_dir, cf_error *err) {
  vm_facts f = {0};
  if (vm_spec_domain_name(pod_id, f.name, sizeof(f.name), err) < 0)
    return -EINVAL;
  if ((size_t)snprintf(f.dir, sizeof(f.dir), "%s/" VM_SUBDIR, state_dir) >= sizeof(f.dir))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "state dir %s too long", state_dir);
  read_record(f.dir, f.helper, sizeof(f.helper), f.uri, sizeof(f.uri), &f.pid, f.sock,
              sizeof(f.sock), f.share, sizeof(f.share));
  /* Without a record we never started a VM for this pod here: no libvirt call. */
  f.started = f.helper[0] != 0;
  if (!f.uri[0])
    snprintf(f.uri, sizeof(f.uri), "%s", env_or("COFFER_LIBVIRT_URI", "qemu:///system"));
  return destroy_vm(pod_id, &f, err);
}

/* The running shim knows its VM: stop it from that, never from files
 * under the state dir, which someone may have removed meanwhile. */
static int vm_stop_now(const struct cf_vm *vm, cf_error *err) {
  vm_facts f = {.pid = vm->pid, .started = true};
  snprintf(f.name, sizeof(f.name), "%s", vm->name);
  snprintf(f.dir, sizeof(f.dir), "%s", vm->dir);
  snprintf(f.helper, sizeof(f.helper), "%s", vm->helper);
  snprintf(f.uri, sizeof(f.uri), "%s", vm->uri);
  snprintf(f.sock, sizeof(f.sock), "%s", vm->agent_sock);
  snprintf(f.share, sizeof(f.share), "%s", vm->share);
  return destroy_vm(vm->pod_id, &f, err);
}

/* Waits up to grace_ms for QEMU (pid) to exit by itself; true if it did. */
static bool wait_qemu_exit(pid_t pid, const char *name, int grace_ms) {
  if (!is_our_qemu(pid, name))
    return true;
  _cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0)
    return !is_our_qemu(pid, name);
  /* re-check: the pid may have been reused between the check and the open */
  if (!is_our_qemu(pid, name))
    return true;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  while ((r = poll(&p, 1, grace_ms)) < 0 && errno == EINTR)
    ;
  return r == 1;
}

static int lv_stop(cf_vm *vm, int grace_ms, cf_error *err) {
  /* A transient domain whose guest powers off ends by itself (the shim
   * asks the agent to, DestroySandbox): give it grace_ms, then destroy
   * whatever is left (idempotent either way). */
  uint64_t t0 = cf_now_ms();
  bool clean = grace_ms > 0 && wait_qemu_exit(vm->pid, vm->name, grace_ms);
  long waited = (long)(cf_now_ms() - t0);
  int r = vm_stop_now(vm, err);
  if (r == 0 && clean)
    cf_info("pod %s: VM %s powered off by itself after %ld ms", vm->pod_id, vm->name, waited);
  else if (r == 0)
    cf_info("pod %s: VM %s destroyed (%s after %ld ms)", vm->pod_id, vm->name,
            grace_ms > 0 ? "still running" : "no grace period", waited);
  free(vm);
  return r;
}

const cf_vmm_ops cf_vmm_libvirt_ops = {
    .name = "libvirt",
    .start = lv_start,
    .agent_address = lv_agent_address,
    .pid = lv_pid,
    .add_rootfs = lv_add_rootfs,
    .remove_rootfs = lv_remove_rootfs,
    .add_volume = lv_backend_add_volume,
    .console_log = lv_console_log,
    .relay_channel = lv_relay_channel,
    .stop = lv_stop,
    .cleanup = lv_cleanup,
};
