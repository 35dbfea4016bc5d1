/* libFuzzer target for coffer-kbs's request parsers, driven through the same
 * handlers HTTP requests reach (no network): the first byte picks the input
 * kind, the rest is the body.
 *   0 /auth body          1 /attest body on a fresh session ("NONCE" is
 *   2 SNP serde report       replaced by its nonce; byte 1 picks the tee)
 *   3 resource policy     4 resource path       5 JCS and init-data digest
 * Built as a libFuzzer target with COFFER_FUZZ; otherwise (FUZZ_REPLAY_MAIN)
 * a test replaying the seed corpus. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/file.h"
#include "kbs.h"

static kbs_server *server(void) {
  static kbs_server s;
  static bool ready;
  if (!ready) {
    kbs_config cfg;
    kbs_config_defaults(&cfg);
    cfg.dev = cfg.insecure_http = cfg.sample_enabled = true;
    snprintf(cfg.resource_dir, sizeof(cfg.resource_dir), "/nonexistent-kbs-fuzz");
    cf_error err = {0};
    if (kbs_server_init(&s, &cfg, &err)) {
      fprintf(stderr, "fuzz: %s\n", err.msg);
      abort();
    }
    ready = true;
  }
  return &s;
}

static void handle(kbs_server *s, const char *method, const char *path, const char *session,
                   const char *body, size_t len, kbs_response *rs) {
  kbs_request rq = {.method = method, .path = path, .session = session, .body = body, .body_len = len};
  kbs_handle(s, &rq, rs);
}

/* Replaces each "NONCE" by the nonce (the same length as a base64 nonce or
 * not: a new buffer). */
static char *with_nonce(const char *b, size_t len, const char *nonce, size_t *out_len) {
  size_t nl = strlen(nonce), cap = len * (nl > 5 ? nl : 5) / 5 + 1, o = 0;
  char *out = malloc(cap + nl);
  if (!out)
    return NULL;
  for (size_t i = 0; i < len;) {
    if (i + 5 <= len && !memcmp(b + i, "NONCE", 5)) {
      memcpy(out + o, nonce, nl);
      o += nl;
      i += 5;
    } else {
      out[o++] = b[i++];
    }
  }
  *out_len = o;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  kbs_server *s = server();
  const char *body = (const char *)data + 2;
  size_t len = size - 2;
  kbs_response rs = {0};
  cf_error err = {0};
  switch (data[0] % 6) {
  case 0:
    handle(s, "POST", "/auth", NULL, body, len, &rs);
    break;
  case 1: {
    static const char *const tees[] = {"sample", "snp", "tdx"};
    char auth[96];
    snprintf(auth, sizeof(auth), "{\"version\":\"0.4.0\",\"tee\":\"%s\",\"extra-params\":\"\"}",
             tees[data[1] % 3]);
    handle(s, "POST", "/auth", NULL, auth, strlen(auth), &rs);
    json_t *ch = rs.body ? json_loads(rs.body, 0, NULL) : NULL;
    const char *nonce = json_string_value(json_object_get(ch, "nonce"));
    char id[40] = "";
    if (rs.cookie[0])
      snprintf(id, sizeof(id), "%.32s", rs.cookie + strlen("kbs-session-id="));
    size_t bl = 0;
    char *b = nonce ? with_nonce(body, len, nonce, &bl) : NULL;
    free(rs.body);
    rs = (kbs_response){0};
    if (b)
      handle(s, "POST", "/attest", id, b, bl, &rs);
    free(b);
    json_decref(ch);
    if (id[0])
      kbs_session_drop(s->sessions, id);
    break;
  }
  case 2: {
    uint8_t report[CF_SNP_REPORT_SIZE];
    kbs_snp_report_from_json(body, len, report, &err);
    break;
  }
  case 3:
    kbs_policy_free(kbs_policy_parse(body, len, &err));
    break;
  case 4: {
    char path[300];
    snprintf(path, sizeof(path), "/resource/%.*s", (int)(len < 280 ? len : 280), body);
    handle(s, "GET", path, NULL, "", 0, &rs);
    break;
  }
  case 5: {
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    free(v ? cf_kbs_jcs(v, &err) : NULL);
    json_decref(v);
    uint8_t d[64];
    size_t n;
    cf_kbs_initdata_digest(body, len, d, &n, &err);
    break;
  }
  }
  free(rs.body);
  return 0;
}

#ifdef FUZZ_REPLAY_MAIN
int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  DIR *d = opendir(argv[1]);
  if (!d)
    return fprintf(stderr, "no corpus at %s\n", argv[1]), 1;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096], *buf;
    size_t len;
    cf_error err = {0};
    snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
    if (cf_read_file(path, 1 << 20, &buf, &len, &err))
      return fprintf(stderr, "%s\n", err.msg), 1;
    LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    /* and every truncation of it, and single-byte flips */
    for (size_t cut = 0; cut < len; cut += 1 + len / 64)
      LLVMFuzzerTestOneInput((const uint8_t *)buf, cut);
    for (size_t i = 2; i < len; i += 1 + len / 64) {
      buf[i] ^= 0x20;
      LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
      buf[i] ^= 0x20;
    }
    free(buf);
    n++;
  }
  closedir(d);
  printf("replayed %d seeds with truncations and flips\n", n);
  return n ? 0 : 1;
}
#endif
