/* coffer-attest: verify an SEV-SNP report or a TDX quote and print one JSON
 * document. Exit 0 when every check passes, 1 when the evidence is rejected,
 * 2 on bad usage or unreadable input. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_json.h"
#include "coffer/attest.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"

#define EXIT_REJECT 1
#define EXIT_USAGE 2
#define CF_MAX_INPUT (16u << 20)

static void usage(FILE *f) {
  fputs("usage:\n"
        "  coffer-attest verify-snp --report FILE --signer CERT [--chain PEM] [--crl FILE]\n"
        "                           [--at RFC3339] [--reference FILE]\n"
        "  coffer-attest verify-tdx --quote FILE [--tcb-info FILE --qe-identity FILE\n"
        "                           --pck-crl FILE --root-crl FILE --tcb-signing-chain PEM]\n"
        "                           [--at RFC3339] [--reference FILE]\n"
        "Prints one JSON document; exit 0 = every check passed, 1 = rejected,\n"
        "2 = bad usage or unreadable input. Certificates in PEM or DER.\n",
        f);
}

typedef struct blob {
  uint8_t *data;
  size_t len;
} blob;

static void blob_free(blob *b) { free(b->data); }

/* Reads a whole file (NUL-terminated for JSON parsers). */
static int read_file(const char *path, blob *out, cf_error *err) {
  char *data = NULL;
  if (cf_read_file(path, CF_MAX_INPUT, &data, &out->len, err) < 0)
    return -EINVAL;
  out->data = (uint8_t *)data;
  return 0;
}

typedef struct opts {
  const char *report, *signer, *chain, *crl, *quote, *at, *reference;
  const char *tcb_info, *qe_identity, *pck_crl, *root_crl, *tcb_chain;
} opts;

enum { O_REPORT = 1, O_SIGNER, O_CHAIN, O_QUOTE, O_AT, O_REF, O_TCB, O_QE, O_PCKCRL, O_ROOTCRL,
       O_TCBCHAIN, O_CRL, O_HELP };

static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option lo[] = {
      {"report", required_argument, NULL, O_REPORT},
      {"signer", required_argument, NULL, O_SIGNER},
      {"chain", required_argument, NULL, O_CHAIN},
      {"crl", required_argument, NULL, O_CRL},
      {"quote", required_argument, NULL, O_QUOTE},
      {"at", required_argument, NULL, O_AT},
      {"reference", required_argument, NULL, O_REF},
      {"tcb-info", required_argument, NULL, O_TCB},
      {"qe-identity", required_argument, NULL, O_QE},
      {"pck-crl", required_argument, NULL, O_PCKCRL},
      {"root-crl", required_argument, NULL, O_ROOTCRL},
      {"tcb-signing-chain", required_argument, NULL, O_TCBCHAIN},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_REPORT: o->report = optarg; break;
    case O_SIGNER: o->signer = optarg; break;
    case O_CHAIN: o->chain = optarg; break;
    case O_CRL: o->crl = optarg; break;
    case O_QUOTE: o->quote = optarg; break;
    case O_AT: o->at = optarg; break;
    case O_REF: o->reference = optarg; break;
    case O_TCB: o->tcb_info = optarg; break;
    case O_QE: o->qe_identity = optarg; break;
    case O_PCKCRL: o->pck_crl = optarg; break;
    case O_ROOTCRL: o->root_crl = optarg; break;
    case O_TCBCHAIN: o->tcb_chain = optarg; break;
    case O_HELP: usage(stdout); exit(0);
    default: return -1;
    }
  }
  return optind == argc ? 0 : -1;
}

static int fail_usage(const char *msg) {
  fprintf(stderr, "coffer-attest: %s\n", msg);
  usage(stderr);
  return EXIT_USAGE;
}

static int fail_input(const cf_error *err) {
  fprintf(stderr, "coffer-attest: %s\n", err->msg);
  return EXIT_USAGE;
}

static int resolve_time(const char *at, time_t *out) {
  if (!at) {
    *out = time(NULL);
    return 0;
  }
  return cf_parse_rfc3339(at, out);
}

static cf_reference *load_reference(const char *path, cf_error *err) {
  _cleanup_(blob_free) blob b = {0};
  if (read_file(path, &b, err))
    return NULL;
  cf_reference *r = cf_reference_parse((const char *)b.data, b.len, err);
  if (!r)
    cf_error_prefix(err, "%s", path);
  return r;
}

/* Without reference values the checks only say the evidence is genuine (a
 * real TEE signed it), not that it runs what anyone expects: such a result is
 * GENUINE, never ACCEPT, and a guest policy that lets the host debug it is
 * flagged. */
