/* fuzz_oci_spec: arbitrary bytes as an OCI runtime spec (config.json) for
 * the agent's built-in runtime, which takes it from the untrusted host.
 * Each input goes through, in-process and without touching the kernel's
 * containers machinery:
 *   - oci_spec_parse, then whatever it parsed: linux.seccomp through
 *     oci_seccomp_build (built only, never loaded) and
 *     linux.resources.devices through oci_devices_attach with cgroup fd -1:
 *     that validates the rules and compiles the device program, then fails
 *     on fcntl(-1) with EBADF before bpf(2) is reached (checked below, so a
 *     reordering that would make the fuzzer load programs is caught);
 *   - the input as a JSON value on its own, as exec requests and the
 *     pieces' own callers see one: an object as a "process" (oci_exec) and
 *     as a linux.seccomp profile; an array as mount options and as device
 *     rules.
 * The spec parser's result is used even when it failed later on (a
 * borrowed field is only set after its own checks): a failure after
 * linux.* (no mount namespace, say) must not hide the seccomp profile.
 *
 * Built as a libFuzzer target with COFFER_FUZZ; otherwise (FUZZ_REPLAY_MAIN)
 * a test that replays the seed corpus plus deterministic mutations of it. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "coffer/log.h"
#include "devices.h"
#include "seccomp_filter.h"
#include "spec.h"

/* oci_devices_attach with no cgroup: it must stop before bpf(2). */
static void devices(json_object *rules) {
  cf_error err = {0};
  int rc = oci_devices_attach(rules, -1, &err);
  if (rc >= 0 || (err.status == CF_OK && err.errnum != EBADF && err.errnum != ENOMEM)) {
    fprintf(stderr, "oci_devices_attach(fd -1) went past validation: rc %d, errno %d, %s\n", rc,
            err.errnum, err.msg);
    abort();
  }
}

static void seccomp(json_object *profile) {
  cf_error err = {0};
  oci_seccomp *sc = NULL;
  if (oci_seccomp_build(profile, &sc, &err) < 0 && sc) {
    fprintf(stderr, "oci_seccomp_build failed but returned a filter: %s\n", err.msg);
    abort();
  }
  oci_seccomp_free(sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool ready;
  if (!ready) {
    cf_log_init("agent", CF_LOG_ERROR, -1); /* no "unknown capability" warnings */
    ready = true;
  }
  if (size > (1u << 24))
    return 0;

  /* 1. the spec, as oci_create takes it */
  oci_spec s;
  cf_error err = {0};
  if (oci_spec_parse((const char *)data, size, &s, &err) == 0) {
    oci_spec_check_sysctls(&s, true, &err);
    oci_spec_check_sysctls(&s, false, &err);
  }
  if (s.seccomp)
    seccomp(s.seccomp);
  json_object *rules = NULL;
  if (s.resources && json_object_object_get_ex(s.resources, "devices", &rules))
    devices(rules);
  oci_spec_free(&s);

  /* 2. the input as one JSON value, parsed the way oci_exec does */
  json_tokener *tok = json_tokener_new_ex(64);
  if (!tok)
    return 0;
  json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
  json_tokener_free(tok);
  if (json_object_is_type(o, json_type_object)) {
    oci_process p;
    err = (cf_error){0};
    oci_process_parse(o, "process", &p, &err);
    oci_process_free(&p);
    seccomp(o);
  } else if (json_object_is_type(o, json_type_array)) {
    oci_mount m = {0};
    err = (cf_error){0};
    if (oci_mount_options(o, &m, "mounts[0]", &err) == 0)
      free(m.data);
    else if (m.data) {
      fprintf(stderr, "oci_mount_options failed but set data: %s\n", err.msg);
      abort();
    }
    devices(o);
  }
  json_object_put(o);
  return 0;
}

#define FUZZ_REPLAY_MUTATIONS 40
#define FUZZ_REPLAY_SEED 12345
#define FUZZ_REPLAY_WHAT "the OCI spec parser"
#include "fuzz_replay.h"
