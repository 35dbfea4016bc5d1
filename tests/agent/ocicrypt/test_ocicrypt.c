/* libcoffer_ocicrypt against images that skopeo (Debian's, an implementation
 * nobody here wrote) encrypted: ocicrypt_skopeo.sh builds a busybox image as
 * an OCI layout, encrypts it with `skopeo copy --encryption-key jwe:...` for
 * an RSA key, an EC P-256 key and both, and runs this program on the layouts.
 *
 *   test_ocicrypt DIR    DIR/plain, DIR/enc-rsa, DIR/enc-ec, DIR/enc-both
 *                        (OCI layouts) and DIR/{rsa,ec}.pem (private keys)
 *
 * Each layer is read from the layout on disk (index.json -> manifest ->
 * layers with their annotations), decrypted, and its plaintext's sha256
 * compared with the unencrypted image's layer digest. Then the refusals: a
 * key that is no recipient, flipped/truncated ciphertext, altered pubopts,
 * unknown cipher, malformed annotations. The attestation-agent keyprovider
 * scheme cannot be produced by skopeo here (it needs CoCo's keyprovider
 * service), so its annotation is built in this test from the documented
 * packet format with OpenSSL's AES-256-GCM, around the wrapped options that
 * skopeo made. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/file.h"
#include "coffer/ocicrypt.h"
#include "ocicrypt_int.h"

static int failures, checks;
#define CHECK(c, ...)                                                                              \
  do {                                                                                             \
    checks++;                                                                                      \
    if (!(c)) {                                                                                    \
      failures++;                                                                                  \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                         \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

static const char *dir;

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
    exit(1);
  fclose(f);
  b[n] = 0;
  *len = (size_t)n;
  return b;
}

static json_t *blob_json(const char *layout, const char *digest) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s/blobs/sha256/%s", dir, layout, digest + 7);
  size_t n;
  uint8_t *b = slurp(p, &n);
  json_t *j = json_loadb((char *)b, n, 0, NULL);
  free(b);
  if (!j)
    exit(1);
  return j;
}

/* The layers array of the layout's first manifest. */
static json_t *layers(const char *layout) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s/index.json", dir, layout);
  json_t *idx = json_load_file(p, 0, NULL);
  const char *md = json_string_value(
      json_object_get(json_array_get(json_object_get(idx, "manifests"), 0), "digest"));
  if (!md)
    exit(1);
  json_t *m = blob_json(layout, md);
  json_t *l = json_incref(json_object_get(m, "layers"));
  json_decref(m);
  json_decref(idx);
  return l;
}

struct desc {
  char digest[80], media[160];
  struct cf_ocicrypt_annotation ann[8];
  char *keys[8], *values[8];
  size_t n;
  uint8_t *blob;
  size_t len;
};

static void desc_load(struct desc *d, const char *layout, json_t *l) {
  memset(d, 0, sizeof(*d));
  snprintf(d->digest, sizeof(d->digest), "%s", json_string_value(json_object_get(l, "digest")));
  snprintf(d->media, sizeof(d->media), "%s", json_string_value(json_object_get(l, "mediaType")));
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(l, "annotations"), k, v) {
    d->keys[d->n] = strdup(k);
    d->values[d->n] = strdup(json_string_value(v));
    d->n++;
  }
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s/blobs/sha256/%s", dir, layout, d->digest + 7);
  d->blob = slurp(p, &d->len);
}

static void desc_set(struct desc *d, const char *key, const char *value) {
  size_t i = 0;
  while (i < d->n && strcmp(d->keys[i], key))
    i++;
  if (i == d->n) {
    d->keys[d->n++] = strdup(key);
  } else {
    free(d->values[i]);
  }
  d->values[i] = value ? strdup(value) : NULL;
  if (!value) { /* removal */
    free(d->keys[i]);
    d->keys[i] = d->keys[d->n - 1];
    d->values[i] = d->values[d->n - 1];
    d->n--;
  }
}

static const char *desc_get(struct desc *d, const char *key) {
  for (size_t i = 0; i < d->n; i++)
    if (!strcmp(d->keys[i], key))
      return d->values[i];
  return NULL;
}

