/* lib/initdata.c, lib/initdata_annotation.c, lib/sha2.c: init-data documents
 * are checked as Kata/CoCo define them, the digest is over the exact bytes
 * and fitted to HOST_DATA / MRCONFIGID, the broker and coffer settings are
 * read, and hostile annotations (bad base64, not gzip, gzip bombs, trailing
 * bytes, oversized) are refused naming the problem. OpenSSL is the
 * independent oracle for the digests. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "coffer/cleanup.h"
#include "coffer/initdata.h"
#include "coffer/sha2.h"
#include "test_util.h"

#define DOC(alg, data)                                                                            \
  "version = \"0.1.0\"\nalgorithm = \"" alg "\"\n\n[data]\n" data

static const char AA_COFFER[] =
    "\"aa.toml\" = '''\n"
    "[token_configs]\n"
    "[token_configs.coco_as]\nurl = \"https://as.example\"\n\n"
    "[token_configs.kbs]\n"
    "url = \"https://kbs.example:8080\"\n"
    "cert = \"\"\"\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\"\"\"\n"
    "'''\n"
    "\"cdh.toml\" = '''\n[kbc]\nname = \"cc_kbc\"\nurl = \"https://kbs.example:8080\"\n'''\n"
    "\"coffer.toml\" = '''\n"
    "[secrets]\ndb-password = \"kbs:///default/db/password\"\n\"tls.key\" = 'kbs:///prod/tls/key-1'\n"
    "[attestation]\ntoken = true\ntimeout_ms = 5000\n"
    "'''\n"
    "\"policy.rego\" = '''\npackage agent_policy\n\ndefault CreateContainerRequest := true\n'''\n";

static cf_initdata *parse_ok(const char *s) {
  cf_error err = {0};
  cf_initdata *id = cf_initdata_parse(s, strlen(s), &err);
  if (!id) {
    fprintf(stderr, "init-data refused: %s\n%s\n", err.msg, s);
    abort();
  }
  return id;
}

static void refused(const char *s, const char *want) {
  cf_error err = {0};
  cf_initdata *id = cf_initdata_parse(s, strlen(s), &err);
  if (id || !strstr(err.msg, want)) {
    fprintf(stderr, "expected refusal with \"%s\", got %s\n%s\n", want, id ? "success" : err.msg, s);
    abort();
  }
  CHECK(err.status == CF_INVALID_ARGUMENT);
}

static void digest_of(const EVP_MD *md, const char *s, size_t len, uint8_t *out, unsigned *n) {
  CHECK(EVP_Digest(s, len, out, n, md, NULL));
}

static void sha2_matches_openssl(void) {
  static uint8_t buf[777];
  for (size_t i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)(i * 131 + 7);
  for (size_t n = 0; n <= sizeof(buf); n++) {
    uint8_t a[64], b[64];
    unsigned l;
    cf_sha256(buf, n, a);
    digest_of(EVP_sha256(), (char *)buf, n, b, &l);
    CHECK(!memcmp(a, b, 32));
    cf_sha384(buf, n, a);
    digest_of(EVP_sha384(), (char *)buf, n, b, &l);
    CHECK(!memcmp(a, b, 48));
    cf_sha512(buf, n, a);
    digest_of(EVP_sha512(), (char *)buf, n, b, &l);
    CHECK(!memcmp(a, b, 64));
  }
  /* FIPS 180-4 example "abc" */
  uint8_t d[64];
  char hex[129];
  cf_sha256("abc", 3, d);
  cf_hex(d, 32, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  cf_sha384("abc", 3, d);
  cf_hex(d, 48, hex);
  CHECK(!strcmp(hex, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                     "8086072ba1e7cc2358baeca134c825a7"));
}

