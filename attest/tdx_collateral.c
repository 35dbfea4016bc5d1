/* TDX collateral from Intel PCS: TCB info (v3), QE identity (v2), PCK and
 * root CRLs, and the TCB signing chain. Signatures, validity windows,
 * revocation and the TCB status of the quote's platform and TDX module.
 *
 * TCB matching: the first tcbLevel where all 16 PCK SGX components and the
 * PCESVN are >= the level's, and TEE_TCB_SVN[i] >= tdxtcbcomponents[i] (from
 * index 2 when TEE_TCB_SVN[1] > 0, in which case the TDX module identity
 * "TDX_%02X" % TEE_TCB_SVN[1] is matched with isvsvn = TEE_TCB_SVN[0]). The
 * overall status is the platform's, OutOfDate when the module's is. */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"

#define NO_PLATFORM_LEVEL "REJECT: no matching platform TCB level (TCB not supported)"
#define NO_MODULE_LEVEL "REJECT: no matching TDX module TCB level"

static const char *const STATUSES[] = {
    "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
    "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"};

static bool known_status(const char *s) {
  for (size_t i = 0; i < sizeof(STATUSES) / sizeof(STATUSES[0]); i++)
    if (!strcmp(s, STATUSES[i]))
      return true;
  return false;
}

static json_object *get(json_object *o, const char *key, json_type t) {
  json_object *v;
  if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
    return NULL;
  return v;
}

static const char *get_str(json_object *o, const char *key) {
  json_object *v = get(o, key, json_type_string);
  return v ? json_object_get_string(v) : NULL;
}

static long get_int(json_object *o, const char *key) {
  json_object *v = get(o, key, json_type_int);
  if (!v)
    return -1;
  int64_t x = json_object_get_int64(v);
  return x < 0 || x > 65535 ? -1 : (long)x;
}

static bool get_hex(json_object *o, const char *key, uint8_t *out, size_t n) {
  return cf_unhex(get_str(o, key), out, n) == 0;
}

/* A PCS document {"<key>": {...}, "signature": "<hex r||s>"}: parsed, with
 * the raw bytes of the signed body located. */
typedef struct signed_doc {
  json_object *root, *body;
  const char *span;
  size_t span_len;
  uint8_t sig[64];
} signed_doc;

static int load_signed_doc(const uint8_t *buf, size_t len, const char *key, signed_doc *d,
                           cf_error *err) {
  memset(d, 0, sizeof(*d));
  if (len > (1u << 22))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "document of %zu bytes is too large", len);
  json_tokener *tok = json_tokener_new();
  if (!tok)
    return cf_err(err, ENOMEM, "parsing JSON");
  d->root = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  while (used < len && (buf[used] == ' ' || buf[used] == '\n' || buf[used] == '\r' ||
                        buf[used] == '\t'))
    used++;
  if (!d->root || jerr != json_tokener_success || used != len)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "not a JSON document (%s)",
                         json_tokener_error_desc(jerr));
  d->body = get(d->root, key, json_type_object);
  if (!d->body)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "no \"%s\" object", key);
  if (!get_hex(d->root, "signature", d->sig, 64))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"signature\" is not 128 hex digits");
  if (cf_json_top_value_span((const char *)buf, len, key, &d->span, &d->span_len))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "cannot locate the signed \"%s\" text", key);
  return 0;
}

static void fresh_check(cf_checks *ck, const char *name, json_object *body, time_t at) {
  const char *is = get_str(body, "issueDate"), *nu = get_str(body, "nextUpdate");
  time_t ti, tn;
  if (!is || !nu || cf_parse_rfc3339(is, &ti) || cf_parse_rfc3339(nu, &tn)) {
    cf_check_add(ck, name, false, "issueDate/nextUpdate missing or not RFC 3339");
    return;
  }
  bool ok = ti <= at && at <= tn;
  cf_check_add(ck, name, ok, "issued %s, next update %s: %s", is, nu,
               ok ? "current at the verification time"
                  : at < ti ? "issued after the verification time" : "stale at the verification time");
}

static void sig_check(cf_checks *ck, const char *name, const signed_doc *d, EVP_PKEY *key,
                      const char *what) {
  if (!key) {
    cf_check_add(ck, name, false, "no usable TCB signing certificate to verify the %s", what);
    return;
  }
  bool ok = cf_ecdsa_verify_raw(key, EVP_sha256(), (const uint8_t *)d->span, d->span_len, d->sig, 32);
  cf_check_add(ck, name, ok, "ECDSA P-256 signature over the %zu-byte %s body %s", d->span_len,
               what, ok ? "verifies with the TCB signing key" : "does not verify with the TCB signing key");
}

