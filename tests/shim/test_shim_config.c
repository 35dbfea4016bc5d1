/* Config parsing: defaults, every key, and errors that name file and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#include "check.h"

static void expect_error(const char *json, const char *needle1, const char *needle2) {
  shim_config c = {0};
  cf_error err = {0};
  shim_config_defaults(&c, &err);
  int r = shim_config_parse(&c, "/etc/x.json", json, &err);
  if (r >= 0 || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2))) {
    fprintf(stderr, "config %s: expected an error with \"%s\"/\"%s\", got r=%d \"%s\"\n", json,
            needle1, needle2 ? needle2 : "", r, err.msg);
    failures++;
  }
  CHECK(err.status == CF_INVALID_ARGUMENT);
  shim_config_free(&c);
}

static void test_defaults(void) {
  shim_config c = {0};
  cf_error err = {0};
  CHECK(shim_config_defaults(&c, &err) == 0);
  CHECK(strcmp(c.backend, "libvirt") == 0);
  CHECK(c.vcpus == 1 && c.memory_mib == 256 && c.agent_timeout_ms == 30000);
  CHECK(c.busy_poll_us == 50);
  CHECK(strcmp(c.profile, "plain") == 0 && strcmp(c.log_level, "info") == 0);
  CHECK(strcmp(c.state_dir, "/run/coffer") == 0 && strcmp(c.agent_transport, "auto") == 0);
  shim_config_free(&c);
}

static void test_all_keys(void) {
  shim_config c = {0};
  cf_error err = {0};
  shim_config_defaults(&c, &err);
  const char *json =
      "{\"backend\":\"process\",\"kernel\":\"/k\",\"initrd\":\"/i\",\"firmware\":\"/f\","
      "\"kernel_params\":\"quiet\",\"machine\":\"q35\",\"vcpus\":4,\"memory_mib\":1024,"
      "\"agent_transport\":\"serial\",\"log_level\":\"debug\",\"tee\":\"snp\","
      "\"agent_path\":\"/a\",\"agent_timeout_ms\":5000,\"state_dir\":\"/run/cf\","
      "\"busy_poll_us\":0}";
  CHECK(shim_config_parse(&c, "t", json, &err) == 0);
  CHECK(strcmp(c.backend, "process") == 0 && strcmp(c.kernel, "/k") == 0);
  CHECK(strcmp(c.initrd, "/i") == 0 && strcmp(c.firmware, "/f") == 0);
  CHECK(strcmp(c.kernel_params, "quiet") == 0 && strcmp(c.machine, "q35") == 0);
  CHECK(c.vcpus == 4 && c.memory_mib == 1024 && c.agent_timeout_ms == 5000);
  CHECK(c.busy_poll_us == 0);
  CHECK(strcmp(c.agent_transport, "serial") == 0 && strcmp(c.log_level, "debug") == 0);
  CHECK(strcmp(c.profile, "sev-snp") == 0); /* tee snp -> profile sev-snp */
  CHECK(strcmp(c.agent_path, "/a") == 0 && strcmp(c.state_dir, "/run/cf") == 0);
  CHECK(strcmp(c.source, "t") == 0);
  shim_config_free(&c);
}

/* A TEE profile without a guest image of its own boots the installed TEE
 * image's bzImage (OVMF/TDVF take no ELF vmlinux); one that names its
 * files keeps them; plain keeps the plain image. */
static void test_tee_profiles_default_to_the_tee_image(void) {
  shim_config c = {0};
  cf_error err = {0};
  CHECK(shim_config_load(&c, NULL, "{\"profile\":\"tdx\"}", &err) == 0);
  CHECK(strstr(c.kernel, "/coffer/tee/vmlinuz") && strstr(c.initrd, "/coffer/tee/initramfs.img"));
  CHECK(shim_config_load(&c, NULL, "{\"profile\":\"sev-snp\",\"kernel\":\"/k\"}", &err) == 0);
  CHECK(!strcmp(c.kernel, "/k") && strstr(c.initrd, "/coffer/tee/initramfs.img"));
  CHECK(shim_config_load(&c, NULL, "{\"profile\":\"plain\"}", &err) == 0);
  CHECK(strstr(c.kernel, "/coffer/vmlinux") && !strstr(c.kernel, "/tee/"));
  shim_config_free(&c);
}

