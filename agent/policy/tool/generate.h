/* A Kubernetes workload (Pod, or a template's pod) -> a coffer policy
 * document (agent/README.md "Policy"): one rule for the pause container and
 * one per container, deny by default. */
#ifndef COFFER_POLICY_GENERATE_H
#define COFFER_POLICY_GENERATE_H

#include <stdbool.h>

#include <json-c/json.h>

#include "coffer/error.h"
#include "image.h"

typedef struct gen_root_hash {
  const char *image; /* as written in the pod spec, or normalized */
  const char *hex;   /* 64 hex */
} gen_root_hash;

typedef struct gen_opts {
  image_source images;
  const char *pause_image;      /* containerd's sandbox_image */
  const char *containerd_root;  /* /var/lib/containerd: the pod files (hosts, hostname, resolv.conf) */
  const char *containerd_state; /* /run/containerd: the pod's /dev/shm */
  const char *kubelet_root;     /* /var/lib/kubelet: volumes, etc-hosts, termination-log */
  bool allow_logs;              /* ReadStdout/ReadStderr (kubectl logs) */
  const gen_root_hash *root_hashes;
  size_t n_root_hashes;
} gen_opts;

/* The pod spec of the first workload in docs (yaml_to_json's array); the
 * kind is named in errors. */
json_object *gen_pod_spec(json_object *docs, json_object **metadata, cf_error *err);
/* The policy; CF_INVALID_ARGUMENT errors (privileged, envFrom, unknown
 * volume kinds) name the container and field. */
json_object *gen_policy(json_object *pod, json_object *metadata, const gen_opts *o, cf_error *err);

#endif
