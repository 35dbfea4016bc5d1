/* Renders results with the field names and encodings of the shared test
 * data's expected.json: hex strings for byte fields, "0x.." for flag words. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"
#include "cli_json.h"

static void put_hex(json_object *o, const char *key, const uint8_t *b, size_t n) {
  char buf[2 * 128 + 1];
  if (n > 128)
    return;
  cf_hex(b, n, buf);
  json_object_object_add(o, key, json_object_new_string(buf));
}

static void put_int(json_object *o, const char *key, int64_t v) {
  json_object_object_add(o, key, json_object_new_int64(v));
}

static void put_str(json_object *o, const char *key, const char *s) {
  json_object_object_add(o, key, json_object_new_string(s));
}

static void put_flags(json_object *o, const char *key, uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  put_str(o, key, buf);
}

json_object *cf_json_checks(const cf_checks *c) {
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < c->n; i++) {
    json_object *e = json_object_new_object();
    put_str(e, "name", c->items[i].name);
    json_object_object_add(e, "pass", json_object_new_boolean(c->items[i].pass));
    put_str(e, "reason", c->items[i].reason);
    json_object_array_add(a, e);
  }
  return a;
}

static json_object *tcb_json(const uint8_t raw[8], enum cf_snp_product p) {
  cf_snp_tcb t;
  cf_snp_tcb_decode(raw, p, &t);
  json_object *o = json_object_new_object();
  put_int(o, "bl", t.bl);
  put_hex(o, "raw", t.raw, 8);
  put_int(o, "snp", t.snp);
  put_int(o, "tee", t.tee);
  put_int(o, "ucode", t.ucode);
  if (t.has_fmc)
    put_int(o, "fmc", t.fmc);
  return o;
}

static json_object *snp_fields(const cf_snp_report *r, enum cf_snp_product p) {
  json_object *f = json_object_new_object();
  char buf[48];
  put_hex(f, "author_key_digest", r->author_key_digest, 48);
  put_hex(f, "chip_id", r->chip_id, 64);
  snprintf(buf, sizeof(buf), "%u.%u.%u", r->committed_major, r->committed_minor, r->committed_build);
  put_str(f, "committed_fw", buf);
  json_object_object_add(f, "committed_tcb", tcb_json(r->committed_tcb, p));
  uint8_t cpuid[3] = {r->cpuid_fam, r->cpuid_mod, r->cpuid_step};
  put_hex(f, "cpuid_fam_mod_step", cpuid, 3);
  snprintf(buf, sizeof(buf), "%u.%u.%u", r->current_major, r->current_minor, r->current_build);
  put_str(f, "current_fw", buf);
  json_object_object_add(f, "current_tcb", tcb_json(r->current_tcb, p));
  put_hex(f, "family_id", r->family_id, 16);
  put_int(f, "guest_svn", r->guest_svn);
  put_hex(f, "host_data", r->host_data, 32);
  put_hex(f, "id_key_digest", r->id_key_digest, 48);
  put_hex(f, "image_id", r->image_id, 16);
  put_flags(f, "key_info_flags", r->key_info);
  json_object_object_add(f, "launch_tcb", tcb_json(r->launch_tcb, p));
  if (r->version >= 5) {
    put_flags(f, "launch_mit_vector", r->launch_mit_vector);
    put_flags(f, "current_mit_vector", r->current_mit_vector);
  }
  put_hex(f, "measurement", r->measurement, 48);
  put_flags(f, "platform_info", r->platform_info);
  put_flags(f, "policy", r->policy);
  json_object *pd = json_object_new_object();
  put_int(pd, "abi_major", (r->policy >> 8) & 0xff);
  put_int(pd, "abi_minor", r->policy & 0xff);
  put_int(pd, "debug", (r->policy >> 19) & 1);
  put_int(pd, "migrate_ma", (r->policy >> 18) & 1);
  put_int(pd, "reserved17", (r->policy >> 17) & 1);
  put_int(pd, "single_socket", (r->policy >> 20) & 1);
  put_int(pd, "smt", (r->policy >> 16) & 1);
  json_object_object_add(f, "policy_decoded", pd);
  put_hex(f, "report_data", r->report_data, 64);
  put_hex(f, "report_id", r->report_id, 32);
  put_hex(f, "report_id_ma", r->report_id_ma, 32);
  json_object_object_add(f, "reported_tcb", tcb_json(r->reported_tcb, p));
  put_int(f, "signature_algo", r->signature_algo);
  put_int(f, "signing_key", CF_SNP_SIGNING_KEY(r));
  put_int(f, "version", r->version);
  put_int(f, "vmpl", r->vmpl);
  return f;
}

static void put_time(json_object *o, const char *key, time_t t) {
  struct tm tm;
  char buf[40];
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+00:00", &tm);
  put_str(o, key, buf);
}

static json_object *snp_cert_json(const cf_snp_cert_info *c) {
  json_object *o = json_object_new_object();
  if (c->bl >= 0)
    put_int(o, "blSPL", c->bl);
  if (c->fmc >= 0)
    put_int(o, "fmcSPL", c->fmc);
  if (c->hwid_len)
    put_hex(o, "hwID", c->hwid, c->hwid_len);
  if (c->csp_id[0])
    put_str(o, "cspID", c->csp_id);
  put_str(o, "issuerCN", c->issuer_cn);
  put_time(o, "notAfter", c->not_after);
  put_time(o, "notBefore", c->not_before);
  if (c->product_name[0])
    put_str(o, "productName1", c->product_name);
  put_int(o, "serial", c->serial);
  if (c->snp >= 0)
    put_int(o, "snpSPL", c->snp);
  if (c->struct_version >= 0)
    put_int(o, "structVersion", c->struct_version);
  if (c->tee >= 0)
    put_int(o, "teeSPL", c->tee);
  if (c->ucode >= 0)
    put_int(o, "ucodeSPL", c->ucode);
  return o;
}

json_object *cf_json_snp_result(const cf_snp_result *res) {
  json_object *o = json_object_new_object();
  put_str(o, "tee", "sev-snp");
  put_str(o, "verdict", cf_checks_all_pass(&res->checks) ? "ACCEPT" : "REJECT");
  if (res->signer_parsed) {
    put_str(o, "product", cf_snp_product_name(res->product));
    put_str(o, "signer_kind", res->signer.is_vlek ? "VLEK" : "VCEK");
    json_object_object_add(o, "signer_cert_ext", snp_cert_json(&res->signer));
  }
  if (res->parsed) {
    enum cf_snp_product layout = res->product;
    if (layout == CF_SNP_PRODUCT_UNKNOWN)
      layout = cf_snp_product_from_cpuid(&res->report);
    json_object_object_add(o, "fields", snp_fields(&res->report, layout));
  }
  json_object_object_add(o, "checks", cf_json_checks(&res->checks));
  return o;
}

static void put_qe_report(json_object *f, const cf_tdx_qe_report *q) {
  put_hex(f, "qe_report.attributes", q->attributes, 16);
  put_hex(f, "qe_report.cpusvn", q->cpusvn, 16);
  put_int(f, "qe_report.isvprodid", q->isvprodid);
  put_int(f, "qe_report.isvsvn", q->isvsvn);
  put_flags(f, "qe_report.miscselect", q->miscselect);
  put_hex(f, "qe_report.mrenclave", q->mrenclave, 32);
  put_hex(f, "qe_report.mrsigner", q->mrsigner, 32);
}

static json_object *tdx_fields(const cf_tdx_result *res) {
  const cf_tdx_quote *q = &res->quote;
  json_object *f = json_object_new_object();
  put_int(f, "att_key_type", q->att_key_type);
  put_hex(f, "attestation_key", q->attestation_key, 64);
  if (q->version >= 5) {
    put_int(f, "body_size", q->body_size);
    put_int(f, "body_type", q->body_type);
  }
  put_int(f, "chain_cert_count", (int64_t)res->chain_cert_count);
  put_int(f, "file_len", (int64_t)q->file_len);
  if (res->pck_parsed) {
    put_hex(f, "fmspc", res->pck.fmspc, 6);
    put_hex(f, "pceid", res->pck.pceid, 2);
  }
  put_int(f, "inner_cert_type", q->inner_cert_type);
  put_hex(f, "mrconfigid", q->mrconfigid, 48);
  put_hex(f, "mrowner", q->mrowner, 48);
  put_hex(f, "mrownerconfig", q->mrownerconfig, 48);
  put_hex(f, "mrseam", q->mrseam, 48);
  if (q->tdx15)
    put_hex(f, "mrservicetd", q->mrservicetd, 48);
  put_hex(f, "mrsignerseam", q->mrsignerseam, 48);
  put_hex(f, "mrtd", q->mrtd, 48);
  put_int(f, "outer_cert_data_size", q->outer_cert_data_size);
  put_int(f, "outer_cert_type", q->outer_cert_type);
  put_int(f, "pce_svn", q->pce_svn);
  put_int(f, "qe_auth_data_len", q->qe_auth_data_len);
  put_qe_report(f, &q->qe_report);
  put_int(f, "qe_svn", q->qe_svn);
  put_hex(f, "qe_vendor_id", q->qe_vendor_id, 16);
  put_int(f, "quote_total_used", (int64_t)q->total_used);
  put_hex(f, "report_data", q->report_data, 64);
  static const char *rt[] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  for (int i = 0; i < 4; i++)
    put_hex(f, rt[i], q->rtmr[i], 48);
  put_hex(f, "seam_attributes", q->seam_attributes, 8);
  put_int(f, "sig_data_len", q->sig_data_len);
  put_hex(f, "td_attributes", q->td_attributes, 8);
  put_int(f, "td_debug", q->td_attributes[0] & 1);
  put_hex(f, "tee_tcb_svn", q->tee_tcb_svn, 16);
  if (q->tdx15)
    put_hex(f, "tee_tcb_svn2", q->tee_tcb_svn2, 16);
  put_flags(f, "tee_type", q->tee_type);
  put_hex(f, "user_data", q->user_data, 20);
  put_int(f, "version", q->version);
  put_hex(f, "xfam", q->xfam, 8);
  return f;
}

static json_object *level_json(const cf_tdx_tcb_level_out *l, bool module) {
  if (!l->found)
    return NULL;
  json_object *o = json_object_new_object(), *adv = json_object_new_array();
  for (size_t i = 0; i < l->n_advisory; i++)
    json_object_array_add(adv, json_object_new_string(l->advisory_ids[i]));
  json_object_object_add(o, "advisoryIDs", adv);
  if (module) {
    put_str(o, "id", l->id);
    put_int(o, "isvsvn", l->isvsvn);
  }
  put_str(o, "status", l->status);
  if (!module)
    put_str(o, "tcbDate", l->tcb_date);
  return o;
}

json_object *cf_json_tdx_result(const cf_tdx_result *res) {
  json_object *o = json_object_new_object();
  put_str(o, "tee", "tdx");
  put_str(o, "verdict", cf_checks_all_pass(&res->checks) ? "ACCEPT" : "REJECT");
  if (res->parsed) {
    json_object_object_add(o, "fields", tdx_fields(res));
    json_object *subj = json_object_new_array();
    for (size_t i = 0; i < res->chain_cert_count && i < 3; i++)
      json_object_array_add(subj, json_object_new_string(res->chain_subjects[i]));
    json_object_object_add(o, "pck_chain_subjects", subj);
    if (res->chain_not_before[0]) {
      json_object *w = json_object_new_array();
      json_object_array_add(w, json_object_new_string(res->chain_not_before));
      json_object_array_add(w, json_object_new_string(res->chain_not_after));
      json_object_object_add(o, "pck_chain_valid_window", w);
    }
    if (res->pck_parsed) {
      json_object *p = json_object_new_object(), *comps = json_object_new_array();
      put_hex(p, "cpusvn", res->pck.cpusvn, 16);
      put_hex(p, "fmspc", res->pck.fmspc, 6);
      put_hex(p, "pceid", res->pck.pceid, 2);
      put_int(p, "pcesvn", res->pck.pcesvn);
      for (int i = 0; i < 16; i++)
        json_object_array_add(comps, json_object_new_int(res->pck.comp_svn[i]));
      json_object_object_add(p, "sgx_tcb_comp_svn", comps);
      json_object_object_add(o, "pck_tcb", p);
    }
    if (res->chain_cert_count == 3)
      put_hex(o, "root_sha256", res->root_sha256, 32);
  }
  if (res->collateral_evaluated || res->qe_tcb_status[0]) {
    json_object *t = json_object_new_object();
    if (res->collateral_evaluated) {
      put_str(t, "overall_tcb_status", res->overall_tcb_status);
      json_object_object_add(t, "platform_tcb_level", level_json(&res->platform_level, false));
      if (res->module_evaluated)
        json_object_object_add(t, "tdx_module_tcb_level", level_json(&res->module_level, true));
    }
    if (res->qe_tcb_status[0])
      put_str(t, "qe_tcb_status", res->qe_tcb_status);
    json_object_object_add(o, "tcb_evaluation", t);
  }
  json_object_object_add(o, "checks", cf_json_checks(&res->checks));
  return o;
}