static void desc_free(struct desc *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->keys[i]);
    free(d->values[i]);
  }
  free(d->blob);
}

static struct cf_ocicrypt_annotation *anns(struct desc *d) {
  for (size_t i = 0; i < d->n; i++)
    d->ann[i] = (struct cf_ocicrypt_annotation){d->keys[i], d->values[i]};
  return d->ann;
}

static void hexdigest(int fd, char out[72]) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  uint8_t buf[65536], md[32];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    EVP_DigestUpdate(c, buf, (size_t)n);
  EVP_DigestFinal_ex(c, md, NULL);
  EVP_MD_CTX_free(c);
  strcpy(out, "sha256:");
  for (int i = 0; i < 32; i++)
    sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* Open, feed in uneven chunks, finish. Returns 0 with the plaintext digest,
 * or the failing call's result with err filled. */
static const char *staging_dir; /* NULL: memfd */

/* Staging files of this process still open (memfd or O_TMPFILE). */
static int open_staging(void) {
  int n = 0;
  char p[64], t[256];
  for (int fd = 0; fd < 1024; fd++) {
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    ssize_t l = readlink(p, t, sizeof(t) - 1);
    if (l <= 0)
      continue;
    t[l] = 0;
    n += strstr(t, "coffer-layer") || strstr(t, "(deleted)") ? 1 : 0;
  }
  return n;
}

static int decrypt(struct desc *d, const struct cf_ocicrypt_keys *keys, const uint8_t *blob,
                   size_t len, char out[72], cf_error *err, const char **scheme) {
  cf_ocicrypt_layer *l = NULL;
  int before = open_staging();
  int r = cf_ocicrypt_open(d->digest, d->media, anns(d), d->n, keys, staging_dir, &l, err);
  if (r)
    return r;
  if (scheme)
    *scheme = cf_ocicrypt_scheme(l);
  size_t off = 0, step = 1;
  while (!r && off < len) {
    size_t n = len - off < step ? len - off : step;
    r = cf_ocicrypt_update(l, blob + off, n, err);
    off += n;
    step = step * 7 + 3;
  }
  int fd = -1;
  uint64_t size = 0;
  if (!r)
    r = cf_ocicrypt_final(l, &fd, &size, err);
  if (!r) {
    hexdigest(fd, out);
    CHECK(!strcmp(cf_ocicrypt_plain_digest(l), out),
          "%s: wrapped options' digest %s, plaintext %s", d->digest, cf_ocicrypt_plain_digest(l),
          out);
    CHECK(staging_dir || write(fd, "x", 1) < 0, "%s: the released plaintext is writable",
          d->digest);
    close(fd);
  } else {
    /* nothing more comes out of a refused layer */
    cf_error e2 = {0};
    CHECK(cf_ocicrypt_final(l, &fd, &size, &e2) != 0 && fd == -1,
          "%s: final() after a refusal released plaintext", d->digest);
  }
  cf_ocicrypt_free(l);
  if (r)
    CHECK(open_staging() == before, "%s: a refused layer's staging file is still open", d->digest);
  return r;
}

static struct cf_ocicrypt_blob key_file(const char *name) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  size_t n;
  uint8_t *b = slurp(p, &n);
  return (struct cf_ocicrypt_blob){b, n};
}

