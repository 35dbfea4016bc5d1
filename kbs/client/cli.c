/* coffer-kbs-client: the KBS client for operators and tests; prints JSON.
 *
 *   coffer-kbs-client [OPTIONS] attest
 *   coffer-kbs-client [OPTIONS] get-resource kbs:///repo/type/tag [--out FILE]
 *   coffer-kbs-client [OPTIONS] set-resource kbs:///repo/type/tag FILE
 *   coffer-kbs-client [OPTIONS] delete-resource kbs:///repo/type/tag
 *   coffer-kbs-client [OPTIONS] set-policy FILE
 *   coffer-kbs-client [OPTIONS] export-jwk
 *   coffer-kbs-client gen-admin-key PRIVATE_OUT PUBLIC_OUT
 *   coffer-kbs-client jwe-decrypt --key PRIVATE_JWK JWE_FILE
 *
 * OPTIONS: --url URL (default http://127.0.0.1:8080) --ca PEM --tee sample|snp|tdx
 *   --evidence FILE (primary evidence JSON for snp/tdx) --key-type ec|rsa
 *   --init-data TOML_FILE --admin-key JWK_FILE --timeout-ms N --key JWK_FILE */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/kbs_client.h"
#include "coffer/kbs_common.h"

typedef struct opts {
  const char *url, *ca, *tee, *evidence, *key_type, *init_data, *admin_key, *out, *key;
  long timeout_ms;
} opts;

static int die(const char *what, const cf_error *err) {
  json_t *o = json_pack("{s:b,s:s}", "ok", 0, "error", err->msg[0] ? err->msg : what);
  char *s = json_dumps(o, JSON_COMPACT);
  printf("%s\n", s ? s : "{\"ok\":false}");
  fprintf(stderr, "coffer-kbs-client: %s: %s\n", what, err->msg);
  free(s);
  json_decref(o);
  return 1;
}

static void print(json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT);
  printf("%s\n", s ? s : "{}");
  free(s);
  json_decref(o);
}

static int file_evidence(void *ud, const char *tee, const uint8_t digest[48], char **out,
                         cf_error *err) {
  return cf_read_file(ud, 16 << 20, out, NULL, err);
}

static cf_kbs_client *client(const opts *o, char **init, cf_error *err) {
  if (o->init_data && cf_read_file(o->init_data, 1 << 20, init, NULL, err))
    return NULL;
  cf_kbs_client_config cfg = {
      .url = o->url, .tee = o->tee, .ca_file = o->ca, .key_type = o->key_type,
      .init_data = *init, .timeout_ms = o->timeout_ms,
      .evidence = o->evidence ? file_evidence : cf_kbs_sample_evidence,
      .evidence_ud = (void *)o->evidence};
  return cf_kbs_client_new(&cfg, err);
}

static int admin(const opts *o, cf_kbs_admin *a, char **key, cf_error *err) {
  if (!o->admin_key)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "--admin-key is required");
  if (cf_read_file(o->admin_key, 1 << 16, key, NULL, err))
    return -EINVAL;
  *a = (cf_kbs_admin){.url = o->url, .ca_file = o->ca, .admin_jwk = *key, .timeout_ms = o->timeout_ms};
  return 0;
}

static int write_file(const char *path, const void *d, size_t n) {
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  return fd >= 0 && write(fd, d, n) == (ssize_t)n ? 0 : -errno;
}

