/* coffer-vmm: drives libvirt for the libvirt VM backend and for operators.
 *
 *   coffer-vmm create  --spec FILE [--uri URI]   start the pod's VM; prints
 *        {"name","pid","agent_address","accel","create_ms"} as JSON
 *   coffer-vmm destroy --name NAME | --pod ID [--state-dir DIR] [--uri URI]   idempotent;
 *                      with --state-dir, only the domain started from DIR
 *   coffer-vmm list [--json] [--uri URI]          coffer's domains and pods
 *   coffer-vmm xml --spec FILE [--vhost-net yes|no]   print the domain XML
 *        (--vhost-net: as if the host had /dev/vhost-net or not; default probed)
 *   coffer-vmm accel                              print the accelerator choice
 *   coffer-vmm cmdline [--log-level L] [--kernel-params P]   print the guest
 *        kernel command line the backend builds for that configuration
 *   coffer-vmm rootfs-image --src DIR --out DIR [--cache DIR]   the erofs image
 *        and dm-verity hash tree of a container rootfs (rootfs_image.h); prints
 *        image=PATH tree=PATH root_hash=HEX data_blocks=N cached=0|1
 *
 * A short-lived process: the per-pod shim never maps libvirt's ~56 shared
 * libraries. URI: --uri, else $COFFER_LIBVIRT_URI, else qemu:///system.
 * Exit status: 0 ok, 1 failure (message on stderr), 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "accel.h"
#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/log.h"
#include "create_lock.h"
#include "domain_xml.h"
#include "init_data.h"
#include "rootfs_image.h"
#include "spec.h"
#include "vmm_libvirt.h"

/* containerd gives the cleanup after a dead shim ~5 s in all */
#define DESTROY_WAITS_FOR_CREATE_MS 3000
#define DEFAULT_EMULATOR "/usr/bin/qemu-system-x86_64"

static void usage(FILE *f) {
  fprintf(f, "usage: coffer-vmm create --spec FILE [--uri URI]\n"
             "       coffer-vmm destroy (--name NAME | --pod ID) [--state-dir DIR] [--uri URI]\n"
             "       coffer-vmm list [--json] [--uri URI]\n"
             "       coffer-vmm xml --spec FILE [--vhost-net yes|no]\n"
             "       coffer-vmm accel\n"
             "       coffer-vmm cmdline [--log-level LEVEL] [--kernel-params PARAMS]\n"
             "       coffer-vmm rootfs-image --src DIR --out DIR [--cache DIR]\n");
}

static const char *accel_cache(void) {
  const char *c = getenv("COFFER_VMM_ACCEL_CACHE");
  if (c)
    return *c ? c : NULL; /* empty: no cache */
  return ACCEL_CACHE_DEFAULT;
}

static const char *emulator_of(const vm_spec *s) {
  return s && s->emulator[0] ? s->emulator : DEFAULT_EMULATOR;
}

/* The host's TSC rate in kHz (TCG's guest TSC runs at it), from
 * /proc/cpuinfo; 2.3 GHz when unknown. */
static unsigned long host_tsc_khz(void) {
  _cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
  char line[256];
  double mhz;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "cpu MHz : %lf", &mhz) == 1 && mhz > 100)
      return (unsigned long)(mhz * 1000);
  return 2300000;
}

/* microvm under TCG hangs about one boot in three while the guest kernel
 * calibrates its TSC against the (absent) PIT: tell it the rate instead. */
static int add_tsc_hint(vm_spec *s, cf_error *err) {
  if (strcmp(s->accel, "tcg") || strcmp(s->machine, "microvm") || strstr(s->cmdline, "tsc_early_khz="))
    return 0;
  char *c = NULL;
  if (asprintf(&c, "%s%stsc_early_khz=%lu", s->cmdline, s->cmdline[0] ? " " : "", host_tsc_khz()) < 0)
    return cf_err(err, ENOMEM, "kernel command line");
  free(s->cmdline);
  s->cmdline = c;
  return 0;
}