/* Every layer of `layout` decrypts with keys to the plain image's layer. */
static void decrypts_to_plain(const char *layout, const struct cf_ocicrypt_keys *keys,
                              const char *want_scheme) {
  json_t *pl = layers("plain"), *el = layers(layout);
  CHECK(json_array_size(pl) == json_array_size(el) && json_array_size(pl) > 0,
        "%s: %zu layers, plain %zu", layout, json_array_size(el), json_array_size(pl));
  for (size_t i = 0; i < json_array_size(el); i++) {
    struct desc d;
    desc_load(&d, layout, json_array_get(el, i));
    const char *plain_mt = NULL;
    CHECK(cf_ocicrypt_is_encrypted(d.media, &plain_mt) &&
              !strcmp(plain_mt, json_string_value(
                                    json_object_get(json_array_get(pl, i), "mediaType"))),
          "%s: media type %s", d.digest, d.media);
    char got[72] = "";
    cf_error err = {0};
    const char *scheme = NULL;
    int r = decrypt(&d, keys, d.blob, d.len, got, &err, &scheme);
    const char *want = json_string_value(json_object_get(json_array_get(pl, i), "digest"));
    CHECK(r == 0 && !strcmp(got, want), "%s layer %zu: %s (got %s want %s)", layout, i, err.msg,
          got, want);
    CHECK(r || !strcmp(scheme, want_scheme), "%s: scheme %s", layout, scheme);
    printf("ok %s layer %zu %s -> %s (%s)\n", layout, i, d.digest, got, scheme);
    desc_free(&d);
  }
  json_decref(pl);
  json_decref(el);
}

static int expect_refusal(struct desc *d, const struct cf_ocicrypt_keys *keys, const uint8_t *blob,
                          size_t len, const char *needle, const char *what) {
  char got[72];
  cf_error err = {0};
  int r = decrypt(d, keys, blob, len, got, &err, NULL);
  CHECK(r != 0, "%s: accepted", what);
  CHECK(strstr(err.msg, needle) && strstr(err.msg, d->digest),
        "%s: message \"%s\" lacks \"%s\" or the digest", what, err.msg, needle);
  printf("ok refused %s: %s\n", what, err.msg);
  return r;
}

static char *b64(const uint8_t *b, size_t n) {
  char *s = malloc(n / 3 * 4 + 8);
  EVP_EncodeBlock((unsigned char *)s, b, (int)n);
  return s;
}

/* pubopts with `field` replaced by a JSON value. */
static char *pubopts_with(struct desc *d, const char *field, json_t *v) {
  uint8_t *raw;
  size_t n;
  cf_error err = {0};
  const char *p = desc_get(d, OC_ANN_PUBOPTS);
  if (oc_b64_decode(p, strlen(p), 4096, &raw, &n, &err))
    exit(1);
  json_t *j = json_loadb((char *)raw, n, 0, NULL);
  json_object_set_new(j, field, v);
  char *s = json_dumps(j, JSON_COMPACT);
  char *out = b64((uint8_t *)s, strlen(s));
  free(s);
  free(raw);
  json_decref(j);
  return out;
}

