/* The parsed policy (policy.c builds it, check.c reads it). */
#ifndef COFFER_POLICY_INTERNAL_H
#define COFFER_POLICY_INTERNAL_H

#include <regex.h>
#include <stdint.h>

#include "coffer/policy.h"

enum pv { PV_UNSET = 0, PV_ALLOW, PV_DENY, PV_COND };

typedef struct strv {
  char **v;
  size_t n;
} strv;

typedef struct pregex {
  char *src;
  regex_t re;
} pregex;

typedef struct pmount {
  char *dst, *type;
  char *source;          /* exact source, or NULL */
  pregex *source_re;     /* source pattern, or NULL (neither: any source) */
  bool has_options;
  strv options;          /* exactly these, in any order */
} pmount;

typedef struct pdevice {
  char *path;
  char type;             /* 'c', 'b', 'u', 'p' or 0: any */
  bool has_num;
  int64_t major, minor;
} pdevice;

typedef struct pkv {
  char *key, *value;
  pregex *re;            /* annotations: value pattern */
} pkv;

typedef struct prule {
  char *name;            /* matched against io.kubernetes.cri.container-name (else the id) */
  bool sandbox;          /* the pod's sandbox (pause) container */
  char *image_name;      /* io.kubernetes.cri.image-name */
  strv digests, root_hashes;
  bool has_args;
  strv args;
  strv env;
  pregex *env_re;
  size_t n_env_re;
  char *cwd;
  bool has_uid, has_gid, has_groups;
  bool groups_subset;    /* exec checks: additionalGids a subset of groups, not the set */
  uint32_t uid, gid;
  uint32_t *groups;
  size_t n_groups;
  bool has_caps;
  strv caps;
  int no_new_privs, terminal, readonly_root; /* -1: any */
  pmount *mounts;
  size_t n_mounts;
  pdevice *devices;
  size_t n_devices;
  pkv *sysctls;
  size_t n_sysctls;
  pkv *annotations;
  size_t n_annotations;
  strv *execs;           /* exact argument vectors (probes) */
  size_t n_execs;
  pregex *exec_re;       /* on the arguments joined by spaces */
  size_t n_exec_re;
} prule;

struct cf_policy {
  int version;
  bool deny;
  struct {
    char *name;
    enum pv v;
  } *rpcs;
  size_t n_rpcs;
  prule *rules;
  size_t n_rules;
  strv *execs;           /* top level: any container */
  size_t n_execs;
};

#endif
