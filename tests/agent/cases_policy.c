/* The agent policy end to end: the agent started with a deny-default policy
 * generated from the pod's own spec (as coffer-policy would), the pod's
 * container runs, and each thing a hostile host tries is refused with
 * PERMISSION_DENIED naming its rule, leaving nothing behind. Plus the TEE
 * rules on the built-in runtime: one engine, safe defaults. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cases.h"

#define IMAGE "docker.io/library/busybox:1.36"

static json_object *jget(json_object *o, const char *k) {
  json_object *v = NULL;
  json_object_object_get_ex(o, k, &v);
  return v;
}

static json_object *copy(json_object *o) {
  json_object *c = NULL;
  json_object_deep_copy(o, &c, NULL);
  return c;
}

/* The pod owner's container: the harness's spec, named, with its image. */
static json_object *pod_spec(void) {
  json_object *s = h_spec_json(&H, ARGS("sleep", "300"), NULL), *ann = json_object_new_object();
  json_object_object_add(ann, "io.kubernetes.cri.container-type", json_object_new_string("container"));
  json_object_object_add(ann, "io.kubernetes.cri.container-name", json_object_new_string("app"));
  json_object_object_add(ann, "io.kubernetes.cri.image-name", json_object_new_string(IMAGE));
  json_object_object_add(s, "annotations", ann);
  return s;
}

/* What coffer-policy writes for that pod: its command, env, user, caps and
 * mounts exactly, one probe, no logs or attach. */
static char *policy_for(json_object *spec) {
  json_object *proc = jget(spec, "process"), *rule = json_object_new_object();
  json_object *p = json_object_new_object(), *pol = json_object_new_object();
  json_object_object_add(rule, "name", json_object_new_string("app"));
  json_object *img = json_object_new_object();
  json_object_object_add(img, "name", json_object_new_string(IMAGE));
  json_object_object_add(rule, "image", img);
  json_object_object_add(p, "args", copy(jget(proc, "args")));
  json_object *env = copy(jget(proc, "env"));
  json_object_array_add(env, json_object_new_string("PATH=/bin")); /* the probe's */
  json_object_object_add(p, "env", env);
  json_object_object_add(p, "cwd", copy(jget(proc, "cwd")));
  json_object *user = jget(proc, "user");
  json_object_object_add(p, "uid", copy(jget(user, "uid")));
  json_object_object_add(p, "gid", copy(jget(user, "gid")));
  json_object *caps = json_object_new_array(), *pc = jget(proc, "capabilities");
  json_object_object_foreach(pc, set, list) {
    (void)set;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
      const char *c = json_object_get_string(json_object_array_get_idx(list, i));
      bool seen = false;
      for (size_t k = 0; k < json_object_array_length(caps) && !seen; k++)
        seen = !strcmp(json_object_get_string(json_object_array_get_idx(caps, k)), c);
      if (!seen)
        json_object_array_add(caps, json_object_new_string(c));
    }
  }
  json_object_object_add(p, "capabilities", caps);
  json_object_object_add(rule, "process", p);
  json_object *mounts = json_object_new_array(), *sm = jget(spec, "mounts");
  for (size_t i = 0; i < json_object_array_length(sm); i++) {
    json_object *m = json_object_array_get_idx(sm, i), *pm = json_object_new_object();
    json_object_object_add(pm, "destination", copy(jget(m, "destination")));
    json_object_object_add(pm, "type", copy(jget(m, "type")));
    json_object_object_add(pm, "source", copy(jget(m, "source")));
    /* no options in the spec: none allowed (an absent list would allow any) */
    json_object_object_add(pm, "options", jget(m, "options") ? copy(jget(m, "options"))
                                                              : json_object_new_array());
    json_object_array_add(mounts, pm);
  }
  json_object_object_add(rule, "mounts", mounts);
  json_object_object_add(rule, "exec", json_tokener_parse("[[\"test\", \"-d\", \"/proc\"]]"));
  json_object *rules = json_object_new_array();
  json_object_array_add(rules, rule);
  json_object_object_add(pol, "version", json_object_new_int(1));
  json_object_object_add(pol, "default", json_object_new_string("deny"));
  json_object_object_add(pol, "rpcs", json_tokener_parse(
      "{\"CreateSandbox\":\"allow\",\"DestroySandbox\":\"allow\",\"CreateContainer\":\"cond\","
      "\"StartContainer\":\"allow\",\"RemoveContainer\":\"allow\",\"ExecProcess\":\"cond\","
      "\"RemoveProcess\":\"allow\",\"SignalProcess\":\"allow\",\"WaitProcess\":\"allow\","
      "\"StatsContainer\":\"allow\",\"GetOOMEvent\":\"allow\",\"GetGuestDetails\":\"allow\","
      "\"CloseStdin\":\"allow\",\"ReadStdout\":\"deny\",\"ReadStderr\":\"deny\","
      "\"WriteStdin\":\"deny\"}"));
  json_object_object_add(pol, "containers", rules);
  char *txt = strdup(json_object_to_json_string_ext(pol, JSON_C_TO_STRING_PRETTY));
  json_object_put(pol);
  return txt;
}

