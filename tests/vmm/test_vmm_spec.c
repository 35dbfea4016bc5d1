/* The VM spec JSON: what the shim writes, coffer-vmm reads back unchanged;
 * malformed or inconsistent specs are clear errors naming the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

#include "expect.h"

#define GOOD                                                                                  \
  "{\"pod_id\":\"p1\",\"profile\":\"plain\",\"machine\":\"microvm\",\"accel\":\"tcg\","     \
  "\"kernel\":\"/k\",\"state_dir\":\"/s\",\"console_log\":\"/s/c\",\"agent_socket\":\"/s/a\""

static void bad(const char *json, const char *needle) {
  vm_spec s;
  vm_spec_init(&s);
  cf_error err = {0};
  int r = vm_spec_parse_json(&s, json, &err);
  if (r == 0)
    r = vm_spec_validate(&s, &err);
  EXPECT(r < 0, "accepted: %s", json);
  EXPECT(r >= 0 || strstr(err.msg, needle), "error \"%s\" lacks \"%s\" for %s", err.msg, needle, json);
  vm_spec_free(&s);
}

int main(void) {
  vm_spec s;
  vm_spec_init(&s);
  cf_error err = {0};
  const char *full = "{\"pod_id\":\"p1\",\"profile\":\"sev-snp\",\"machine\":\"q35\",\"accel\":\"kvm\","
                     "\"kernel\":\"/k\",\"initrd\":\"/i\",\"firmware\":\"/f\",\"cmdline\":\"a b\","
                     "\"vcpus\":3,\"memory_mib\":640,\"state_dir\":\"/s\",\"console_log\":\"/s/c\","
                     "\"vsock_cid\":0,\"tcg_cache_mib\":128,\"disks\":[{\"path\":\"/d0\",\"serial\":\"cfslot-0\",\"readonly\":true}],"
                     "\"init_data_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                     "\"snp_policy\":\"0x30000\",\"snp_cbitpos\":47}";
  EXPECT(vm_spec_parse_json(&s, full, &err) == 0, "%s", err.msg);
  EXPECT(vm_spec_validate(&s, &err) == 0, "%s", err.msg);
  char *json = vm_spec_to_json(&s, &err);
  vm_spec t;
  vm_spec_init(&t);
  EXPECT(json && vm_spec_parse_json(&t, json, &err) == 0, "re-parse: %s", err.msg);
  char *again = vm_spec_to_json(&t, &err);
  EXPECT(json && again && !strcmp(json, again), "round trip differs:\n%s\n%s", json, again);
  EXPECT(t.vcpus == 3 && t.memory_mib == 640 && t.ndisks == 1 && t.disks[0].readonly &&
             t.snp_cbitpos == 47 && t.vsock_cid == 0 && t.tcg_cache_mib == 128 && !strcmp(t.disks[0].serial, "cfslot-0"),
         "fields lost in the round trip");
  free(json);
  free(again);
  vm_spec_free(&s);
  vm_spec_free(&t);

  bad("not json", "invalid JSON");
  bad("[1]", "object");
  bad(GOOD ",\"bogus\":1}", "unknown key \"bogus\"");
  bad(GOOD ",\"vcpus\":\"2\"}", "\"vcpus\" must be an integer");
  bad(GOOD ",\"vcpus\":0}", "vcpus");
  bad(GOOD ",\"memory_mib\":1}", "memory_mib");
  bad(GOOD ",\"tcg_cache_mib\":4}", "tcg_cache_mib");
  bad(GOOD ",\"tcg_cache_mib\":8192}", "tcg_cache_mib");
  bad(GOOD ",\"profile\":\"weird\"}", "profile");
  bad(GOOD ",\"machine\":\"pc\"}", "machine");
  bad(GOOD ",\"kernel\":\"relative\"}", "kernel");
  bad(GOOD ",\"agent_socket\":\"\"}", "agent channel");
  bad(GOOD ",\"vsock_cid\":2}", "vsock_cid");
  bad(GOOD ",\"profile\":\"sev-snp\",\"machine\":\"q35\",\"accel\":\"kvm\"}", "firmware");
  bad(GOOD ",\"profile\":\"sev-snp\",\"machine\":\"microvm\",\"accel\":\"kvm\",\"firmware\":\"/f\",\"snp_policy\":\"0x1\"}",
      "q35");
  bad(GOOD ",\"profile\":\"tdx\",\"machine\":\"q35\",\"accel\":\"tcg\",\"firmware\":\"/f\",\"tdx_policy\":\"0x1\"}",
      "KVM");
  bad(GOOD ",\"profile\":\"tdx\",\"machine\":\"q35\",\"accel\":\"kvm\",\"firmware\":\"/f\",\"tdx_policy\":\"1\"}",
      "tdx_policy");
  bad(GOOD ",\"profile\":\"sev-snp\",\"machine\":\"q35\",\"accel\":\"kvm\",\"firmware\":\"/f\","
      "\"snp_policy\":\"0x30000\",\"share_dir\":\"/x\",\"virtiofsd\":\"/v\"}",
      "no shared filesystem");
  bad(GOOD ",\"init_data_sha256\":\"abc\"}", "init_data_sha256");
  bad(GOOD ",\"init_data_path\":\"relative\"}", "init_data_path");
  bad(GOOD ",\"disks\":[{\"path\":\"/d\",\"serial\":\"012345678901234567890\"}]}", "serial");
  bad(GOOD ",\"disks\":{}}", "array");
  bad(GOOD ",\"pod_id\":\"x/y\"}", "pod id");
  if (!failed)
    printf("PASS spec\n");
  return failed;
}
