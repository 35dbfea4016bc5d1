/* TDX evidence: {"quote": base64(DCAP quote), "cc_eventlog": …}, verified
 * through attest/ with the configured collateral. The event log is not
 * replayed (see kbs/README.md). */
#include <errno.h>
#include <string.h>

#include "kbs.h"

static void hex(json_t *o, const char *key, const uint8_t *b, size_t n) {
  char h[257];
  cf_kbs_hex(b, n, h);
  json_object_set_new(o, key, json_string(h));
}

static json_t *claims_of(const cf_tdx_result *res) {
  const cf_tdx_quote *q = &res->quote;
  json_t *body = json_object(), *header = json_object();
  if (!body || !header) {
    json_decref(body);
    json_decref(header);
    return NULL;
  }
  json_object_set_new(header, "version", json_integer(q->version));
  json_object_set_new(header, "att_key_type", json_integer(q->att_key_type));
  char tt[9];
  snprintf(tt, sizeof(tt), "%02x%02x%02x%02x", q->tee_type & 0xff, (q->tee_type >> 8) & 0xff,
           (q->tee_type >> 16) & 0xff, q->tee_type >> 24);
  json_object_set_new(header, "tee_type", json_string(tt));
  hex(header, "vendor_id", q->qe_vendor_id, 16);
  hex(header, "user_data", q->user_data, 20);
  hex(body, "mr_td", q->mrtd, 48);
  hex(body, "mr_config_id", q->mrconfigid, 48);
  hex(body, "mr_owner", q->mrowner, 48);
  hex(body, "mr_owner_config", q->mrownerconfig, 48);
  hex(body, "mr_seam", q->mrseam, 48);
  hex(body, "mrsigner_seam", q->mrsignerseam, 48);
  for (int i = 0; i < 4; i++) {
    char k[8];
    snprintf(k, sizeof(k), "rtmr_%d", i);
    hex(body, k, q->rtmr[i], 48);
  }
  hex(body, "report_data", q->report_data, 64);
  hex(body, "seam_attributes", q->seam_attributes, 8);
  hex(body, "tcb_svn", q->tee_tcb_svn, 16);
  hex(body, "td_attributes", q->td_attributes, 8);
  hex(body, "xfam", q->xfam, 8);
  return json_pack("{s:{s:o,s:o},s:{s:b},s:s,s:s}", "quote", "header", header, "body", body,
                   "td_attributes", "debug", q->td_attributes[0] & 1, "tcb_status",
                   res->overall_tcb_status[0] ? res->overall_tcb_status : "not evaluated",
                   "init_data", "");
}

/* Checks whose failure is a finding of the appraisal (hardware), not a
 * broken signature: TCB levels. */
static bool appraisal_check(const char *name) {
  return !strcmp(name, "tcb_status") || !strcmp(name, "qe_tcb_status");
}

int kbs_evidence_tdx(kbs_server *s, const json_t *ev, const kbs_binding *b, json_t **claims,
                     kbs_ear *ear, cf_error *err) {
  const char *q64 = json_string_value(json_object_get(ev, "quote"));
  uint8_t *quote = NULL;
  size_t len = 0;
  if (!q64 || cf_kbs_b64std_decode(q64, &quote, &len))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "TDX evidence needs \"quote\": base64 of the quote");
  cf_tdx_collateral coll = {
      (uint8_t *)s->tdx_coll[0], s->tdx_coll_len[0], (uint8_t *)s->tdx_coll[1], s->tdx_coll_len[1],
      (uint8_t *)s->tdx_coll[2], s->tdx_coll_len[2], (uint8_t *)s->tdx_coll[3], s->tdx_coll_len[3],
      (uint8_t *)s->tdx_coll[4], s->tdx_coll_len[4]};
  cf_tdx_result res = {0};
  cf_checks ref = {0}, hw = {0};
  pthread_mutex_lock(&s->tdx_lock);
  int r = cf_tdx_verify(s->tdx, quote, len, kbs_verify_time(s), &coll, &res, err);
  pthread_mutex_unlock(&s->tdx_lock);
  for (size_t i = 0; !r && i < res.checks.n; i++) {
    const cf_check *c = &res.checks.items[i];
    if (appraisal_check(c->name))
      cf_check_add(&hw, c->name, c->pass, "%s", c->reason);
    else if (!c->pass)
      r = cf_err_status(err, CF_PERMISSION_DENIED, "TDX quote rejected by check %s: %s", c->name, c->reason);
  }
  if (!r && !res.checks.n)
    r = cf_err_status(err, CF_PERMISSION_DENIED, "TDX quote: no checks ran");
  uint8_t want[64], mc[48];
  cf_kbs_fit(b->runtime, 48, want, 64);
  if (!r && memcmp(res.quote.report_data, want, 64))
    r = cf_err_status(err, CF_PERMISSION_DENIED,
                      "TDX report_data does not bind this nonce and tee-pubkey "
                      "(expected the SHA-384 of the canonical runtime data, zero-padded)");
  if (!r && b->has_init) {
    cf_kbs_fit(b->init, b->init_len, mc, 48);
    if (memcmp(res.quote.mrconfigid, mc, 48)) {
      char a[97], h[97];
      cf_kbs_hex(mc, 48, a);
      cf_kbs_hex(res.quote.mrconfigid, 48, h);
      r = cf_err_status(err, CF_PERMISSION_DENIED, "init-data digest %s does not match MRCONFIGID %s", a, h);
    }
  }
  if (!r) {
    if (s->reference)
      cf_reference_appraise_tdx(s->reference, &res, &ref);
    kbs_appraise(s->reference ? &ref : NULL, &hw, ear);
    *claims = claims_of(&res);
    if (*claims && b->has_init) {
      char h[129];
      cf_kbs_hex(b->init, b->init_len, h);
      json_object_set_new(*claims, "init_data", json_string(h));
    } else if (*claims) {
      json_object_del(*claims, "init_data");
    }
    if (!*claims)
      r = cf_err(err, ENOMEM, "TDX claims");
  }
  free(quote);
  cf_checks_free(&ref);
  cf_checks_free(&hw);
  cf_tdx_result_free(&res);
  return r;
}