static void document_is_read_and_hashed_over_its_exact_bytes(void) {
  const char *algs[] = {"sha256", "sha384", "sha512"};
  const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
  for (int a = 0; a < 3; a++) {
    char doc[4096];
    snprintf(doc, sizeof(doc), "version = \"0.1.0\"\nalgorithm = \"%s\"\n\n[data]\n%s", algs[a],
             AA_COFFER);
    _cleanup_(cf_initdata_freep) cf_initdata *id = parse_ok(doc);
    uint8_t want[64];
    unsigned n;
    digest_of(mds[a], doc, strlen(doc), want, &n);
    CHECK(id->alg == (cf_initdata_alg)a && !strcmp(cf_initdata_alg_name(id->alg), algs[a]));
    CHECK(id->digest_len == n && !memcmp(id->digest, want, n));
    CHECK(id->toml_len == strlen(doc) && !memcmp(id->toml, doc, id->toml_len));
    /* the broker, as CoCo's attestation agent reads it */
    CHECK(!strcmp(id->broker_url, "https://kbs.example:8080"));
    CHECK(!strcmp(id->broker_cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"));
    /* coffer's own entry */
    CHECK(id->n_secrets == 2);
    CHECK(!strcmp(id->secrets[0].name, "db-password") &&
          !strcmp(id->secrets[0].uri, "kbs:///default/db/password"));
    CHECK(!strcmp(id->secrets[1].name, "tls.key") && !strcmp(id->secrets[1].uri, "kbs:///prod/tls/key-1"));
    CHECK(id->token && id->timeout_ms == 5000);
    size_t len;
    const char *pol = cf_initdata_entry(id, "policy.rego", &len);
    CHECK(pol && !strncmp(pol, "package agent_policy\n", 21) && len == strlen(pol));
    CHECK(!cf_initdata_entry(id, "absent", &len));
  }
  /* one byte of difference (a space) changes the digest: no canonicalisation */
  _cleanup_(cf_initdata_freep) cf_initdata *x = parse_ok(DOC("sha256", "a = 'b'\n"));
  _cleanup_(cf_initdata_freep) cf_initdata *y = parse_ok(DOC("sha256", "a = 'b' \n"));
  CHECK(memcmp(x->digest, y->digest, 32));
  /* defaults: no broker, no secrets, no token, 30 s */
  CHECK(!x->broker_url && !x->broker_cert && !x->n_secrets && !x->token && x->timeout_ms == 30000);
}

static void digest_fits_hostdata_and_mrconfigid(void) {
  uint8_t d[64], out[64];
  for (int i = 0; i < 64; i++)
    d[i] = (uint8_t)(i + 1);
  /* sha256 -> SNP HOST_DATA: as is; TDX MRCONFIGID: 16 zero bytes appended */
  memset(out, 0xAA, sizeof(out));
  cf_initdata_fit(d, 32, out, 32);
  CHECK(!memcmp(out, d, 32) && out[32] == 0xAA);
  cf_initdata_fit(d, 32, out, 48);
  CHECK(!memcmp(out, d, 32));
  for (int i = 32; i < 48; i++)
    CHECK(out[i] == 0);
  CHECK(out[48] == 0xAA);
  /* sha384/sha512 -> HOST_DATA: truncated; sha512 -> MRCONFIGID: truncated */
  memset(out, 0xAA, sizeof(out));
  cf_initdata_fit(d, 48, out, 32);
  CHECK(!memcmp(out, d, 32) && out[32] == 0xAA);
  cf_initdata_fit(d, 64, out, 48);
  CHECK(!memcmp(out, d, 48) && out[48] == 0xAA);
  cf_initdata_fit(d, 48, out, 48);
  CHECK(!memcmp(out, d, 48));
  /* sha256 -> CCA 64: padded */
  cf_initdata_fit(d, 32, out, 64);
  CHECK(!memcmp(out, d, 32) && !out[32] && !out[63]);
}

static void malformed_documents_are_refused_naming_the_problem(void) {
  refused("version = \"0.2.0\"\nalgorithm = \"sha256\"\n[data]\n", "version \"0.2.0\" is not supported");
  refused("algorithm = \"sha256\"\n[data]\n", "version is missing");
  refused("version = \"0.1.0\"\nalgorithm = \"sha-256\"\n[data]\n", "algorithm \"sha-256\"");
  refused("version = \"0.1.0\"\nalgorithm = \"SHA256\"\n[data]\n", "algorithm \"SHA256\"");
  refused("version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n", "not sha256, sha384 or sha512");
  refused("version = \"0.1.0\"\n[data]\n", "algorithm is missing");
  refused("version = \"0.1.0\"\nalgorithm = \"sha256\"\n", "[data] table is missing");
  refused("version = \"0.1.0\"\nalgorithm = \"sha256\"\ndata = 1\n", "[data] table is missing");
  refused(DOC("sha256", "a = 1\n"), "[data] \"a\" must be a string");
  refused(DOC("sha256", "\"../x\" = 'y'\n"), "\"../x\" is not a valid file name");
  refused(DOC("sha256", "\"initdata.toml\" = 'y'\n"), "not a valid file name");
  refused(DOC("sha256", "a = 'x'\na = 'y'\n"), "init-data: line 6, column 1: duplicate key \"a\"");
  refused(DOC("sha256", "a = 'x'\n") "[data]\n", "defined twice");
  refused("extra = 1\n" DOC("sha256", ""), "unknown top-level entry \"extra\"");
  refused(DOC("sha256", "\"aa.toml\" = '''\n[token_configs.kbs]\nurl = 5\n'''\n"),
          "aa.toml [token_configs.kbs]: \"url\" must be a string");
  refused(DOC("sha256", "\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"file:///x\"\n'''\n"),
          "is not http(s)://");
  refused(DOC("sha256", "\"aa.toml\" = '''\n[x\n'''\n"), "init-data: \"aa.toml\": line 1, column 3");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[secrets]\n\"a/b\" = \"kbs:///r/t/g\"\n'''\n"),
          "\"a/b\" is not a valid file name");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[secrets]\ns = \"kbs://host/r/t/g\"\n'''\n"),
          "s must be \"kbs:///<repo>/<type>/<tag>\"");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[secrets]\ns = \"kbs:///r/t\"\n'''\n"), "kbs:///");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[secrets]\ns = \"kbs:///r/../g\"\n'''\n"), "kbs:///");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[secrets]\ns = \"kbs:///r/t/g/h\"\n'''\n"), "kbs:///");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[attestation]\ntimeout_ms = 0\n'''\n"), "timeout_ms must be");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[attestation]\ntoken = 'yes'\n'''\n"), "token must be true or false");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[other]\n'''\n"), "unknown entry \"other\"");
  /* [image] */
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[image]\ndecryption_keys = 'kbs:///a/b/c'\n'''\n"),
          "decryption_keys must be an array");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[image]\ndecryption_keys = ['kbs:///a/b']\n'''\n"),
          "decryption_keys[0] must be");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[image]\nregistry_ca = 'not pem'\n'''\n"),
          "registry_ca must be PEM");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[image]\ninsecure_http = 1\n'''\n"),
          "insecure_http must be true or false");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[image]\ntimeout_ms = 0\n'''\n"), "[image]: timeout_ms must be");
  refused(DOC("sha256", "\"coffer.toml\" = '''\n[image]\nregistry = 'x'\n'''\n"),
          "[image]: unknown key \"registry\"");
  {
    cf_initdata *id = parse_ok(DOC("sha256", "\"coffer.toml\" = '''\n[image]\n"
                                   "decryption_keys = ['kbs:///default/image-key/rsa', \"kbs:///k/e/y\"]\n"
                                   "registry_ca = \"\"\"\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\"\"\"\n"
                                   "insecure_http = true\ntimeout_ms = 1234\n'''\n"));
    CHECK(id->n_image_keys == 2 && !strcmp(id->image_keys[0], "kbs:///default/image-key/rsa") &&
          !strcmp(id->image_keys[1], "kbs:///k/e/y"));
    CHECK(id->registry_ca && strstr(id->registry_ca, "MIIB"));
    CHECK(id->image_insecure_http && id->image_timeout_ms == 1234);
    cf_initdata_free(id);
    id = parse_ok(DOC("sha256", ""));
    CHECK(!id->n_image_keys && !id->registry_ca && !id->image_insecure_http &&
          id->image_timeout_ms == 600000);
    cf_initdata_free(id);
  }
  /* oversized */
  size_t big = CF_INITDATA_MAX_TOML + 1;
  char *s = malloc(big + 1);
  CHECK(s);
  memset(s, '#', big);
  s[big] = 0;
  refused(s, "more than the limit");
  free(s);
}

