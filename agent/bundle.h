/* The spec from the shim made into the container's config.json (bundle.c). */
#ifndef COFFER_AGENT_BUNDLE_H
#define COFFER_AGENT_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "coffer/error.h"

typedef struct bundle_opts {
  const char *id;
  const char *root_path;
  bool terminal;
  const char *cgroup_path;
  pid_t sandbox_pid;     /* 0: this is the sandbox container */
  bool share_pid;
  bool guest;
  bool tee;                      /* safe defaults for what the spec omits */
  const char *const *mount_dst;  /* SharedMount replacements */
  const char *const *mount_src;
  size_t n_mounts;
  const pid_t *known_pids;       /* guest: the only pids a namespace path may name */
  size_t n_known_pids;
  const char *guest_files_dir;   /* guest: resolv.conf / hosts / hostname for containers */
  const char *const *ro_dst;     /* coffer's read-only binds (secrets, token), mounted last */
  const char *const *ro_src;
  size_t n_ro;
} bundle_opts;
/* Returns malloc'd JSON text; *is_sandbox set from the CRI annotation. */
char *bundle_make_config(const uint8_t *spec, size_t len, const bundle_opts *o,
                         bool *is_sandbox, cf_error *err);
char *bundle_make_process(const uint8_t *json, size_t len, bool terminal, bool tee,
                          cf_error *err);

#endif
