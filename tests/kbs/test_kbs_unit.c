/* Unit tests of kbs/: the spec's JCS and runtime-data vectors, init-data
 * digests fitted to HOST_DATA/MRCONFIGID, base64 strictness, TEE key shapes,
 * JWE and JWT round trips and tampering, resource paths, the resource policy,
 * sessions. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <jose/jose.h>

#include "coffer/kbs_common.h"
#include "coffer/kbs_jread.h"
#include "kbs.h"

static int failures;
#define CHECK(cond, ...)                                      \
  do {                                                        \
    if (!(cond)) {                                            \
      failures++;                                             \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
      fprintf(stderr, __VA_ARGS__);                           \
      fputc('\n', stderr);                                    \
    }                                                         \
  } while (0)

static void sha384_hex(const char *s, char out[97]) {
  uint8_t d[48];
  EVP_Digest(s, strlen(s), d, NULL, EVP_sha384(), NULL);
  cf_kbs_hex(d, 48, out);
}

static void jcs_eq(const char *in, const char *want) {
  cf_error err = {0};
  json_t *v = json_loads(in, JSON_DECODE_ANY, NULL);
  char *c = v ? cf_kbs_jcs(v, &err) : NULL;
  CHECK(c && !strcmp(c, want), "JCS(%s) = %s, want %s", in, c ? c : err.msg, want);
  free(c);
  json_decref(v);
}

static void test_jcs(void) {
  cf_error err = {0};
  /* The spec's vector (Trustee's attestation-service test). */
  json_t *v = json_loads("{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}", 0, NULL);
  char *c = cf_kbs_jcs(v, &err), hex[97];
  sha384_hex(c, hex);
  CHECK(!strcmp(hex, "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3"),
        "JCS vector digest %s (%s)", hex, c);
  free(c);
  json_decref(v);
  /* RFC 8785 rules: key order by UTF-16 units, minimal escapes, numbers. */
  jcs_eq("{\"z\":1,\"a\":[true,false,null],\"\\u00e9\":2,\"\\ud83d\\ude00\":3,\"\\uffff\":4}",
         "{\"a\":[true,false,null],\"z\":1,\"\xc3\xa9\":2,\"\xf0\x9f\x98\x80\":3,\"\xef\xbf\xbf\":4}");
  jcs_eq("\"a\\u0001\\n\\\"/\\u00e9\"", "\"a\\u0001\\n\\\"/\xc3\xa9\"");
  jcs_eq("[1.0,-0.0,1e21,1e-7,123.456,0.000001,100]", "[1,0,1e+21,1e-7,123.456,0.000001,100]");
}

static void test_runtime_digest(void) {
  /* The spec's vector: nonce = base64(bytes 0..31), x = 32x0x01, y = 32x0x02. */
  uint8_t n[32], x[32], y[32];
  for (int i = 0; i < 32; i++)
    n[i] = (uint8_t)i, x[i] = 1, y[i] = 2;
  char *nonce = cf_kbs_b64std_encode(n, 32), *xs = cf_kbs_b64url_encode(x, 32),
       *ys = cf_kbs_b64url_encode(y, 32);
  CHECK(!strcmp(nonce, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), "nonce %s", nonce);
  json_t *jwk = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "alg",
                          "ECDH-ES+A256KW", "x", xs, "y", ys);
  uint8_t d[48];
  char hex[97];
  cf_error err = {0};
  CHECK(!cf_kbs_runtime_digest(jwk, nonce, "", d, &err), "%s", err.msg);
  cf_kbs_hex(d, 48, hex);
  CHECK(!strcmp(hex, "d934ba73c76ad6ce42e80746cefb42b74c7e0af0f0d30ace51557c3da2a8fe7608b3c6856f09e1f101fd459a86b1c846"),
        "runtime-data digest %s", hex);
  free(nonce), free(xs), free(ys);
  json_decref(jwk);
}

