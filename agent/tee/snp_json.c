/* The SNP evidence JSON the broker parses (kbs-protocol.md B4): the serde
 * form of the report, which the verifier re-encodes to bytes before checking
 * the signature; so every byte the form cannot carry must be zero. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_internal.h"

static uint64_t le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;)
    v = v << 8 | p[i];
  return v;
}

static json_object *bytes(const uint8_t *p, size_t n) {
  json_object *a = json_object_new_array_ext((int)n);
  for (size_t i = 0; a && i < n; i++)
    json_object_array_add(a, json_object_new_int(p[i]));
  return a;
}

/* Byte positions of a TCB's fields: Milan/Genoa have no FMC. */
static const int tcb_milan[5] = {-1, 0, 1, 6, 7}, tcb_turin[5] = {0, 1, 2, 3, 7};
static const char *const tcb_names[5] = {"fmc", "bootloader", "tee", "snp", "microcode"};

static json_object *tcb(const uint8_t *p, bool turin) {
  const int *pos = turin ? tcb_turin : tcb_milan;
  json_object *o = json_object_new_object();
  for (int i = 0; o && i < 5; i++)
    json_object_object_add(o, tcb_names[i], pos[i] < 0 ? NULL : json_object_new_int(p[pos[i]]));
  return o;
}

static json_object *fw_version(const uint8_t *p) {
  json_object *o = json_object_new_object();
  if (o) {
    json_object_object_add(o, "major", json_object_new_int(p[2]));
    json_object_object_add(o, "minor", json_object_new_int(p[1]));
    json_object_object_add(o, "build", json_object_new_int(p[0]));
  }
  return o;
}

/* Marks what the serde form carries; the rest must be zero. */
static void cover(bool *m, size_t off, size_t n) {
  memset(m + off, 1, n);
}

static void cover_tcb(bool *m, size_t off, bool turin) {
  const int *pos = turin ? tcb_turin : tcb_milan;
  for (int i = 0; i < 5; i++)
    if (pos[i] >= 0)
      m[off + (size_t)pos[i]] = true;
}

static int check_reserved(const uint8_t *r, uint32_t version, bool turin, cf_error *err) {
  bool m[TEE_SNP_REPORT_SIZE] = {0};
  cover(m, 0x00, 0x38);             /* version … sig_algo */
  cover(m, 0x40, 0x0C);             /* plat_info, key_info */
  cover(m, 0x50, 0x180 - 0x50);     /* report_data … report_id_ma */
  if (version >= 3)
    cover(m, 0x188, 3);             /* cpuid fam/mod/step */
  cover(m, 0x1A0, 64);              /* chip_id */
  cover(m, 0x1E8, 3);               /* current */
  cover(m, 0x1EC, 3);               /* committed */
  if (version >= 5)
    cover(m, 0x1F8, 16);            /* mit vectors */
  cover(m, 0x2A0, 144);             /* signature r, s */
  const size_t tcbs[] = {0x38, 0x180, 0x1E0, 0x1F0};
  for (size_t i = 0; i < 4; i++)
    cover_tcb(m, tcbs[i], turin);
  for (size_t i = 0; i < TEE_SNP_REPORT_SIZE; i++)
    if (!m[i] && r[i])
      return cf_err(err, EPROTO,
                    "SNP report byte 0x%zx (reserved for version %u) is 0x%02x: the evidence "
                    "form cannot carry it, so the signature could not be checked",
                    i, version, r[i]);
  return 0;
}