/* ---- TCB signing chain ---- */

static EVP_PKEY *signing_key(const cf_tdx_collateral *c, X509 *root, time_t at, cf_checks *ck) {
  if (!c->tcb_signing_chain) {
    cf_check_add(ck, "tcb_signing_chain_valid", false, "no TCB signing chain was given");
    return NULL;
  }
  STACK_OF(X509) *sk = cf_x509_load_all(c->tcb_signing_chain, c->tcb_signing_chain_len);
  if (!sk) {
    cf_check_add(ck, "tcb_signing_chain_valid", false, "TCB signing chain holds no certificate");
    return NULL;
  }
  X509 *signer = sk_X509_value(sk, 0);
  uint8_t pin[32], fp[32];
  cf_x509_sha256(root, pin);
  bool roots_ok = true;
  for (int i = 1; i < sk_X509_num(sk); i++) {
    cf_x509_sha256(sk_X509_value(sk, i), fp);
    roots_ok = roots_ok && memcmp(fp, pin, 32) == 0;
  }
  char cn[64], ok_msg[160];
  cf_error serr = {0}, aerr = {0};
  bool ok = cf_x509_signed_by(signer, root, &serr) == 0;
  bool alg = cf_x509_sig_is_ecdsa_sha256(signer, &aerr) == 0;
  /* Only Intel's TCB signing certificate may sign collateral, not any CA
   * under the root (a PCK CA key must not vouch for TCB levels). */
  cf_x509_cn(X509_get_subject_name(signer), cn, sizeof(cn));
  bool role = strcmp(cn, "Intel SGX TCB Signing") == 0;
  char rcn[64];
  cf_x509_cn(X509_get_subject_name(root), rcn, sizeof(rcn));
  snprintf(ok_msg, sizeof(ok_msg), "'%s' is signed by '%s'", cn, rcn);
  cf_check_add(ck, "tcb_signing_chain_valid", ok && alg && roots_ok && role, "%s",
               !roots_ok ? "the chain carries a root other than the pinned Intel SGX Root CA"
               : !role ? "the first certificate is not 'Intel SGX TCB Signing'"
               : ok && !alg ? aerr.msg : ok ? ok_msg : serr.msg);
  ok = ok && role;
  int t = cf_x509_time_check(signer, at);
  char nb[40], na[40];
  cf_asn1_time_str(X509_get0_notBefore(signer), nb, sizeof(nb));
  cf_asn1_time_str(X509_get0_notAfter(signer), na, sizeof(na));
  cf_check_add(ck, "tcb_signing_cert_valid_at", t == 0 && cf_x509_time_check(root, at) == 0,
               "TCB signing certificate valid %s .. %s: %s", nb, na,
               t == 0 ? "inside the window" : "outside the window at the verification time");
  EVP_PKEY *key = NULL;
  if (ok && alg && roots_ok) {
    key = X509_get_pubkey(signer);
  }
  sk_X509_pop_free(sk, X509_free);
  return key;
}

/* ---- TCB info ---- */

static void level_meta(json_object *lvl, cf_tdx_tcb_level_out *out) {
  snprintf(out->status, sizeof(out->status), "%s", get_str(lvl, "tcbStatus"));
  const char *d = get_str(lvl, "tcbDate");
  snprintf(out->tcb_date, sizeof(out->tcb_date), "%s", d ? d : "");
  json_object *adv = get(lvl, "advisoryIDs", json_type_array);
  out->n_advisory = 0;
  for (size_t i = 0; adv && i < json_object_array_length(adv) && i < 16; i++) {
    const char *s = json_object_get_string(json_object_array_get_idx(adv, i));
    snprintf(out->advisory_ids[out->n_advisory++], sizeof(out->advisory_ids[0]), "%s", s ? s : "");
  }
  out->found = true;
}

/* Reads 16 {"svn": n} entries. */
static bool comps(json_object *tcb, const char *key, uint8_t out[16]) {
  json_object *a = get(tcb, key, json_type_array);
  if (!a || json_object_array_length(a) != 16)
    return false;
  for (size_t i = 0; i < 16; i++) {
    long v = get_int(json_object_array_get_idx(a, i), "svn");
    if (v < 0 || v > 255)
      return false;
    out[i] = (uint8_t)v;
  }
  return true;
}

static bool level_ok(json_object *lvl) {
  const char *st = get_str(lvl, "tcbStatus");
  return get(lvl, "tcb", json_type_object) && st && known_status(st);
}