static void test_errors(void) {
  expect_error("{\"vcpus\":\"two\"}", "/etc/x.json", "\"vcpus\"");
  expect_error("{\"vcpus\":0}", "\"vcpus\"", "between");
  expect_error("{\"memory_mib\":1}", "\"memory_mib\"", NULL);
  expect_error("{\"busy_poll_us\":5000}", "\"busy_poll_us\"", "between");
  expect_error("{\"backend\":\"qemu\"}", "\"backend\"", "libvirt | process");
  expect_error("{\"bogus\":1}", "\"bogus\"", "unknown key");
  expect_error("{\"state_dir\":\"relative\"}", "\"state_dir\"", "absolute");
  expect_error("{\"tee\":\"tdx\",\"profile\":\"sev-snp\"}", "\"tee\"", "contradicts");
  expect_error("{\"log_level\":3}", "\"log_level\"", "string");
  expect_error("{\"backend\":", "/etc/x.json", "invalid JSON");
  expect_error("[1,2]", "/etc/x.json", "JSON object");
  /* init-data */
  expect_error("{\"init_data\":\"id.toml\"}", "\"init_data\"", "absolute");
  expect_error("{\"sample_attestation\":1}", "\"sample_attestation\"", "true or false");
  expect_error("{\"profile\":\"sev-snp\",\"sample_attestation\":true}", "\"sample_attestation\"",
               "only the plain profile");
  expect_error("{\"sample_attestation\":true,\"tee\":\"tdx\"}", "\"sample_attestation\"", "plain");
  shim_config c = {0};
  cf_error err = {0};
  shim_config_defaults(&c, &err);
  CHECK(shim_config_parse(&c, "x", "{\"init_data\":\"/etc/id.toml\",\"sample_attestation\":true,"
                          "\"test_hostile_init_data\":true}", &err) == 0);
  CHECK(!strcmp(c.init_data, "/etc/id.toml") && c.sample_attestation && c.test_hostile_init_data);
  shim_config_free(&c);
}

static void test_load(void) {
  char dir[] = "/tmp/coffer-cfg.XXXXXX";
  if (!mkdtemp(dir)) {
    failures++;
    return;
  }
  char path[256];
  snprintf(path, sizeof(path), "%s/c.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\"backend\":\"process\",\"vcpus\":2}", f);
  fclose(f);
  shim_config c = {0};
  cf_error err = {0};
  CHECK(shim_config_load(&c, path, NULL, &err) == 0);
  CHECK(strcmp(c.backend, "process") == 0 && c.vcpus == 2 && strcmp(c.source, path) == 0);
  /* inline body when no path */
  CHECK(shim_config_load(&c, NULL, "{\"vcpus\":3}", &err) == 0 && c.vcpus == 3);
  /* a named file that is missing is an error naming it */
  char missing[300];
  snprintf(missing, sizeof(missing), "%s/nope.json", dir);
  CHECK(shim_config_load(&c, missing, NULL, &err) < 0 && strstr(err.msg, missing));
  shim_config_free(&c);
  unlink(path);
  rmdir(dir);
}

/* Every key the backend needs reaches cf_vm_config, agent_transport too. */
static void test_vm_config(void) {
  shim_config c = {0};
  cf_error err = {0};
  CHECK(shim_config_defaults(&c, &err) == 0);
  cf_vm_config vc;
  shim_config_vm(&c, "pod1", "/run/x/pod1", &vc);
  CHECK(vc.agent_transport && strcmp(vc.agent_transport, "auto") == 0);
  CHECK(vc.machine == NULL && strcmp(vc.pod_id, "pod1") == 0 &&
        strcmp(vc.state_dir, "/run/x/pod1") == 0);
  CHECK(shim_config_parse(&c, "/etc/x.json",
                          "{\"agent_transport\": \"serial\", \"machine\": \"q35\", "
                          "\"vcpus\": 3, \"memory_mib\": 512, \"kernel\": \"/k\", "
                          "\"log_level\": \"debug\", \"agent_timeout_ms\": 1234}",
                          &err) == 0);
  shim_config_vm(&c, "pod1", "/run/x/pod1", &vc);
  CHECK(vc.agent_transport && strcmp(vc.agent_transport, "serial") == 0);
  CHECK(vc.machine && strcmp(vc.machine, "q35") == 0 && vc.vcpus == 3 && vc.memory_mib == 512);
  CHECK(strcmp(vc.kernel, "/k") == 0 && strcmp(vc.log_level, "debug") == 0 &&
        vc.agent_timeout_ms == 1234);
  shim_config_free(&c);
}

int main(void) {
  test_defaults();
  test_vm_config();
  test_all_keys();
  test_tee_profiles_default_to_the_tee_image();
  test_errors();
  test_load();
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