static void restart_with(const char *const *extra) {
  h_stop_agent(&H);
  h_start_agent(&H, extra);
  Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  r.sandbox_id = H.sandbox;
  r.cgroup_parent = H.cgroup_parent;
  CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "CreateSandbox: %s", msg);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

/* A refusal: PERMISSION_DENIED naming the rule, printed for the record. */
static void refused(int rc, const char *attack, const char *rule) {
  char want[160];
  snprintf(want, sizeof(want), "(rule %s)", rule);
  CHECK(rc == CF_PERMISSION_DENIED, "%s: status %d (%s), not PERMISSION_DENIED", attack, rc, msg);
  CHECK(strstr(msg, want), "%s: \"%s\" does not name rule %s", attack, msg, rule);
  printf("refused  %-28s %s\n", attack, msg);
}

/* The denied create left nothing: no container, no bundle. */
static void nothing_left(const char *id) {
  char bundle[300];
  snprintf(bundle, sizeof(bundle), "%s/bundles/%s", H.state, id);
  struct stat st;
  CHECK(stat(bundle, &st) < 0, "a refused create left %s", bundle);
  Coffer__Agent__V1__ContainerRequest r = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  r.container_id = (char *)id;
  int rc = h_call(&H, "StatsContainer", &r.base, &coffer__agent__v1__stats_container_response__descriptor,
                  NULL, msg, sizeof(msg));
  CHECK(rc == CF_NOT_FOUND, "container %s exists after its create was refused (%d)", id, rc);
}

static int create_attack(const char *id, json_object *spec) {
  int rc = h_create_json(&H, id, spec, NULL, NULL, msg, sizeof(msg));
  json_object_put(spec);
  return rc;
}