/* Returns false when the document is malformed; *match is the level or NULL. */
static bool match_platform(json_object *levels, const cf_tdx_result *res, json_object **match) {
  const uint8_t *svn = res->quote.tee_tcb_svn;
  size_t from = svn[1] > 0 ? 2 : 0;
  *match = NULL;
  for (size_t i = 0; i < json_object_array_length(levels); i++) {
    json_object *lvl = json_object_array_get_idx(levels, i);
    json_object *tcb = get(lvl, "tcb", json_type_object);
    uint8_t sgx[16], tdx[16];
    long pcesvn = get_int(tcb, "pcesvn");
    if (!level_ok(lvl) || !comps(tcb, "sgxtcbcomponents", sgx) ||
        !comps(tcb, "tdxtcbcomponents", tdx) || pcesvn < 0)
      return false;
    if (*match)
      continue;
    bool ok = res->pck.pcesvn >= pcesvn;
    for (size_t k = 0; k < 16; k++)
      ok = ok && res->pck.comp_svn[k] >= sgx[k];
    for (size_t k = from; k < 16; k++)
      ok = ok && svn[k] >= tdx[k];
    if (ok)
      *match = lvl;
  }
  return true;
}

static bool match_isvsvn(json_object *levels, long isvsvn, json_object **match) {
  *match = NULL;
  if (!levels)
    return false;
  for (size_t i = 0; i < json_object_array_length(levels); i++) {
    json_object *lvl = json_object_array_get_idx(levels, i);
    long want = get_int(get(lvl, "tcb", json_type_object), "isvsvn");
    if (!level_ok(lvl) || want < 0)
      return false;
    if (!*match && isvsvn >= want)
      *match = lvl;
  }
  return true;
}

/* mrsigner and masked attributes of a TDX module identity vs the quote. */
static void module_identity_check(cf_checks *ck, json_object *ident, const cf_tdx_quote *q,
                                  const char *id) {
  uint8_t mrs[48], attr[8], mask[8];
  if (!get_hex(ident, "mrsigner", mrs, 48) || !get_hex(ident, "attributes", attr, 8) ||
      !get_hex(ident, "attributesMask", mask, 8)) {
    cf_check_add(ck, "tdx_module_identity_match", false, "module identity %s is malformed", id);
    return;
  }
  bool ok = memcmp(mrs, q->mrsignerseam, 48) == 0;
  for (int i = 0; i < 8; i++)
    ok = ok && (q->seam_attributes[i] & mask[i]) == (attr[i] & mask[i]);
  char hex[97];
  cf_hex(q->mrsignerseam, 48, hex);
  cf_check_add(ck, "tdx_module_identity_match", ok,
               "quote MRSIGNERSEAM %s and SEAM attributes %s module identity %s", hex,
               ok ? "match" : "do not match", id);
}

