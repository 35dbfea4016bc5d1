/* Init-data: the pod owner's TOML document (Kata/CoCo format) that the TEE
 * binds by its digest into SNP HOST_DATA / TDX MRCONFIGID.
 *
 *   version = "0.1.0"
 *   algorithm = "sha256"          # | "sha384" | "sha512", lowercase
 *   [data]
 *   "aa.toml" = '''...'''         # [token_configs.kbs] url, cert: the broker
 *   "coffer.toml" = '''...'''     # coffer's own: [secrets], [attestation]
 *   "policy.rego" = '''...'''     # any other entry: handed to the guest as a file
 *
 * coffer.toml:
 *   [secrets]
 *   db-password = "kbs:///default/db/password"   # name -> resource, fetched before start
 *   [attestation]
 *   token = true          # the pod's containers may get tokens (file + tee.sock); default false
 *   timeout_ms = 30000    # bound on attestation at pod start (1..600000); default 30000
 *   [image]               # images the guest pulls itself (Rootfs PULL)
 *   decryption_keys = ["kbs:///default/image-key/rsa"]  # private keys for encrypted
 *                         # layers, fetched from the broker after attestation
 *   registry_ca = """-----BEGIN CERTIFICATE-----..."""  # trusted besides the system CAs
 *   insecure_http = false # plain HTTP to a loopback registry (tests; refused in a TEE)
 *   timeout_ms = 600000   # bound on one image's pull and unpack (1..3600000)
 *
 * The digest is over the exact bytes of the document. */
#ifndef COFFER_INITDATA_H
#define COFFER_INITDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/toml.h"

/* The annotation a pod gives its init-data in: base64 (standard alphabet,
 * padded) of the gzip of the TOML, as Kata's cc_init_data. */
#define CF_INITDATA_ANNOTATION "io.coffer.init-data"
/* Bounds: the annotation text (Kubernetes caps all annotations at 256 KiB)
 * and the TOML it inflates to (inflating stops there: gzip bomb guard). */
#define CF_INITDATA_MAX_ANNOTATION (256u << 10)
#define CF_INITDATA_MAX_TOML (1u << 20)
#define CF_INITDATA_VERSION "0.1.0"

typedef enum cf_initdata_alg {
  CF_INITDATA_SHA256,
  CF_INITDATA_SHA384,
  CF_INITDATA_SHA512,
} cf_initdata_alg;

typedef struct cf_initdata_secret {
  const char *name; /* a file name: /run/coffer/secrets/<name> */
  const char *uri;  /* kbs:///<repo>/<type>/<tag> */
} cf_initdata_secret;

typedef struct cf_initdata {
  char *toml; /* the exact bytes, NUL-terminated */
  size_t toml_len;
  cf_initdata_alg alg;
  uint8_t digest[64];
  size_t digest_len; /* 32, 48 or 64 */
  const cf_toml *data; /* the [data] table: string entries only */
  /* from "aa.toml" [token_configs.kbs]: NULL when absent */
  const char *broker_url;
  const char *broker_cert; /* PEM */
  /* from "coffer.toml" */
  cf_initdata_secret *secrets;
  size_t n_secrets;
  bool token;
  uint32_t timeout_ms;
  /* coffer.toml [image] */
  const char **image_keys; /* kbs:/// URIs */
  size_t n_image_keys;
  const char *registry_ca; /* PEM, or NULL */
  bool image_insecure_http;
  uint32_t image_timeout_ms;
  /* owned parse trees */
  cf_toml *doc, *aa, *coffer;
} cf_initdata;

/* Parses and checks a document (bounded by CF_INITDATA_MAX_TOML): version,
 * algorithm, [data] of strings whose keys are file names, and the aa.toml and
 * coffer.toml entries when present. Computes the digest. Fails with
 * CF_INVALID_ARGUMENT naming the problem ("init-data: ..."). */
cf_initdata *cf_initdata_parse(const char *toml, size_t len, cf_error *err);
void cf_initdata_free(cf_initdata *id);
static inline void cf_initdata_freep(cf_initdata **id) { cf_initdata_free(*id); }

/* Decodes the annotation value into the TOML bytes (*toml NUL-terminated,
 * free()d by the caller): base64, then gzip (one member, nothing after it),
 * refusing more than CF_INITDATA_MAX_ANNOTATION in or CF_INITDATA_MAX_TOML
 * out. Lives in libcoffer_initdata_annotation (zlib): only the shim needs it. */
int cf_initdata_decode_annotation(const char *value, size_t len, char **toml, size_t *toml_len,
                                  cf_error *err);

const char *cf_initdata_alg_name(cf_initdata_alg alg);
/* Digest of len bytes with alg into out[64]; returns its length. */
size_t cf_initdata_hash(cf_initdata_alg alg, const void *data, size_t len, uint8_t out[64]);
/* The digest fitted to a hardware field of n bytes (32 SNP HOST_DATA, 48 TDX
 * MRCONFIGID, 64 CCA): truncated, or zero-padded at the end. */
void cf_initdata_fit(const uint8_t *digest, size_t digest_len, uint8_t *out, size_t n);
/* A [data] entry's bytes, or NULL. */
const char *cf_initdata_entry(const cf_initdata *id, const char *name, size_t *len);
/* The rule for [data] keys and secret names: they become file names. */
bool cf_initdata_name_valid(const char *name);

#endif