static void refusals(const struct cf_ocicrypt_keys *rsa, const struct cf_ocicrypt_keys *ec) {
  json_t *el = layers("enc-rsa");
  struct desc d;
  desc_load(&d, "enc-rsa", json_array_get(el, 0));
  char got[72];
  cf_error err = {0};

  /* a private key that is no recipient (fresh RSA, and the EC key on an
   * RSA-only image) */
  EVP_PKEY *other = EVP_RSA_gen(2048);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, other, NULL, NULL, 0, NULL, NULL);
  char *pem;
  long pl = BIO_get_mem_data(bio, &pem);
  struct cf_ocicrypt_blob ob = {(uint8_t *)pem, (size_t)pl};
  struct cf_ocicrypt_keys wrong = {.privkeys = &ob, .n_privkeys = 1};
  expect_refusal(&d, &wrong, d.blob, d.len, "no key matches", "a foreign RSA key");
  expect_refusal(&d, ec, d.blob, d.len, "no key matches", "the EC key on an RSA-only image");
  BIO_free(bio);
  EVP_PKEY_free(other);
  struct cf_ocicrypt_keys none = {0};
  expect_refusal(&d, &none, d.blob, d.len, "no key matches", "no keys at all");

  /* the ciphertext altered: one flipped byte, the first, the last, truncated,
   * extended */
  uint8_t *t = malloc(d.len + 1);
  size_t spots[] = {0, d.len / 2, d.len - 1};
  for (size_t s = 0; s < 3; s++) {
    memcpy(t, d.blob, d.len);
    t[spots[s]] ^= 0x01;
    char what[64];
    snprintf(what, sizeof(what), "byte %zu flipped", spots[s]);
    expect_refusal(&d, rsa, t, d.len, "wrong HMAC", what);
  }
  expect_refusal(&d, rsa, d.blob, d.len - 1, "wrong HMAC", "truncated by one byte");
  expect_refusal(&d, rsa, d.blob, d.len / 2, "wrong HMAC", "truncated to half");
  memcpy(t, d.blob, d.len);
  t[d.len] = 0;
  expect_refusal(&d, rsa, t, d.len + 1, "wrong HMAC", "one byte appended");
  free(t);

  /* pubopts altered */
  char *orig = strdup(desc_get(&d, OC_ANN_PUBOPTS));
  uint8_t mac[32];
  RAND_bytes(mac, sizeof(mac));
  char *macb = b64(mac, 32);
  char *p = pubopts_with(&d, "hmac", json_string(macb));
  desc_set(&d, OC_ANN_PUBOPTS, p);
  expect_refusal(&d, rsa, d.blob, d.len, "wrong HMAC", "pubopts hmac replaced");
  free(p);
  free(macb);
  p = pubopts_with(&d, "hmac", json_string("AAAA"));
  desc_set(&d, OC_ANN_PUBOPTS, p);
  expect_refusal(&d, rsa, d.blob, d.len, "\"hmac\" is 3 bytes", "pubopts hmac too short");
  free(p);
  desc_set(&d, OC_ANN_PUBOPTS, orig);
  p = pubopts_with(&d, "cipher", json_string("AES_128_CBC_HMAC_SHA256"));
  desc_set(&d, OC_ANN_PUBOPTS, p);
  expect_refusal(&d, rsa, d.blob, d.len, "unsupported cipher", "unknown cipher");
  free(p);
  desc_set(&d, OC_ANN_PUBOPTS, orig);
  p = pubopts_with(&d, "cipheroptions", json_pack("{s:s}", "nonce", "AAAAAAAAAAAAAAAAAAAAAA=="));
  desc_set(&d, OC_ANN_PUBOPTS, p);
  expect_refusal(&d, rsa, d.blob, d.len, "public cipheroptions", "a public nonce");
  free(p);
  desc_set(&d, OC_ANN_PUBOPTS, "eyJjaXBoZXIi");
  expect_refusal(&d, rsa, d.blob, d.len, "not JSON", "pubopts truncated JSON");
  desc_set(&d, OC_ANN_PUBOPTS, "e30 =");
  expect_refusal(&d, rsa, d.blob, d.len, "base64", "pubopts malformed base64");
  desc_set(&d, OC_ANN_PUBOPTS, NULL);
  expect_refusal(&d, rsa, d.blob, d.len, "no org.opencontainers.image.enc.pubopts",
                 "pubopts missing");
  desc_set(&d, OC_ANN_PUBOPTS, orig);

  /* the JWE annotation altered */
  char *jwe = strdup(desc_get(&d, OC_ANN_JWE));
  desc_set(&d, OC_ANN_JWE, "not*base64");
  expect_refusal(&d, rsa, d.blob, d.len, "base64", "JWE malformed base64");
  desc_set(&d, OC_ANN_JWE, "eyJhIjox");
  expect_refusal(&d, rsa, d.blob, d.len, "not a JWE", "JWE not JSON");
  uint8_t *raw;
  size_t rl;
  oc_b64_decode(jwe, strlen(jwe), 1 << 16, &raw, &rl, &err);
  json_t *j = json_loadb((char *)raw, rl, 0, NULL);
  const char *ct = json_string_value(json_object_get(j, "ciphertext"));
  char *ct2 = strdup(ct);
  ct2[2] = ct2[2] == 'A' ? 'B' : 'A';
  json_object_set_new(j, "ciphertext", json_string(ct2));
  char *s = json_dumps(j, JSON_COMPACT);
  char *jb = b64((uint8_t *)s, strlen(s));
  desc_set(&d, OC_ANN_JWE, jb);
  expect_refusal(&d, rsa, d.blob, d.len, "no key matches", "JWE ciphertext altered");
  /* a second, broken JWE before the good one: the good one still opens */
  char *two = malloc(strlen(jwe) + 16);
  sprintf(two, "eyJhIjox,%s", jwe);
  desc_set(&d, OC_ANN_JWE, two);
  CHECK(decrypt(&d, rsa, d.blob, d.len, got, &err, NULL) == 0, "bad,good JWE list: %s", err.msg);
  desc_set(&d, OC_ANN_JWE, NULL);
  expect_refusal(&d, rsa, d.blob, d.len, "no JWE annotation", "JWE annotation missing");
  char *huge = malloc(CF_OCICRYPT_ANNOTATION_MAX + 2);
  memset(huge, 'A', CF_OCICRYPT_ANNOTATION_MAX + 1);
  huge[CF_OCICRYPT_ANNOTATION_MAX + 1] = 0;
  desc_set(&d, OC_ANN_JWE, huge);
  expect_refusal(&d, rsa, d.blob, d.len, "over", "oversized annotation");
  desc_set(&d, OC_ANN_JWE, jwe);
  CHECK(decrypt(&d, rsa, d.blob, d.len, got, &err, NULL) == 0, "restored: %s", err.msg);
  char mt[200];
  snprintf(mt, sizeof(mt), "%s", d.media);
  snprintf(d.media, sizeof(d.media), "application/vnd.oci.image.layer.v1.tar+gzip");
  expect_refusal(&d, rsa, d.blob, d.len, "not an encrypted layer type", "plain media type");
  snprintf(d.media, sizeof(d.media), "%s", mt);
  free(huge);
  free(two);
  free(jb);
  free(s);
  free(ct2);
  json_decref(j);
  free(raw);
  free(jwe);
  free(orig);
  desc_free(&d);
  json_decref(el);
}

