/* The sandbox's guest-pulled images (annotation io.coffer.guest-pull-images)
 * and the run of the configured seed tool: a real child process (a shell
 * script standing in for deploy/coffer-image-seed, which needs containerd;
 * tests/deploy/encrypted_image_seed.sh runs the real one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/clock.h"

#include "config.h"
#include "image_seed.h"

#include "check.h"

static const char *SANDBOX =
    "{\"annotations\": {\"io.kubernetes.cri.container-type\": \"sandbox\", "
    "\"io.coffer.guest-pull-images\": \"%s\"}}";

static int images_of(const char *value, shim_image_list *l, cf_error *err) {
  char spec[4096];
  snprintf(spec, sizeof(spec), SANDBOX, value);
  return shim_guest_pull_images(spec, l, err);
}

static void test_parse(void) {
  shim_image_list *l = calloc(1, sizeof(*l));
  cf_error err = {0};
  CHECK(images_of("reg.example:5000/a/b:1, reg/c@sha256:00ff  d:2", l, &err) == 0);
  CHECK(l->n == 3);
  CHECK(strcmp(l->refs[0], "reg.example:5000/a/b:1") == 0);
  CHECK(strcmp(l->refs[1], "reg/c@sha256:00ff") == 0);
  CHECK(strcmp(l->refs[2], "d:2") == 0);
  CHECK(images_of(" ,, ", l, &err) == 0 && l->n == 0);

  /* a container's spec, no annotation, no JSON: nothing to seed */
  CHECK(shim_guest_pull_images("{\"annotations\": {\"io.kubernetes.cri.container-type\": "
                               "\"container\", \"io.coffer.guest-pull-images\": \"a:1\"}}",
                               l, &err) == 0 && l->n == 0);
  CHECK(shim_guest_pull_images("{\"annotations\": {}}", l, &err) == 0 && l->n == 0);
  CHECK(shim_guest_pull_images("not json", l, &err) == 0 && l->n == 0);
  CHECK(shim_guest_pull_images(NULL, l, &err) == 0 && l->n == 0);

  const char *bad[] = {"x;reboot", "$(id)", "--address=/x", "--all", "a b`c`", "/abs", "a\\\\b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cf_error e = {0};
    CHECK(images_of(bad[i], l, &e) < 0);
    CHECK(strstr(e.msg, "is not an image reference") != NULL);
  }
  char many[2048] = "";
  for (int i = 0; i < SHIM_IMAGE_SEED_MAX_IMAGES + 1; i++)
    strcat(many, "r/i:1,");
  cf_error e = {0};
  CHECK(images_of(many, l, &e) < 0 && strstr(e.msg, "more than 16 images"));
  char longref[SHIM_IMAGE_REF_MAX + 2];
  memset(longref, 'a', sizeof(longref) - 1);
  longref[sizeof(longref) - 1] = '\0';
  e = (cf_error){0};
  CHECK(images_of(longref, l, &e) < 0);
  longref[SHIM_IMAGE_REF_MAX] = '\0';
  CHECK(images_of(longref, l, &e) == 0 && l->n == 1);
  free(l);
}

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f)
    return;
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
}