static void test_initdata(void) {
  cf_error err = {0};
  uint8_t d[64], fit[48];
  size_t n;
  const char *t256 = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = '''x'''\n";
  CHECK(!cf_kbs_initdata_digest(t256, strlen(t256), d, &n, &err) && n == 32, "%s", err.msg);
  uint8_t want[32];
  EVP_Digest(t256, strlen(t256), want, NULL, EVP_sha256(), NULL);
  CHECK(!memcmp(d, want, 32), "sha256 init-data digest is over the exact bytes");
  cf_kbs_fit(d, n, fit, 48); /* MRCONFIGID: 16 zero bytes appended */
  CHECK(!memcmp(fit, want, 32) && !fit[32] && !fit[47], "sha256 padded to 48");
  const char *t512 = "algorithm = 'sha512'\nversion = \"0.1.0\"\n";
  CHECK(!cf_kbs_initdata_digest(t512, strlen(t512), d, &n, &err) && n == 64, "sha512 %s", err.msg);
  uint8_t hd[32];
  cf_kbs_fit(d, n, hd, 32); /* HOST_DATA: truncated */
  CHECK(!memcmp(hd, d, 32), "sha512 truncated to 32");
  const char *bad[] = {"algorithm = \"sha-256\"\n", "version = \"0.1.0\"\n",
                       "[data]\nalgorithm = \"sha256\"\n", "algorithm = sha256\n"};
  for (size_t i = 0; i < 4; i++) {
    cf_error e = {0};
    CHECK(cf_kbs_initdata_digest(bad[i], strlen(bad[i]), d, &n, &e) && e.msg[0],
          "init-data %zu accepted", i);
  }
}

static void test_b64(void) {
  uint8_t *o = NULL;
  size_t n;
  CHECK(!cf_kbs_b64std_decode("aGk=", &o, &n) && n == 2 && !memcmp(o, "hi", 2), "b64 hi");
  free(o);
  const char *bad[] = {"aGk", "aGk==", "a Gk=", "aGl=", "aG-=", "****"};
  for (size_t i = 0; i < 6; i++) {
    o = NULL;
    CHECK(cf_kbs_b64std_decode(bad[i], &o, &n) != 0, "b64 \"%s\" accepted", bad[i]);
    free(o);
  }
  CHECK(!cf_kbs_b64url_decode("aGk", &o, &n) && n == 2, "b64url hi");
  free(o);
  o = NULL;
  CHECK(cf_kbs_b64url_decode("aGk=", &o, &n) != 0, "b64url with padding accepted");
  free(o);
}