/* ---- the attestation-agent keyprovider scheme ---- */
struct broker {
  uint8_t kek[32];
  const char *deny; /* the broker's refusal, if set */
  char asked[600];
  size_t len;
};

static int get_resource(void *ctx, const char *kid, uint8_t **out, size_t *len, cf_error *err) {
  struct broker *b = ctx;
  snprintf(b->asked, sizeof(b->asked), "%s", kid);
  if (b->deny)
    return cf_err_status(err, CF_PERMISSION_DENIED, "%s", b->deny);
  *out = malloc(b->len);
  memcpy(*out, b->kek, b->len);
  *len = b->len;
  return 0;
}

static char *packet(const uint8_t *kek, const uint8_t *opts, size_t n, const char *kid,
                    const char *wrap_type, bool flip) {
  uint8_t iv[12], *ct = malloc(n + 16);
  RAND_bytes(iv, sizeof(iv));
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int l = 0, l2 = 0;
  EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, iv);
  EVP_EncryptUpdate(c, ct, &l, opts, (int)n);
  EVP_EncryptFinal_ex(c, ct + l, &l2);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct + n);
  EVP_CIPHER_CTX_free(c);
  if (flip)
    ct[n / 2] ^= 1;
  char *wd = b64(ct, n + 16), *ivb = b64(iv, 12);
  json_t *p = json_pack("{s:s,s:s,s:s,s:s}", "kid", kid, "wrapped_data", wd, "iv", ivb,
                        "wrap_type", wrap_type);
  char *s = json_dumps(p, JSON_COMPACT);
  char *out = b64((uint8_t *)s, strlen(s));
  free(s);
  json_decref(p);
  free(wd);
  free(ivb);
  free(ct);
  return out;
}