static json_object *report(const uint8_t *r, uint32_t version, bool turin) {
  json_object *o = json_object_new_object();
  if (!o)
    return NULL;
#define U(key, off, n) json_object_object_add(o, key, json_object_new_uint64(le(r + (off), n)))
#define B(key, off, n) json_object_object_add(o, key, bytes(r + (off), n))
  U("version", 0x00, 4);
  U("guest_svn", 0x04, 4);
  U("policy", 0x08, 8);
  B("family_id", 0x10, 16);
  B("image_id", 0x20, 16);
  U("vmpl", 0x30, 4);
  U("sig_algo", 0x34, 4);
  json_object_object_add(o, "current_tcb", tcb(r + 0x38, turin));
  U("plat_info", 0x40, 8);
  U("key_info", 0x48, 4);
  B("report_data", 0x50, 64);
  B("measurement", 0x90, 48);
  B("host_data", 0xC0, 32);
  B("id_key_digest", 0xE0, 48);
  B("author_key_digest", 0x110, 48);
  B("report_id", 0x140, 32);
  B("report_id_ma", 0x160, 32);
  json_object_object_add(o, "reported_tcb", tcb(r + 0x180, turin));
  const char *cpuid[] = {"cpuid_fam_id", "cpuid_mod_id", "cpuid_step"};
  for (int i = 0; i < 3; i++)
    json_object_object_add(o, cpuid[i], version >= 3 ? json_object_new_int(r[0x188 + i]) : NULL);
  B("chip_id", 0x1A0, 64);
  json_object_object_add(o, "committed_tcb", tcb(r + 0x1E0, turin));
  json_object_object_add(o, "current", fw_version(r + 0x1E8));
  json_object_object_add(o, "committed", fw_version(r + 0x1EC));
  json_object_object_add(o, "launch_tcb", tcb(r + 0x1F0, turin));
  if (version >= 5) {
    U("launch_mit_vector", 0x1F8, 8);
    U("current_mit_vector", 0x200, 8);
  } else {
    json_object_object_add(o, "launch_mit_vector", NULL);
    json_object_object_add(o, "current_mit_vector", NULL);
  }
  json_object *sig = json_object_new_object();
  if (sig) {
    json_object_object_add(sig, "r", bytes(r + 0x2A0, 72));
    json_object_object_add(sig, "s", bytes(r + 0x2E8, 72));
  }
  json_object_object_add(o, "signature", sig);
#undef U
#undef B
  return o;
}

static json_object *cert_type(const tee_snp_cert *c) {
  static const char *const names[] = {"ARK", "ASK", "VCEK", "VLEK", "CRL"};
  if (c->kind != TEE_SNP_CERT_OTHER)
    return json_object_new_string(names[c->kind]);
  const uint8_t *g = c->guid;
  char s[37];
  snprintf(s, sizeof(s),
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[0], g[1],
           g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
  json_object *o = json_object_new_object();
  if (o)
    json_object_object_add(o, "OTHER", json_object_new_string(s));
  return o;
}

int tee_snp_evidence_json(const uint8_t rep[TEE_SNP_REPORT_SIZE], const tee_snp_cert *certs,
                          size_t n_certs, char **json, cf_error *err) {
  uint32_t version = (uint32_t)le(rep, 4);
  /* The verifier's rule for the TCB layout: family 0x1A is Turin. */
  bool turin = version >= 3 && rep[0x188] == 0x1A;
  int r = check_reserved(rep, version, turin, err);
  if (r)
    return r;
  json_object *ev = json_object_new_object(), *chain = NULL;
  if (!ev)
    return cf_err(err, ENOMEM, "SNP evidence");
  json_object_object_add(ev, "attestation_report", report(rep, version, turin));
  if (n_certs) {
    chain = json_object_new_array();
    for (size_t i = 0; chain && i < n_certs; i++) {
      json_object *e = json_object_new_object();
      if (!e)
        break;
      json_object_object_add(e, "cert_type", cert_type(&certs[i]));
      json_object_object_add(e, "data", bytes(certs[i].data, certs[i].len));
      json_object_array_add(chain, e);
    }
  }
  json_object_object_add(ev, "cert_chain", chain);
  const char *s = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);
  *json = s ? strdup(s) : NULL;
  json_object_put(ev);
  return *json ? 0 : cf_err(err, ENOMEM, "SNP evidence");
}
