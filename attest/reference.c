/* Appraisal against reference values: a small JSON document (format in
 * attest/README.md). Every key is validated when the document is parsed;
 * unknown keys are errors so that a typo can never silently relax a policy. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"

struct cf_reference {
  json_object *root, *snp, *tdx;
};

typedef struct key_spec {
  const char *key;
  int kind;     /* HEX, HEX_LIST, BOOL, INT, TCB, PRODUCTS */
  size_t bytes; /* for HEX / HEX_LIST */
} key_spec;

enum { HEX, HEX_LIST, BOOL, INT, TCB, PRODUCTS };

static const key_spec SNP_KEYS[] = {
    {"measurement", HEX_LIST, 48}, {"report_data", HEX, 64}, {"host_data", HEX, 32},
    {"min_tcb", TCB, 0},           {"products", PRODUCTS, 0}, {"allow_debug", BOOL, 0},
    {"vmpl", INT, 0},              {NULL, 0, 0}};
static const key_spec TDX_KEYS[] = {
    {"mrtd", HEX_LIST, 48},     {"rtmr0", HEX, 48},         {"rtmr1", HEX, 48},
    {"rtmr2", HEX, 48},         {"rtmr3", HEX, 48},         {"report_data", HEX, 64},
    {"mrconfigid", HEX, 48},    {"mrowner", HEX, 48},       {"mrownerconfig", HEX, 48},
    {"min_tee_tcb_svn", HEX, 16}, {"allow_debug", BOOL, 0}, {NULL, 0, 0}};

static bool hex_ok(json_object *v, size_t n) {
  uint8_t buf[64];
  return json_object_is_type(v, json_type_string) && n <= sizeof(buf) &&
         cf_unhex(json_object_get_string(v), buf, n) == 0;
}

static int check_value(const char *sect, const key_spec *k, json_object *v, cf_error *err) {
  switch (k->kind) {
  case HEX:
    if (hex_ok(v, k->bytes))
      return 0;
    break;
  case HEX_LIST:
    if (hex_ok(v, k->bytes))
      return 0;
    if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
      for (size_t i = 0; i < json_object_array_length(v); i++)
        if (!hex_ok(json_object_array_get_idx(v, i), k->bytes))
          goto bad;
      return 0;
    }
    break;
  case BOOL:
    if (json_object_is_type(v, json_type_boolean))
      return 0;
    break;
  case INT:
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
      return 0;
    break;
  case TCB: {
    if (!json_object_is_type(v, json_type_object))
      break;
    json_object_object_foreach(v, tk, tv) {
      if (strcmp(tk, "bl") && strcmp(tk, "tee") && strcmp(tk, "snp") && strcmp(tk, "ucode") &&
          strcmp(tk, "fmc"))
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.min_tcb: unknown component \"%s\"",
                             sect, tk);
      if (!json_object_is_type(tv, json_type_int) || json_object_get_int64(tv) < 0 ||
          json_object_get_int64(tv) > 255)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.min_tcb.%s: not an integer 0..255",
                             sect, tk);
    }
    return 0;
  }
  case PRODUCTS:
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
      break;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      json_object *p = json_object_array_get_idx(v, i);
      if (!json_object_is_type(p, json_type_string) ||
          cf_snp_product_from_name(json_object_get_string(p)) == CF_SNP_PRODUCT_UNKNOWN)
        return cf_err_status(err, CF_INVALID_ARGUMENT,
                             "%s.products: entries must be Milan, Genoa or Turin", sect);
    }
    return 0;
  }
bad:
  return cf_err_status(err, CF_INVALID_ARGUMENT, "%s.%s: malformed value%s", sect, k->key,
                       k->bytes ? " (hex of the field's exact length expected)" : "");
}

