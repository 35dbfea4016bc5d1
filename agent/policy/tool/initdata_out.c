#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "coffer/cleanup.h"
#include "initdata_out.h"

/* A TOML multi-line literal string ends at ''': an entry holding one cannot
 * be written as one. */
static int literal_ok(const char *what, const char *s, cf_error *err) {
  if (strstr(s, "'''"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s contains ''' (cannot be a TOML literal string)", what);
  return 0;
}

static int toml_text(const initdata_in *in, char **out, cf_error *err) {
  char *buf = NULL;
  size_t len = 0;
  _cleanup_fclose_ FILE *f = open_memstream(&buf, &len);
  if (!f)
    return cf_err(err, errno, "init-data");
  if (literal_ok("policy.json", in->policy_json, err) < 0)
    goto bad;
  fprintf(f, "version = \"%s\"\nalgorithm = \"%s\"\n\n[data]\n\"policy.json\" = '''\n%s\n'''\n",
          CF_INITDATA_VERSION, cf_initdata_alg_name(in->alg), in->policy_json);
  if (in->kbs_url) {
    if (strpbrk(in->kbs_url, "\"\\\n") || (in->kbs_cert_pem && (strstr(in->kbs_cert_pem, "\"\"\"") ||
                                                                 strchr(in->kbs_cert_pem, '\\')))) {
      cf_err_status(err, CF_INVALID_ARGUMENT, "--kbs-url or --kbs-cert holds a quote or backslash");
      goto bad;
    }
    fprintf(f, "\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"%s\"\n", in->kbs_url);
    if (in->kbs_cert_pem) {
      if (literal_ok("--kbs-cert", in->kbs_cert_pem, err) < 0)
        goto bad;
      fprintf(f, "cert = \"\"\"\n%s\"\"\"\n", in->kbs_cert_pem);
    }
    fprintf(f, "'''\n");
  }
  if (in->n_secrets) {
    fprintf(f, "\"coffer.toml\" = '''\n[secrets]\n");
    for (size_t i = 0; i < in->n_secrets; i++) {
      const char *eq = strchr(in->secrets[i], '=');
      char name[256];
      if (!eq || (size_t)(eq - in->secrets[i]) >= sizeof(name) || strncmp(eq + 1, "kbs:///", 7) ||
          strpbrk(eq + 1, "\"\\\n'")) {
        cf_err_status(err, CF_INVALID_ARGUMENT, "--secret %s: expected NAME=kbs:///REPO/TYPE/TAG", in->secrets[i]);
        goto bad;
      }
      snprintf(name, sizeof(name), "%.*s", (int)(eq - in->secrets[i]), in->secrets[i]);
      if (!cf_initdata_name_valid(name)) {
        cf_err_status(err, CF_INVALID_ARGUMENT, "--secret %s: \"%s\" cannot be a file name", in->secrets[i], name);
        goto bad;
      }
      fprintf(f, "\"%s\" = \"%s\"\n", name, eq + 1);
    }
    fprintf(f, "'''\n");
  }
  if (fclose(f) != 0) {
    f = NULL;
    free(buf);
    return cf_err(err, errno, "init-data");
  }
  f = NULL;
  *out = buf;
  return 0;
bad:
  fclose(f);
  f = NULL;
  free(buf);
  return -EINVAL;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len, cf_error *err) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  _cleanup_fclose_ FILE *f = fopen(p, "we");
  if (!f || fwrite(data, 1, len, f) != len || fflush(f) != 0)
    return cf_err(err, errno ? errno : EIO, "write %s", p);
  return 0;
}

static void hex(const uint8_t *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* gzip (one member) then base64 with padding, as the annotation decoder reads it */
static int annotation(const char *toml, size_t len, char **out, cf_error *err) {
  z_stream z = {0};
  if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return cf_err_status(err, CF_INTERNAL, "zlib init");
  uLong cap = deflateBound(&z, (uLong)len) + 32;
  _cleanup_free_ uint8_t *gz = malloc(cap);
  if (!gz) {
    deflateEnd(&z);
    return cf_err(err, ENOMEM, "annotation");
  }
  z.next_in = (Bytef *)toml;
  z.avail_in = (uInt)len;
  z.next_out = gz;
  z.avail_out = (uInt)cap;
  int r = deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  if (r != Z_STREAM_END)
    return cf_err_status(err, CF_INTERNAL, "gzip of the init-data failed");
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = malloc((n + 2) / 3 * 4 + 2);
  if (!o)
    return cf_err(err, ENOMEM, "annotation");
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)gz[i] << 16 | (i + 1 < n ? (uint32_t)gz[i + 1] << 8 : 0) | (i + 2 < n ? gz[i + 2] : 0);
    o[k++] = b64[v >> 18 & 63];
    o[k++] = b64[v >> 12 & 63];
    o[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
    o[k++] = i + 2 < n ? b64[v & 63] : '=';
  }
  o[k] = '\0';
  *out = o;
  return 0;
}

int initdata_write(const initdata_in *in, const char *dir, cf_error *err) {
  _cleanup_free_ char *toml = NULL;
  if (toml_text(in, &toml, err) < 0)
    return -EINVAL;
  size_t len = strlen(toml);
  _cleanup_(cf_initdata_freep) cf_initdata *id = cf_initdata_parse(toml, len, err);
  if (!id)
    return cf_error_prefix(err, "the generated init-data does not parse");
  if (len > CF_INITDATA_MAX_TOML)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "init-data is %zu bytes, over %u", len, CF_INITDATA_MAX_TOML);
  char d[129], snp[65], tdx[97];
  uint8_t f32[32], f48[48];
  hex(id->digest, id->digest_len, d);
  cf_initdata_fit(id->digest, id->digest_len, f32, sizeof(f32));
  cf_initdata_fit(id->digest, id->digest_len, f48, sizeof(f48));
  hex(f32, 32, snp);
  hex(f48, 48, tdx);
  char digest[512];
  int dl = snprintf(digest, sizeof(digest), "%s\nalgorithm=%s\nsnp_host_data=%s\ntdx_mrconfigid=%s\n", d,
                    cf_initdata_alg_name(in->alg), snp, tdx);
  _cleanup_free_ char *ann = NULL;
  if (annotation(toml, len, &ann, err) < 0)
    return -EIO;
  if (strlen(ann) > CF_INITDATA_MAX_ANNOTATION)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "the annotation is %zu bytes, over Kubernetes' %u",
                         strlen(ann), CF_INITDATA_MAX_ANNOTATION);
  if (write_file(dir, "initdata.toml", toml, len, err) < 0 ||
      write_file(dir, "initdata.digest", digest, (size_t)dl, err) < 0 ||
      write_file(dir, "annotation", ann, strlen(ann), err) < 0)
    return -EIO;
  return 0;
}
