/* Secrets and tokens: the agent starts coffer-attester from init-data, which
 * attests (sample evidence) to a real coffer-kbs started here (plain HTTP on
 * loopback, sample evidence enabled, a policy), and mounts what containers
 * ask for. Needs COFFER_TEST_KBS and COFFER_TEST_ATTESTER (ctest sets them). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cases.h"

static pid_t kbs_pid;
static char secret[64];

static void kbs_stop(void) {
  if (kbs_pid > 0) {
    kill(kbs_pid, SIGTERM);
    waitpid(kbs_pid, NULL, 0);
  }
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

/* Before h_setup: the broker, its resources and policy, the init-data, and
 * the environment the agent reads them from outside a guest. */
int agent_secrets_setup(void) {
  const char *kbs = getenv("COFFER_TEST_KBS"), *att = getenv("COFFER_TEST_ATTESTER");
  if (!kbs || !att || access(kbs, X_OK) || access(att, X_OK)) {
    printf("SKIP: COFFER_TEST_KBS and COFFER_TEST_ATTESTER must name coffer-kbs and coffer-attester\n");
    return SKIP;
  }
  static char dir[] = "/tmp/coffer-secrets-XXXXXX";
  CHECK(mkdtemp(dir), "mkdtemp");
  char p[512], cmd[1024];
  snprintf(cmd, sizeof(cmd), "mkdir -p %s/res/default/key %s/res/other/key", dir, dir);
  CHECK(system(cmd) == 0, "%s", cmd);
  FILE *r = fopen("/dev/urandom", "r");
  unsigned char raw[24];
  CHECK(r && fread(raw, 1, sizeof(raw), r) == sizeof(raw), "urandom");
  fclose(r);
  for (size_t i = 0; i < sizeof(raw); i++)
    sprintf(secret + 2 * i, "%02x", raw[i]);
  snprintf(p, sizeof(p), "%s/res/default/key/one", dir);
  write_file(p, secret);
  snprintf(p, sizeof(p), "%s/res/other/key/one", dir);
  write_file(p, "denied");
  snprintf(p, sizeof(p), "%s/policy.json", dir);
  write_file(p, "{\"rules\": [{\"name\": \"sample-keys\", \"resource\": \"default/key/*\", \"tee\": [\"sample\"],"
                " \"status\": [\"affirming\", \"warning\", \"contraindicated\"]}]}");
  char cfg[1024];
  snprintf(cfg, sizeof(cfg),
           "{\"listen\": \"127.0.0.1:0\", \"insecure_http\": true, \"resource_dir\": \"%s/res\","
           " \"policy\": \"%s/policy.json\", \"sample\": {\"enabled\": true}}", dir, dir);
  snprintf(p, sizeof(p), "%s/kbs.json", dir);
  write_file(p, cfg);
  int out[2];
  CHECK(pipe(out) == 0, "pipe");
  kbs_pid = fork();
  if (kbs_pid == 0) {
    dup2(out[1], 1);
    execl(kbs, kbs, "--config", p, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  atexit(kbs_stop);
  char line[256] = {0};
  FILE *f = fdopen(out[0], "r");
  CHECK(f && fgets(line, sizeof(line), f) && strstr(line, "listening on "), "coffer-kbs: %s", line);
  char *url = strstr(line, "listening on ") + 13;
  url[strcspn(url, "\n")] = '\0';
  char init[2048];
  snprintf(init, sizeof(init),
           "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = '''\n"
           "[token_configs.kbs]\nurl = \"%s\"\n'''\n\"coffer.toml\" = '''\n[secrets]\n"
           "one = \"kbs:///default/key/one\"\nbad = \"kbs:///other/key/one\"\n[attestation]\ntoken = true\n"
           "timeout_ms = 10000\n'''\n", url);
  snprintf(p, sizeof(p), "%s/initdata.toml", dir);
  write_file(p, init);
  setenv("COFFER_AGENT_INITDATA", p, 1);
  setenv("COFFER_AGENT_ATTESTER", att, 1);
  return 0;
}

static int create_with(const char *id, const char *const *args, const char *const *ann,
                       int uid) {
  json_object *s = h_spec_json(&H, args, NULL);
  json_object *a = json_object_new_object(), *proc, *user;
  for (size_t i = 0; ann[i]; i += 2)
    json_object_object_add(a, ann[i], json_object_new_string(ann[i + 1]));
  json_object_object_add(s, "annotations", a);
  json_object_object_get_ex(s, "process", &proc);
  if (json_object_object_get_ex(proc, "user", &user)) {
    json_object_object_add(user, "uid", json_object_new_int(uid));
    json_object_object_add(user, "gid", json_object_new_int(uid));
  }
  int rc = h_create_json(&H, id, s, NULL, NULL, msg, sizeof(msg));
  json_object_put(s);
  return rc;
}

static void test_secrets_and_token(void) {
  const char *ann[] = {"io.coffer.secret.one", "kbs:///default/key/one", "io.coffer.token", "true", NULL};
  CHECK(create_with("sec", ARGS("sh", "-c",
                                "cat /run/coffer/secrets/one; echo; stat -c '%a %u %g' /run/coffer/secrets/one;"
                                " echo x > /run/coffer/secrets/one 2>/dev/null && echo WRITABLE;"
                                " test -S /run/coffer/tee.sock && echo sock;"
                                " cut -c1-3 /run/coffer/attestation-token; id -u"),
                    ann, 1000) == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "sec", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  int st = h_wait(&H, "sec", "");
  char *out = h_read_all(&H, "sec", "", false, NULL);
  char want[256];
  snprintf(want, sizeof(want), "%s\n400 1000 1000\nsock\neyJ\n1000\n", secret);
  CHECK(st == 0 && !strcmp(out, want),
        "the container sees exactly the stored secret, mode 0400 owned by its user, read-only, "
        "and the token and tee.sock: status %d, got \"%s\", want \"%s\"", st, out, want);
  free(out);
  CHECK(h_remove(&H, "sec", false) == CF_OK, "remove");
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/secrets/sec", H.state);
  CHECK(access(dir, F_OK) != 0, "the secret tmpfs is gone with its container (%s)", dir);

  /* A resource the broker's policy denies: the create fails with its reason. */
  const char *bad[] = {"io.coffer.secret.bad", "kbs:///other/key/one", NULL};
  int rc = create_with("denied", ARGS("true"), bad, 0);
  CHECK(rc != CF_OK && strstr(msg, "no rule covers other/key/one"),
        "a denied secret fails the create with the broker's reason: %d %s", rc, msg);
  /* A malformed annotation names itself. */
  const char *mal[] = {"io.coffer.secret.x/y", "kbs:///default/key/one", NULL};
  rc = create_with("mal", ARGS("true"), mal, 0);
  CHECK(rc == CF_INVALID_ARGUMENT && strstr(msg, "io.coffer.secret.x/y"), "malformed: %d %s", rc, msg);
  /* Without annotations nothing is mounted. */
  const char *none[] = {NULL};
  CHECK(create_with("plain", ARGS("sh", "-c", "test -e /run/coffer/secrets || test -e /run/coffer/tee.sock || echo none"),
                    none, 0) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "plain", msg, sizeof(msg)) == CF_OK, "%s", msg);
  h_wait(&H, "plain", "");
  out = h_read_all(&H, "plain", "", false, NULL);
  CHECK(!strcmp(out, "none\n"), "a container that asks for nothing gets nothing: \"%s\"", out);
  free(out);
}

/* The running attester (this test's agent's child): its pid, 0 when none. */
static pid_t attester_pid(void) {
  char want[PATH_MAX], exe[PATH_MAX], path[64];
  if (!realpath(getenv("COFFER_TEST_ATTESTER"), want))
    return 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  pid_t found = 0;
  while (d && (e = readdir(d))) {
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0)
      continue;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof(exe) - 1);
    if (n <= 0)
      continue;
    exe[n] = '\0';
    char cmd[4096] = {0};
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(cmd, 1, sizeof(cmd) - 1, f) : 0;
    if (f)
      fclose(f);
    for (size_t i = 0; i < len; i++)
      if (!cmd[i])
        cmd[i] = ' ';
    if (!strcmp(exe, want) && strstr(cmd, H.state))
      found = pid;
  }
  if (d)
    closedir(d);
  return found;
}