static int check_section(const char *sect, json_object *o, const key_spec *keys, cf_error *err) {
  if (!json_object_is_type(o, json_type_object))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "\"%s\" must be an object", sect);
  json_object_object_foreach(o, key, val) {
    const key_spec *k = keys;
    while (k->key && strcmp(k->key, key))
      k++;
    if (!k->key)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: unknown key \"%s\"", sect, key);
    int r = check_value(sect, k, val, err);
    if (r)
      return r;
  }
  return 0;
}

void cf_reference_free(cf_reference *r) {
  if (!r)
    return;
  json_object_put(r->root);
  free(r);
}

cf_reference *cf_reference_parse(const char *json, size_t len, cf_error *err) {
  cf_reference *r = calloc(1, sizeof(*r));
  if (!r) {
    cf_err(err, ENOMEM, "reference values");
    return NULL;
  }
  json_tokener *tok = json_tokener_new();
  r->root = tok ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
  bool complete = tok && json_tokener_get_error(tok) == json_tokener_success;
  json_tokener_free(tok);
  if (!r->root || !complete || !json_object_is_type(r->root, json_type_object)) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "reference values: not a JSON object");
    cf_reference_free(r);
    return NULL;
  }
  json_object_object_foreach(r->root, key, val) {
    int rc;
    if (!strcmp(key, "snp")) {
      r->snp = val;
      rc = check_section("snp", val, SNP_KEYS, err);
    } else if (!strcmp(key, "tdx")) {
      r->tdx = val;
      rc = check_section("tdx", val, TDX_KEYS, err);
    } else {
      rc = cf_err_status(err, CF_INVALID_ARGUMENT, "unknown top-level key \"%s\" (snp, tdx)", key);
    }
    if (rc) {
      cf_error_prefix(err, "reference values");
      cf_reference_free(r);
      return NULL;
    }
  }
  return r;
}

/* Compares `have` against one hex value or any of a list. */
static void hex_check(cf_checks *ck, json_object *sect, const char *key, const char *field,
                      const uint8_t *have, size_t n) {
  json_object *v;
  if (!json_object_object_get_ex(sect, key, &v))
    return;
  char name[48], hex[129];
  snprintf(name, sizeof(name), "reference.%s", field);
  cf_hex(have, n, hex);
  size_t count = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
  for (size_t i = 0; i < count; i++) {
    json_object *e = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
    uint8_t want[64];
    if (cf_unhex(json_object_get_string(e), want, n) == 0 && memcmp(want, have, n) == 0) {
      cf_check_add(ck, name, true, "%s %s is a reference value", field, hex);
      return;
    }
  }
  cf_check_add(ck, name, false, "%s %s is not %s reference value%s", field, hex,
               count > 1 ? "any of the" : "the", count > 1 ? "s" : "");
}

static bool get_bool(json_object *o, const char *key, bool dflt) {
  json_object *v;
  return json_object_object_get_ex(o, key, &v) ? json_object_get_boolean(v) : dflt;
}