static void test_keys_and_jwe(void) {
  cf_error err = {0};
  const char *kinds[] = {"ec", "rsa"};
  for (int k = 0; k < 2; k++) {
    json_t *priv = cf_kbs_key_generate(kinds[k], &err);
    json_t *pub = priv ? cf_kbs_key_public(priv, &err) : NULL;
    CHECK(pub && !cf_kbs_tee_pubkey_check(pub, &err), "%s key: %s", kinds[k], err.msg);
    CHECK(cf_kbs_tee_pubkey_check(priv, &(cf_error){0}) != 0, "%s private key accepted as tee-pubkey", kinds[k]);
    const char msg[] = "the resource";
    json_t *jwe = cf_kbs_jwe_encrypt(pub, (const uint8_t *)msg, sizeof(msg), &err);
    CHECK(jwe, "%s encrypt: %s", kinds[k], err.msg);
    uint8_t *pt = NULL;
    size_t n = 0;
    CHECK(jwe && !cf_kbs_jwe_decrypt(priv, jwe, &pt, &n, &err) && n == sizeof(msg) && !memcmp(pt, msg, n),
          "%s decrypt: %s", kinds[k], err.msg);
    free(pt);
    /* Layout Trustee's clients read: five members, epk in the protected header. */
    CHECK(jwe && json_object_size(jwe) == 5 && json_object_get(jwe, "tag") &&
              json_object_get(jwe, "iv") && json_object_get(jwe, "encrypted_key"),
          "%s JWE members", kinds[k]);
    json_t *hdr = jwe ? json_loads("{}", 0, NULL) : NULL;
    uint8_t *h = NULL;
    size_t hl;
    if (jwe && !cf_kbs_b64url_decode(json_string_value(json_object_get(jwe, "protected")), &h, &hl)) {
      json_decref(hdr);
      hdr = json_loadb((char *)h, hl, 0, NULL);
      const char *want = k ? "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}" : "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":";
      CHECK(!strncmp((char *)h, want, strlen(want)), "%s protected header %.*s", kinds[k], (int)hl, h);
    }
    free(h);
    json_decref(hdr);
    /* Another key cannot decrypt; an altered ciphertext does not decrypt. */
    json_t *other = cf_kbs_key_generate(kinds[k], &err);
    cf_error e2 = {0};
    CHECK(jwe && cf_kbs_jwe_decrypt(other, jwe, &pt, &n, &e2) && e2.msg[0], "%s: other key decrypts", kinds[k]);
    if (jwe) {
      char *ct = strdup(json_string_value(json_object_get(jwe, "ciphertext")));
      ct[0] = ct[0] == 'A' ? 'B' : 'A';
      json_object_set_new(jwe, "ciphertext", json_string(ct));
      free(ct);
      cf_error e3 = {0};
      CHECK(cf_kbs_jwe_decrypt(priv, jwe, &pt, &n, &e3) && e3.msg[0], "%s: tampered JWE decrypts", kinds[k]);
    }
    json_decref(other);
    json_decref(jwe);
    json_decref(pub);
    json_decref(priv);
  }
  /* Shapes the protocol refuses. */
  json_t *p384 = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-384");
  jose_jwk_gen(NULL, p384);
  json_object_del(p384, "d");
  json_object_set_new(p384, "alg", json_string("ECDH-ES+A256KW"));
  cf_error e = {0};
  CHECK(cf_kbs_tee_pubkey_check(p384, &e) && strstr(e.msg, "P-384"), "P-384 accepted: %s", e.msg);
  json_decref(p384);
  json_t *ec = cf_kbs_key_generate("ec", &err), *pub = cf_kbs_key_public(ec, &err);
  json_object_set_new(pub, "x", json_string("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE")); /* off the curve */
  CHECK(cf_kbs_tee_pubkey_check(pub, &(cf_error){0}) != 0, "point off the curve accepted");
  /* Coordinates >= p must not alias a point modulo p. */
  json_object_set_new(pub, "x", json_string("__________________________________________8"));
  CHECK(cf_kbs_tee_pubkey_check(pub, &(cf_error){0}) != 0, "x = 2^256-1 accepted");
  /* A P-521 key from another generator is accepted; its negation too
   * (y -> p - y is on the curve), the same y with x changed is not. */
  json_t *k521 = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-521");
  jose_jwk_gen(NULL, k521);
  json_object_del(k521, "d");
  json_object_set_new(k521, "alg", json_string("ECDH-ES+A256KW"));
  CHECK(!cf_kbs_tee_pubkey_check(k521, &e), "P-521 key refused: %s", e.msg);
  uint8_t *yb = NULL, pm[66];
  size_t yl = 0;
  cf_kbs_b64url_decode(json_string_value(json_object_get(k521, "y")), &yb, &yl);
  /* p521 = 2^521 - 1: p - y flips the low 521 bits. */
  for (size_t i = 0; i < 66 && yl == 66; i++)
    pm[i] = (uint8_t)~yb[i];
  pm[0] &= 0x01;
  char *ny = cf_kbs_b64url_encode(pm, 66);
  json_object_set_new(k521, "y", json_string(ny));
  CHECK(yl == 66 && !cf_kbs_tee_pubkey_check(k521, &e), "negated P-521 point refused: %s", e.msg);
  json_object_set_new(k521, "x", json_string(ny));
  CHECK(cf_kbs_tee_pubkey_check(k521, &(cf_error){0}) != 0, "P-521 point off the curve accepted");
  free(ny);
  free(yb);
  json_decref(k521);
  json_object_set_new(pub, "alg", json_string("RSA1_5"));
  CHECK(cf_kbs_tee_pubkey_check(pub, &(cf_error){0}) != 0, "alg RSA1_5 accepted");
  json_decref(pub);
  json_decref(ec);
}