static int emit(json_object *doc, time_t at, const cf_checks *checks, bool appraised,
                const char *debug_warning) {
  char buf[40];
  struct tm tm;
  gmtime_r(&at, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_object_object_add(doc, "verify_at", json_object_new_string(buf));
  bool ok = cf_checks_all_pass(checks);
  const char *verdict = !ok ? "REJECT" : appraised ? "ACCEPT" : "GENUINE";
  json_object_object_add(doc, "verdict", json_object_new_string(verdict));
  json_object_object_add(
      doc, "appraisal",
      json_object_new_string(appraised ? "reference values (--reference)"
                                       : "none: no --reference given; genuine evidence is not "
                                         "trusted evidence"));
  if (debug_warning) {
    json_object *w = json_object_new_array();
    json_object_array_add(w, json_object_new_string(debug_warning));
    json_object_object_add(doc, "warnings", w);
  }
  const cf_check *first = cf_checks_first_failure(checks);
  if (first)
    json_object_object_add(doc, "first_failure", json_object_new_string(first->name));
  puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(doc);
  if (ok && !appraised)
    fprintf(stderr, "coffer-attest: evidence is genuine but was not appraised (no --reference)%s%s\n",
            debug_warning ? "; WARNING: " : "", debug_warning ? debug_warning : "");
  return ok ? 0 : EXIT_REJECT;
}

static int verify_snp(const opts *o) {
  if (!o->report || !o->signer)
    return fail_usage("verify-snp needs --report and --signer");
  if (o->quote || o->tcb_info || o->qe_identity || o->pck_crl || o->root_crl || o->tcb_chain)
    return fail_usage("verify-snp does not take TDX options");
  time_t at;
  if (resolve_time(o->at, &at))
    return fail_usage("--at must be an RFC 3339 time such as 2025-11-01T00:00:00Z");
  cf_error err = {0};
  _cleanup_(blob_free) blob report = {0}, signer = {0}, chain = {0}, crl = {0};
  if (read_file(o->report, &report, &err) || read_file(o->signer, &signer, &err) ||
      (o->chain && read_file(o->chain, &chain, &err)) || (o->crl && read_file(o->crl, &crl, &err)))
    return fail_input(&err);
  cf_reference *ref = NULL;
  if (o->reference && !(ref = load_reference(o->reference, &err)))
    return fail_input(&err);
  cf_snp_verifier *v = cf_snp_verifier_new(&err);
  if (!v || (o->chain && cf_snp_verifier_load_chain(v, chain.data, chain.len, &err) &&
                cf_error_prefix(&err, "%s", o->chain)) ||
      (o->crl && cf_snp_verifier_load_crl(v, crl.data, crl.len, &err) &&
       cf_error_prefix(&err, "%s", o->crl))) {
    cf_snp_verifier_free(v);
    cf_reference_free(ref);
    return fail_input(&err);
  }
  cf_snp_result res = {0};
  int r = cf_snp_verify(v, report.data, report.len, signer.data, signer.len, at, &res, &err);
  if (r == 0 && ref)
    cf_reference_appraise_snp(ref, &res, &res.checks);
  const char *dbg = res.parsed && (res.report.policy >> 19) & 1
                        ? "guest policy allows debugging (SNP policy bit 19): the host can read "
                          "and change guest memory"
                        : NULL;
  int rc = r ? fail_input(&err) : emit(cf_json_snp_result(&res), at, &res.checks, ref, dbg);
  cf_snp_result_free(&res);
  cf_snp_verifier_free(v);
  cf_reference_free(ref);
  return rc;
}

static int verify_tdx(const opts *o) {
  if (!o->quote)
    return fail_usage("verify-tdx needs --quote");
  if (o->report || o->signer || o->chain || o->crl)
    return fail_usage("verify-tdx does not take SNP options");
  if ((o->tcb_info || o->qe_identity) && !o->tcb_chain)
    return fail_usage("--tcb-info and --qe-identity need --tcb-signing-chain");
  time_t at;
  if (resolve_time(o->at, &at))
    return fail_usage("--at must be an RFC 3339 time such as 2025-11-01T00:00:00Z");
  cf_error err = {0};
  _cleanup_(blob_free) blob quote = {0}, tcb = {0}, qe = {0}, pck = {0}, root = {0}, chain = {0};
  if (read_file(o->quote, &quote, &err) || (o->tcb_info && read_file(o->tcb_info, &tcb, &err)) ||
      (o->qe_identity && read_file(o->qe_identity, &qe, &err)) ||
      (o->pck_crl && read_file(o->pck_crl, &pck, &err)) ||
      (o->root_crl && read_file(o->root_crl, &root, &err)) ||
      (o->tcb_chain && read_file(o->tcb_chain, &chain, &err)))
    return fail_input(&err);
  cf_reference *ref = NULL;
  if (o->reference && !(ref = load_reference(o->reference, &err)))
    return fail_input(&err);
  cf_tdx_collateral coll = {
      tcb.data, tcb.len, qe.data, qe.len, pck.data, pck.len, root.data, root.len,
      chain.data, chain.len,
  };
  cf_tdx_verifier *v = cf_tdx_verifier_new(&err);
  if (!v) {
    cf_reference_free(ref);
    return fail_input(&err);
  }
  cf_tdx_result res = {0};
  int r = cf_tdx_verify(v, quote.data, quote.len, at, &coll, &res, &err);
  if (r == 0 && ref)
    cf_reference_appraise_tdx(ref, &res, &res.checks);
  const char *dbg = res.parsed && (res.quote.td_attributes[0] & 1)
                        ? "TD attributes allow debugging (DEBUG bit): the host can read and "
                          "change guest memory"
                        : NULL;
  int rc = r ? fail_input(&err) : emit(cf_json_tdx_result(&res), at, &res.checks, ref, dbg);
  cf_tdx_result_free(&res);
  cf_tdx_verifier_free(v);
  cf_reference_free(ref);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return fail_usage("missing command");
  opts o = {0};
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (parse_opts(argc - 1, argv + 1, &o))
    return fail_usage("bad arguments");
  if (!strcmp(cmd, "verify-snp"))
    return verify_snp(&o);
  if (!strcmp(cmd, "verify-tdx"))
    return verify_tdx(&o);
  return fail_usage("unknown command");
}