static void keyprovider(const struct cf_ocicrypt_keys *rsa) {
  json_t *el = layers("enc-rsa"), *pl = layers("plain");
  struct desc d;
  desc_load(&d, "enc-rsa", json_array_get(el, 0));
  const char *want = json_string_value(json_object_get(json_array_get(pl, 0), "digest"));
  /* the wrapped options skopeo made, unwrapped with the RSA key */
  uint8_t *opts;
  size_t n;
  cf_error err = {0};
  if (oc_unwrap_jwe(desc_get(&d, OC_ANN_JWE), rsa, &opts, &n, &err)) {
    fprintf(stderr, "unwrap: %s\n", err.msg);
    exit(1);
  }
  struct broker b = {.len = 32};
  RAND_bytes(b.kek, 32);
  struct cf_ocicrypt_keys keys = {.get_resource = get_resource, .ctx = &b};
  const char *kid = "kbs:///default/image-kek/1";
  char *pk = packet(b.kek, opts, n, kid, "A256GCM", false);
  desc_set(&d, OC_ANN_JWE, NULL);
  desc_set(&d, OC_ANN_AA, pk);
  char got[72] = "";
  const char *scheme = NULL;
  int r = decrypt(&d, &keys, d.blob, d.len, got, &err, &scheme);
  CHECK(r == 0 && !strcmp(got, want) && !strcmp(scheme, "provider.attestation-agent") &&
            !strcmp(b.asked, kid),
        "keyprovider: %s (got %s want %s, asked %s)", err.msg, got, want, b.asked);
  printf("ok keyprovider layer %s -> %s (asked the broker for %s)\n", d.digest, got, b.asked);

  b.deny = "policy denies resource default/image-kek/1";
  expect_refusal(&d, &keys, d.blob, d.len, "policy denies resource", "broker refuses the KEK");
  b.deny = NULL;
  b.kek[0] ^= 1;
  expect_refusal(&d, &keys, d.blob, d.len, "does not open", "a different KEK");
  b.kek[0] ^= 1;
  b.len = 16;
  expect_refusal(&d, &keys, d.blob, d.len, "16 bytes", "a 16-byte KEK");
  b.len = 32;
  char *bad = packet(b.kek, opts, n, kid, "A256GCM", true);
  desc_set(&d, OC_ANN_AA, bad);
  expect_refusal(&d, &keys, d.blob, d.len, "does not open", "wrapped_data altered");
  free(bad);
  bad = packet(b.kek, opts, n, kid, "A256CTR", false);
  desc_set(&d, OC_ANN_AA, bad);
  expect_refusal(&d, &keys, d.blob, d.len, "unsupported wrap_type", "A256CTR wrap type");
  free(bad);
  bad = packet(b.kek, opts, n, "file:///etc/shadow", "A256GCM", false);
  desc_set(&d, OC_ANN_AA, bad);
  expect_refusal(&d, &keys, d.blob, d.len, "not a kbs:// resource", "non-kbs kid");
  free(bad);
  desc_set(&d, OC_ANN_AA, "eyJraWQiOiJrYnM6Ly8vYS9iL2MifQ==");
  expect_refusal(&d, &keys, d.blob, d.len, "are required", "packet without wrapped_data");
  /* a flipped ciphertext byte is refused on this path too */
  desc_set(&d, OC_ANN_AA, pk);
  d.blob[7] ^= 0x80;
  expect_refusal(&d, &keys, d.blob, d.len, "wrong HMAC", "keyprovider layer, byte flipped");
  d.blob[7] ^= 0x80;
  /* an unknown keyprovider is not ours */
  desc_set(&d, OC_ANN_AA, NULL);
  desc_set(&d, OC_ANN_PROVIDER "someone-else", pk);
  expect_refusal(&d, &keys, d.blob, d.len, "not supported", "another keyprovider");
  free(pk);
  free(opts);
  desc_free(&d);
  json_decref(el);
  json_decref(pl);
}

