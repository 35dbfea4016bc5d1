/* Digests ("algo:hex") checked through OpenSSL's EVP. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static size_t hex_len(const char *algo, size_t n) {
  if (n == 6 && !memcmp(algo, "sha256", 6))
    return 64;
  if (n == 6 && !memcmp(algo, "sha512", 6))
    return 128;
  return 0;
}

bool img_digest_valid(const char *d) {
  if (!d)
    return false;
  const char *c = strchr(d, ':');
  if (!c)
    return false;
  size_t want = hex_len(d, (size_t)(c - d));
  if (!want || strlen(c + 1) != want)
    return false;
  for (const char *p = c + 1; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

int img_hash_init(struct img_hash *h, const char *digest, cf_error *err) {
  h->ctx = NULL;
  const char *c = digest ? strchr(digest, ':') : NULL;
  size_t n = c ? (size_t)(c - digest) : (digest ? strlen(digest) : 0);
  if (!hex_len(digest ? digest : "", n))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "digest %s: only sha256 and sha512",
                         digest ? digest : "(none)");
  memcpy(h->algo, digest, 6);
  h->algo[6] = '\0';
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, !strcmp(h->algo, "sha256") ? EVP_sha256() : EVP_sha512(),
                                 NULL)) {
    EVP_MD_CTX_free(ctx);
    return cf_err(err, ENOMEM, "digest context");
  }
  h->ctx = ctx;
  return 0;
}

void img_hash_update(struct img_hash *h, const void *p, size_t n) {
  if (n)
    EVP_DigestUpdate(h->ctx, p, n);
}

void img_hash_final(struct img_hash *h, char *out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(h->ctx, md, &n);
  size_t o = (size_t)snprintf(out, IMG_DIGEST_MAX, "%s:", h->algo);
  for (unsigned i = 0; i < n && o + 2 < IMG_DIGEST_MAX; i++, o += 2)
    snprintf(out + o, 3, "%02x", md[i]);
  img_hash_free(h);
}

void img_hash_free(struct img_hash *h) {
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
}
