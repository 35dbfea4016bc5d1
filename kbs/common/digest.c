/* The two digests the protocol binds into hardware fields: runtime data
 * (report_data) and init-data (HOST_DATA / MRCONFIGID). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/kbs_common.h"

int cf_kbs_runtime_digest(const json_t *tee_pubkey, const char *nonce,
                          const char *additional_evidence, uint8_t out[48], cf_error *err) {
  return cf_kbs_runtime_digest_bound(tee_pubkey, nonce, additional_evidence, NULL, NULL, out, err);
}

int cf_kbs_runtime_digest_bound(const json_t *tee_pubkey, const char *nonce,
                                const char *additional_evidence, const json_t *audience,
                                const json_t *nonces, uint8_t out[48], cf_error *err) {
  json_t *o = json_pack("{s:O,s:s,s:s}", "tee-pubkey", tee_pubkey, "nonce", nonce,
                        "additional-evidence", additional_evidence ? additional_evidence : "");
  if (o && audience && json_object_set(o, "audience", (json_t *)audience))
    json_decref(o), o = NULL;
  if (o && nonces && json_object_set(o, "nonces", (json_t *)nonces))
    json_decref(o), o = NULL;
  if (!o)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "runtime data: bad nonce or key");
  _cleanup_free_ char *c = cf_kbs_jcs(o, err);
  json_decref(o);
  if (!c)
    return cf_error_prefix(err, "runtime data");
  unsigned int n = 48;
  if (!EVP_Digest(c, strlen(c), out, &n, EVP_sha384(), NULL))
    return cf_err_status(err, CF_INTERNAL, "runtime data: SHA-384 failed");
  return 0;
}

/* The value of the top-level `algorithm = "..."` line, before any table. */
static int toml_algorithm(const char *t, size_t len, char *alg, size_t alglen) {
  const char *p = t, *end = t + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *le = eol ? eol : end;
    while (p < le && (*p == ' ' || *p == '\t'))
      p++;
    if (p < le && *p == '[')
      break; /* the first table: no more top-level keys */
    if ((size_t)(le - p) > 9 && !strncmp(p, "algorithm", 9)) {
      const char *q = p + 9;
      while (q < le && (*q == ' ' || *q == '\t'))
        q++;
      if (q < le && *q == '=') {
        q++;
        while (q < le && (*q == ' ' || *q == '\t'))
          q++;
        char quote = q < le ? *q : 0;
        if (quote == '"' || quote == '\'') {
          const char *e = memchr(q + 1, quote, (size_t)(le - q - 1));
          if (e && (size_t)(e - q - 1) < alglen) {
            memcpy(alg, q + 1, (size_t)(e - q - 1));
            alg[e - q - 1] = '\0';
            return 0;
          }
        }
        return -EINVAL;
      }
    }
    p = eol ? eol + 1 : end;
  }
  return -ENOENT;
}

int cf_kbs_initdata_digest(const char *toml, size_t len, uint8_t out[64], size_t *out_len,
                           cf_error *err) {
  char alg[16];
  int r = toml_algorithm(toml, len, alg, sizeof(alg));
  if (r)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data: %s",
                         r == -ENOENT ? "no top-level algorithm key"
                                      : "algorithm is not a quoted string");
  const EVP_MD *md = !strcmp(alg, "sha256")   ? EVP_sha256()
                     : !strcmp(alg, "sha384") ? EVP_sha384()
                     : !strcmp(alg, "sha512") ? EVP_sha512()
                                              : NULL;
  if (!md)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "init-data: algorithm \"%s\" is not sha256, sha384 or sha512", alg);
  unsigned int n = 64;
  if (!EVP_Digest(toml, len, out, &n, md, NULL))
    return cf_err_status(err, CF_INTERNAL, "init-data: digest failed");
  *out_len = n;
  return 0;
}

void cf_kbs_fit(const uint8_t *d, size_t dlen, uint8_t *out, size_t outlen) {
  memset(out, 0, outlen);
  memcpy(out, d, dlen < outlen ? dlen : outlen);
}

json_t *cf_kbs_json_parse(const char *text, size_t len, cf_error *err) {
  json_error_t je;
  json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!v)
    cf_err_status(err, CF_INVALID_ARGUMENT, "malformed JSON at line %d column %d: %s", je.line,
                  je.column, je.text);
  return v;
}