int cf_reference_appraise_snp(const cf_reference *ref, const cf_snp_result *res, cf_checks *ck) {
  if (!ref->snp)
    return cf_check_add(ck, "reference.snp", false, "the reference values have no \"snp\" section");
  if (!res->parsed)
    return cf_check_add(ck, "reference.snp", false, "the report could not be parsed");
  const cf_snp_report *r = &res->report;
  json_object *s = ref->snp, *v;
  hex_check(ck, s, "measurement", "measurement", r->measurement, 48);
  hex_check(ck, s, "report_data", "report_data", r->report_data, 64);
  hex_check(ck, s, "host_data", "host_data", r->host_data, 32);
  bool debug = (r->policy >> 19) & 1;
  bool allow = get_bool(s, "allow_debug", false);
  cf_check_add(ck, "reference.debug", allow || !debug, "policy debug bit %d; debug %s", debug,
               allow ? "allowed" : "not allowed");
  if (json_object_object_get_ex(s, "vmpl", &v)) {
    int64_t want = json_object_get_int64(v);
    cf_check_add(ck, "reference.vmpl", r->vmpl == want, "vmpl %u, expected %lld", r->vmpl,
                 (long long)want);
  }
  if (json_object_object_get_ex(s, "products", &v)) {
    bool ok = false;
    for (size_t i = 0; i < json_object_array_length(v); i++)
      ok = ok || cf_snp_product_from_name(json_object_get_string(json_object_array_get_idx(v, i))) ==
                     res->product;
    cf_check_add(ck, "reference.product", ok, "product %s %s", cf_snp_product_name(res->product),
                 ok ? "is allowed" : "is not among the allowed products");
  }
  if (json_object_object_get_ex(s, "min_tcb", &v)) {
    cf_snp_tcb t;
    cf_snp_tcb_decode(r->reported_tcb, res->product, &t);
    struct { const char *k; int have; } c[] = {
        {"bl", t.bl}, {"tee", t.tee}, {"snp", t.snp}, {"ucode", t.ucode}, {"fmc", t.has_fmc ? t.fmc : -1}};
    char detail[256] = "";
    size_t off = 0;
    bool ok = true;
    for (size_t i = 0; i < 5; i++) {
      json_object *m;
      if (!json_object_object_get_ex(v, c[i].k, &m))
        continue;
      int64_t want = json_object_get_int64(m);
      bool this_ok = c[i].have >= 0 && c[i].have >= want;
      ok = ok && this_ok;
      if (off < sizeof(detail))
        off += (size_t)snprintf(detail + off, sizeof(detail) - off, "%s%s %d%s%lld", off ? ", " : "",
                                c[i].k, c[i].have, this_ok ? ">=" : "<", (long long)want);
    }
    cf_check_add(ck, "reference.min_tcb", ok, "reported_tcb %s", detail);
  }
  return 0;
}

int cf_reference_appraise_tdx(const cf_reference *ref, const cf_tdx_result *res, cf_checks *ck) {
  if (!ref->tdx)
    return cf_check_add(ck, "reference.tdx", false, "the reference values have no \"tdx\" section");
  if (!res->parsed)
    return cf_check_add(ck, "reference.tdx", false, "the quote could not be parsed");
  const cf_tdx_quote *q = &res->quote;
  json_object *s = ref->tdx, *v;
  hex_check(ck, s, "mrtd", "mrtd", q->mrtd, 48);
  static const char *rt[] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  for (int i = 0; i < 4; i++)
    hex_check(ck, s, rt[i], rt[i], q->rtmr[i], 48);
  hex_check(ck, s, "report_data", "report_data", q->report_data, 64);
  hex_check(ck, s, "mrconfigid", "mrconfigid", q->mrconfigid, 48);
  hex_check(ck, s, "mrowner", "mrowner", q->mrowner, 48);
  hex_check(ck, s, "mrownerconfig", "mrownerconfig", q->mrownerconfig, 48);
  bool debug = q->td_attributes[0] & 1;
  bool allow = get_bool(s, "allow_debug", false);
  cf_check_add(ck, "reference.debug", allow || !debug, "TD attributes DEBUG bit %d; debug %s",
               debug, allow ? "allowed" : "not allowed");
  if (json_object_object_get_ex(s, "min_tee_tcb_svn", &v)) {
    uint8_t min[16];
    cf_unhex(json_object_get_string(v), min, 16);
    int bad = -1;
    for (int i = 0; i < 16 && bad < 0; i++)
      if (q->tee_tcb_svn[i] < min[i])
        bad = i;
    char have[33];
    cf_hex(q->tee_tcb_svn, 16, have);
    if (bad < 0)
      cf_check_add(ck, "reference.min_tee_tcb_svn", true, "TEE_TCB_SVN %s >= %s", have,
                   json_object_get_string(v));
    else
      cf_check_add(ck, "reference.min_tee_tcb_svn", false,
                   "TEE_TCB_SVN %s: component %d is %u, below the minimum %u", have, bad,
                   q->tee_tcb_svn[bad], min[bad]);
  }
  return 0;
}
