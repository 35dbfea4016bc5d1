/* Test helper: runs coffer-kbs's evidence verifier (the code /attest uses)
 * on one evidence file with a given binding, printing the outcome as JSON:
 *   kbs_evidence_tool TEE EVIDENCE.json RUNTIME_DIGEST_HEX VERIFY_AT [REFERENCE.json] [INITDATA.toml]
 * The real vectors' report_data is fixed, so the tests hand in the binding
 * it holds; the RCAR tests cover how the binding is computed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/file.h"
#include "coffer/kbs_jread.h"
#include "kbs.h"

int main(int argc, char **argv) {
  if (argc < 5)
    return 2;
  kbs_config cfg;
  kbs_config_defaults(&cfg);
  cfg.insecure_http = true;
  if (cf_parse_rfc3339(argv[4], &cfg.verify_at))
    return 2;
  cfg.has_verify_at = true;
  if (argc > 5 && argv[5][0])
    snprintf(cfg.reference, sizeof(cfg.reference), "%s", argv[5]);
  cf_error err = {0};
  static kbs_server s;
  if (kbs_server_init(&s, &cfg, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 2;
  }
  char *text = NULL;
  size_t len;
  kbs_binding b = {0};
  for (int i = 0; i < 48; i++)
    sscanf(argv[3] + 2 * i, "%2hhx", &b.runtime[i]);
  if (argc > 6) {
    char *toml;
    size_t tl;
    if (cf_read_file(argv[6], 1 << 20, &toml, &tl, &err) ||
        cf_kbs_initdata_digest(toml, tl, b.init, &b.init_len, &err))
      return fprintf(stderr, "%s\n", err.msg), 2;
    b.has_init = true;
    free(toml);
  }
  if (cf_read_file(argv[2], 16 << 20, &text, &len, &err))
    return fprintf(stderr, "%s\n", err.msg), 2;
  json_t *claims = NULL;
  kbs_ear ear;
  kbs_span ev;
  int r = kbs_jr_document(text, len, &ev)
              ? cf_err_status(&err, CF_INVALID_ARGUMENT, "evidence is not well-formed JSON")
              : kbs_evidence_verify(&s, argv[1], ev.p, (size_t)(ev.end - ev.p), &b, &claims, &ear, &err);
  json_t *out = r ? json_pack("{s:b,s:s}", "ok", 0, "error", err.msg)
                  : json_pack("{s:b,s:s,s:{s:i,s:i,s:i,s:i},s:o}", "ok", 1, "status", ear.status,
                              "tv", "instance-identity", ear.instance_identity, "executables",
                              ear.executables, "hardware", ear.hardware, "configuration",
                              ear.configuration, "claims", claims);
  char *o = json_dumps(out, JSON_COMPACT);
  puts(o);
  free(o);
  json_decref(out);
  free(text);
  kbs_server_fini(&s);
  return 0;
}
