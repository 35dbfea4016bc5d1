#include "volumes.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"
#include "coffer/path.h"
#include "guest_volumes.h"
#include "submounts.h"

/* Provided by the agent from the pod's own data (CreateSandbox): DNS,
 * hosts, hostname, and the pod's shared memory, which must be guest memory
 * that the pod's containers share, not a host directory. */
static bool guest_provided(const char *dst) {
  static const char *const provided[] = {"/etc/resolv.conf", "/etc/hosts", "/etc/hostname",
                                         "/dev/shm"};
  for (size_t i = 0; i < sizeof(provided) / sizeof(*provided); i++)
    if (!strcmp(dst, provided[i]))
      return true;
  return false;
}

static const char *str_field(json_object *o, const char *key) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

/* The options that matter here: bind-ness, read-only (last of ro/rw wins,
 * as for mount(8)), and propagation. */
static void read_options(json_object *m, bool *bind, bool *ro, bool *rro,
                         enum cf_propagation *prop) {
  const char *type = str_field(m, "type");
  *bind = type && !strcmp(type, "bind");
  *ro = *rro = false;
  *prop = CF_PROPAGATION_PRIVATE;
  json_object *opts;
  if (!json_object_object_get_ex(m, "options", &opts) || !json_object_is_type(opts, json_type_array))
    return;
  for (size_t k = 0; k < json_object_array_length(opts); k++) {
    const char *o = json_object_get_string(json_object_array_get_idx(opts, k));
    if (!o)
      continue;
    if (!strcmp(o, "bind") || !strcmp(o, "rbind"))
      *bind = true;
    else if (!strcmp(o, "ro"))
      *ro = true;
    else if (!strcmp(o, "rro"))
      *ro = *rro = true;
    else if (!strcmp(o, "rw"))
      *ro = false;
    else if (!strcmp(o, "rslave") || !strcmp(o, "slave") || !strcmp(o, "rshared") ||
             !strcmp(o, "shared"))
      *prop = CF_PROPAGATION_SLAVE; /* guest mounts never reach the host */
    else if (!strcmp(o, "rprivate") || !strcmp(o, "private"))
      *prop = CF_PROPAGATION_PRIVATE;
  }
}

/* One SharedMount of CreateContainer: destination dst from rf (files: a
 * copied volume's content, owned by the mount from here on). */
static int append(shim_volumes *out, const char *dst, const cf_rootfs *rf,
                  Coffer__Agent__V1__VolumeEntry **files, size_t nfiles, cf_error *err) {
  Coffer__Agent__V1__SharedMount *sm = calloc(1, sizeof(*sm));
  Coffer__Agent__V1__Rootfs *r = calloc(1, sizeof(*r));
  if (!sm || !r) {
    free(sm);
    free(r);
    shim_gvol_free(files, nfiles);
    return cf_err(err, ENOMEM, "volume %s", dst);
  }
  coffer__agent__v1__shared_mount__init(sm);
  coffer__agent__v1__rootfs__init(r);
  r->kind = (Coffer__Agent__V1__Rootfs__Kind)rf->kind;
  r->source = strdup(rf->source);
  r->fstype = strdup(rf->fstype);
  r->readonly = rf->readonly;
  sm->destination = strdup(dst);
  sm->source = r;
  sm->files = files;
  sm->n_files = nfiles;
  out->mounts[out->n++] = sm;
  if (!r->source || !r->fstype || !sm->destination)
    return cf_err(err, ENOMEM, "volume %s", dst);
  return 0;
}

/* A read-only volume that is not recursively read-only leaves the host
 * mounts below its source as they are (runc: MS_RDONLY on the top bind
 * only). The source is shared alone (non_recursive) and each host mount
 * below it as a volume of its own, with that mount's read-only flag, bound
 * by the agent over the read-only one (after the spec's mounts, in
 * mountinfo order: a parent before what is mounted on it). A recursive
 * share would put the guest's view of them under one read-only mount, and
 * its host-side copy on the source's directories would keep the host from
 * removing them. */
static int share_submounts(const cf_vmm_ops *ops, cf_vm *vm, const char *cid, const char *real,
                           const char *dst, enum cf_propagation prop,
                           const shim_submount *sub, size_t n, shim_volumes *out, cf_error *err) {
  for (size_t k = 0; k < n; k++) {
    char host[PATH_MAX], d[PATH_MAX];
    if ((size_t)snprintf(host, sizeof(host), "%s/%s", real, sub[k].rel) >= sizeof(host) ||
        (size_t)snprintf(d, sizeof(d), "%s%s%s", dst, dst[strlen(dst) - 1] == '/' ? "" : "/",
                         sub[k].rel) >= sizeof(d))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "host mount %s/%s: path too long", real,
                           sub[k].rel);
    if (out->n >= SHIM_VOLUMES_MAX)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "more than %d volumes", SHIM_VOLUMES_MAX);
    cf_volume v = {.host_path = host, .destination = d, .readonly = sub[k].readonly,
                   .propagation = prop, .non_recursive = 1};
    cf_rootfs rf;
    if (ops->add_volume(vm, cid, (unsigned)out->n, &v, &rf, err) < 0)
      return -EIO;
    if (append(out, d, &rf, NULL, 0, err) < 0)
      return -ENOMEM;
    cf_debug("volume %s: host mount %s stays %s below it", dst, host,
             sub[k].readonly ? "read-only" : "writable");
  }
  return 0;
}

typedef struct submounts {
  shim_submount *v;
  size_t n;
} submounts;
static void submounts_freep(submounts *s) { shim_submounts_free(s->v, s->n); }