int main(int argc, char **argv) {
  enum { O_URL = 1, O_CA, O_TEE, O_EV, O_KT, O_INIT, O_ADMIN, O_OUT, O_TMO, O_KEY };
  static const struct option lo[] = {
      {"url", required_argument, NULL, O_URL}, {"ca", required_argument, NULL, O_CA},
      {"tee", required_argument, NULL, O_TEE}, {"evidence", required_argument, NULL, O_EV},
      {"key-type", required_argument, NULL, O_KT}, {"init-data", required_argument, NULL, O_INIT},
      {"admin-key", required_argument, NULL, O_ADMIN}, {"out", required_argument, NULL, O_OUT},
      {"timeout-ms", required_argument, NULL, O_TMO}, {"key", required_argument, NULL, O_KEY},
      {NULL, 0, NULL, 0}};
  opts o = {.url = "http://127.0.0.1:8080", .tee = "sample", .timeout_ms = 10000};
  int c;
  while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
    switch (c) {
    case O_URL: o.url = optarg; break;
    case O_CA: o.ca = optarg; break;
    case O_TEE: o.tee = optarg; break;
    case O_EV: o.evidence = optarg; break;
    case O_KT: o.key_type = optarg; break;
    case O_INIT: o.init_data = optarg; break;
    case O_ADMIN: o.admin_key = optarg; break;
    case O_OUT: o.out = optarg; break;
    case O_TMO: o.timeout_ms = strtol(optarg, NULL, 10); break;
    case O_KEY: o.key = optarg; break;
    default: return 2;
    }
  }
  /* Options may also follow the command. */
  if (optind >= argc) {
    fprintf(stderr, "usage: see the comment at the top of kbs/client/cli.c or kbs/README.md\n");
    return 2;
  }
  const char *cmd = argv[optind];
  char **rest = argv + optind + 1;
  int nrest = argc - optind - 1;
  char *pos[4] = {0};
  int npos = 0;
  for (int i = 0; i < nrest; i++) {
    if (!strncmp(rest[i], "--", 2) && i + 1 < nrest) {
      const char *k = rest[i] + 2, *v = rest[++i];
      if (!strcmp(k, "out")) o.out = v;
      else if (!strcmp(k, "key")) o.key = v;
      else if (!strcmp(k, "admin-key")) o.admin_key = v;
      else if (!strcmp(k, "url")) o.url = v;
      else if (!strcmp(k, "ca")) o.ca = v;
      else return fprintf(stderr, "coffer-kbs-client: unknown option --%s\n", k), 2;
    } else if (npos < 4) {
      pos[npos++] = rest[i];
    }
  }
  cf_error err = {0};
  _cleanup_free_ char *init = NULL, *akey = NULL, *file = NULL;
  size_t flen = 0;
  if (!strcmp(cmd, "attest") || !strcmp(cmd, "get-resource")) {
    if (!strcmp(cmd, "get-resource") && npos != 1)
      return fprintf(stderr, "usage: get-resource kbs:///repo/type/tag [--out FILE]\n"), 2;
    cf_kbs_client *cl = client(&o, &init, &err);
    if (!cl)
      return die("client", &err);
    int rc;
    if (!strcmp(cmd, "attest")) {
      rc = cf_kbs_client_attest(cl, &err);
      _cleanup_free_ char *pub = cf_kbs_client_public_jwk(cl);
      if (!rc)
        print(json_pack("{s:b,s:s,s:o}", "ok", 1, "token", cf_kbs_client_token(cl), "tee_pubkey",
                        json_loads(pub, 0, NULL)));
    } else {
      uint8_t *data = NULL;
      size_t len = 0;
      rc = cf_kbs_client_get_resource(cl, pos[0], &data, &len, &err);
      if (!rc && o.out && write_file(o.out, data, len))
        rc = cf_err(&err, errno, "writing %s", o.out);
      if (!rc) {
        _cleanup_free_ char *b64 = cf_kbs_b64std_encode(data, len);
        print(o.out ? json_pack("{s:b,s:s,s:i}", "ok", 1, "resource", pos[0], "bytes", (int)len)
                    : json_pack("{s:b,s:s,s:s}", "ok", 1, "resource", pos[0], "data_base64", b64));
      }
      free(data);
    }
    cf_kbs_client_free(cl);
    return rc ? die(cmd, &err) : 0;
  }
  if (!strcmp(cmd, "set-resource") || !strcmp(cmd, "delete-resource") || !strcmp(cmd, "set-policy")) {
    cf_kbs_admin a;
    if (admin(&o, &a, &akey, &err))
      return die(cmd, &err);
    int rc;
    if (!strcmp(cmd, "delete-resource"))
      rc = npos == 1 ? cf_kbs_admin_delete_resource(&a, pos[0], &err) : -EINVAL;
    else if (!strcmp(cmd, "set-resource"))
      rc = npos == 2 && !cf_read_file(pos[1], 1 << 20, &file, &flen, &err)
               ? cf_kbs_admin_set_resource(&a, pos[0], (uint8_t *)file, flen, &err) : -EINVAL;
    else
      rc = npos == 1 && !cf_read_file(pos[0], 1 << 20, &file, &flen, &err)
               ? cf_kbs_admin_set_policy(&a, file, &err) : -EINVAL;
    if (rc == -EINVAL && !err.msg[0])
      return fprintf(stderr, "coffer-kbs-client: %s: wrong arguments\n", cmd), 2;
    if (rc)
      return die(cmd, &err);
    print(json_pack("{s:b}", "ok", 1));
    return 0;
  }
  if (!strcmp(cmd, "gen-admin-key") && npos == 2) {
    json_t *k = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
    json_t *priv = k ? cf_kbs_key_generate("ec", &err) : NULL;
    json_decref(k);
    if (!priv)
      return die(cmd, &err);
    json_object_del(priv, "alg");
    json_t *pub = cf_kbs_key_public(priv, &err);
    _cleanup_free_ char *a = json_dumps(priv, JSON_COMPACT), *b = json_dumps(pub, JSON_COMPACT);
    json_decref(priv);
    json_decref(pub);
    if (!a || !b || write_file(pos[0], a, strlen(a)) || write_file(pos[1], b, strlen(b)))
      return die(cmd, &(cf_error){.msg = "cannot write the key files"});
    print(json_pack("{s:b}", "ok", 1));
    return 0;
  }
  if (!strcmp(cmd, "jwe-decrypt") && npos == 1 && o.key) {
    _cleanup_free_ char *ktext = NULL;
    if (cf_read_file(o.key, 1 << 16, &ktext, NULL, &err) ||
        cf_read_file(pos[0], 16 << 20, &file, &flen, &err))
      return die(cmd, &err);
    json_t *k = cf_kbs_json_parse(ktext, strlen(ktext), &err);
    json_t *jwe = k ? cf_kbs_json_parse(file, flen, &err) : NULL;
    uint8_t *pt = NULL;
    size_t len = 0;
    int rc = jwe ? cf_kbs_jwe_decrypt(k, jwe, &pt, &len, &err) : -EINVAL;
    json_decref(k);
    json_decref(jwe);
    if (rc)
      return die(cmd, &err);
    _cleanup_free_ char *b64 = cf_kbs_b64std_encode(pt, len);
    free(pt);
    print(json_pack("{s:b,s:s}", "ok", 1, "data_base64", b64));
    return 0;
  }
  if (!strcmp(cmd, "export-jwk")) {
    _cleanup_free_ char *jwks = NULL;
    if (cf_kbs_export_jwks(o.url, o.ca, o.timeout_ms, &jwks, &err))
      return die(cmd, &err);
    printf("%s\n", jwks);
    return 0;
  }
  fprintf(stderr, "coffer-kbs-client: unknown command %s\n", cmd);
  return 2;
}