/* Threads of this process (the HMAC thread shows up here while it runs). */
static int threads(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/task");
  for (struct dirent *e; d && (e = readdir(d));)
    n += e->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

/* Encrypts size random bytes as an ocicrypt layer whose key the broker b
 * holds (keyprovider scheme): fills d (blob = ciphertext) and returns the
 * plaintext. */
static uint8_t *synthetic_layer(struct desc *d, struct broker *b, size_t size) {
  uint8_t key[32], nonce[16], mac[32], *pt = malloc(size + 1), *ct = malloc(size + 1);
  RAND_bytes(key, 32);
  RAND_bytes(nonce, 16);
  RAND_bytes(pt, (int)size);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int l = 0;
  EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, nonce);
  EVP_EncryptUpdate(c, ct, &l, pt, (int)size);
  EVP_CIPHER_CTX_free(c);
  size_t ml = 0;
  EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, ct, size, mac, 32, &ml);
  char *kb = b64(key, 32), *nb = b64(nonce, 16), *mb = b64(mac, 32), opts[256], pub[256];
  snprintf(opts, sizeof(opts),
           "{\"symkey\":\"%s\",\"digest\":\"\",\"cipheroptions\":{\"nonce\":\"%s\"}}", kb, nb);
  snprintf(pub, sizeof(pub),
           "{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":\"%s\",\"cipheroptions\":{}}", mb);
  char *pk = packet(b->kek, (uint8_t *)opts, strlen(opts), "kbs:///default/image-kek/synthetic",
                    "A256GCM", false);
  char *pubb = b64((uint8_t *)pub, strlen(pub));
  memset(d, 0, sizeof(*d));
  snprintf(d->digest, sizeof(d->digest), "sha256:synthetic-%zu", size);
  snprintf(d->media, sizeof(d->media), "application/vnd.oci.image.layer.v1.tar+encrypted");
  desc_set(d, OC_ANN_PUBOPTS, pubb);
  desc_set(d, OC_ANN_AA, pk);
  d->blob = ct;
  d->len = size;
  free(kb), free(nb), free(mb), free(pk), free(pubb);
  return pt;
}

/* Decrypts d fed in `step`-byte updates; compares every plaintext byte. */
static void decrypts_exactly(struct desc *d, const struct cf_ocicrypt_keys *keys,
                             const uint8_t *pt, size_t step, bool want_thread) {
  cf_ocicrypt_layer *l = NULL;
  cf_error err = {0};
  int r = cf_ocicrypt_open(d->digest, d->media, anns(d), d->n, keys, NULL, &l, &err);
  int base = threads(), most = base;
  for (size_t off = 0; !r && off < d->len; off += step) {
    r = cf_ocicrypt_update(l, d->blob + off, d->len - off < step ? d->len - off : step, &err);
    most = threads() > most ? threads() : most;
  }
  int fd = -1;
  uint64_t size = 0;
  if (!r)
    r = cf_ocicrypt_final(l, &fd, &size, &err);
  CHECK(!r && size == d->len, "%s in %zu-byte updates: %s", d->digest, step, err.msg);
  CHECK(threads() == base, "%s: the HMAC thread outlived final()", d->digest);
  /* the pipeline is what is under test: it must have run when it could */
  CHECK(!want_thread || d->len <= OC_CHUNK || most == base + 1,
        "%s: %d threads during the updates, %d before (no HMAC thread?)", d->digest, most, base);
  CHECK(want_thread || most == base, "%s: a thread was started on one CPU", d->digest);
  uint8_t *got = malloc(d->len + 1);
  ssize_t n = r ? -1 : pread(fd, got, d->len + 1, 0);
  CHECK(n == (ssize_t)d->len && !memcmp(got, pt, d->len), "%s: plaintext differs (%zd bytes)",
        d->digest, n);
  free(got);
  if (fd >= 0)
    close(fd);
  cf_ocicrypt_free(l);
}

/* The HMAC pipeline (second thread, ring of OC_NSLOTS slots of OC_CHUNK) at
 * its edges: layers of 0, 1, OC_CHUNK +-1 bytes, exactly one full ring,
 * several rings, fed whole, in chunk-sized and in uneven updates; a flipped
 * last (or first) byte of a multi-chunk layer is refused with nothing
 * released and no thread left behind. Run with the CPUs this process has
 * (the HMAC on its own thread) and pinned to one CPU (inline). */