static void test_jwt(void) {
  cf_error err = {0};
  json_t *k = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
  jose_jwk_gen(NULL, k);
  json_t *pub = cf_kbs_key_public(k, &err);
  json_t *claims = json_pack("{s:s,s:I}", "iss", "t", "exp", (json_int_t)2000);
  char *jwt = cf_kbs_jwt_sign(k, claims, true, &err);
  CHECK(jwt, "sign: %s", err.msg);
  json_t *c = jwt ? cf_kbs_jwt_verify(pub, jwt, 1000, &err) : NULL;
  CHECK(c && !strcmp(json_string_value(json_object_get(c, "iss")), "t"), "verify: %s", err.msg);
  json_decref(c);
  cf_error e = {0};
  CHECK(jwt && !cf_kbs_jwt_verify(pub, jwt, 2000, &e) && strstr(e.msg, "expired"), "expired token accepted");
  /* alg none, another key, a changed payload. */
  char none[512];
  snprintf(none, sizeof(none), "eyJhbGciOiJub25lIn0.%s.", strchr(jwt, '.') + 1);
  *strrchr(none, '.') = '\0';
  strcat(none, ".");
  CHECK(!cf_kbs_jwt_verify(pub, none, 1000, &(cf_error){0}), "alg none accepted");
  json_t *k2 = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
  jose_jwk_gen(NULL, k2);
  CHECK(!cf_kbs_jwt_verify(k2, jwt, 1000, &(cf_error){0}), "other key verifies");
  char *alt = strdup(jwt);
  char *p = strchr(alt, '.') + 2;
  *p = *p == 'A' ? 'B' : 'A';
  CHECK(!cf_kbs_jwt_verify(pub, alt, 1000, &(cf_error){0}), "altered payload verifies");
  free(alt);
  free(jwt);
  json_decref(k2);
  json_decref(claims);
  json_decref(pub);
  json_decref(k);
}

