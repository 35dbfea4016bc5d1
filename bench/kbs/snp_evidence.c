/* The SNP evidence the benchmarks send: a real report in its serde JSON form. */
#include <jansson.h>
#include <stdint.h>
#include <stddef.h>

#include "snp_evidence.h"

/* The serde form of the report (kbs-protocol.md B4), with cert_chain. */
char *bench_snp_evidence(const uint8_t *r, const uint8_t *vcek, size_t vlen) {
  json_t *ar = json_object();
#define ARR(key, off, n)                                              \
  do {                                                                \
    json_t *a = json_array();                                         \
    for (int i = 0; i < (n); i++)                                     \
      json_array_append_new(a, json_integer(r[(off) + i]));           \
    json_object_set_new(ar, key, a);                                  \
  } while (0)
#define LE(key, off, n)                                               \
  do {                                                                \
    uint64_t v = 0;                                                   \
    for (int i = (n) - 1; i >= 0; i--)                                \
      v = v << 8 | r[(off) + i];                                      \
    json_object_set_new(ar, key, json_integer((json_int_t)v));        \
  } while (0)
#define TCB(key, o)                                                   \
  json_object_set_new(ar, key, json_pack("{s:n,s:i,s:i,s:i,s:i}", "fmc", "bootloader", r[o], \
                                         "tee", r[(o) + 1], "snp", r[(o) + 6], "microcode", r[(o) + 7]))
  LE("version", 0, 4); LE("guest_svn", 4, 4); LE("policy", 8, 8); ARR("family_id", 0x10, 16);
  ARR("image_id", 0x20, 16); LE("vmpl", 0x30, 4); LE("sig_algo", 0x34, 4); TCB("current_tcb", 0x38);
  LE("plat_info", 0x40, 8); LE("key_info", 0x48, 4); ARR("report_data", 0x50, 64);
  ARR("measurement", 0x90, 48); ARR("host_data", 0xC0, 32); ARR("id_key_digest", 0xE0, 48);
  ARR("author_key_digest", 0x110, 48); ARR("report_id", 0x140, 32); ARR("report_id_ma", 0x160, 32);
  TCB("reported_tcb", 0x180); LE("cpuid_fam_id", 0x188, 1); LE("cpuid_mod_id", 0x189, 1);
  LE("cpuid_step", 0x18A, 1); ARR("chip_id", 0x1A0, 64); TCB("committed_tcb", 0x1E0);
  json_object_set_new(ar, "current", json_pack("{s:i,s:i,s:i}", "build", r[0x1E8], "minor", r[0x1E9], "major", r[0x1EA]));
  json_object_set_new(ar, "committed", json_pack("{s:i,s:i,s:i}", "build", r[0x1EC], "minor", r[0x1ED], "major", r[0x1EE]));
  TCB("launch_tcb", 0x1F0);
  json_t *sig = json_object();
  json_t *rr = json_array(), *ss = json_array();
  for (int i = 0; i < 72; i++) {
    json_array_append_new(rr, json_integer(r[0x2A0 + i]));
    json_array_append_new(ss, json_integer(r[0x2E8 + i]));
  }
  json_object_set_new(sig, "r", rr);
  json_object_set_new(sig, "s", ss);
  json_object_set_new(ar, "signature", sig);
  json_t *der = json_array();
  for (size_t i = 0; i < vlen; i++)
    json_array_append_new(der, json_integer(vcek[i]));
  json_t *ev = json_pack("{s:o,s:[{s:s,s:o}]}", "attestation_report", ar, "cert_chain", "cert_type", "VCEK", "data", der);
  char *s = json_dumps(ev, JSON_COMPACT);
  json_decref(ev);
  return s;
}

