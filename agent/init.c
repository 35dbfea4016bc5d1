/* Guest PID 1 duties: the basic mounts, kernel modules, DNS files, finding
 * the host channel, and powering off. */

#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "coffer/loop.h"
#include "coffer/oci.h"
#include "coffer/tee.h"
#include "bundle.h"

struct mnt {
  const char *src, *dst, *type;
  unsigned long flags;
  const char *data;
};

int init_mounts(cf_error *err) {
  static const struct mnt mounts[] = {
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
      {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
      {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
      /* favordynmods: creating containers (task migration, controllers on)
       * without waiting for RCU grace periods, slow under TCG; costs forks
       * a little (Linux >= 6.0; mounted without where refused) */
      {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "favordynmods"},
  };
  for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
    const struct mnt *m = &mounts[i];
    mkdir(m->dst, 0755);
    int r = mount(m->src, m->dst, m->type, m->flags, m->data);
    if (r < 0 && errno == EINVAL && !strcmp(m->type, "cgroup2"))
      r = mount(m->src, m->dst, m->type, m->flags, NULL);
    if (r < 0 && errno != EBUSY)
      return cf_err(err, errno, "mount %s on %s", m->type, m->dst);
  }
  unlink("/dev/ptmx");
  if (symlink("pts/ptmx", "/dev/ptmx") < 0 && errno != EEXIST)
    cf_warn("symlink /dev/ptmx: %s", strerror(errno));
  if (symlink("/proc/self/fd", "/dev/fd") < 0 && errno != EEXIST)
    cf_warn("symlink /dev/fd: %s", strerror(errno));
  /* let container cgroups have every controller */
  cf_error cerr = {0};
  if (oci_cgroup_enable_controllers("/sys/fs/cgroup", &cerr) < 0)
    cf_warn("%s", cerr.msg);
  return 0;
}

/* One module per line: a path to a .ko (absolute, or relative to
 * /lib/modules/<release>/), optionally followed by parameters. A "[name]"
 * line starts group `name`; the lines before the first one are group "".
 * Loads the modules of one group, once. Missing modules are skipped;
 * already-loaded ones are fine. */
static void load_modules(const char *list_file, const char *group) {
  static char loaded[16][32];
  static size_t n_loaded;
  for (size_t i = 0; i < n_loaded; i++)
    if (!strcmp(loaded[i], group))
      return;
  if (n_loaded < sizeof(loaded) / sizeof(loaded[0]))
    snprintf(loaded[n_loaded++], sizeof(loaded[0]), "%s", group);
  _cleanup_fclose_ FILE *f = fopen(list_file, "re");
  if (!f)
    return;
  struct utsname u;
  uname(&u);
  char *line = NULL;
  size_t cap = 0;
  bool in_group = !group[0];
  uint64_t start = cf_now_us();
  unsigned count = 0;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = '\0';
    char *s = line + strspn(line, " \t");
    if (!*s || *s == '#')
      continue;
    if (*s == '[') {
      size_t n = strcspn(s + 1, "]");
      in_group = strlen(group) == n && !strncmp(s + 1, group, n);
      continue;
    }
    if (!in_group)
      continue;
    char *params = s + strcspn(s, " \t");
    if (*params)
      *params++ = '\0';
    char path[PATH_MAX];
    if (s[0] == '/')
      snprintf(path, sizeof(path), "%s", s);
    else
      snprintf(path, sizeof(path), "/lib/modules/%s/%s", u.release, s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      cf_debug("module %s: %s (skipped)", path, strerror(errno));
      continue;
    }
    size_t n = strlen(path);
    int flags = (n > 3 && strcmp(path + n - 3, ".ko")) ? 4 /* MODULE_INIT_COMPRESSED_FILE */ : 0;
    if (syscall(SYS_finit_module, fd, params, flags) < 0 && errno != EEXIST)
      cf_warn("module %s: %s", path, strerror(errno));
    else
      count++;
    close(fd);
  }
  free(line);
  cf_debug("modules%s%s: %u loaded in %llu us", group[0] ? " of " : " at boot", group, count,
           (unsigned long long)(cf_now_us() - start));
}

/* The loop and the job worker (job.h) both load groups. */
void init_load_modules(const char *list_file, const char *group) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&lock);
  load_modules(list_file, group);
  pthread_mutex_unlock(&lock);
}

/* Any device of this virtio id (e.g. 3 console, 19 vsock) on the bus. */
static bool virtio_device_present(unsigned id) {
  _cleanup_closedir_ DIR *d = opendir("/sys/bus/virtio/devices");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char p[300];
    snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/device", e->d_name);
    _cleanup_fclose_ FILE *f = e->d_name[0] == '.' ? NULL : fopen(p, "re");
    unsigned v;
    if (f && fscanf(f, "%x", &v) == 1 && v == id)
      return true;
  }
  return false;
}

static bool dir_has_entries(const char *path) {
  _cleanup_closedir_ DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.')
      return true;
  return false;
}

