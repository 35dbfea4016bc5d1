/* fuzz_policy: arbitrary bytes as a policy document (init-data is the pod
 * owner's, but a parser bug must not become the host's way in through a
 * bad document, nor crash PID 1), and as the requests judged by a fixed
 * policy: each input is parsed as a policy; a policy that parses judges a
 * fixed CreateContainer and ExecProcess; and the input as JSON is judged as
 * a spec and as an exec process by the fixed policy.
 *
 * Built as a libFuzzer target with COFFER_FUZZ; otherwise (FUZZ_REPLAY_MAIN)
 * a test that replays the seed corpus plus deterministic mutations of it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "coffer/policy.h"

static const char fixed_policy[] =
    "{\"version\":1,\"default\":\"deny\",\"rpcs\":{\"CreateContainer\":\"cond\","
    "\"ExecProcess\":\"cond\"},\"containers\":[{\"name\":\"c\",\"process\":{\"args\":[\"a\"],"
    "\"env_patterns\":[\"A=.*\"],\"uid\":0},\"mounts\":[{\"destination\":\"/p\",\"type\":\"proc\","
    "\"source_pattern\":\"p.*\",\"options\":[\"ro\"]}],\"devices\":[{\"path\":\"/dev/x\"}],"
    "\"sysctls\":{\"a\":\"1\"},\"annotations\":{\"k\":\"v+\"},\"exec\":[[\"x\"]],"
    "\"exec_patterns\":[\"y .*\"]}],\"exec\":[[\"z\"]]}";
static const char fixed_spec[] =
    "{\"process\":{\"args\":[\"a\"],\"env\":[\"A=1\"],\"user\":{\"uid\":0}},"
    "\"mounts\":[{\"destination\":\"/p\",\"type\":\"proc\",\"source\":\"proc\",\"options\":[\"ro\"]},"
    "{\"destination\":\"/b\",\"type\":\"bind\",\"source\":\"/\"}],"
    "\"annotations\":{\"io.kubernetes.cri.container-name\":\"c\"}}";

static void judge(const cf_policy *p, json_object *spec, json_object *proc) {
  const char *shared[] = {"/b"};
  cf_policy_create req = {.container_id = "c1", .spec = spec, .shared_dsts = shared, .n_shared = 1};
  cf_verdict v;
  int rule;
  cf_policy_check_create(p, &req, &rule, &v);
  if (!v.allowed && !v.rule[0])
    abort(); /* every denial names its rule */
  for (int r = -1; r <= 1; r++) {
    cf_policy_check_exec(p, r, "c1", "e1", proc, false, &v);
    if (!v.allowed && !v.rule[0])
      abort();
  }
  cf_policy_check_rpc(p, "ReadStdout", &v);
  cf_policy_root_hash_allowed(p, 0, "00");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static cf_policy *fixed;
  static json_object *spec;
  if (!fixed) {
    cf_error err = {0};
    fixed = cf_policy_parse(fixed_policy, strlen(fixed_policy), &err);
    spec = json_tokener_parse(fixed_spec);
    if (!fixed || !spec)
      abort();
  }
  cf_error err = {0};
  cf_policy *p = cf_policy_parse((const char *)data, size, &err);
  if (p) {
    char d[256];
    cf_policy_describe(p, d, sizeof(d));
    judge(p, spec, json_object_object_get(spec, "process"));
    cf_policy_free(p);
  } else if (!err.msg[0]) {
    abort(); /* a refusal says why */
  }
  json_tokener *tok = json_tokener_new_ex(64);
  json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)data, (int)size) : NULL;
  if (tok)
    json_tokener_free(tok);
  if (o) {
    judge(fixed, o, o);
    json_object_put(o);
  }
  return 0;
}

#define FUZZ_REPLAY_MUTATIONS 200
#define FUZZ_REPLAY_WHAT "the policy parser and verdicts"
#include "fuzz_replay.h"
