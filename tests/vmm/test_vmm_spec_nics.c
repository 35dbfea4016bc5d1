/* The VM spec's NICs: round trip, bad values refused naming the field, and
 * the domain XML's <interface type='ethernet'> with managed='no'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain_xml.h"
#include "spec.h"

#include "expect.h"

#define GOOD                                                                                  \
  "{\"pod_id\":\"p1\",\"profile\":\"plain\",\"machine\":\"microvm\",\"accel\":\"tcg\","     \
  "\"kernel\":\"/k\",\"state_dir\":\"/s\",\"console_log\":\"/s/c\",\"agent_socket\":\"/s/a\""

static int parse(vm_spec *s, const char *json, cf_error *err) {
  vm_spec_init(s);
  int r = vm_spec_parse_json(s, json, err);
  return r == 0 ? vm_spec_validate(s, err) : r;
}

static void bad(const char *json, const char *needle) {
  vm_spec s;
  cf_error err = {0};
  int r = parse(&s, json, &err);
  EXPECT(r < 0, "accepted: %s", json);
  EXPECT(r >= 0 || strstr(err.msg, needle), "error \"%s\" lacks \"%s\"", err.msg, needle);
  vm_spec_free(&s);
}

int main(void) {
  vm_spec s, t;
  cf_error err = {0};
  EXPECT(parse(&s, GOOD ",\"nics\":[{\"tap\":\"cof0123456789a0\",\"mac\":\"02:aa:bb:cc:dd:ee\",\"mtu\":1450}]}",
               &err) == 0, "%s", err.msg);
  EXPECT(s.nnics == 1 && s.nics[0].mtu == 1450 && !strcmp(s.nics[0].tap, "cof0123456789a0"), "nic lost");
  char *json = vm_spec_to_json(&s, &err);
  EXPECT(json && parse(&t, json, &err) == 0 && t.nnics == 1 && !strcmp(t.nics[0].mac, "02:aa:bb:cc:dd:ee"),
         "round trip: %s", err.msg);
  const domain_xml_host no_vhost = {.vhost_net = false}, vhost = {.vhost_net = true};
  char *xml = domain_xml_build(&s, &no_vhost, &err);
  EXPECT(xml, "xml: %s", err.msg);
  EXPECT(xml && strstr(xml, "<interface type=\"ethernet\">") &&
             strstr(xml, "<mac address=\"02:aa:bb:cc:dd:ee\"/>") &&
             strstr(xml, "<target dev=\"cof0123456789a0\" managed=\"no\"/>") &&
             strstr(xml, "<model type=\"virtio\"/>") && strstr(xml, "<mtu size=\"1450\"/>") &&
             strstr(xml, "<driver name=\"qemu\" queues=\"1\"/>"),
         "domain XML lacks the interface (QEMU's backend):\n%s", xml ? xml : "");
  free(xml);
  /* a host with /dev/vhost-net: the in-kernel backend, the rest unchanged */
  xml = domain_xml_build(&s, &vhost, &err);
  EXPECT(xml && strstr(xml, "<driver name=\"vhost\" queues=\"1\"/>") && !strstr(xml, "name=\"qemu\" queues") &&
             strstr(xml, "<target dev=\"cof0123456789a0\" managed=\"no\"/>"),
         "domain XML without the vhost driver:\n%s", xml ? xml : "");
  free(xml);
  /* NULL: this host's fact */
  bool here = access("/dev/vhost-net", R_OK | W_OK) == 0;
  xml = domain_xml_build(&s, NULL, &err);
  EXPECT(xml && strstr(xml, here ? "<driver name=\"vhost\"" : "<driver name=\"qemu\" queues"),
         "probed driver is not %s's:\n%s", here ? "vhost" : "qemu", xml ? xml : "");
  free(xml);
  /* TEE: vhost keeps the IOMMU platform flag */
  free(s.profile);
  s.profile = strdup("sev-snp");
  xml = domain_xml_build(&s, &vhost, &err);
  EXPECT(xml && strstr(xml, "<driver name=\"vhost\" queues=\"1\" iommu=\"on\"/>"),
         "TEE vhost NIC without iommu:\n%s", xml ? xml : "");
  free(xml);
  free(json);
  vm_spec_free(&s);
  vm_spec_free(&t);
  /* without NICs the JSON keeps its earlier form */
  EXPECT(parse(&s, GOOD "}", &err) == 0, "%s", err.msg);
  json = vm_spec_to_json(&s, &err);
  EXPECT(json && !strstr(json, "nics"), "empty nics emitted");
  free(json);
  vm_spec_free(&s);

  bad(GOOD ",\"nics\":{}}", "\"nics\" must be an array");
  bad(GOOD ",\"nics\":[{\"tap\":\"x\",\"mac\":\"02:aa:bb:cc:dd\"}]}", "mac");
  bad(GOOD ",\"nics\":[{\"tap\":\"a/b\",\"mac\":\"02:aa:bb:cc:dd:ee\"}]}", "tap");
  bad(GOOD ",\"nics\":[{\"tap\":\"x' onload='\",\"mac\":\"02:aa:bb:cc:dd:ee\"}]}", "tap");
  bad(GOOD ",\"nics\":[{\"tap\":\"0123456789abcdef\",\"mac\":\"02:aa:bb:cc:dd:ee\"}]}", "tap");
  bad(GOOD ",\"nics\":[{\"tap\":\"t\",\"mac\":\"02:aa:bb:cc:dd:ee\",\"mtu\":20}]}", "mtu");
  bad(GOOD ",\"nics\":[{\"tap\":\"t\",\"mac\":\"02:aa:bb:cc:dd:ee\",\"mtu\":\"9000\"}]}", "mtu");
  bad(GOOD ",\"nics\":[{\"tap\":\"t\",\"mac\":\"02:aa:bb:cc:dd:ee\",\"queues\":2}]}", "unknown key nics[].queues");
  bad(GOOD ",\"nics\":[{},{},{},{},{}]}", "more than");
  if (!failed)
    printf("PASS\n");
  return failed;
}