static void test_paths(void) {
  char buf[256];
  const char *seg[3];
  CHECK(!kbs_resource_split("default/key/one.v1", buf, seg) && !strcmp(seg[2], "one.v1"), "valid path");
  const char *bad[] = {"../key/one", "default/../one", "default/key/..", "default//one",
                       "default/key/", "/default/key/one", "default/key/one/x", "default/key",
                       ".hidden/key/one", "default/key/a\\b", "default/key/a b", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    CHECK(kbs_resource_split(bad[i], buf, seg) != 0, "path \"%s\" accepted", bad[i]);
}

static json_t *token_claims(const char *tee, const char *status, const char *measurement) {
  return json_pack("{s:{s:{s:s,s:{s:{s:s}}}}}", "submods", "cpu0", "ear.status", status,
                   "ear.veraison.annotated-evidence", tee, "measurement", measurement);
}

static void test_policy(void) {
  cf_error err = {0};
  const char *doc =
      "{\"rules\":[{\"name\":\"app\",\"resource\":\"default/key/*\",\"tee\":[\"snp\"],"
      "\"status\":[\"affirming\"],\"claims\":{\"snp.measurement\":[\"aa\"]}}]}";
  kbs_policy *p = kbs_policy_parse(doc, strlen(doc), &err);
  CHECK(p, "policy: %s", err.msg);
  json_t *ok = token_claims("snp", "affirming", "aa"), *warn = token_claims("snp", "warning", "aa"),
         *meas = token_claims("snp", "affirming", "bb"), *tdx = token_claims("tdx", "affirming", "aa");
  CHECK(!kbs_policy_check(p, ok, "default", "key", "x", &err), "allowed: %s", err.msg);
  cf_error e = {0};
  CHECK(kbs_policy_check(p, warn, "default", "key", "x", &e) && strstr(e.msg, "rule \"app\"") &&
            strstr(e.msg, "warning"), "status deny: %s", e.msg);
  e = (cf_error){0};
  CHECK(kbs_policy_check(p, meas, "default", "key", "x", &e) && strstr(e.msg, "snp.measurement"),
        "claim deny: %s", e.msg);
  e = (cf_error){0};
  CHECK(kbs_policy_check(p, tdx, "default", "key", "x", &e) && strstr(e.msg, "tee tdx"), "tee deny: %s", e.msg);
  e = (cf_error){0};
  CHECK(kbs_policy_check(p, ok, "other", "key", "x", &e) && strstr(e.msg, "default deny"), "no rule: %s", e.msg);
  e = (cf_error){0};
  CHECK(kbs_policy_check(NULL, ok, "default", "key", "x", &e) && strstr(e.msg, "default deny"), "no policy");
  const char *bad[] = {"{\"rules\":[{\"name\":\"a\",\"resource\":\"a/b\"}]}",
                       "{\"rules\":[{\"name\":\"a\",\"resource\":\"a/b/c\",\"status\":[\"good\"]}]}",
                       "{\"rules\":[{\"name\":\"a\",\"resource\":\"a/b/c\",\"allow\":true}]}",
                       "{\"rules\":[],\"default\":\"allow\"}", "[]"};
  for (size_t i = 0; i < 5; i++) {
    cf_error pe = {0};
    kbs_policy *q = kbs_policy_parse(bad[i], strlen(bad[i]), &pe);
    CHECK(!q && pe.msg[0], "bad policy %zu accepted", i);
    kbs_policy_free(q);
  }
  json_decref(ok), json_decref(warn), json_decref(meas), json_decref(tdx);
  kbs_policy_free(p);
}

static void test_sessions(void) {
  kbs_sessions *t = kbs_sessions_new(2);
  char a[33], b[33], c[33];
  time_t exp;
  CHECK(!kbs_session_create(t, "sample", "n1", 1, a, &exp), "create");
  CHECK(!kbs_session_create(t, "sample", "n2", 100, b, &exp), "create");
  CHECK(kbs_session_create(t, "sample", "n3", 100, c, &exp) == -EAGAIN, "limit");
  kbs_session_view v = {0};
  CHECK(!kbs_session_get(t, a, &v) && !strcmp(v.nonce, "n1"), "get");
  kbs_session_view_free(&v);
  CHECK(kbs_session_get(t, "not-an-id", &v) == -ENOENT, "bad id");
  sleep(2);
  CHECK(kbs_session_get(t, a, &v) == -ENOENT, "expired session returned");
  CHECK(kbs_sessions_count(t) == 1, "expired session not removed");
  CHECK(kbs_sessions_sweep(t, time(NULL) + 200) == 1 && kbs_sessions_count(t) == 0, "sweep");
  kbs_sessions_free(t);
}

/* The in-place reader: everything jansson would refuse as a document is
 * refused; byte arrays take exactly integers 0..255. */
static void test_jread(void) {
  static const char *const bad[] = {
      "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[01]", "[1.]", "[.5]", "[-]", "[1e]",
      "\"\\x\"", "\"\\u12G4\"", "\"a\nb\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF5\x80\x80\x80\"",
      "\"\xE2\x82\"", "tru", "nul", "[1] [2]", "{\"a\":1}}", "{1:2}",
  };
  kbs_span v;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    CHECK(kbs_jr_document(bad[i], strlen(bad[i]), &v) != 0, "malformed JSON #%zu accepted", i);
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  CHECK(kbs_jr_document(deep, 200, &v) != 0, "nesting of 100 accepted");
  static const char *const good[] = {
      " {\"a\": [1, 2 ,3], \"b\\\"\": {\"c\": null}, \"d\": -1.5e+3, \"e\": \"\xE2\x82\xAC\\u00e9\"} ",
      "[]", "{}", "0", "\"\"", "[true,false,null]",
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    CHECK(kbs_jr_document(good[i], strlen(good[i]), &v) == 0, "valid JSON #%zu refused", i);
  /* Members in order, keys with escapes reported as "". */
  const char *doc = "{\"x\": [7, 255, 0], \"k\\u0065y\": 1, \"s\": \"str\", \"n\": 18446744073709551615}";
  kbs_jr_iter it;
  char key[32];
  kbs_span m;
  uint8_t b[3];
  uint64_t u;
  CHECK(!kbs_jr_document(doc, strlen(doc), &v) && !kbs_jr_object(v, &it), "object");
  CHECK(kbs_jr_member(&it, key, sizeof(key), &m) == 1 && !strcmp(key, "x") &&
            kbs_jr_bytes(m, b, 3) == 3 && b[0] == 7 && b[1] == 255 && b[2] == 0, "byte array");
  CHECK(kbs_jr_member(&it, key, sizeof(key), &m) == 1 && !key[0], "escaped key");
  CHECK(kbs_jr_member(&it, key, sizeof(key), &m) == 1 && !strcmp(key, "s") &&
            !kbs_jr_plain_string(m, key, sizeof(key)) && !strcmp(key, "str"), "string");
  CHECK(kbs_jr_member(&it, key, sizeof(key), &m) == 1 && !kbs_jr_uint(m, &u) && u == UINT64_MAX, "u64");
  CHECK(kbs_jr_member(&it, key, sizeof(key), &m) == 0, "end of object");
  static const char *const notbytes[] = {"[256]", "[-1]", "[1.0]", "[1e2]", "[\"1\"]", "[[1]]", "[null]", "{}",
                                         "[1000]", "[25,2550]", "[1,0e1]", "[-0]", "[1, 2.5 ]"};
  for (size_t i = 0; i < sizeof(notbytes) / sizeof(notbytes[0]); i++) {
    CHECK(!kbs_jr_document(notbytes[i], strlen(notbytes[i]), &v), "%s", notbytes[i]);
    CHECK(kbs_jr_bytes(v, b, 3) < 0, "%s taken as bytes", notbytes[i]);
  }
  const char *spaced = " [ 1 ,\n2\t,  30 ] ";
  CHECK(!kbs_jr_document(spaced, strlen(spaced), &v) && kbs_jr_bytes(v, b, 3) == 3 && b[0] == 1 &&
            b[1] == 2 && b[2] == 30, "byte array with whitespace");
  CHECK(!kbs_jr_document("[ ]", 3, &v) && kbs_jr_bytes(v, b, 3) == 0, "empty byte array");
  CHECK(!kbs_jr_document("[1,2,3,4]", 9, &v) && kbs_jr_bytes(v, b, 3) == 4, "longer array: its length");
  CHECK(!kbs_jr_document("18446744073709551616", 20, &v) && kbs_jr_uint(v, &u) != 0, "2^64 taken as u64");
  /* Known keys twice are refused; unknown ones skipped. */
  static const char *const names[] = {"a", "b"};
  kbs_span two[2];
  cf_error e = {0};
  const char *dup = "{\"a\": 1, \"zz\": 2, \"zz\": 3, \"a\": 4}";
  CHECK(!kbs_jr_document(dup, strlen(dup), &v), "dup doc");
  CHECK(kbs_jr_members(v, "t", names, sizeof(names[0]), 2, two, &e) && strstr(e.msg, "t.a appears twice"),
        "duplicate member accepted: %s", e.msg);
  /* The SNP report reader refuses a report field given twice. */
  uint8_t rep[CF_SNP_REPORT_SIZE];
  e = (cf_error){0};
  const char *r2 = "{\"version\": 2, \"version\": 3}";
  CHECK(kbs_snp_report_from_json(r2, strlen(r2), rep, &e) && strstr(e.msg, "version appears twice"),
        "report field twice: %s", e.msg);
}

int main(void) {
  test_jcs();
  test_runtime_digest();
  test_initdata();
  test_b64();
  test_keys_and_jwe();
  test_jwt();
  test_paths();
  test_policy();
  test_sessions();
  test_jread();
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  else
    printf("ok: JCS and runtime-data vectors, init-data, base64, keys, JWE, JWT, paths, policy, sessions, JSON reader\n");
  return failures ? 1 : 0;
}