static void eval_tcb_info(const cf_tdx_collateral *c, EVP_PKEY *key, time_t at, cf_tdx_result *res) {
  cf_checks *ck = &res->checks;
  signed_doc d;
  cf_error derr = {0};
  if (load_signed_doc(c->tcb_info, c->tcb_info_len, "tcbInfo", &d, &derr)) {
    cf_check_add(ck, "tcbinfo_parse", false, "TCB info: %s", derr.msg);
    json_object_put(d.root);
    return;
  }
  const char *id = get_str(d.body, "id");
  long version = get_int(d.body, "version");
  uint8_t fmspc[6], pceid[2];
  json_object *levels = get(d.body, "tcbLevels", json_type_array);
  bool ok = id && !strcmp(id, "TDX") && version == 3 && get_hex(d.body, "fmspc", fmspc, 6) &&
            get_hex(d.body, "pceId", pceid, 2) && levels;
  cf_check_add(ck, "tcbinfo_parse", ok, "TCB info id %s version %ld%s", id ? id : "?", version,
               ok ? "" : " (expected id TDX, version 3, fmspc, pceId and tcbLevels)");
  if (!ok) {
    json_object_put(d.root);
    return;
  }
  sig_check(ck, "tcbinfo_sig_valid", &d, key, "TCB info");
  fresh_check(ck, "tcbinfo_fresh_at", d.body, at);
  if (!res->pck_parsed) {
    cf_check_add(ck, "fmspc_match", false, "the PCK certificate's FMSPC is unknown");
    json_object_put(d.root);
    return;
  }
  char a[13], b[13], pa[5], pb[5];
  cf_hex(fmspc, 6, a);
  cf_hex(res->pck.fmspc, 6, b);
  cf_hex(pceid, 2, pa);
  cf_hex(res->pck.pceid, 2, pb);
  bool fm = !memcmp(fmspc, res->pck.fmspc, 6) && !memcmp(pceid, res->pck.pceid, 2);
  cf_check_add(ck, "fmspc_match", fm, "TCB info FMSPC %s PCE-ID %s; PCK FMSPC %s PCE-ID %s", a, pa,
               b, pb);

  json_object *plat = NULL;
  if (!match_platform(levels, res, &plat)) {
    cf_check_add(ck, "tcbinfo_parse", false, "a tcbLevel is malformed or has an unknown status");
    json_object_put(d.root);
    return;
  }
  res->collateral_evaluated = true;
  res->platform_level.isvsvn = -1;
  if (plat)
    level_meta(plat, &res->platform_level);

  const uint8_t *svn = res->quote.tee_tcb_svn;
  json_object *mod = NULL;
  bool module_fail = false;
  if (svn[1] > 0) {
    res->module_evaluated = true;
    char mid[16];
    snprintf(mid, sizeof(mid), "TDX_%02X", svn[1]);
    json_object *ids = get(d.body, "tdxModuleIdentities", json_type_array), *ident = NULL;
    for (size_t i = 0; ids && i < json_object_array_length(ids); i++) {
      const char *s = get_str(json_object_array_get_idx(ids, i), "id");
      if (s && !strcmp(s, mid))
        ident = json_object_array_get_idx(ids, i);
    }
    if (!ident) {
      cf_check_add(ck, "tdx_module_identity_match", false, "TCB info has no module identity %s", mid);
      module_fail = true;
    } else {
      module_identity_check(ck, ident, &res->quote, mid);
      if (!match_isvsvn(get(ident, "tcbLevels", json_type_array), svn[0], &mod)) {
        cf_check_add(ck, "tcbinfo_parse", false, "module identity %s levels are malformed", mid);
        json_object_put(d.root);
        return;
      }
      if (mod) {
        level_meta(mod, &res->module_level);
        snprintf(res->module_level.id, sizeof(res->module_level.id), "%s", mid);
        res->module_level.isvsvn = svn[0];
      } else {
        module_fail = true;
      }
    }
  } else {
    json_object *tm = get(d.body, "tdxModule", json_type_object);
    if (tm)
      module_identity_check(ck, tm, &res->quote, "tdxModule");
  }

  if (!plat)
    snprintf(res->overall_tcb_status, sizeof(res->overall_tcb_status), "%s", NO_PLATFORM_LEVEL);
  else if (module_fail)
    snprintf(res->overall_tcb_status, sizeof(res->overall_tcb_status), "%s", NO_MODULE_LEVEL);
  else if (mod && !strcmp(res->module_level.status, "OutOfDate") &&
           strcmp(res->platform_level.status, "Revoked") != 0)
    snprintf(res->overall_tcb_status, sizeof(res->overall_tcb_status), "OutOfDate");
  else
    snprintf(res->overall_tcb_status, sizeof(res->overall_tcb_status), "%s",
             res->platform_level.status);
  char tee[33];
  cf_hex(svn, 16, tee);
  cf_check_add(ck, "tcb_status", !strcmp(res->overall_tcb_status, "UpToDate"),
               "TCB status %s (platform level %s, module level %s; TEE_TCB_SVN %s, PCESVN %u)",
               res->overall_tcb_status, plat ? res->platform_level.status : "none",
               !res->module_evaluated ? "n/a" : mod ? res->module_level.status : "none", tee,
               res->pck.pcesvn);
  json_object_put(d.root);
}

/* ---- QE identity ---- */