static void test_policy_refuses_host_attacks(void) {
  json_object *spec = pod_spec();
  char *pol = policy_for(spec), path[300];
  snprintf(path, sizeof(path), "%s/policy.json", H.dir);
  write_file(path, pol);
  printf("the pod's policy:\n%s\n", pol);
  free(pol);
  restart_with(ARGS("--policy", path));

  /* the pod as its owner described it runs */
  CHECK(h_create_json(&H, "app", spec, NULL, NULL, msg, sizeof(msg)) == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "app", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_exec(&H, "app", "probe", ARGS("test", "-d", "/proc"), false, false, msg, sizeof(msg)) ==
            CF_OK, "the probe: %s", msg);
  CHECK(h_wait(&H, "app", "probe") == 0, "the probe's exit");

  json_object *s, *m;
  s = copy(spec);
  m = json_tokener_parse("{\"destination\":\"/host\",\"type\":\"bind\",\"source\":\"/\",\"options\":[\"rbind\",\"rw\"]}");
  json_object_array_add(jget(s, "mounts"), m);
  refused(create_attack("bind-root", s), "bind of /", "guest-paths");
  nothing_left("bind-root");

  s = copy(spec);
  m = json_tokener_parse("{\"destination\":\"/sys/kernel/config\",\"type\":\"configfs\",\"source\":\"configfs\"}");
  json_object_array_add(jget(s, "mounts"), m);
  refused(create_attack("configfs", s), "configfs mount", "kernel-filesystems");
  nothing_left("configfs");

  s = copy(spec);
  json_object_object_add(jget(s, "linux"), "devices", json_tokener_parse(
      "[{\"path\":\"/dev/sev-guest\",\"type\":\"c\",\"major\":10,\"minor\":124}]"));
  refused(create_attack("sev-guest", s), "/dev/sev-guest device", "tee-devices");
  nothing_left("sev-guest");

  s = copy(spec);
  json_object *caps = jget(jget(s, "process"), "capabilities");
  json_object_array_add(jget(caps, "bounding"), json_object_new_string("CAP_SYS_ADMIN"));
  refused(create_attack("extra-cap", s), "an extra capability", "containers[0].process.capabilities");
  nothing_left("extra-cap");

  s = copy(spec);
  json_object_array_add(jget(jget(s, "process"), "env"), json_object_new_string("LD_PRELOAD=/tmp/x.so"));
  refused(create_attack("extra-env", s), "an extra env var", "containers[0].process.env");
  nothing_left("extra-env");

  s = copy(spec);
  json_object_object_add(jget(s, "process"), "args", json_tokener_parse("[\"sh\",\"-c\",\"nc -lp 4444 -e sh\"]"));
  refused(create_attack("changed-cmd", s), "a changed command", "containers[0].process.args");
  nothing_left("changed-cmd");

  s = copy(spec);
  json_object_object_add(jget(s, "annotations"), "io.kubernetes.cri.image-name",
                         json_object_new_string("docker.io/evil/busybox:1.36"));
  refused(create_attack("other-image", s), "a different image", "containers[0].image.name");
  nothing_left("other-image");

  refused(h_exec(&H, "app", "shell", ARGS("/bin/sh"), false, false, msg, sizeof(msg)),
          "exec of a shell", "containers[0].exec");
  Coffer__Agent__V1__ReadOutputRequest rr = COFFER__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
  rr.container_id = "app";
  rr.exec_id = "";
  refused(h_call(&H, "ReadStdout", &rr.base, &coffer__agent__v1__read_output_response__descriptor,
                 NULL, msg, sizeof(msg)), "reading stdout", "rpcs.ReadStdout");
  Coffer__Agent__V1__WriteStdinRequest wr = COFFER__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
  wr.container_id = "app";
  wr.exec_id = "";
  wr.data.data = (uint8_t *)"id\n";
  wr.data.len = 3;
  refused(h_call(&H, "WriteStdin", &wr.base, &coffer__agent__v1__write_stdin_response__descriptor,
                 NULL, msg, sizeof(msg)), "writing stdin", "rpcs.WriteStdin");
  Coffer__Agent__V1__UpdateContainerRequest ur = COFFER__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
  ur.container_id = "app";
  ur.resources.data = (uint8_t *)"{}";
  ur.resources.len = 2;
  refused(h_call(&H, "UpdateContainer", &ur.base, &google__protobuf__empty__descriptor, NULL, msg,
                 sizeof(msg)), "an RPC the policy omits", "default");

  /* the guest's log has every refusal */
  FILE *f = fopen(H.log, "re");
  char line[2048];
  int logged = 0;
  while (f && fgets(line, sizeof(line), f))
    logged += strstr(line, "denied: policy: ") != NULL;
  if (f)
    fclose(f);
  CHECK(logged >= 11, "%d refusals in the agent's log, 11 expected", logged);
  CHECK(h_remove(&H, "app", true) == CF_OK, "remove");
  json_object_put(spec);
}

/* --tee on the built-in runtime: one OCI engine (what it does not implement
 * is refused naming it, runc never runs), and the safe defaults for what a
 * spec omits: default capabilities, the default seccomp filter. */