/* The attester killed: the agent starts it again on its own (no container
 * asks), a fresh token file replaces the old one, and the next secret works. */
static void test_attester_restart(void) {
  const char *ann[] = {"io.coffer.secret.one", "kbs:///default/key/one", NULL};
  CHECK(create_with("first", ARGS("true"), ann, 0) == CF_OK, "create: %s", msg);
  CHECK(h_remove(&H, "first", false) == CF_OK, "remove");
  pid_t old = attester_pid();
  CHECK(old > 0, "no coffer-attester runs for %s", H.state);
  char token[PATH_MAX];
  snprintf(token, sizeof(token), "%s/pod/attestation-token", H.state);
  struct stat before, now;
  CHECK(stat(token, &before) == 0, "token file %s", token);
  CHECK(kill(old, SIGKILL) == 0, "kill %d", (int)old);
  pid_t fresh = 0;
  bool replaced = false;
  for (int i = 0; i < 300 && !replaced; i++) {
    usleep(100 * 1000);
    fresh = attester_pid();
    replaced = fresh > 0 && fresh != old && stat(token, &now) == 0 && now.st_ino != before.st_ino;
  }
  CHECK(replaced, "30 s after kill -9 of coffer-attester %d: running %d, token file %s replaced: %s",
        (int)old, (int)fresh, token, replaced ? "yes" : "no");
  CHECK(create_with("after", ARGS("cat", "/run/coffer/secrets/one"), ann, 0) == CF_OK,
        "a secret after the restart: %s", msg);
  CHECK(h_start(&H, "after", msg, sizeof(msg)) == CF_OK, "start: %s", msg);
  int st = h_wait(&H, "after", "");
  char *out = h_read_all(&H, "after", "", false, NULL);
  CHECK(st == 0 && !strcmp(out, secret), "the secret after the restart: status %d, \"%s\"", st, out);
  free(out);
  CHECK(h_remove(&H, "after", false) == CF_OK, "remove");
  printf("ok: coffer-attester %d killed, %d serves again, token file replaced\n", (int)old, (int)fresh);
}

const agent_case agent_cases_secrets[] = {
    {"secrets_and_token", test_secrets_and_token},
    {"attester_restart", test_attester_restart},
    {NULL, NULL},
};