/* At boot: the transports, then the drivers of the agent channel the VM
 * has. Rootfs modules wait for their first container (rootfs.c). */
void init_load_boot_modules(const char *list_file) {
  init_load_modules(list_file, "");
  if (dir_has_entries("/sys/bus/pci/devices"))
    init_load_modules(list_file, "pci");
  if (virtio_device_present(3))
    init_load_modules(list_file, "serial");
  if (virtio_device_present(19))
    init_load_modules(list_file, "vsock");
}

void init_power_off(void) {
  sync();
  reboot(RB_POWER_OFF);
  _exit(0); /* not PID 1 of a VM: nothing to power off */
}

/* The pod's resolv.conf, hosts and hostname, under <state>/sandbox/, for
 * the containers whose spec bind-mounts those files from the host; and shm/,
 * the pod's shared memory (its containers' /dev/shm), in guest memory. */
int agent_sandbox_write_files(const char *dir, const Coffer__Agent__V1__CreateSandboxRequest *req,
                        cf_error *err) {
  char path[PATH_MAX];
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return cf_err(err, errno, "mkdir %s", dir);
  snprintf(path, sizeof(path), "%s/shm", dir);
  if ((mkdir(path, 01777) < 0 && errno != EEXIST) || chmod(path, 01777) < 0)
    return cf_err(err, errno, "mkdir %s", path);
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m)
    return cf_err(err, errno, "resolv.conf");
  for (size_t i = 0; i < req->n_dns_servers; i++)
    fprintf(m, "nameserver %s\n", req->dns_servers[i]);
  if (req->n_dns_searches) {
    fputs("search", m);
    for (size_t i = 0; i < req->n_dns_searches; i++)
      fprintf(m, " %s", req->dns_searches[i]);
    fputc('\n', m);
  }
  if (req->n_dns_options) {
    fputs("options", m);
    for (size_t i = 0; i < req->n_dns_options; i++)
      fprintf(m, " %s", req->dns_options[i]);
    fputc('\n', m);
  }
  fclose(m);
  snprintf(path, sizeof(path), "%s/resolv.conf", dir);
  int rc = cf_write_file_atomic(path, buf, len, 0644, 0, err);
  free(buf);
  if (rc < 0)
    return rc;

  buf = NULL;
  len = 0;
  if (!(m = open_memstream(&buf, &len)))
    return cf_err(err, errno, "hosts");
  fputs("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", m);
  for (size_t i = 0; i < req->n_hosts; i++) {
    fputs(req->hosts[i]->ip, m);
    for (size_t k = 0; k < req->hosts[i]->n_names; k++)
      fprintf(m, "\t%s", req->hosts[i]->names[k]);
    fputc('\n', m);
  }
  fclose(m);
  snprintf(path, sizeof(path), "%s/hosts", dir);
  rc = cf_write_file_atomic(path, buf, len, 0644, 0, err);
  free(buf);
  if (rc < 0 || !req->hostname[0])
    return rc;
  snprintf(path, sizeof(path), "%s/hostname", dir);
  char line[128];
  int n = snprintf(line, sizeof(line), "%s\n", req->hostname);
  return cf_write_file_atomic(path, line, (size_t)n, 0644, 0, err);
}

static bool vsock_usable(void) {
  _cleanup_close_ int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  unsigned int cid = VMADDR_CID_ANY;
  if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
    return false;
  return cid != VMADDR_CID_ANY && cid > 2;
}

/* vsock:1024 when a vsock transport exists, else the virtio-serial port
 * named agent.0. */
int init_find_listen_addr(char *buf, size_t cap, bool *serial, cf_error *err) {
  if (vsock_usable()) {
    snprintf(buf, cap, "vsock:1024");
    *serial = false;
    return 0;
  }
  _cleanup_closedir_ DIR *d = opendir("/sys/class/virtio-ports");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[512], name[64] = "";
    snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f || !fgets(name, sizeof(name), f))
      continue;
    name[strcspn(name, "\n")] = '\0';
    if (!strcmp(name, "agent.0")) {
      snprintf(buf, cap, "serial:/dev/%s", e->d_name);
      *serial = true;
      return 0;
    }
  }
  return cf_err_status(err, CF_UNAVAILABLE,
                       "no host channel: no vsock transport and no virtio-serial port agent.0");
}

/* Is this guest a TEE? agent/tee's detection: CPUID, configfs-tsm and the
 * firmware's guest devices, never the host's command line. */
bool init_in_tee(void) {
  cf_tee_env env = {0};
  cf_tee_kind kind = CF_TEE_NONE;
  cf_error err = {0};
  if (cf_tee_detect(&env, &kind, &err) < 0) {
    cf_warn("TEE detection: %s: taking this guest as a TEE", err.msg);
    return true; /* both signals, or a broken probe: the stricter side */
  }
  return kind == CF_TEE_SNP || kind == CF_TEE_TDX;
}