/* Reads and validates the spec, resolving accel "auto" by probing. */
static int load_spec(vm_spec *s, const char *path, cf_error *err) {
  vm_spec_init(s);
  if (vm_spec_read_file(s, path, err) < 0 || vm_spec_validate(s, err) < 0 ||
      init_data_fill_digests(s, err) < 0)
    return -EINVAL;
  char accel[8], why[512];
  if (accel_resolve(s->accel, emulator_of(s), accel_cache(), accel, sizeof(accel), why,
                    sizeof(why), err) < 0)
    return -EINVAL;
  if (strcmp(s->accel, accel) != 0 || strcmp(why, "configured") != 0)
    cf_info("accelerator %s for pod %s (%s)", accel, s->pod_id, why);
  free(s->accel);
  s->accel = strdup(accel);
  if (add_tsc_hint(s, err) < 0)
    return -ENOMEM;
  if (vm_spec_is_tee(s) && strcmp(accel, "kvm") != 0)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "profile %s needs KVM, which does not work here (%s)", s->profile, why);
  return 0;
}

static int cmd_xml(const char *spec_path, const char *vhost_net, cf_error *err) {
  domain_xml_host host = domain_xml_host_probe();
  if (vhost_net && strcmp(vhost_net, "yes") && strcmp(vhost_net, "no"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "--vhost-net \"%s\": yes or no", vhost_net);
  if (vhost_net)
    host.vhost_net = !strcmp(vhost_net, "yes");
  vm_spec s;
  int r = load_spec(&s, spec_path, err);
  _cleanup_free_ char *xml = r < 0 ? NULL : domain_xml_build(&s, &host, err);
  vm_spec_free(&s);
  if (!xml)
    return -EINVAL;
  fputs(xml, stdout);
  return 0;
}

static int cmd_create(const char *uri, const char *spec_path, cf_error *err) {
  long long t0 = (long long)cf_now_ms();
  vm_spec s;
  int r = load_spec(&s, spec_path, err);
  _cleanup_free_ char *xml = r < 0 ? NULL : domain_xml_build(&s, NULL, err);
  if (!xml) {
    vm_spec_free(&s);
    return -EINVAL;
  }
  char name[160];
  vm_spec_domain_name(s.pod_id, name, sizeof(name), err);
  /* held until exit: a destroy of this VM waits for the domain to exist */
  _cleanup_close_ int lock = s.state_dir ? create_lock_take(s.state_dir, err) : -1;
  if (s.state_dir && lock < 0) {
    vm_spec_free(&s);
    return lock;
  }
  vmm_created c = {0, -1};
  r = vmm_create(uri, name, xml, &c, err);
  if (r < 0) {
    vm_spec_free(&s);
    return r;
  }
  struct stat st;
  if (s.state_dir && stat(s.state_dir, &st) < 0) {
    /* the pod was cleaned up while we created its VM (its shim died, a
     * destroy gave up waiting): the VM must not outlive it */
    int existed;
    cf_error ignored = {0};
    vmm_destroy(uri, name, NULL, &existed, &ignored);
    r = cf_err_status(err, CF_ABORTED,
                      "the pod's state dir %s was removed while its VM was created; "
                      "destroyed domain %s", s.state_dir, name);
    vm_spec_free(&s);
    return r;
  }
  char addr[4200];
  if (s.vsock_cid >= 0 && c.vsock_cid >= 3)
    snprintf(addr, sizeof(addr), "vsock:%lld:1024", c.vsock_cid);
  else
    snprintf(addr, sizeof(addr), "unix:%s", s.agent_socket);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "name", json_object_new_string(name));
  json_object_object_add(o, "pid", json_object_new_int64(c.pid));
  json_object_object_add(o, "agent_address", json_object_new_string(addr));
  json_object_object_add(o, "vsock_cid", json_object_new_int64(c.vsock_cid));
  json_object_object_add(o, "accel", json_object_new_string(s.accel));
  json_object_object_add(o, "create_ms", json_object_new_int64((long long)cf_now_ms() - t0));
  printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  cf_info("domain %s created: qemu pid %d, agent %s, accel %s", name, (int)c.pid, addr, s.accel);
  vm_spec_free(&s);
  return 0;
}

