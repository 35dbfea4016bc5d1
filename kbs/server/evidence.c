/* Evidence dispatch by TEE, and the `sample` verifier (no hardware: the
 * runtime-data digest in clear), accepted only when configured. */
#include <errno.h>
#include <string.h>

#include "kbs.h"

time_t kbs_verify_time(const kbs_server *s) {
  return s->cfg.has_verify_at ? s->cfg.verify_at : time(NULL);
}

/* {"svn": "1", "report_data": base64(digest)} and, a coffer extension for
 * tests of the init-data binding, "init_data": hex of the digest fitted to
 * 32 bytes (what HOST_DATA would hold). */
static int sample(const kbs_server *s, const json_t *ev, const kbs_binding *b, json_t **claims,
                  kbs_ear *ear, cf_error *err) {
  const char *svn = json_string_value(json_object_get(ev, "svn"));
  const char *rd = json_string_value(json_object_get(ev, "report_data"));
  json_t *id = json_object_get(ev, "init_data");
  if (!json_is_object(ev) || !svn || !rd || (id && !json_is_string(id)))
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "sample evidence must be {\"svn\": str, \"report_data\": base64}");
  uint8_t *raw = NULL;
  size_t len = 0;
  if (cf_kbs_b64std_decode(rd, &raw, &len))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "sample report_data is not base64");
  bool ok = len == 48 && !memcmp(raw, b->runtime, 48);
  free(raw);
  if (!ok)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "report_data does not bind this nonce and tee-pubkey "
                         "(expected SHA-384 of the canonical runtime data)");
  char want[65];
  uint8_t fit[32];
  if (b->has_init) {
    cf_kbs_fit(b->init, b->init_len, fit, 32);
    cf_kbs_hex(fit, 32, want);
    if (!id || strcasecmp(json_string_value(id), want))
      return cf_err_status(err, CF_PERMISSION_DENIED,
                           "init-data digest %s does not match the evidence's init_data %s", want,
                           id ? json_string_value(id) : "(absent)");
  }
  char rdhex[97];
  cf_kbs_hex(b->runtime, 48, rdhex);
  *claims = json_pack("{s:s,s:s}", "svn", svn, "report_data", rdhex);
  if (*claims && b->has_init)
    json_object_set_new(*claims, "init_data", json_string(want));
  kbs_ear_unappraised(ear);
  (void)s;
  return *claims ? 0 : cf_err(err, ENOMEM, "sample claims");
}

int kbs_evidence_verify(kbs_server *s, const char *tee, const char *text, size_t len,
                        const kbs_binding *b, json_t **claims, kbs_ear *ear, cf_error *err) {
  if (!strcmp(tee, "snp"))
    return kbs_evidence_snp(s, text, len, b, claims, ear, err);
  bool sample_ok = !strcmp(tee, "sample") && (s->cfg.sample_enabled || s->cfg.dev);
  if (strcmp(tee, "tdx") && !sample_ok)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "tee %s is not accepted", tee);
  json_error_t je;
  json_t *ev = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!ev)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s evidence: malformed JSON at line %d column %d: %s",
                         tee, je.line, je.column, je.text);
  int r = sample_ok ? sample(s, ev, b, claims, ear, err) : kbs_evidence_tdx(s, ev, b, claims, ear, err);
  json_decref(ev);
  return r;
}