static void eval_qe_identity(const cf_tdx_collateral *c, EVP_PKEY *key, time_t at,
                             cf_tdx_result *res) {
  cf_checks *ck = &res->checks;
  signed_doc d;
  cf_error derr = {0};
  if (load_signed_doc(c->qe_identity, c->qe_identity_len, "enclaveIdentity", &d, &derr)) {
    cf_check_add(ck, "qeidentity_parse", false, "QE identity: %s", derr.msg);
    json_object_put(d.root);
    return;
  }
  const char *id = get_str(d.body, "id");
  long version = get_int(d.body, "version"), prodid = get_int(d.body, "isvprodid");
  uint8_t mrsigner[32], misc[4], miscmask[4], attr[16], attrmask[16];
  json_object *levels = get(d.body, "tcbLevels", json_type_array);
  bool ok = id && !strcmp(id, "TD_QE") && version == 2 && prodid >= 0 &&
            get_hex(d.body, "mrsigner", mrsigner, 32) && get_hex(d.body, "miscselect", misc, 4) &&
            get_hex(d.body, "miscselectMask", miscmask, 4) &&
            get_hex(d.body, "attributes", attr, 16) &&
            get_hex(d.body, "attributesMask", attrmask, 16) && levels;
  cf_check_add(ck, "qeidentity_parse", ok, "QE identity id %s version %ld%s", id ? id : "?",
               version, ok ? "" : " (expected id TD_QE, version 2 and every field)");
  if (!ok) {
    json_object_put(d.root);
    return;
  }
  sig_check(ck, "qeidentity_sig_valid", &d, key, "QE identity");
  fresh_check(ck, "qeidentity_fresh_at", d.body, at);

  const cf_tdx_qe_report *qe = &res->quote.qe_report;
  uint32_t m = (uint32_t)misc[0] << 24 | (uint32_t)misc[1] << 16 | (uint32_t)misc[2] << 8 | misc[3];
  uint32_t mm = (uint32_t)miscmask[0] << 24 | (uint32_t)miscmask[1] << 16 |
                (uint32_t)miscmask[2] << 8 | miscmask[3];
  bool match = memcmp(qe->mrsigner, mrsigner, 32) == 0 && qe->isvprodid == prodid &&
               (qe->miscselect & mm) == (m & mm);
  for (int i = 0; i < 16; i++)
    match = match && (qe->attributes[i] & attrmask[i]) == (attr[i] & attrmask[i]);
  char mrs[65];
  cf_hex(qe->mrsigner, 32, mrs);
  cf_check_add(ck, "qe_identity_match", match,
               "QE MRSIGNER %s, ISVPRODID %u, MISCSELECT 0x%08x and attributes %s the QE identity",
               mrs, qe->isvprodid, qe->miscselect, match ? "match" : "do not match");
  json_object *lvl;
  if (!match_isvsvn(levels, qe->isvsvn, &lvl)) {
    cf_check_add(ck, "qeidentity_parse", false, "QE identity tcbLevels are malformed");
  } else {
    snprintf(res->qe_tcb_status, sizeof(res->qe_tcb_status), "%s",
             lvl ? get_str(lvl, "tcbStatus") : "REJECT: no matching QE TCB level");
    cf_check_add(ck, "qe_tcb_status", lvl && !strcmp(res->qe_tcb_status, "UpToDate"),
                 "QE ISVSVN %u: %s", qe->isvsvn, res->qe_tcb_status);
  }
  json_object_put(d.root);
}

/* ---- CRLs ---- */

static void eval_crl(cf_checks *ck, const char *which, const uint8_t *buf, size_t len,
                     X509 *issuer, X509 *subject, const char *revoked_name, time_t at) {
  char name[48];
  X509_CRL *crl = cf_x509_crl_load(buf, len);
  if (!crl) {
    snprintf(name, sizeof(name), "%s_crl_parse", which);
    cf_check_add(ck, name, false, "the %s CRL is not a DER or PEM CRL", which);
    return;
  }
  snprintf(name, sizeof(name), "%s_crl_sig_valid", which);
  if (!issuer)
    cf_check_add(ck, name, false, "no issuer certificate for the %s CRL", which);
  else
    cf_x509_check_crl_signed(ck, name, crl, issuer);
  snprintf(name, sizeof(name), "%s_crl_fresh_at", which);
  cf_x509_check_crl_fresh(ck, name, crl, at);
  if (subject) {
    char suffix[48];
    snprintf(suffix, sizeof(suffix), " (%s CRL)", which);
    cf_x509_check_not_revoked(ck, revoked_name, crl, subject, suffix);
  }
  X509_CRL_free(crl);
}

int cf_tdx_collateral_eval(const cf_tdx_collateral *c, X509 *root, X509 *platform_ca, X509 *pck,
                           time_t at, cf_tdx_result *res) {
  cf_checks *ck = &res->checks;
  EVP_PKEY *key = NULL;
  if (c->tcb_info || c->qe_identity)
    key = signing_key(c, root, at, ck);
  if (c->tcb_info)
    eval_tcb_info(c, key, at, res);
  if (c->qe_identity)
    eval_qe_identity(c, key, at, res);
  if (c->pck_crl)
    eval_crl(ck, "pck", c->pck_crl, c->pck_crl_len, platform_ca, pck, "pck_not_revoked", at);
  if (c->root_crl)
    eval_crl(ck, "root", c->root_crl, c->root_crl_len, root, platform_ca,
             "intermediate_not_revoked", at);
  EVP_PKEY_free(key);
  return 0;
}