static int add_one(const cf_vmm_ops *ops, cf_vm *vm, const char *cid, json_object *m, size_t i,
                   shim_volumes *out, cf_error *err) {
  const char *dst = str_field(m, "destination");
  const char *src = str_field(m, "source");
  bool bind, ro, rro;
  enum cf_propagation prop;
  read_options(m, &bind, &ro, &rro, &prop);
  if (!bind || !dst || guest_provided(dst))
    return 0;
  if (!src || src[0] != '/' || cf_path_has_dotdot(src))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "mounts[%zu] (%s): bind source \"%s\" is not an absolute host path", i,
                         dst, src ? src : "");
  if (out->n >= SHIM_VOLUMES_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "more than %d volumes", SHIM_VOLUMES_MAX);
  /* kubelet may hand a symlinked host path: share what it points at */
  char real[PATH_MAX];
  if (!realpath(src, real))
    return cf_err(err, errno, "volume %s: host path %s", dst, src);
  cf_volume v = {.host_path = real, .destination = dst, .readonly = ro, .propagation = prop};
  /* host mounts below a non-recursive read-only volume (share_submounts);
   * a backend without a host share (TEE: copied volumes) ignores them */
  _cleanup_(submounts_freep) submounts sub = {0};
  if (ro && !rro && shim_submounts_below("/proc/self/mountinfo", real, &sub.v, &sub.n, err) < 0)
    return cf_error_prefix(err, "mounts[%zu] (%s)", i, dst);
  v.non_recursive = sub.n > 0;
  cf_rootfs rf;
  if (ops->add_volume(vm, cid, (unsigned)out->n, &v, &rf, err) < 0)
    return -EIO;
  Coffer__Agent__V1__VolumeEntry **files = NULL;
  size_t nfiles = 0;
  if (rf.kind == CF_ROOTFS_GUEST) {
    enum shim_gvol_kind k = shim_gvol_classify(real);
    if (k == SHIM_GVOL_REFUSE)
      return cf_err_status(err, CF_FAILED_PRECONDITION,
                           "mounts[%zu] (%s): host path %s cannot reach this pod's guest, which "
                           "shares no filesystem with the host: configMap, secret, projected and "
                           "downward API volumes are copied into guest memory, emptyDir and the "
                           "termination-message file live there; hostPath and other host paths "
                           "are refused",
                           i, dst, real);
    if (k == SHIM_GVOL_COPY && shim_gvol_read(real, &files, &nfiles, err) < 0)
      return cf_error_prefix(err, "mounts[%zu] (%s)", i, dst);
    snprintf(rf.source, sizeof(rf.source), "vol-%zu", out->n);
    snprintf(rf.fstype, sizeof(rf.fstype), "%s",
             k == SHIM_GVOL_COPY ? "volume" : k == SHIM_GVOL_FILE ? "file" : "emptydir");
    rf.readonly = 0;
  }

  if (append(out, dst, &rf, files, nfiles, err) < 0)
    return -ENOMEM;
  if (rf.kind == CF_ROOTFS_GUEST && !strcmp(rf.fstype, "volume") &&
      !(out->copy_src[out->n - 1] = strdup(real)))
    return cf_err(err, ENOMEM, "volume %s", dst);
  if (rf.kind == CF_ROOTFS_VIRTIOFS &&
      share_submounts(ops, vm, cid, real, dst, prop, sub.v, sub.n, out, err) < 0)
    return cf_error_prefix(err, "mounts[%zu] (%s)", i, dst);
  cf_debug("container %s: volume %s from host %s shared as %s%s", cid, dst, real, rf.source,
           ro ? " (read-only)" : "");
  return 0;
}

static int share_all(const cf_vmm_ops *ops, cf_vm *vm, const char *cid, json_object *spec,
                     shim_volumes *out, cf_error *err) {
  json_object *mounts;
  if (!spec || !json_object_object_get_ex(spec, "mounts", &mounts))
    return 0; /* the agent reports a malformed spec with the details */
  if (!json_object_is_type(mounts, json_type_array))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "OCI spec: mounts must be an array");
  size_t n = json_object_array_length(mounts);
  /* room for the most the agent takes: host mounts below a read-only
   * volume add entries of their own (share_submounts) */
  out->mounts = calloc(SHIM_VOLUMES_MAX + 1, sizeof(*out->mounts));
  out->copy_src = calloc(SHIM_VOLUMES_MAX + 1, sizeof(char *));
  if (!out->mounts || !out->copy_src)
    return cf_err(err, ENOMEM, "volumes");
  for (size_t i = 0; i < n; i++) {
    json_object *m = json_object_array_get_idx(mounts, i);
    if (json_object_is_type(m, json_type_object) && add_one(ops, vm, cid, m, i, out, err) < 0)
      return -EIO;
  }
  return 0;
}

int shim_volumes_share(const cf_vmm_ops *ops, cf_vm *vm, const char *cid, const char *spec_json,
                       size_t len, shim_volumes *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  if (!ops->add_volume)
    return 0;
  json_tokener *tok = json_tokener_new();
  if (!tok)
    return cf_err(err, ENOMEM, "parse OCI spec");
  json_object *spec = json_tokener_parse_ex(tok, spec_json, (int)len);
  json_tokener_free(tok);
  int r = share_all(ops, vm, cid, spec, out, err);
  json_object_put(spec);
  return r;
}

void shim_volumes_free(shim_volumes *v) {
  for (size_t i = 0; i < v->n; i++) {
    Coffer__Agent__V1__SharedMount *sm = v->mounts[i];
    if (sm->source) {
      free(sm->source->source);
      free(sm->source->fstype);
      free(sm->source);
    }
    free(sm->destination);
    shim_gvol_free(sm->files, sm->n_files);
    free(sm);
    if (v->copy_src)
      free(v->copy_src[i]);
  }
  free(v->copy_src);
  free(v->mounts);
  memset(v, 0, sizeof(*v));
}
