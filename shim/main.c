/* containerd-shim-coffer-v2: flags as containerd passes them (Go flag
 * syntax: -name value, -name=value, --name), then start | delete | (none:
 * the daemon, spawned by start). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "manager.h"
#include "shim.h"
#include "daemon.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: containerd-shim-coffer-v2 -namespace NS -address ADDR "
          "-publish-binary BIN -id ID [-bundle DIR] [-debug] [start|delete]\n"
          "  start   spawn (or find) the pod's shim daemon and print its address\n"
          "  delete  clean up after a task whose shim died; prints DeleteResponse\n");
}

/* Returns the flag's name when arg is a flag ("-x", "--x", "-x=v"). */
static const char *flag_name(const char *arg, const char **inline_val, char *buf, size_t cap) {
  if (arg[0] != '-' || arg[1] == '\0')
    return NULL;
  arg += arg[1] == '-' ? 2 : 1;
  const char *eq = strchr(arg, '=');
  *inline_val = NULL;
  if (eq) {
    snprintf(buf, cap, "%.*s", (int)(eq - arg), arg);
    *inline_val = eq + 1;
    return buf;
  }
  return arg;
}

int main(int argc, char **argv) {
  shim_opts o = {.ns = "", .address = "", .publish_binary = "", .id = "", .bundle = ""};
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    char buf[64];
    const char *val;
    const char *name = flag_name(argv[i], &val, buf, sizeof(buf));
    if (!name) {
      if (o.action) {
        fprintf(stderr, "containerd-shim-coffer-v2: unexpected argument \"%s\"\n", argv[i]);
        return 2;
      }
      o.action = argv[i];
      continue;
    }
    if (strcmp(name, "debug") == 0) {
      o.debug = !val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
      continue;
    }
    if (strcmp(name, "v") == 0 || strcmp(name, "version") == 0) {
      printf("containerd-shim-coffer-v2:\n  Version: %s\n", SHIM_VERSION);
      return 0;
    }
    if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
      usage(stdout);
      return 0;
    }
    const char **dst = strcmp(name, "namespace") == 0        ? &o.ns
                       : strcmp(name, "address") == 0        ? &o.address
                       : strcmp(name, "publish-binary") == 0 ? &o.publish_binary
                       : strcmp(name, "id") == 0             ? &o.id
                       : strcmp(name, "bundle") == 0         ? &o.bundle
                                                              : NULL;
    if (!dst) {
      /* Unknown flags from newer containerd (e.g. -socket) are ignored. */
      if (!val && i + 1 < argc && argv[i + 1][0] != '-' &&
          strcmp(argv[i + 1], "start") != 0 && strcmp(argv[i + 1], "delete") != 0)
        i++;
      continue;
    }
    if (!val) {
      if (i + 1 >= argc) {
        fprintf(stderr, "containerd-shim-coffer-v2: flag -%s needs a value\n", name);
        return 2;
      }
      val = argv[++i];
    }
    *dst = val;
  }
  if (!o.action)
    return shim_daemon_main(&o);
  if (strcmp(o.action, "start") == 0)
    return shim_manager_start(&o);
  if (strcmp(o.action, "delete") == 0)
    return shim_manager_delete(&o);
  fprintf(stderr, "containerd-shim-coffer-v2: unknown action \"%s\"\n", o.action);
  usage(stderr);
  return 2;
}