static void pipeline(bool want_thread) {
  struct broker b = {.len = 32};
  RAND_bytes(b.kek, 32);
  struct cf_ocicrypt_keys keys = {.get_resource = get_resource, .ctx = &b};
  const size_t sizes[] = {0, 1, OC_CHUNK - 1, OC_CHUNK, OC_CHUNK + 1,
                          (size_t)OC_CHUNK * OC_NSLOTS, (size_t)OC_CHUNK * OC_NSLOTS * 3 + 17};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    struct desc d;
    uint8_t *pt = synthetic_layer(&d, &b, sizes[i]);
    size_t steps[] = {d.len ? d.len : 1, OC_CHUNK, 65536, 4093};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
      decrypts_exactly(&d, &keys, pt, steps[s], want_thread);
    /* a slow HMAC thread: the caller waits for free slots, never overwrites
     * one that is not hashed yet */
    oc_test_hmac_slot_delay_us = 3000;
    decrypts_exactly(&d, &keys, pt, 65536, want_thread);
    oc_test_hmac_slot_delay_us = 0;
    if (d.len > OC_CHUNK) {
      int base = threads();
      d.blob[d.len - 1] ^= 1;
      expect_refusal(&d, &keys, d.blob, d.len, "wrong HMAC", "multi-chunk layer, last byte");
      d.blob[d.len - 1] ^= 1;
      d.blob[0] ^= 0x40;
      expect_refusal(&d, &keys, d.blob, d.len, "wrong HMAC", "multi-chunk layer, first byte");
      d.blob[0] ^= 0x40;
      expect_refusal(&d, &keys, d.blob, d.len - 1, "wrong HMAC", "multi-chunk layer, truncated");
      CHECK(threads() == base, "a refused layer left its HMAC thread running");
    }
    printf("ok pipeline (%s): %zu-byte layer\n", want_thread ? "HMAC thread" : "one CPU", d.len);
    free(pt);
    desc_free(&d);
  }
}

/* The EC key as a private JWK opens the same image. */
static struct cf_ocicrypt_blob ec_as_jwk(struct cf_ocicrypt_blob pem) {
  BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  json_t *jwk = jose_openssl_jwk_from_EVP_PKEY(NULL, k);
  char *s = json_dumps(jwk, JSON_COMPACT);
  json_decref(jwk);
  EVP_PKEY_free(k);
  BIO_free(bio);
  return (struct cf_ocicrypt_blob){(uint8_t *)s, strlen(s)};
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  struct cf_ocicrypt_blob rk = key_file("rsa.pem"), ek = key_file("ec.pem");
  struct cf_ocicrypt_blob both[2] = {rk, ek}, jwk = ec_as_jwk(ek);
  struct cf_ocicrypt_keys rsa = {.privkeys = &rk, .n_privkeys = 1};
  struct cf_ocicrypt_keys ec = {.privkeys = &ek, .n_privkeys = 1};
  struct cf_ocicrypt_keys ecj = {.privkeys = &jwk, .n_privkeys = 1};
  struct cf_ocicrypt_keys two = {.privkeys = both, .n_privkeys = 2};
  decrypts_to_plain("enc-rsa", &rsa, "jwe");
  decrypts_to_plain("enc-ec", &ec, "jwe");
  decrypts_to_plain("enc-ec", &ecj, "jwe");
  decrypts_to_plain("enc-both", &rsa, "jwe");
  decrypts_to_plain("enc-both", &ec, "jwe");
  decrypts_to_plain("enc-rsa", &two, "jwe");
  refusals(&rsa, &ec);
  /* the same through an unnamed O_TMPFILE staging file in a directory */
  staging_dir = dir;
  decrypts_to_plain("enc-ec", &ec, "jwe");
  refusals(&rsa, &ec);
  staging_dir = NULL;
  keyprovider(&rsa);
  cpu_set_t all, one;
  if (sched_getaffinity(0, sizeof(all), &all) || CPU_COUNT(&all) < 2) {
    printf("note: one CPU here, the HMAC thread's pipeline is not exercised\n");
  } else {
    pipeline(true);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &all)) {
        CPU_SET(c, &one);
        break;
      }
    if (sched_setaffinity(0, sizeof(one), &one)) {
      perror("sched_setaffinity");
      return 1;
    }
  }
  pipeline(false);
  sched_setaffinity(0, sizeof(all), &all);
  free((void *)rk.data);
  free((void *)ek.data);
  free((void *)jwk.data);
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