/* Running: neither gone nor a zombie waiting for its (new) parent to reap it. */
static bool alive(int pid) {
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void test_run(void) {
  char dir[] = "/tmp/cfseed.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char spec[4096], path[512], tool[512], args[512];
  snprintf(spec, sizeof(spec), SANDBOX, "reg/a:1, reg/b:2");
  snprintf(path, sizeof(path), "%s/config.json", dir);
  write_file(path, spec, 0600);
  snprintf(tool, sizeof(tool), "%s/seed", dir);
  snprintf(args, sizeof(args), "%s/args", dir);

  shim_config cfg = {0};
  cf_error err = {0};
  CHECK(shim_config_defaults(&cfg, &err) == 0);

  /* guest-pulled images but no seed configured: refused, naming the key */
  CHECK(shim_image_seed_bundle(&cfg, dir, "/run/c.sock", "k8s.io", &err) < 0);
  CHECK(strstr(err.msg, "sets no image_seed") && strstr(err.msg, "reg/a:1"));

  /* the tool gets containerd's address, the namespace, the snapshotter and
   * the references after "--" */
  char script[1024];
  snprintf(script, sizeof(script), "#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s\necho seeding >&2\n", args);
  write_file(tool, script, 0700);
  free(cfg.image_seed);
  cfg.image_seed = strdup(tool);
  free(cfg.image_seed_snapshotter);
  cfg.image_seed_snapshotter = strdup("native");
  err = (cf_error){0};
  CHECK(shim_image_seed_bundle(&cfg, dir, "/run/c.sock", "k8s.io", &err) == 0);
  char got[512] = "";
  FILE *f = fopen(args, "r");
  CHECK(f != NULL);
  if (f) {
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = '\0';
    fclose(f);
  }
  CHECK(strcmp(got, "--address\n/run/c.sock\n--namespace\nk8s.io\n--snapshotter\nnative\n--\n"
                    "reg/a:1\nreg/b:2\n") == 0);

  /* a failing tool: its exit status and last line in the error */
  snprintf(script, sizeof(script),
           "#!/bin/sh\necho first line\necho 'reg/a:1: manifest unknown' >&2\nexit 3\n");
  write_file(tool, script, 0700);
  err = (cf_error){0};
  CHECK(shim_image_seed_bundle(&cfg, dir, "/run/c.sock", "k8s.io", &err) < 0);
  CHECK(strstr(err.msg, "exit 3: reg/a:1: manifest unknown") != NULL);

  /* a tool that hangs (and its child): killed at the bound, group and all */
  char pidfile[512];
  snprintf(pidfile, sizeof(pidfile), "%s/child", dir);
  snprintf(script, sizeof(script), "#!/bin/sh\nsleep 30 & echo $! > %s\nwait\n", pidfile);
  write_file(tool, script, 0700);
  err = (cf_error){0};
  uint64_t t0 = cf_now_ms();
  CHECK(shim_image_seed_bundle_within(&cfg, dir, "/run/c.sock", "k8s.io", 300, &err) < 0);
  CHECK(cf_now_ms() - t0 < 5000);
  CHECK(strstr(err.msg, "no result within 300 ms (killed)") != NULL);
  int child = 0;
  f = fopen(pidfile, "r");
  CHECK(f != NULL);
  if (f) {
    CHECK(fscanf(f, "%d", &child) == 1);
    fclose(f);
  }
  for (int i = 0; i < 100 && child > 0 && alive(child); i++)
    usleep(10000);
  CHECK(child > 0 && !alive(child));
  unlink(pidfile);

  /* a tool that cannot run */
  unlink(tool);
  err = (cf_error){0};
  CHECK(shim_image_seed_bundle(&cfg, dir, "/run/c.sock", "k8s.io", &err) < 0);
  CHECK(strstr(err.msg, "exit 127") != NULL);

  /* a bundle without config.json: an error naming the path */
  unlink(path);
  err = (cf_error){0};
  CHECK(shim_image_seed_bundle(&cfg, dir, "/run/c.sock", "k8s.io", &err) < 0);
  CHECK(strstr(err.msg, "config.json") != NULL);

  /* the config keys */
  shim_config c2 = {0};
  CHECK(shim_config_defaults(&c2, &err) == 0);
  err = (cf_error){0};
  CHECK(shim_config_parse(&c2, "t", "{\"image_seed\": \"relative/seed\"}", &err) < 0);
  CHECK(strstr(err.msg, "image_seed") != NULL);
  err = (cf_error){0};
  CHECK(shim_config_parse(&c2, "t", "{\"image_seed_snapshotter\": \"a/../b\"}", &err) < 0);
  err = (cf_error){0};
  CHECK(shim_config_parse(&c2, "t", "{\"image_seed\": \"/opt/coffer/bin/coffer-image-seed\", "
                                    "\"image_seed_snapshotter\": \"overlayfs\"}", &err) == 0);
  CHECK(strcmp(c2.image_seed, "/opt/coffer/bin/coffer-image-seed") == 0);
  shim_config_free(&c2);
  shim_config_free(&cfg);
  unlink(args);
  rmdir(dir);
}

int main(void) {
  test_parse();
  test_run();
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