static int cmd_destroy(const char *uri, const char *name, const char *pod, const char *owner_dir,
                       cf_error *err) {
  char buf[160];
  if (pod) {
    if (vm_spec_domain_name(pod, buf, sizeof(buf), err) < 0)
      return -EINVAL;
    name = buf;
  }
  if (strncmp(name, "coffer-", 7) != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "refusing to destroy %s: not a coffer domain", name);
  /* a create still running (its shim died mid-create) finishes first, so
   * the domain it makes is the one destroyed here */
  if (owner_dir && create_lock_wait(owner_dir, DESTROY_WAITS_FOR_CREATE_MS, err) < 0)
    cf_warn("%s; destroying what exists now (that create destroys its domain once it sees "
            "the state dir gone)", err->msg);
  *err = (cf_error){0};
  int existed;
  int r = vmm_destroy(uri, name, owner_dir, &existed, err);
  if (r == 0)
    cf_info("domain %s %s", name, existed ? "destroyed" : "was already gone");
  return r;
}

int main(int argc, char **argv) {
  const char *lvl = getenv("COFFER_LOG_LEVEL");
  int level = lvl ? cf_log_level_parse(lvl) : CF_LOG_INFO;
  cf_log_init("coffer-vmm", level < 0 ? CF_LOG_INFO : (enum cf_log_level)level, 2);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  const char *uri = getenv("COFFER_LIBVIRT_URI");
  const char *spec = NULL, *name = NULL, *pod = NULL, *state_dir = NULL;
  const char *log_level = NULL, *kernel_params = NULL, *vhost_net = NULL;
  const char *src = NULL, *out_dir = NULL, *cache_dir = NULL;
  int json = 0;
  static const struct option opts[] = {{"spec", required_argument, NULL, 's'},
                                       {"uri", required_argument, NULL, 'u'},
                                       {"name", required_argument, NULL, 'n'},
                                       {"pod", required_argument, NULL, 'p'},
                                       {"state-dir", required_argument, NULL, 'd'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"log-level", required_argument, NULL, 'l'},
                                       {"kernel-params", required_argument, NULL, 'k'},
                                       {"vhost-net", required_argument, NULL, 'v'},
                                       {"src", required_argument, NULL, 'S'},
                                       {"out", required_argument, NULL, 'O'},
                                       {"cache", required_argument, NULL, 'C'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  optind = 2;
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 's': spec = optarg; break;
    case 'u': uri = optarg; break;
    case 'n': name = optarg; break;
    case 'p': pod = optarg; break;
    case 'd': state_dir = optarg; break;
    case 'j': json = 1; break;
    case 'l': log_level = optarg; break;
    case 'k': kernel_params = optarg; break;
    case 'v': vhost_net = optarg; break;
    case 'S': src = optarg; break;
    case 'O': out_dir = optarg; break;
    case 'C': cache_dir = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  if (!uri || !*uri)
    uri = "qemu:///system";
  cf_error err = {0};
  int r;
  if (!strcmp(cmd, "create") && spec)
    r = cmd_create(uri, spec, &err);
  else if (!strcmp(cmd, "xml") && spec)
    r = cmd_xml(spec, vhost_net, &err);
  else if (!strcmp(cmd, "destroy") && (!!name ^ !!pod))
    r = cmd_destroy(uri, name, pod, state_dir, &err);
  else if (!strcmp(cmd, "list"))
    r = vmm_list(uri, stdout, json, &err);
  else if (!strcmp(cmd, "cmdline")) {
    char line[4096];
    r = vm_spec_kernel_cmdline(log_level, kernel_params, line, sizeof(line), &err);
    if (r == 0)
      puts(line);
  } else if (!strcmp(cmd, "rootfs-image") && src && out_dir) {
    rootfs_image img;
    r = rootfs_image_get(src, cache_dir, out_dir, &img, &err);
    if (r == 0)
      printf("image=%s tree=%s root_hash=%s data_blocks=%llu cached=%d\n", img.image, img.tree,
             img.root_hash, (unsigned long long)img.data_blocks, img.cached ? 1 : 0);
  } else if (!strcmp(cmd, "accel")) {
    char accel[8], why[512];
    r = accel_resolve("auto", DEFAULT_EMULATOR, accel_cache(), accel, sizeof(accel), why,
                      sizeof(why), &err);
    if (r == 0)
      printf("%s (%s)\n", accel, why);
  } else {
    usage(stderr);
    return 2;
  }
  if (r < 0) {
    cf_error_log("%s", err.msg);
    return 1;
  }
  return 0;
}