static void test_tee_one_engine_and_safe_defaults(void) {
  if (!h_builtin) {
    printf("SKIP: the TEE rules are the built-in runtime's (COFFER_TEST_RUNTIME=builtin)\n");
    h_stop_agent(&H);
    h_teardown(&H);
    exit(SKIP);
  }
  char path[300];
  snprintf(path, sizeof(path), "%s/policy.json", H.dir);
  write_file(path, "{\"version\":1,\"default\":\"allow\"}");
  restart_with(ARGS("--tee", "--policy", path));
  json_object *s = h_spec_json(&H, ARGS("true"), NULL);
  json_object_object_add(jget(s, "linux"), "personality", json_tokener_parse("{\"domain\":\"LINUX\"}"));
  int rc = h_create_json(&H, "pers", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc != CF_OK && strstr(msg, "linux.personality") && strstr(msg, "only one in a TEE"),
        "personality in a TEE: %d %s", rc, msg);
  printf("refused  %-28s %s\n", "a field only runc has", msg);

  s = h_spec_json(&H, ARGS("grep", "-E", "^(CapBnd|Seccomp):", "/proc/self/status"), NULL);
  json_object_object_del(jget(s, "process"), "capabilities");
  json_object_object_del(jget(s, "linux"), "seccomp");
  rc = h_create_json(&H, "defaults", s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  CHECK(rc == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "defaults", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  CHECK(h_wait(&H, "defaults", "") == 0, "exit");
  char *out = h_read_all(&H, "defaults", "", false, NULL);
  /* containerd's default set (chown dac_override fowner fsetid kill setgid
   * setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write
   * setfcap), and a filter in filter mode */
  CHECK(strstr(out, "CapBnd:\t00000000a80425fb") && strstr(out, "Seccomp:\t2"),
        "defaults not applied: %s", out);
  free(out);
  CHECK(h_remove(&H, "defaults", false) == CF_OK, "remove");
}

/* The pod owner's policy arrives in CreateSandbox's init-data (entry
 * policy.json) and holds from then on: a second CreateSandbox cannot bring
 * another one. A host process has no TEE to verify the init-data against
 * (the shim's tests cover the binding); what is tested here is that the
 * verified entry becomes the policy, once. */
static int stats(const char *id) {
  Coffer__Agent__V1__ContainerRequest r = COFFER__AGENT__V1__CONTAINER_REQUEST__INIT;
  r.container_id = (char *)id;
  return h_call(&H, "StatsContainer", &r.base, &coffer__agent__v1__stats_container_response__descriptor,
                NULL, msg, sizeof(msg));
}

static void test_policy_from_init_data_at_create_sandbox(void) {
  h_stop_agent(&H);
  h_start_agent(&H, NULL);
  const char *toml =
      "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n\"policy.json\" = '''\n"
      "{\"version\": 1, \"default\": \"deny\", \"rpcs\": {\"CreateSandbox\": \"allow\",\n"
      " \"CreateContainer\": \"allow\", \"RemoveContainer\": \"allow\"}}\n'''\n";
  Coffer__Agent__V1__CreateSandboxRequest r = COFFER__AGENT__V1__CREATE_SANDBOX_REQUEST__INIT;
  r.sandbox_id = H.sandbox;
  r.cgroup_parent = H.cgroup_parent;
  r.init_data.data = (uint8_t *)toml;
  r.init_data.len = strlen(toml);
  CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) == CF_OK, "CreateSandbox: %s", msg);
  CHECK(h_create(&H, "c", ARGS("true"), NULL, NULL, msg, sizeof(msg)) == CF_OK, "create: %s", msg);
  refused(stats("c"), "an RPC the init-data policy omits", "default");
  /* deny-default: the guest's own files stay out even with CreateContainer allowed */
  json_object *s = h_spec_json(&H, ARGS("true"), NULL);
  json_object_array_add(jget(s, "mounts"), json_tokener_parse(
      "{\"destination\":\"/host\",\"type\":\"bind\",\"source\":\"/\",\"options\":[\"rbind\"]}"));
  refused(create_attack("root", s), "bind of / (CreateContainer allowed)", "guest-paths");
  /* a second CreateSandbox with an allow-all policy changes nothing */
  const char *allow_all = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n"
                          "\"policy.json\" = '{\"version\": 1, \"default\": \"allow\"}'\n";
  r.init_data.data = (uint8_t *)allow_all;
  r.init_data.len = strlen(allow_all);
  CHECK(h_call(&H, "CreateSandbox", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
               sizeof(msg)) != CF_OK, "a second CreateSandbox was accepted");
  refused(stats("c"), "the same after a 2nd CreateSandbox", "default");
  CHECK(h_remove(&H, "c", true) == CF_OK, "remove");
}

const agent_case agent_cases_policy[] = {
    {"policy_from_init_data_at_create_sandbox", test_policy_from_init_data_at_create_sandbox},
    {"policy_refuses_host_attacks", test_policy_refuses_host_attacks},
    {"tee_one_engine_and_safe_defaults", test_tee_one_engine_and_safe_defaults},
    {NULL, NULL},
};