/* gzip of data, as Kata's tooling makes it (any level). */
static uint8_t *gzip(const void *data, size_t len, size_t *out_len) {
  z_stream z = {0};
  CHECK(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  size_t cap = deflateBound(&z, len) + 64;
  uint8_t *o = malloc(cap);
  CHECK(o);
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)len;
  z.next_out = o;
  z.avail_out = (uInt)cap;
  CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
  *out_len = z.total_out;
  deflateEnd(&z);
  return o;
}

static char *b64(const uint8_t *in, size_t len) {
  char *o = malloc(4 * (len / 3 + 1) + 1);
  CHECK(o);
  CHECK(EVP_EncodeBlock((unsigned char *)o, in, (int)len) >= 0);
  return o;
}

static void annotation_refused(const char *value, size_t len, const char *want) {
  cf_error err = {0};
  char *toml = NULL;
  size_t n = 0;
  int r = cf_initdata_decode_annotation(value, len, &toml, &n, &err);
  if (r == 0 || !strstr(err.msg, want)) {
    fprintf(stderr, "annotation: expected refusal with \"%s\", got %s\n", want, r ? err.msg : "success");
    abort();
  }
  CHECK(!toml);
  CHECK(err.status == CF_INVALID_ARGUMENT);
}

static void annotation_decodes_and_hostile_ones_are_refused(void) {
  const char *doc = DOC("sha384", "a = 'b'\n");
  size_t gl;
  _cleanup_free_ uint8_t *gz = gzip(doc, strlen(doc), &gl);
  _cleanup_free_ char *val = b64(gz, gl);
  cf_error err = {0};
  _cleanup_free_ char *toml = NULL;
  size_t n;
  CHECK_OK(cf_initdata_decode_annotation(val, strlen(val), &toml, &n, &err), &err);
  CHECK(n == strlen(doc) && !strcmp(toml, doc));
  /* line breaks inside the base64 are tolerated, as Go's decoder does */
  char wrapped[4096];
  size_t w = 0;
  for (size_t i = 0; val[i]; i++) {
    wrapped[w++] = val[i];
    if (i % 16 == 15)
      wrapped[w++] = '\n';
  }
  _cleanup_free_ char *toml2 = NULL;
  CHECK_OK(cf_initdata_decode_annotation(wrapped, w, &toml2, &n, &err), &err);
  CHECK(!strcmp(toml2, doc));

  annotation_refused("not base64!", 11, "is not base64: byte 0x20 at offset 3");
  annotation_refused("QUJD*", 5, "is not base64");
  annotation_refused("QUJDR", 5, "not a multiple of 4");
  annotation_refused("Q===", 4, "misplaced '='");
  annotation_refused("QQ==QUJD", 8, "is not base64");
  annotation_refused("", 0, "is not gzip");
  annotation_refused("dmVyc2lvbiA9ICIwLjEuMCIK", 24, "is not gzip"); /* plain TOML */
  /* truncated gzip */
  _cleanup_free_ char *trunc = b64(gz, gl - 6);
  annotation_refused(trunc, strlen(trunc), "bad gzip data");
  /* corrupt deflate data */
  _cleanup_free_ uint8_t *bad = malloc(gl);
  memcpy(bad, gz, gl);
  bad[12] ^= 0xFF;
  bad[13] ^= 0xFF;
  _cleanup_free_ char *badv = b64(bad, gl);
  annotation_refused(badv, strlen(badv), "bad gzip data");
  /* bytes after the gzip member */
  _cleanup_free_ uint8_t *trail = malloc(gl + 3);
  memcpy(trail, gz, gl);
  memcpy(trail + gl, "xyz", 3);
  _cleanup_free_ char *trailv = b64(trail, gl + 3);
  annotation_refused(trailv, strlen(trailv), "3 bytes after the gzip stream");
  /* gzip bomb: 64 MiB of zeros in ~64 KiB: inflating stops at the limit */
  size_t bomb_len = 64u << 20;
  _cleanup_free_ uint8_t *zeros = calloc(1, bomb_len);
  CHECK(zeros);
  size_t bl;
  _cleanup_free_ uint8_t *bomb = gzip(zeros, bomb_len, &bl);
  _cleanup_free_ char *bombv = b64(bomb, bl);
  CHECK(strlen(bombv) < CF_INITDATA_MAX_ANNOTATION);
  annotation_refused(bombv, strlen(bombv), "inflates to more than 1048576 bytes");
  /* exactly at the limit is fine, one byte more is not */
  size_t limit_gl;
  _cleanup_free_ uint8_t *at_limit = gzip(zeros, CF_INITDATA_MAX_TOML, &limit_gl);
  _cleanup_free_ char *at_limit_v = b64(at_limit, limit_gl);
  _cleanup_free_ char *out = NULL;
  CHECK_OK(cf_initdata_decode_annotation(at_limit_v, strlen(at_limit_v), &out, &n, &err), &err);
  CHECK(n == CF_INITDATA_MAX_TOML);
  _cleanup_free_ uint8_t *over = gzip(zeros, CF_INITDATA_MAX_TOML + 1, &limit_gl);
  _cleanup_free_ char *over_v = b64(over, limit_gl);
  annotation_refused(over_v, strlen(over_v), "inflates to more than");
  /* an annotation over the size limit is refused before decoding */
  size_t huge = CF_INITDATA_MAX_ANNOTATION + 4;
  _cleanup_free_ char *hv = malloc(huge);
  memset(hv, 'A', huge);
  annotation_refused(hv, huge, "more than the limit of 262144");
}

int main(void) {
  sha2_matches_openssl();
  document_is_read_and_hashed_over_its_exact_bytes();
  digest_fits_hostdata_and_mrconfigid();
  malformed_documents_are_refused_naming_the_problem();
  annotation_decodes_and_hostile_ones_are_refused();
  printf("ok: init-data\n");
  return 0;
}
